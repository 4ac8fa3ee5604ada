"""The fraud evaluation protocol used by every fraud report in cardmind: splits and metrics.

**Splits** are time-ordered with a feedback-delay gap (see ADR "fraud evaluation protocol")::

    |-- warm-up --|------- train -------|- valid -|- calib -|-- delay gap --|---- test ----|
    t_min                                                  cutoff-delay    cutoff         t_max

The model is trained as if deployed at ``cutoff``: a training row counts as fraud only when its
fraud label was *reported* before ``cutoff``; rows of the last ``delay_days`` before the cutoff
are left out, because most of their labels are not yet known. Early stopping uses the ``valid``
slice, calibration the ``calib`` slice, both after the training rows in time. The prequential
variant rolls this split over consecutive test windows and reports mean ± std.

**Metrics** on the test window (labels: the ground truth when the data has it, else every label
eventually reported): ROC AUC, average precision, Card Precision@k, recall at 1 % false-positive
rate, fraud amount caught versus alerts reviewed, and recall per scenario.

>>> import numpy as np
>>> y = np.array([0, 0, 1, 0, 1, 0, 0, 0, 0, 1], bool)
>>> s = np.array([.1, .2, .9, .3, .8, .1, .2, .4, .3, .35])
>>> round(roc_auc(y, s), 3), round(average_precision(y, s), 3)
(0.952, 0.917)
>>> recall_at_fpr(y, s, 0.0)[0]
0.667
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from cardmind.units import TIMEZONE_NAME

DAY = np.timedelta64(1, "D")


# --- splits --------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class SplitSpec:
    """How to cut a time range into train / valid / calib / delay gap / test (days).

    >>> SplitSpec(test_days=0)
    Traceback (most recent call last):
    ...
    ValueError: test_days must be > 0, got 0
    """

    test_days: int = 14
    delay_days: int = 21  # labels: median report delay ~2 weeks, 3/4 within ~4 weeks
    valid_days: int = 14
    calib_days: int = 14
    warmup_days: int = 7
    train_days: int | None = None  # None: all history after warm-up (expanding window)

    def __post_init__(self) -> None:
        for name in ("test_days", "valid_days", "calib_days"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("delay_days", "warmup_days"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.train_days is not None and self.train_days <= 0:
            raise ValueError(f"train_days must be > 0 or None, got {self.train_days}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class Split:
    """Concrete boundaries (tz-aware pandas Timestamps); each slice is ``[start, end)``."""

    train_start: pd.Timestamp
    valid_start: pd.Timestamp
    calib_start: pd.Timestamp
    train_end: pd.Timestamp  # = cutoff - delay: end of calib
    cutoff: pd.Timestamp  # = test start: the moment the model is deployed
    test_end: pd.Timestamp

    def masks(self, ts: np.ndarray | pd.Series) -> dict[str, np.ndarray]:
        """Boolean masks ``fit``, ``valid``, ``calib``, ``test`` over timestamps ``ts``."""
        t = pd.DatetimeIndex(pd.Series(ts).dt.tz_convert("UTC")).as_unit("ns").asi8
        b = {k: pd.Timestamp(v).tz_convert("UTC").value for k, v in asdict(self).items()}
        return {
            "fit": (t >= b["train_start"]) & (t < b["valid_start"]),
            "valid": (t >= b["valid_start"]) & (t < b["calib_start"]),
            "calib": (t >= b["calib_start"]) & (t < b["train_end"]),
            "test": (t >= b["cutoff"]) & (t < b["test_end"]),
        }

    def to_dict(self) -> dict[str, str]:
        return {k: pd.Timestamp(v).isoformat() for k, v in asdict(self).items()}


def _day_floor(t: pd.Timestamp) -> pd.Timestamp:
    return t.tz_convert(TIMEZONE_NAME).normalize()


def make_split(t_min: Any, t_max: Any, spec: SplitSpec, *, test_end: Any = None) -> Split:
    """The split whose test window ends at ``test_end`` (default: the day after ``t_max``).

    Boundaries fall on local midnights. Raises ``ValueError`` when the range is too short.

    >>> s = make_split(pd.Timestamp("2024-01-01", tz="Asia/Shanghai"),
    ...                pd.Timestamp("2024-03-31 12:00", tz="Asia/Shanghai"), SplitSpec())
    >>> s.cutoff.date(), s.train_end.date(), s.calib_start.date(), s.train_start.date()
    (datetime.date(2024, 3, 18), datetime.date(2024, 2, 26), datetime.date(2024, 2, 12), datetime.date(2024, 1, 8))
    """
    t_min, t_max = pd.Timestamp(t_min), pd.Timestamp(t_max)
    end = (
        _day_floor(pd.Timestamp(test_end))
        if test_end is not None
        else _day_floor(t_max) + timedelta(days=1)
    )
    cutoff = end - timedelta(days=spec.test_days)
    train_end = cutoff - timedelta(days=spec.delay_days)
    calib_start = train_end - timedelta(days=spec.calib_days)
    valid_start = calib_start - timedelta(days=spec.valid_days)
    first = _day_floor(t_min) + timedelta(days=spec.warmup_days)
    train_start = (
        first
        if spec.train_days is None
        else max(first, valid_start - timedelta(days=spec.train_days))
    )
    if valid_start - train_start < timedelta(days=1):
        need = (
            spec.warmup_days
            + 1
            + spec.valid_days
            + spec.calib_days
            + spec.delay_days
            + spec.test_days
        )
        raise ValueError(
            f"data spans {(t_max - t_min).days + 1} days; this split needs at least {need} "
            f"(warm-up {spec.warmup_days} + train >= 1 + valid {spec.valid_days} + calib "
            f"{spec.calib_days} + delay {spec.delay_days} + test {spec.test_days})"
        )
    return Split(
        train_start=train_start,
        valid_start=valid_start,
        calib_start=calib_start,
        train_end=train_end,
        cutoff=cutoff,
        test_end=end,
    )


def prequential_splits(t_min: Any, t_max: Any, spec: SplitSpec, *, folds: int = 3) -> list[Split]:
    """``folds`` consecutive test windows, oldest first, each with its own train/delay/test cut.

    Folds whose training range would be empty are dropped (at least one must remain).
    """
    if folds < 1:
        raise ValueError(f"folds must be >= 1, got {folds}")
    last = _day_floor(pd.Timestamp(t_max)) + timedelta(days=1)
    out = []
    for i in range(folds - 1, -1, -1):
        try:
            out.append(
                make_split(t_min, t_max, spec, test_end=last - timedelta(days=i * spec.test_days))
            )
        except ValueError:
            continue
    if not out:
        make_split(t_min, t_max, spec)  # raises the precise message
    return out


# --- metrics -------------------------------------------------------------------------------------
def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC (NaN when only one class is present)."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, bool)
    if y.all() or not y.any():
        return math.nan
    return float(roc_auc_score(y, score))


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """Average precision (area under the precision-recall curve; NaN without positives)."""
    from sklearn.metrics import average_precision_score

    y = np.asarray(y, bool)
    if not y.any():
        return math.nan
    return float(average_precision_score(y, score))


def recall_at_fpr(y: np.ndarray, score: np.ndarray, fpr: float = 0.01) -> tuple[float, float]:
    """(recall, threshold) at the largest threshold set whose false-positive rate is <= ``fpr``.

    Alerts are ``score >= threshold``; recall is rounded to 3 decimals.
    """
    y = np.asarray(y, bool)
    score = np.asarray(score, float)
    neg = np.sort(score[~y])[::-1]
    if not y.any() or len(neg) == 0:
        return math.nan, math.inf
    allowed = math.floor(fpr * len(neg))
    # threshold just above the (allowed+1)-th highest negative score
    thr = np.nextafter(neg[allowed], np.inf) if allowed < len(neg) else -np.inf
    return round(float((score[y] >= thr).mean()), 3), float(thr)


def card_precision_at_k(
    frame: pd.DataFrame,
    *,
    k: int = 100,
    known_from: Mapping[str, Any] | pd.Series | None = None,
    score: str = "score",
) -> float:
    """Card Precision@k: each local day, the k cards with the highest max score that day; the
    share of them truly compromised that day (a fraud that day); averaged over days.

    ``frame`` needs ``ts``, ``card_token``, ``is_fraud`` and the score column. ``known_from``
    maps a card to when the bank first knew it compromised (first fraud label reported): such a
    card is removed from the days starting after that moment. A day with fewer than k candidate
    cards divides by the number of cards.

    >>> f = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01 10:00"] * 3 + ["2024-01-02 10:00"] * 2
    ...                                          ).tz_localize("Asia/Shanghai"),
    ...                   "card_token": ["a", "b", "c", "a", "b"], "score": [.9, .8, .1, .9, .5],
    ...                   "is_fraud": [True, False, False, True, False]})
    >>> card_precision_at_k(f, k=1)
    1.0
    >>> card_precision_at_k(f, k=1, known_from={"a": pd.Timestamp("2024-01-01 12:00", tz="UTC")})
    0.5
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if len(frame) == 0:
        return math.nan
    day = frame["ts"].dt.tz_convert(TIMEZONE_NAME).dt.normalize()
    per = (
        pd.DataFrame(
            {
                "day": day,
                "card": frame["card_token"].to_numpy(),
                "s": frame[score].to_numpy(),
                "f": frame["is_fraud"].to_numpy(bool),
            }
        )
        .groupby(["day", "card"], sort=False)
        .agg(s=("s", "max"), f=("f", "any"))
        .reset_index()
    )
    if known_from is not None and len(known_from):
        kf = pd.Series(known_from)
        kf = pd.to_datetime(kf, utc=True)
        known = per["card"].map(kf)
        per = per[~(known.notna() & (known < per["day"].dt.tz_convert("UTC")))]
    per = per.sort_values(["day", "s"], ascending=[True, False])
    top = per.groupby("day", sort=False).head(k)
    prec = top.groupby("day")["f"].mean()
    return float(prec.mean()) if len(prec) else math.nan


