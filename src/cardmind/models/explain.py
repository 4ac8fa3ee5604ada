"""Reason codes: tree-SHAP contributions turned into readable reasons, in English and 简体中文.

Every feature gets a readable description derived from its definition (entity, window,
aggregation, column, filter) or, failing that, from its derived name (``card_amount_sum_7d``).
A reason says which way the value points: a contribution that raises the score from a value
above the training median reads "... is high / 偏高", from a value below it "... is low / 偏低",
and from a missing value "... has no history / 无历史".

>>> t = describe_feature("card_amount_sum_7d")
>>> t.en, t.zh
('card: total amount over the last 7 days', '该卡近7天金额总额')
>>> describe_feature("merchant_fraud_rate_30d").zh
'该商户近30天欺诈率'
>>> r = Reason.build(feature="card_auth_count_1h", value=9.0, reference=1.0, contribution=1.2)
>>> r.en, r.zh
('card: number of authorizations over the last 1 hour is high', '该卡近1小时交易笔数偏高')
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

ENTITIES: dict[str, tuple[str, str]] = {
    "card": ("card", "该卡"),
    "customer": ("customer", "该客户"),
    "merchant": ("merchant", "该商户"),
    "terminal": ("terminal", "该终端"),
    "device": ("device", "该设备"),
    "mcc": ("merchant category", "该商户类别"),
    "city": ("city", "该城市"),
    "auth": ("this transaction", "本笔交易"),
    "txn": ("this transaction", "本笔交易"),
    "tx": ("this transaction", "本笔交易"),
    "pair": ("card and merchant", "该卡与该商户"),
    "card_merchant": ("card and merchant", "该卡与该商户"),
}

AGGREGATIONS: dict[str, tuple[str, str]] = {
    "count": ("number of", "笔数"),
    "sum": ("total", "总额"),
    "mean": ("average", "平均值"),
    "avg": ("average", "平均值"),
    "max": ("largest", "最大值"),
    "min": ("smallest", "最小值"),
    "std": ("variability of", "波动"),
    "stddev": ("variability of", "波动"),
    "nunique": ("number of distinct", "不同数"),
    "distinct": ("number of distinct", "不同数"),
    "count_distinct": ("number of distinct", "不同数"),
    "rate": ("rate of", "比率"),
    "share": ("share of", "占比"),
    "ratio": ("ratio of", "比值"),
    "zscore": ("deviation of", "偏离度"),
    "last": ("last", "最近值"),
    "first": ("first", "最早值"),
    "since": ("time since", "间隔"),
    "days_since": ("days since", "距今天数"),
    "seconds_since": ("seconds since", "距今秒数"),
    "minutes_since": ("minutes since", "距今分钟数"),
    "hours_since": ("hours since", "距今小时数"),
}

WORDS: dict[str, tuple[str, str]] = {
    "amount": ("amount", "金额"),
    "amt": ("amount", "金额"),
    "auth": ("authorizations", "交易"),
    "auths": ("authorizations", "交易"),
    "txn": ("transactions", "交易"),
    "fraud": ("fraud", "欺诈"),
    "decline": ("declines", "拒绝"),
    "declined": ("declines", "拒绝"),
    "approved": ("approvals", "批准"),
    "merchant": ("merchants", "商户"),
    "merchants": ("merchants", "商户"),
    "mcc": ("merchant categories", "商户类别"),
    "city": ("cities", "城市"),
    "cities": ("cities", "城市"),
    "device": ("devices", "设备"),
    "devices": ("devices", "设备"),
    "terminal": ("terminals", "终端"),
    "terminals": ("terminals", "终端"),
    "card": ("cards", "卡"),
    "cards": ("cards", "卡"),
    "online": ("online", "线上"),
    "cnp": ("card-not-present", "无卡"),
    "cross_border": ("cross-border", "境外"),
    "cross": ("cross", "跨"),
    "border": ("border", "境"),
    "night": ("night-time", "夜间"),
    "hour": ("hour", "小时"),
    "credit": ("credit", "额度"),
    "available": ("available", "可用"),
    "limit": ("limit", "额度"),
    "utilization": ("utilization", "使用率"),
    "temp": ("temporary", "临时"),
    "refund": ("refunds", "退款"),
    "reversal": ("reversals", "撤销"),
    "repayment": ("repayments", "还款"),
    "new": ("new", "新"),
    "first": ("first", "首次"),
    "age": ("age", "时长"),
    "tenure": ("tenure", "账龄"),
    "channel": ("channel", "渠道"),
    "contactless": ("contactless", "非接"),
    "qr": ("QR", "扫码"),
    "wallet": ("wallet", "钱包"),
    "high_risk": ("high-risk", "高风险"),
    "risk": ("risk", "风险"),
    "round": ("round-amount", "整数金额"),
    "small": ("small", "小额"),
    "large": ("large", "大额"),
    "to": ("to", "与"),
    "vs": ("versus", "相对"),
    "per": ("per", "每"),
    "of": ("of", "的"),
    "is": ("is", "是"),
    "in": ("in", "在"),
}

_WINDOW = re.compile(r"^(\d+)(s|m|min|h|d|w|mo|y)$")
_WIN_EN = {
    "s": "second",
    "m": "minute",
    "min": "minute",
    "h": "hour",
    "d": "day",
    "w": "week",
    "mo": "month",
    "y": "year",
}
_WIN_ZH = {
    "s": "秒",
    "m": "分钟",
    "min": "分钟",
    "h": "小时",
    "d": "天",
    "w": "周",
    "mo": "个月",
    "y": "年",
}

# Families that deserve a hand-written sentence; matched on the feature name, first match wins.
# Placeholders: {window_en} / {window_zh} / {entity_en} / {entity_zh}.
FAMILY_TEMPLATES: tuple[tuple[str, str, str], ...] = (
    (
        r"amount.*(ratio|_to_|_vs_).*(mean|avg)",
        "amount compared with this {entity_en}'s {window_en} average",
        "金额相对{entity_zh}{window_zh}平均",
    ),
    (
        r"amount.*(zscore|z_score)",
        "amount deviation from this {entity_en}'s {window_en} usual spending",
        "金额相对{entity_zh}{window_zh}常态的偏离",
    ),
    (
        r"(seconds|minutes|hours|days)_since",
        "time since this {entity_en}'s previous transaction",
        "距{entity_zh}上一笔交易的时间",
    ),
    (
        r"fraud.*rate|fraud_share",
        "this {entity_en}'s {window_en} reported fraud rate",
        "{entity_zh}{window_zh}欺诈率",
    ),
)


@dataclass(frozen=True, kw_only=True)
class FeatureText:
    """A feature's readable description in English and Chinese (without a direction)."""

    name: str
    en: str
    zh: str


