"""Two baselines every fraud report shows next to the model, on the same split.

- :class:`LogisticBaseline`: logistic regression on the same feature matrix (median-imputed with
  missing-value indicators, standardised, class-balanced).
- :class:`RulesBaseline`: a few classic hand rules of a card fraud desk on the raw authorization
  (large amount, large card-not-present amount, cross-border, night time, high-risk merchant
  category, card velocity in the last hour); the score is the number of rules fired, ties broken
  by amount.

>>> import numpy as np, pandas as pd
>>> auth = pd.DataFrame({
...     "ts": pd.to_datetime(["2024-01-01 03:00", "2024-01-01 12:00", "2024-01-01 12:10"]
...                          ).tz_localize("Asia/Shanghai"),
...     "card_token": ["a", "b", "b"], "amount_fen": [900_000, 5_000, 4_000],
...     "channel": ["online_cnp", "pos_chip", "pos_chip"], "cross_border": [True, False, False],
...     "mcc": ["5944", "5411", "5411"]})
>>> rules = RulesBaseline().fit(auth)
>>> [r for r, hit in rules.rule_hits(auth).items() if hit[0]]
['large_amount', 'large_cnp_amount', 'cross_border', 'night', 'high_risk_mcc']
>>> s = rules.predict_many(auth); bool(s[0] > s[1])
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cardmind.errors import NotFittedError
from cardmind.units import TIMEZONE_NAME

# Jewellery, electronics, wire transfer, quasi-cash, gambling, digital goods, direct marketing.
HIGH_RISK_MCC = frozenset({"5944", "5732", "4829", "6051", "7995", "5816", "5967", "6540"})
RULE_COLUMNS = ("ts", "card_token", "amount_fen", "channel", "cross_border", "mcc")


class LogisticBaseline:
    """Logistic regression on the model's features (sklearn pipeline; no pickle: never saved).

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3)); X[::7, 1] = np.nan
    >>> y = X[:, 0] + 0.3 * rng.normal(size=300) > 1
    >>> lr = LogisticBaseline().fit(X, y)
    >>> bool(lr.predict_many(X)[y].mean() > lr.predict_many(X)[~y].mean())
    True
    """

    def __init__(self, *, C: float = 1.0, max_iter: int = 500) -> None:
        self.C = C
        self.max_iter = max_iter

    def fit(self, X: np.ndarray, y: np.ndarray) -> LogisticBaseline:
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if self.C <= 0:
            raise ValueError(f"C must be > 0, got {self.C}")
        X = _clean(X)
        self.pipeline_ = make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(C=self.C, max_iter=self.max_iter, class_weight="balanced"),
        )
        self.pipeline_.fit(X, np.asarray(y, bool))
        return self

    def predict_many(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "pipeline_"):
            raise NotFittedError("LogisticBaseline is not fitted; call fit first")
        return self.pipeline_.predict_proba(_clean(X))[:, 1]


def _clean(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, float).copy()
    X[~np.isfinite(X)] = np.nan
    # Heavy-tailed money features: signed log keeps the linear model from being swamped.
    return np.sign(X) * np.log1p(np.abs(X))


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One hand rule: a name and its reason in English and Chinese."""

    name: str
    en: str
    zh: str


RULES: tuple[Rule, ...] = (
    Rule(
        name="large_amount",
        en="amount in the top 1 % of all purchases",
        zh="金额处于全部交易最高1%",
    ),
    Rule(name="large_cnp_amount", en="large card-not-present amount", zh="大额无卡交易"),
    Rule(name="cross_border", en="cross-border transaction", zh="境外交易"),
    Rule(name="night", en="transaction between 00:00 and 05:59", zh="凌晨交易（0-6点）"),
    Rule(name="high_risk_mcc", en="high-risk merchant category", zh="高风险商户类别"),
    Rule(
        name="velocity_1h",
        en="4 or more authorizations on the card in one hour",
        zh="该卡1小时内交易达4笔或以上",
    ),
)


