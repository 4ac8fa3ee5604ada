"""Reason codes: tree-SHAP contributions turned into readable reasons, in English and 简体中文.

Every feature gets a readable description derived from its definition (entity, window,
aggregation, column, filter) or, failing that, from its derived name (``card_amount_sum_7d``).
A reason says which way the value points: a contribution that raises the score from a value
above the training median reads "... is high / 偏高", from a value below it "... is low / 偏低",
and from a missing value "... has no history / 无历史".

>>> t = describe_feature("card_amount_sum_7d", {"kind": "window", "entity": "card",
...     "aggregation": "sum", "column": "amount_fen", "window": "7d"})
>>> t.en, t.zh
('total purchase amount on this card in the last 7 days', '该卡近7天交易金额总额')
>>> describe_feature("merchant_fraud_rate_30d", {"kind": "label", "entity": "merchant",
...     "window": "30d", "measure": "rate"}).zh
'该商户近30天已报告欺诈率'
>>> r = Reason.build(feature="card_count_1h", value=9.0, reference=1.0, contribution=1.2,
...     text=describe_feature("card_count_1h", {"kind": "window", "entity": "card",
...                           "aggregation": "count", "window": "1h"}))
>>> r.en, r.zh
('number of purchases on this card in the last 1 hour is high', '该卡近1小时交易笔数偏高')
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

ENTITIES: dict[str, tuple[str, str]] = {
    "card": ("this card", "该卡"),
    "customer": ("this customer", "该客户"),
    "merchant": ("this merchant", "该商户"),
    "terminal": ("this terminal", "该终端"),
    "device": ("this device", "该设备"),
    "card_merchant": ("this card at this merchant", "该卡在该商户"),
    "category": ("this merchant category", "该商户类别"),
    "mcc": ("this merchant category", "该商户类别"),
}

#: How a window phrase attaches to its entity in English.
PLACES: dict[str, str] = {
    "card": "on this card",
    "customer": "by this customer",
    "merchant": "at this merchant",
    "terminal": "at this terminal",
    "device": "on this device",
    "card_merchant": "on this card at this merchant",
    "category": "in this merchant category",
}

NOUNS: dict[str, tuple[str, str]] = {
    "authorizations": ("purchases", "交易"),
    "repayments": ("repayments", "还款"),
    "statements": ("statements", "账单"),
    "installment_plans": ("installment plans", "分期"),
}

COLUMNS: dict[str, tuple[str, str]] = {
    "amount_fen": ("amount", "金额"),
    "utilisation": ("credit utilisation", "额度使用率"),
    "repayment_ratio": ("repayment ratio", "还款比例"),
    "new_balance_fen": ("statement balance", "账单余额"),
    "purchases_fen": ("billed purchases", "账单消费额"),
    "minimum_due_fen": ("minimum due", "最低还款额"),
    "interest_fen": ("interest", "利息"),
    "fees_fen": ("fees", "费用"),
    "installment_outstanding_fen": ("unbilled installments", "未出账分期本金"),
    "days_past_due": ("days past due", "逾期天数"),
    "principal_fen": ("principal", "本金"),
    "periods": ("periods", "期数"),
    "fee_total_fen": ("fees", "手续费"),
    "merchant_id": ("merchants", "商户"),
    "terminal_id": ("terminals", "终端"),
    "mcc": ("merchant category codes", "商户类别码"),
    "city": ("cities", "城市"),
    "device_id": ("devices", "设备"),
    "channel": ("channels", "渠道"),
    "card_token": ("cards", "卡"),
    "customer_id": ("customers", "客户"),
}

CHANNELS = {
    "pos_chip": ("chip POS", "芯片POS"),
    "contactless": ("contactless", "非接"),
    "online_cnp": ("card-not-present online", "线上无卡"),
    "qr": ("QR code", "扫码"),
    "wallet": ("mobile wallet", "手机钱包"),
}
CATEGORIES = {
    "travel": ("travel", "旅行"),
    "dining": ("dining", "餐饮"),
    "grocery": ("grocery", "超市"),
    "fuel_auto": ("fuel and auto", "加油汽车"),
    "electronics": ("electronics", "电子产品"),
    "luxury": ("luxury", "奢侈品"),
    "retail": ("retail", "零售"),
    "entertainment": ("entertainment", "娱乐"),
    "health": ("health", "医疗"),
    "utilities": ("utilities", "公用事业"),
    "education": ("education", "教育"),
    "quasi_cash": ("quasi-cash", "类现金"),
    "business": ("business", "商务"),
    "other": ("other", "其他"),
}
BANDS = {
    "small": ("small", "小额"),
    "medium": ("medium", "中额"),
    "large": ("large", "大额"),
    "xlarge": ("very large", "超大额"),
}
FILTERS: dict[str, tuple[str, str]] = {
    "online": ("online", "线上"),
    "night": ("night-time", "夜间"),
    "cross_border": ("cross-border", "境外"),
    "approved": ("approved", "已批准"),
    "declined": ("declined", "被拒"),
    "returns": ("reversed or refunded", "撤销退款"),
    "third_party": ("third-party app", "第三方平台"),
    "other_payer": ("paid by others", "他人代付"),
    "auto_debit": ("auto-debit", "自动扣款"),
    "past_due": ("past-due", "逾期"),
    "statement_plan": ("bill", "账单"),
    "purchase_plan": ("purchase", "消费"),
    "offered": ("offered", "营销后"),
    **CHANNELS,
    **{f"cat_{k}": v for k, v in CATEGORIES.items()},
    **{f"band_{k}": (f"{v[0]} amount", v[1]) for k, v in BANDS.items()},
}
REQUEST: dict[str, tuple[str, str]] = {
    "amount": ("transaction amount", "交易金额"),
    "hour": ("hour of the transaction", "交易时段"),
    "is_night": ("night-time transaction", "夜间交易"),
    "is_online": ("online payment", "线上支付"),
    "is_cross_border": ("cross-border transaction", "境外交易"),
    **{f"channel_{k}": (f"{v[0]} channel", f"{v[1]}渠道") for k, v in CHANNELS.items()},
    **{f"category_{k}": (f"{v[0]} merchant", f"{v[1]}类商户") for k, v in CATEGORIES.items()},
    **{f"band_{k}": (f"{v[0]} amount", f"{v[1]}交易") for k, v in BANDS.items()},
}
REPAYMENT: dict[str, tuple[str, str]] = {
    "time_to_next_purchase": (
        "time from the latest repayment to the next purchase",
        "还款后到下一笔消费的时间",
    ),
    "spend_since": ("spending since the latest repayment", "最近一次还款后的消费额"),
    "count_since": ("purchases since the latest repayment", "最近一次还款后的消费笔数"),
    "spend_ratio": (
        "spending since the latest repayment relative to it",
        "还款后消费额与还款额之比",
    ),
}
_WINDOW = re.compile(r"^(\d+)(s|m|h|d)$")
_WIN_EN = {"s": "second", "m": "minute", "h": "hour", "d": "day"}
_WIN_ZH = {"s": "秒", "m": "分钟", "h": "小时", "d": "天"}


@dataclass(frozen=True, kw_only=True)
class FeatureText:
    """A feature's readable description in English and Chinese (without a direction).

    ``binary`` features (flags) read as a fact when 1 ("night-time transaction / 夜间交易").
    """

    name: str
    en: str
    zh: str
    binary: bool = False


def window_text(token: str) -> tuple[str, str]:
    """``"7d"`` -> ``("7 days", "近7天")``.

    >>> window_text("1h"), window_text("10m")
    (('1 hour', '近1小时'), ('10 minutes', '近10分钟'))
    """
    m = _WINDOW.match(str(token))
    if not m:
        return str(token), f"近{token}"
    n, unit = int(m.group(1)), m.group(2)
    return f"{n} {_WIN_EN[unit]}{'s' if n != 1 else ''}", f"近{n}{_WIN_ZH[unit]}"


def _window(d: Mapping[str, Any]) -> FeatureText:
    entity = str(d.get("entity"))
    agg = str(d.get("aggregation"))
    source = str(d.get("source") or "authorizations")
    col = d.get("column")
    flt = d.get("filter")
    ent_en, ent_zh = ENTITIES.get(entity, (entity, entity))
    win_en, win_zh = window_text(str(d.get("window")))
    noun_en, noun_zh = NOUNS.get(source, (source, source))
    one = noun_en[:-1] if noun_en.endswith("s") else noun_en  # "purchase amount"
    place = PLACES.get(entity, f"of {ent_en}")
    col_en, col_zh = COLUMNS.get(str(col), (str(col), str(col))) if col else ("", "")
    f_en, f_zh = FILTERS.get(str(flt), (str(flt), str(flt))) if flt else ("", "")
    q_en = f"{f_en} " if flt and agg != "share" else ""
    body_en = {
        "count": f"number of {q_en}{noun_en}",
        "sum": f"total {q_en}{one} {col_en}",
        "mean": f"average {q_en}{one} {col_en}",
        "min": f"smallest {q_en}{one} {col_en}",
        "max": f"largest {q_en}{one} {col_en}",
        "std": f"variability of {q_en}{one} {col_en}",
        "distinct_count": f"number of distinct {col_en} in {q_en}{noun_en}",
        "last": f"{col_en} of the latest {q_en}{one}",
        "time_since_last": f"time since the previous {q_en}{one}",
        "share": f"share of {noun_en} that are {f_en}",
    }.get(agg, f"{agg} of {col_en or noun_en}")
    q_zh = f_zh if agg != "share" else ""
    body_zh = {
        "count": f"{q_zh}{noun_zh}笔数",
        "sum": f"{q_zh}{noun_zh}{col_zh}总额",
        "mean": f"{q_zh}{noun_zh}平均{col_zh}",
        "min": f"{q_zh}{noun_zh}最小{col_zh}",
        "max": f"{q_zh}{noun_zh}最大{col_zh}",
        "std": f"{q_zh}{noun_zh}{col_zh}波动",
        "distinct_count": f"{q_zh}{noun_zh}涉及的不同{col_zh}数",
        "last": f"最近一笔{q_zh}{noun_zh}{col_zh}",
        "time_since_last": f"距上一笔{q_zh}{noun_zh}的时间",
        "share": f"{f_zh}{noun_zh}占比",
    }.get(agg, f"{col_zh or noun_zh}{agg}")
    if agg == "time_since_last":
        return FeatureText(
            name=str(d.get("name", "")),
            en=f"{body_en} {place} (within {win_en})",
            zh=f"{ent_zh}{body_zh}",
        )
    return FeatureText(
        name=str(d.get("name", "")),
        en=f"{body_en} {place} in the last {win_en}",
        zh=f"{ent_zh}{win_zh}{body_zh}",
    )


def describe_feature(
    name: str,
    definition: Mapping[str, Any] | None = None,
    catalog: Mapping[str, Mapping[str, Any]] | None = None,
) -> FeatureText:
    """Describe a feature from its definition (the feature engine's ``to_dict()``).

    Without a definition, the default feature catalog is searched for ``name``; when that
    fails too, the name itself is split into words. ``catalog`` resolves the inputs of derived
    features (ratios, z-scores).

    >>> describe_feature("x", {"kind": "window", "entity": "card", "aggregation": "count",
    ...                         "window": "10m", "filter": "online"}).zh
    '该卡近10分钟线上交易笔数'
    >>> describe_feature("req_is_night", {"kind": "request", "what": "is_night"}).binary
    True
    """
    d = dict(definition) if definition else _catalog_definition(name)
    kind = d.get("kind") if d else None
    if kind == "window":
        t = _window(d)
        return FeatureText(name=name, en=t.en, zh=t.zh)
    if kind == "request":
        what = str(d.get("what"))
        en, zh = REQUEST.get(what, (what.replace("_", " "), what))
        return FeatureText(name=name, en=en, zh=zh, binary=what not in ("amount", "hour"))
    if kind == "label":
        ent_en, ent_zh = ENTITIES.get(str(d.get("entity")), (str(d.get("entity")), ""))
        win_en, win_zh = window_text(str(d.get("window")))
        what_en, what_zh = (
            ("fraud rate", "欺诈率")
            if d.get("measure", "rate") == "rate"
            else ("number of frauds", "欺诈笔数")
        )
        return FeatureText(
            name=name,
            en=f"reported {what_en} of {ent_en} in the last {win_en}",
            zh=f"{ent_zh}{win_zh}已报告{what_zh}",
        )
    if kind == "repayment":
        ent_en, ent_zh = ENTITIES.get(str(d.get("entity")), (str(d.get("entity")), ""))
        en, zh = REPAYMENT.get(
            str(d.get("measure")), (str(d.get("measure")), str(d.get("measure")))
        )
        return FeatureText(name=name, en=f"{en} ({ent_en})", zh=f"{ent_zh}{zh}")
    if kind == "derived":
        inputs = list(d.get("inputs") or [])
        sub = [describe_feature(i, (catalog or {}).get(i), catalog) for i in inputs]
        op = d.get("op")
        if op == "ratio" and len(sub) == 2:
            return FeatureText(
                name=name,
                en=f"{sub[0].en} relative to {sub[1].en}",
                zh=f"{sub[0].zh}相对{sub[1].zh}的倍数",
            )
        if op == "zscore" and sub:
            return FeatureText(
                name=name,
                en=f"how unusual the {sub[0].en} is versus {sub[1].en}",
                zh=f"{sub[0].zh}相对{sub[1].zh}的偏离程度",
            )
        if op == "is_zero" and sub:
            return FeatureText(
                name=name,
                en=f"never seen before: {sub[0].en} is zero",
                zh=f"首次出现：{sub[0].zh}为零",
                binary=True,
            )
    return _from_name(name)


def _catalog_definition(name: str) -> dict[str, Any]:
    """The default catalog's definition of ``name`` (empty when unknown or no catalog)."""
    try:
        from cardmind.features.catalog import resolve  # type: ignore[import-not-found]

        return dict(resolve(name).to_dict())
    except Exception:  # no feature engine, or not a catalog name: describe from the name
        return {}


def _from_name(name: str) -> FeatureText:
    tokens = [t for t in name.lower().split("_") if t]
    entity = next(
        (e for e in ("card_merchant",) if name.startswith(e)), tokens[0] if tokens else ""
    )
    ent_en, ent_zh = ENTITIES.get(entity, ("", ""))
    rest = tokens[len(entity.split("_")) :] if ent_en else tokens
    win = next((t for t in reversed(rest) if _WINDOW.match(t)), None)
    words = [t for t in rest if t != win]
    en_words = " ".join(COLUMNS.get(t, FILTERS.get(t, (t, t)))[0] for t in words)
    zh_words = "".join(COLUMNS.get(t, FILTERS.get(t, (t, t)))[1] for t in words)
    win_en, win_zh = window_text(win) if win else ("", "")
    en = (
        f"{en_words}"
        + (f" on {ent_en}" if ent_en else "")
        + (f" in the last {win_en}" if win else "")
    )
    zh = f"{ent_zh}{win_zh}{zh_words}"
    return FeatureText(name=name, en=en.strip(), zh=zh)


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
        elif text.binary:
            if value >= 0.5:
                direction, en, zh = "present", text.en, text.zh
            else:
                direction, en, zh = "absent", f"not: {text.en}", f"非{text.zh}"
            return cls(
                code=f"{feature}:{direction}",
                feature=feature,
                value=value,
                contribution=float(contribution),
                direction=direction,
                en=en,
                zh=zh,
            )
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
        if contrib.shape[0] == 1:  # one row (the authorization path): no NumPy sort, which
            # releases the GIL to other threads (the decision-log writer) for a 40-value sort
            c = contrib[0].tolist()
            order = [heapq.nlargest(top, range(len(c)), key=c.__getitem__)]
        else:
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