def _window_text(token: str) -> tuple[str, str] | None:
    m = _WINDOW.match(token)
    if not m:
        return None
    n, unit = int(m.group(1)), m.group(2)
    en = f"{n} {_WIN_EN[unit]}{'s' if n != 1 and unit not in ('min',) else ''}"
    if n == 1 and unit in ("h", "d"):
        en = f"1 {_WIN_EN[unit]}"
    return en, f"近{n}{_WIN_ZH[unit]}"


def describe_feature(name: str, definition: Mapping[str, Any] | None = None) -> FeatureText:
    """Describe a feature from its definition (preferred) or its derived name.

    ``definition`` may hold ``entity``, ``window``, ``aggregation`` (or ``agg``), ``column``
    (or ``value``/``source_column``), ``filter`` and ``description``/``doc``; whatever is
    missing is read from the name.

    >>> describe_feature("x", {"entity": "card", "aggregation": "count", "window": "10m"}).en
    'card: number of authorizations over the last 10 minutes'
    >>> describe_feature("card_days_since_first_auth").en
    "time since this card's previous transaction"
    """
    d = dict(definition or {})
    tokens = [t for t in name.lower().split("_") if t]
    entity = d.get("entity") or (tokens[0] if tokens and tokens[0] in ENTITIES else None)
    if entity is None and len(tokens) > 1 and "_".join(tokens[:2]) in ENTITIES:
        entity = "_".join(tokens[:2])
    window = d.get("window")
    if window is None:
        window = next((t for t in reversed(tokens) if _WINDOW.match(t)), None)
    agg = d.get("aggregation") or d.get("agg")
    if agg is None:
        for key in sorted(AGGREGATIONS, key=len, reverse=True):
            if f"_{key}_" in f"_{name.lower()}_":
                agg = key
                break
    ent_en, ent_zh = ENTITIES.get(str(entity), (str(entity or ""), ""))
    win = _window_text(str(window)) if window else None
    win_en, win_zh = (f"last {win[0]}", win[1]) if win else ("", "")

    for pattern, en_t, zh_t in FAMILY_TEMPLATES:
        if re.search(pattern, name.lower()):
            fill = {
                "entity_en": ent_en or "card",
                "entity_zh": ent_zh or "该卡",
                "window_en": win_en.replace("last ", "") or "usual",
                "window_zh": win_zh,
            }
            return FeatureText(
                name=name, en=en_t.format(**fill).replace("  ", " "), zh=zh_t.format(**fill)
            )

    # The column: the tokens that are neither entity, aggregation nor window.
    column = d.get("column") or d.get("value") or d.get("source_column")
    skip = {str(entity), str(window), *(str(agg).split("_") if agg else [])}
    rest = [t for t in tokens if t not in skip and not _WINDOW.match(t)]
    if entity and "_" in str(entity):
        rest = [t for t in rest if t not in str(entity).split("_")]
    name_tokens = [] if d else rest
    col_tokens = str(column).lower().replace("_fen", "").split("_") if column else name_tokens
    col_tokens = [t for t in col_tokens if t and t != "fen"]
    col_en = " ".join(WORDS.get(t, (t, t))[0] for t in col_tokens) or "authorizations"
    col_zh = "".join(WORDS.get(t, (t, t))[1] for t in col_tokens) or "交易"
    filt = d.get("filter") or d.get("where")
    if filt:
        col_en = f"{col_en} ({filt})"
    agg_en, agg_zh = AGGREGATIONS.get(str(agg), ("", "")) if agg else ("", "")
    if agg == "count" and col_en in ("authorizations", "transactions"):
        col_zh = "交易"
    if agg_en:
        body_en = (
            f"{agg_en} {col_en}" if agg not in ("rate", "share", "ratio") else f"{col_en} {agg}"
        )
    else:
        body_en = col_en
    en = f"{ent_en}: {body_en}" if ent_en else body_en
    if win_en:
        en += f" over the {win_en}"
    zh = f"{ent_zh}{win_zh}{col_zh}{agg_zh}"
    if d.get("description") and not tokens:
        en = str(d["description"])
    return FeatureText(name=name, en=en, zh=zh)