class RulesBaseline:
    """Classic hand rules on the raw authorization; amount thresholds learnt from training.

    ``fit`` learns the 99th percentile of purchase amounts (large amount) and the 90th of
    card-not-present amounts; the rest are fixed.
    """

    def __init__(self, *, velocity_threshold: int = 4, velocity_window_s: int = 3600) -> None:
        self.velocity_threshold = velocity_threshold
        self.velocity_window_s = velocity_window_s

    def fit(self, auth: pd.DataFrame) -> RulesBaseline:
        _check(auth)
        amt = auth["amount_fen"].to_numpy(float)
        cnp = auth["channel"].to_numpy(str) == "online_cnp"
        self.large_amount_fen_ = float(np.quantile(amt, 0.99)) if len(amt) else np.inf
        self.large_cnp_amount_fen_ = float(np.quantile(amt[cnp], 0.90)) if cnp.any() else np.inf
        self.amount_scale_ = float(max(1.0, np.max(amt))) if len(amt) else 1.0
        return self

    def rule_hits(self, auth: pd.DataFrame) -> dict[str, np.ndarray]:
        """One boolean array per rule."""
        if not hasattr(self, "large_amount_fen_"):
            raise NotFittedError("RulesBaseline is not fitted; call fit first")
        _check(auth)
        amt = auth["amount_fen"].to_numpy(float)
        channel = auth["channel"].to_numpy(str)
        hour = auth["ts"].dt.tz_convert(TIMEZONE_NAME).dt.hour.to_numpy()
        return {
            "large_amount": amt >= self.large_amount_fen_,
            "large_cnp_amount": (channel == "online_cnp") & (amt >= self.large_cnp_amount_fen_),
            "cross_border": auth["cross_border"].fillna(False).to_numpy(bool),
            "night": hour < 6,
            "high_risk_mcc": auth["mcc"].isin(HIGH_RISK_MCC).to_numpy(),
            "velocity_1h": card_velocity(auth, self.velocity_window_s) >= self.velocity_threshold,
        }

    def predict_many(self, auth: pd.DataFrame) -> np.ndarray:
        """Number of rules fired plus a tie-break < 1 growing with the amount."""
        hits = self.rule_hits(auth)
        n = np.sum(np.vstack(list(hits.values())), axis=0).astype(float)
        amt = auth["amount_fen"].to_numpy(float)
        return n + 0.999 * np.clip(amt / self.amount_scale_, 0.0, 1.0)


def card_velocity(auth: pd.DataFrame, window_s: int = 3600) -> np.ndarray:
    """Authorizations of the same card in ``(ts - window, ts]``, this one included (vectorised).

    >>> a = pd.DataFrame({"card_token": ["a", "a", "b", "a"],
    ...     "ts": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 10:30", "2024-01-01 10:31",
    ...                           "2024-01-01 11:20"]).tz_localize("UTC")})
    >>> card_velocity(a).tolist()
    [1, 2, 1, 2]
    """
    card = pd.factorize(auth["card_token"])[0].astype(np.int64)
    t = _epoch_ms(auth["ts"])
    order = np.lexsort((t, card))
    span = int(t.max() - t.min() + 1) if len(t) else 1
    key = card[order] * (span + 10 * window_s * 1000) + (t[order] - (t.min() if len(t) else 0))
    first = np.searchsorted(key, key - window_s * 1000, side="right")
    out = np.empty(len(t), np.int64)
    out[order] = np.arange(len(t)) - first + 1
    return out


def _epoch_ms(ts: pd.Series) -> np.ndarray:
    """Milliseconds since the epoch of a tz-aware timestamp column, whatever its resolution."""
    return (
        ts.dt.tz_convert("UTC")
        .dt.tz_localize(None)
        .to_numpy()
        .astype("datetime64[ms]")
        .astype(np.int64)
    )


def _check(auth: pd.DataFrame) -> None:
    missing = [c for c in RULE_COLUMNS if c not in auth.columns]
    if missing:
        raise ValueError(f"rules baseline needs authorization columns {missing}")