def review_curve(
    y: np.ndarray,
    score: np.ndarray,
    amount_fen: np.ndarray,
    *,
    alert_shares: Sequence[float] = (0.001, 0.005, 0.01, 0.02, 0.05),
) -> list[dict[str, float]]:
    """Fraud amount caught versus review cost: for each share of transactions alerted
    (highest scores first), the alerts reviewed, frauds caught, fraud amount caught (fen) and
    its share of all fraud amount, and the alert precision.

    >>> rows = review_curve(np.array([1, 0, 0, 1], bool), np.array([.9, .8, .1, .2]),
    ...                     np.array([100, 5, 5, 300]), alert_shares=[0.25, 1.0])
    >>> [(r["alerts"], r["fraud_amount_fen"], r["amount_share"]) for r in rows]
    [(1, 100, 0.25), (4, 400, 1.0)]
    """
    y = np.asarray(y, bool)
    amt = np.asarray(amount_fen, np.int64)
    order = np.argsort(-np.asarray(score, float), kind="stable")
    cum_f = np.cumsum(y[order])
    cum_a = np.cumsum(np.where(y[order], amt[order], 0))
    total_f, total_a = int(y.sum()), int(amt[y].sum())
    rows = []
    for share in alert_shares:
        n = max(1, min(len(y), round(share * len(y))))
        rows.append(
            {
                "alert_share": float(share),
                "alerts": n,
                "frauds_caught": int(cum_f[n - 1]),
                "recall": round(float(cum_f[n - 1] / total_f), 4) if total_f else math.nan,
                "fraud_amount_fen": int(cum_a[n - 1]),
                "amount_share": round(float(cum_a[n - 1] / total_a), 4) if total_a else math.nan,
                "precision": round(float(cum_f[n - 1] / n), 4),
            }
        )
    return rows