@dataclass(frozen=True, kw_only=True)
class Reason:
    """One reason for a score: the feature, its value, its SHAP contribution (log-odds), texts."""

    code: str
    feature: str
    value: float | None
    contribution: float
    direction: str
    en: str
    zh: str

    @classmethod
    def build(
        cls,
        *,
        feature: str,
        value: float | None,
        reference: float | None,
        contribution: float,
        text: FeatureText | None = None,
    ) -> Reason:
        """A reason whose direction compares ``value`` with the training ``reference`` (median)."""
        text = text or describe_feature(feature)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            direction, en, zh = "missing", f"{text.en} has no history", f"{text.zh}无历史"
            value = None
        elif reference is None or value >= reference:
            direction, en, zh = "high", f"{text.en} is high", f"{text.zh}偏高"
        else:
            direction, en, zh = "low", f"{text.en} is low", f"{text.zh}偏低"
        if reference is not None and value is not None and value == reference:
            direction, en, zh = "usual", f"{text.en} is typical", f"{text.zh}处于常见水平"
        return cls(
            code=f"{feature}:{direction}",
            feature=feature,
            value=value,
            contribution=float(contribution),
            direction=direction,
            en=en,
            zh=zh,
        )

    def text(self, lang: str = "en") -> str:
        """The sentence in ``"en"`` or ``"zh"``."""
        if lang not in ("en", "zh"):
            raise ValueError(f"lang must be 'en' or 'zh', got {lang!r}")
        return self.en if lang == "en" else self.zh

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ReasonExplainer:
    """Turn a matrix of SHAP contributions into the top reasons per row.

    >>> ex = ReasonExplainer(feature_names=["card_auth_count_1h", "card_amount_max_30d"],
    ...                      references=[1.0, 50000.0])
    >>> contrib = np.array([[2.0, -0.5, -3.0]])  # last column: the bias term
    >>> [r.feature for r in ex.reasons(np.array([[7.0, 10.0]]), contrib, top=3)[0]]
    ['card_auth_count_1h']
    """

    def __init__(
        self,
        *,
        feature_names: Sequence[str],
        references: Sequence[float | None] | None = None,
        texts: Mapping[str, FeatureText] | None = None,
    ) -> None:
        self.feature_names = list(feature_names)
        refs = list(references) if references is not None else [None] * len(self.feature_names)
        if len(refs) != len(self.feature_names):
            raise ValueError("references must have one value per feature")
        self.references = refs
        texts = dict(texts or {})
        self.texts = [texts.get(f) or describe_feature(f) for f in self.feature_names]

    def reasons(
        self, X: np.ndarray, contributions: np.ndarray, *, top: int = 3
    ) -> list[list[Reason]]:
        """Top ``top`` risk-raising reasons per row (positive contributions only, largest first)."""
        if top < 1:
            raise ValueError(f"top must be >= 1, got {top}")
        X = np.atleast_2d(np.asarray(X, dtype=float))
        contrib = np.atleast_2d(np.asarray(contributions, dtype=float))[
            :, : len(self.feature_names)
        ]
        order = np.argsort(-contrib, axis=1)[:, :top]
        out: list[list[Reason]] = []
        for i in range(X.shape[0]):
            row = []
            for j in order[i]:
                c = contrib[i, j]
                if c <= 0:
                    break
                v = X[i, j]
                row.append(
                    Reason.build(
                        feature=self.feature_names[j],
                        value=None if np.isnan(v) else float(v),
                        reference=self.references[j],
                        contribution=float(c),
                        text=self.texts[j],
                    )
                )
            out.append(row)
        return out