def recall_by_group(
    y: np.ndarray, alerted: np.ndarray, group: Iterable[Any], amount_fen: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """Recall of alerts per group (scenario, channel ...) over the fraud rows, lowest first.

    >>> recall_by_group(np.array([1, 1, 1, 0], bool), np.array([1, 0, 1, 1], bool),
    ...                 ["a", "a", "b", None])
    [{'group': 'a', 'frauds': 2, 'caught': 1, 'recall': 0.5}, {'group': 'b', 'frauds': 1, 'caught': 1, 'recall': 1.0}]
    """
    y = np.asarray(y, bool)
    alerted = np.asarray(alerted, bool)
    g = pd.Series(list(group), dtype=object).fillna("(none)").to_numpy()
    df = pd.DataFrame({"g": g[y], "hit": alerted[y]})
    if amount_fen is not None:
        a = np.asarray(amount_fen, np.int64)[y]
        df["amt"] = a
        df["amt_hit"] = np.where(alerted[y], a, 0)
    out = []
    for key, sub in df.groupby("g", sort=True):
        row: dict[str, Any] = {
            "group": key,
            "frauds": len(sub),
            "caught": int(sub["hit"].sum()),
            "recall": round(float(sub["hit"].mean()), 4),
        }
        if amount_fen is not None:
            row["amount_recall"] = round(float(sub["amt_hit"].sum() / max(1, sub["amt"].sum())), 4)
        out.append(row)
    return sorted(out, key=lambda r: (r["recall"], r["group"]))


@dataclass(kw_only=True)
class Metrics:
    """The protocol's figures for one model on one test window."""

    model: str
    rows: int
    frauds: int
    auc: float
    ap: float
    cp_at_k: float
    k: int
    recall_at_fpr: float
    fpr: float
    threshold: float
    review: list[dict[str, float]] = field(default_factory=list)
    by_scenario: list[dict[str, Any]] = field(default_factory=list)

    def headline(self) -> dict[str, float]:
        return {
            "auc": self.auc,
            "ap": self.ap,
            f"cp@{self.k}": self.cp_at_k,
            f"recall@{self.fpr:g}fpr": self.recall_at_fpr,
        }

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return _finite(d)


def evaluate_scores(
    frame: pd.DataFrame,
    *,
    model: str,
    score: str = "score",
    k: int = 100,
    fpr: float = 0.01,
    known_from: Mapping[str, Any] | pd.Series | None = None,
    alert_shares: Sequence[float] = (0.001, 0.005, 0.01, 0.02, 0.05),
) -> Metrics:
    """All protocol metrics for one score column of a test ``frame`` with columns ``ts``,
    ``card_token``, ``amount_fen``, ``is_fraud`` and optionally ``scenario``."""
    y = frame["is_fraud"].to_numpy(bool)
    s = frame[score].to_numpy(float)
    rec, thr = recall_at_fpr(y, s, fpr)
    by_scn: list[dict[str, Any]] = []
    if "scenario" in frame.columns and frame["scenario"].notna().any():
        by_scn = recall_by_group(y, s >= thr, frame["scenario"], frame["amount_fen"].to_numpy())
    return Metrics(
        model=model,
        rows=len(frame),
        frauds=int(y.sum()),
        auc=roc_auc(y, s),
        ap=average_precision(y, s),
        cp_at_k=card_precision_at_k(frame, k=k, known_from=known_from, score=score),
        k=k,
        recall_at_fpr=rec,
        fpr=fpr,
        threshold=thr,
        review=review_curve(y, s, frame["amount_fen"].to_numpy(), alert_shares=alert_shares),
        by_scenario=by_scn,
    )


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and (population) standard deviation, ignoring NaN."""
    v = np.array([x for x in values if x is not None and not math.isnan(x)], float)
    if len(v) == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std())


def _finite(obj: Any) -> Any:
    """Replace NaN/inf by None so that metrics are valid JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.generic):
        return _finite(obj.item())
    return obj
