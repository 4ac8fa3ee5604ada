"""The champion credit model: a points scorecard from optimal WOE binning and logistic regression.

Each characteristic is binned with optbinning's :class:`~optbinning.OptimalBinning` (monotonic
event rate for numbers by default, grouped categories for text), each bin gets a weight of evidence
``WOE = ln(%good / %bad)``, a logistic regression on the WOE values gives one coefficient per
characteristic, and the points are scaled to *points to double the odds* (see :class:`Scaling`).
The fitted model **is** its table: scoring, reasons and the saved JSON artifact all read the
same integer points, so the exported table reproduces every score exactly. Protected attributes
(:data:`PROTECTED_ATTRIBUTES`) are refused as inputs.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"age": rng.integers(18, 66, 600), "housing": rng.choice(["own", "rent"], 600)})
>>> y = (rng.random(600) < np.where(X.age < 30, 0.4, 0.1) + (X.housing == "rent") * 0.1).astype(int)
>>> sc = Scorecard(min_iv=0.0).fit(X, y)
>>> sc.feature_names_
['age', 'housing']
>>> t = sc.table()
>>> int(sc.score(X).min()) >= sc.min_score_ and int(sc.score(X).max()) <= sc.max_score_
True
>>> Scorecard.from_dict(sc.to_dict()).score(X.head(3)).tolist() == sc.score(X.head(3)).tolist()
True
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from cardmind.errors import InvalidInput, NotFittedError

#: Column names that are protected attributes: never a decision input (fairness reports only).
PROTECTED_ATTRIBUTES = frozenset(
    {
        "gender",
        "sex",
        "ethnicity",
        "religion",
        "marital_status",
        "nationality",
        "personal_status_and_sex",
        "foreign_worker",
    }
)

ARTIFACT_KIND = "cardmind.scorecard"
ARTIFACT_VERSION = 1
MISSING_BIN = "Missing/other"


@dataclass(frozen=True, kw_only=True)
class Scaling:
    """Points-to-double-odds scaling: ``score = offset + factor * ln(good:bad odds)``.

    At ``base_score`` points the good:bad odds are ``base_odds``; every ``pdo`` more points
    double them. The defaults (600 points at 50:1, 20 PDO) are a common industry choice.

    >>> s = Scaling()
    >>> round(s.score_from_pd(1 / 51), 6)
    600.0
    >>> round(s.score_from_pd(1 / 101), 2)
    620.0
    >>> round(float(s.pd_from_score(np.array([600.0]))[0]), 5)
    0.01961
    """

    base_score: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0

    def __post_init__(self) -> None:
        if not (self.pdo > 0 and self.base_odds > 0 and math.isfinite(self.base_score)):
            raise ValueError(
                f"Scaling needs pdo > 0 and base_odds > 0, got pdo={self.pdo}, "
                f"base_odds={self.base_odds}, base_score={self.base_score}"
            )

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def score_from_pd(self, pd_bad: float) -> float:
        """The score at which the probability of bad is ``pd_bad``."""
        return self.offset + self.factor * math.log((1.0 - pd_bad) / pd_bad)

    def pd_from_score(self, score: np.ndarray) -> np.ndarray:
        """Probability of bad for each score."""
        return 1.0 / (1.0 + np.exp((np.asarray(score, dtype=float) - self.offset) / self.factor))


@dataclass(frozen=True, kw_only=True)
class Characteristic:
    """One fitted characteristic: its bins, their WOE and integer points.

    Numerical bins are ``(-inf, s0), [s0, s1), ..., [sk, inf)``; categorical bins are groups of
    categories. The last bin always holds missing values (and, for text, unseen categories).
    """

    name: str
    dtype: str
    splits: tuple[float, ...] = ()
    groups: tuple[tuple[str, ...], ...] = ()
    woe: tuple[float, ...] = ()
    count: tuple[int, ...] = ()
    bad: tuple[int, ...] = ()
    coef: float = 0.0
    points: tuple[int, ...] = ()
    iv: float = 0.0

    @property
    def n_bins(self) -> int:
        return (len(self.splits) + 1 if self.dtype == "numerical" else len(self.groups)) + 1

    def bin_one(self, value: Any) -> int:
        """The bin of one value (same result as :meth:`bin_index`, without pandas)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return self.n_bins - 1
        if self.dtype == "numerical":
            try:
                x = float(value)
            except (TypeError, ValueError):
                return self.n_bins - 1
            return self.n_bins - 1 if math.isnan(x) else bisect.bisect_right(self.splits, x)
        lookup = self.__dict__.get("_lookup")
        if lookup is None:
            lookup = {c: i for i, g in enumerate(self.groups) for c in g}
            object.__setattr__(self, "_lookup", lookup)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return lookup.get(str(value), self.n_bins - 1)

    def labels(self) -> list[str]:
        """Human-readable bin labels, missing bin last."""
        if self.dtype == "numerical":
            edges = [-math.inf, *self.splits, math.inf]
            out = [f"[{_fmt(lo)}, {_fmt(hi)})" for lo, hi in itertools.pairwise(edges)]
        else:
            out = [", ".join(g) for g in self.groups]
        return [*out, MISSING_BIN]

    def bin_index(self, values: Any) -> np.ndarray:
        """The bin of every value (vectorised; missing/unseen go to the last bin)."""
        if self.dtype == "numerical":
            x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
            idx = np.searchsorted(np.asarray(self.splits, dtype=float), x, side="right")
            idx[np.isnan(x)] = self.n_bins - 1
            return idx.astype(np.int16)
        cats = [c for g in self.groups for c in g]
        lookup = np.array(
            [i for i, g in enumerate(self.groups) for _ in g] + [self.n_bins - 1], dtype=np.int16
        )
        codes = pd.Index(cats, dtype=object).get_indexer(as_text(values).astype(object))
        return lookup[np.where(codes < 0, len(cats), codes)]


def as_text(values: Any) -> pd.Series:
    """Category values as text; integer-valued numbers print without ``.0``, missing stays NA.

    >>> as_text([1.0, None, "a"]).tolist()
    ['1', <NA>, 'a']
    """
    s = pd.Series(values)
    if pd.api.types.is_float_dtype(s) and bool(np.all(np.isnan(s) | (s == np.round(s)))):
        s = s.astype("Int64")
    elif s.dtype == object:
        s = s.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else v)
    return s.astype("string")


def _fmt(v: float) -> str:
    if math.isinf(v):
        return "-inf" if v < 0 else "inf"
    return f"{v:g}"


class Scorecard:
    """Scorecard estimator (optbinning binning + logistic regression + PDO scaling).

    Parameters are stored as given (scikit-learn convention) and checked in :meth:`fit`.

    - ``features``: columns to use (default: every column of ``X`` that is not protected);
    - ``categorical``: columns to bin as categories (default: non-numeric dtypes);
    - ``scaling``: :class:`Scaling` of the points;
    - ``min_iv``: characteristics with a lower information value are dropped;
    - ``min_bin_size`` / ``max_n_bins``: passed to optbinning;
    - ``monotonic_trend``: event-rate trend of numeric bins, passed to optbinning; the default
      ``"auto_asc_desc"`` keeps every numeric characteristic monotonic (the credit-risk convention,
      robust on weak signals); ``"auto"`` (optbinning's default) also allows a peak or valley;
    - ``C``: inverse regularisation of the logistic regression;
    - ``name``: model name saved in the artifact.
    """

    def __init__(
        self,
        *,
        features: list[str] | None = None,
        categorical: list[str] | None = None,
        scaling: Scaling | None = None,
        min_iv: float = 0.02,
        min_bin_size: float = 0.05,
        max_n_bins: int = 8,
        C: float = 1.0,
        monotonic_trend: str | None = "auto_asc_desc",
        name: str = "scorecard",
    ) -> None:
        self.features = features
        self.categorical = categorical
        self.scaling = scaling
        self.min_iv = min_iv
        self.min_bin_size = min_bin_size
        self.max_n_bins = max_n_bins
        self.C = C
        self.monotonic_trend = monotonic_trend
        self.name = name

    # --- fitting ------------------------------------------------------------------------------

    def _check_params(self) -> None:
        if not 0 < self.min_bin_size < 0.5:
            raise ValueError(f"min_bin_size must be in (0, 0.5), got {self.min_bin_size}")
        if not (isinstance(self.max_n_bins, int) and self.max_n_bins >= 2):
            raise ValueError(f"max_n_bins must be an int >= 2, got {self.max_n_bins!r}")
        if self.min_iv < 0:
            raise ValueError(f"min_iv must be >= 0, got {self.min_iv}")
        allowed = (
            None,
            "auto",
            "auto_heuristic",
            "auto_asc_desc",
            "ascending",
            "descending",
            "concave",
            "convex",
            "peak",
            "valley",
            "peak_heuristic",
            "valley_heuristic",
        )
        if self.monotonic_trend not in allowed:
            raise ValueError(
                f"monotonic_trend must be one of {allowed}, got {self.monotonic_trend!r}"
            )
        if self.C <= 0:
            raise ValueError(f"C must be > 0, got {self.C}")
        if self.scaling is not None and not isinstance(self.scaling, Scaling):
            raise TypeError(f"scaling must be a Scaling, got {type(self.scaling).__name__}")

    def fit(self, X: pd.DataFrame, y: Any, sample_weight: Any = None) -> Scorecard:
        """Bin every characteristic, fit the regression, scale the points. Returns ``self``.

        ``y`` is 1 for bad, 0 for good. ``sample_weight`` (e.g. from reject inference) weights
        both the binning and the regression.
        """
        from optbinning import OptimalBinning

        self._check_params()
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"X must be a pandas DataFrame, got {type(X).__name__}")
        y = np.asarray(y).astype(int)
        if y.shape[0] != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {y.shape[0]}")
        if set(np.unique(y)) - {0, 1} or len(np.unique(y)) < 2:
            raise ValueError("y must contain both classes coded 0 (good) and 1 (bad)")
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        if self.features is None:
            features = [c for c in X.columns if c not in PROTECTED_ATTRIBUTES]
        else:
            bad = sorted(set(self.features) & PROTECTED_ATTRIBUTES)
            if bad:
                raise ValueError(f"protected attributes cannot be scorecard inputs: {bad}")
            missing = [c for c in self.features if c not in X.columns]
            if missing:
                raise ValueError(f"features not in X: {missing}")
            features = list(self.features)
        self.excluded_ = sorted(set(X.columns) & PROTECTED_ATTRIBUTES)
        categorical = (
            set(self.categorical)
            if self.categorical is not None
            else {c for c in features if not pd.api.types.is_numeric_dtype(X[c])}
        )
        n_good, n_bad = _weighted_counts(y, w)
        chars: dict[str, dict[str, Any]] = {}
        self.iv_: dict[str, float] = {}
        for col in features:
            dtype = "categorical" if col in categorical else "numerical"
            values = as_text(X[col]) if dtype == "categorical" else X[col].astype(float)
            ob = OptimalBinning(
                name=col,
                dtype=dtype,
                monotonic_trend=self.monotonic_trend if dtype == "numerical" else None,
                min_bin_size=self.min_bin_size,
                max_n_bins=self.max_n_bins,
            )
            present = values.notna().to_numpy()
            if present.sum() < 2 or values[present].nunique() < 2:
                self.iv_[col] = 0.0  # constant or empty: carries no information
                continue
            ob.fit(values.to_numpy(dtype=object if dtype == "categorical" else float), y, w)
            if dtype == "numerical":
                proto = Characteristic(
                    name=col, dtype=dtype, splits=tuple(float(s) for s in ob.splits)
                )
            else:
                proto = Characteristic(
                    name=col,
                    dtype=dtype,
                    groups=tuple(tuple(str(c) for c in list(g)) for g in ob.splits),
                )
            idx = proto.bin_index(values)
            good = np.bincount(
                idx, weights=(1 - y) * (1 if w is None else w), minlength=proto.n_bins
            )
            badc = np.bincount(idx, weights=y * (1 if w is None else w), minlength=proto.n_bins)
            woe = np.log(((good + 0.5) / (n_good + 0.5)) / ((badc + 0.5) / (n_bad + 0.5)))
            woe[(good + badc) == 0] = 0.0
            iv = float(np.sum(((good + 0.5) / (n_good + 0.5) - (badc + 0.5) / (n_bad + 0.5)) * woe))
            self.iv_[col] = iv
            chars[col] = {
                "proto": proto,
                "woe": woe,
                # weighted counts: with reject inference a fuzzy reject counts once in total
                "count": good + badc,
                "bad": badc,
                "idx": idx,
            }
        selected = [c for c in features if c in chars and self.iv_[c] >= self.min_iv]
        if not selected:
            raise ValueError(f"no characteristic has an information value >= {self.min_iv}")
        # Fit; drop characteristics whose coefficient has the wrong sign (collinearity) and refit.
        while True:
            W = np.column_stack([chars[c]["woe"][chars[c]["idx"]] for c in selected])
            lr = LogisticRegression(C=self.C, max_iter=1000)
            lr.fit(W, y, sample_weight=w)
            coefs = lr.coef_[0]
            wrong = [c for c, b in zip(selected, coefs, strict=True) if b >= 0]
            if not wrong or len(selected) == 1:
                break
            worst = max(wrong, key=lambda c: coefs[selected.index(c)])
            selected.remove(worst)
        scaling = self.scaling or Scaling()
        factor, offset = scaling.factor, scaling.offset
        k = len(selected)
        # ln(good:bad) = -(b0 + sum b_i woe_i): each characteristic gets an equal share of the base.
        share = (offset - factor * float(lr.intercept_[0])) / k
        characteristics = []
        for c, b in zip(selected, coefs, strict=True):
            ch = chars[c]
            pts = np.rint(share - factor * float(b) * ch["woe"]).astype(int)
            p = ch["proto"]
            characteristics.append(
                Characteristic(
                    name=c,
                    dtype=p.dtype,
                    splits=p.splits,
                    groups=p.groups,
                    woe=tuple(round(float(v), 6) for v in ch["woe"]),
                    count=tuple(round(float(v)) for v in ch["count"]),
                    bad=tuple(round(float(v)) for v in ch["bad"]),
                    coef=float(b),
                    points=tuple(int(v) for v in pts),
                    iv=round(self.iv_[c], 6),
                )
            )
        self._set_fitted(
            characteristics,
            intercept=float(lr.intercept_[0]),
            scaling=scaling,
            n_rows=len(X),
            bad_rate=float(np.average(y, weights=w)),
            excluded=self.excluded_,
        )
        return self

    def _set_fitted(
        self,
        characteristics: list[Characteristic],
        *,
        intercept: float,
        scaling: Scaling,
        n_rows: int,
        bad_rate: float,
        excluded: list[str],
    ) -> None:
        self.characteristics_ = characteristics
        self.feature_names_ = [c.name for c in characteristics]
        self.coef_ = np.array([c.coef for c in characteristics])
        self.intercept_ = intercept
        self.scaling_ = scaling
        self.n_rows_ = n_rows
        self.bad_rate_ = bad_rate
        self.excluded_ = excluded
        self.min_score_ = int(sum(min(c.points) for c in characteristics))
        self.max_score_ = int(sum(max(c.points) for c in characteristics))
        self._points = [np.asarray(c.points, dtype=np.int32) for c in characteristics]
        self._best = np.array([max(c.points) for c in characteristics], dtype=np.int32)

    def _check_fitted(self) -> None:
        if not hasattr(self, "characteristics_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() or load()")

    # --- scoring ------------------------------------------------------------------------------

    def bins(self, X: pd.DataFrame) -> np.ndarray:
        """Bin index per row and characteristic, shape (n, k)."""
        self._check_fitted()
        missing = [c for c in self.feature_names_ if c not in X.columns]
        if missing:
            raise InvalidInput(f"missing characteristics: {missing}")
        return np.column_stack([c.bin_index(X[c.name]) for c in self.characteristics_])

    def points(self, X: pd.DataFrame) -> np.ndarray:
        """Integer points per row and characteristic, shape (n, k)."""
        b = self.bins(X)
        return np.column_stack([p[b[:, j]] for j, p in enumerate(self._points)])

    def points_one(self, record: Mapping[str, Any]) -> list[int]:
        """Points per characteristic for one record (a dict); fast path for real-time use."""
        self._check_fitted()
        return [c.points[c.bin_one(record.get(c.name))] for c in self.characteristics_]

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """Total points per row (higher = safer)."""
        return self.points(X).sum(axis=1)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Columns: P(good), P(bad), from the score through the scaling."""
        pd_bad = self.scaling_.pd_from_score(self.score(X))
        return np.column_stack([1.0 - pd_bad, pd_bad])

    def adverse_factors(self, points: np.ndarray, top: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """Top adverse characteristics per row: points lost against each one's best bin.

        Returns ``(index, lost)`` arrays of shape (n, top), ordered by points lost (largest
        first); ``index`` is -1 where fewer than ``top`` characteristics lost points.
        """
        self._check_fitted()
        lost = self._best[None, :] - points
        top = min(top, lost.shape[1])
        order = np.argsort(-lost, axis=1, kind="stable")[:, :top]
        lost_top = np.take_along_axis(lost, order, axis=1)
        order = np.where(lost_top > 0, order, -1)
        return order, np.where(lost_top > 0, lost_top, 0)

    # --- reports and artifact -----------------------------------------------------------------

    def table(self) -> pd.DataFrame:
        """The scorecard table: one row per characteristic and bin."""
        self._check_fitted()
        rows = []
        for c in self.characteristics_:
            for i, label in enumerate(c.labels()):
                rows.append(
                    {
                        "characteristic": c.name,
                        "bin": label,
                        "count": c.count[i],
                        "bad": c.bad[i],
                        "bad_rate": c.bad[i] / c.count[i] if c.count[i] else float("nan"),
                        "woe": c.woe[i],
                        "coef": c.coef,
                        "points": c.points[i],
                    }
                )
        return pd.DataFrame(rows)

    def information(self) -> dict[str, Any]:
        """Summary: scaling, characteristics with IV, score range."""
        self._check_fitted()
        return {
            "name": self.name,
            "scaling": asdict(self.scaling_),
            "characteristics": {c.name: c.iv for c in self.characteristics_},
            "excluded_protected": self.excluded_,
            "score_range": [self.min_score_, self.max_score_],
            "n_rows": self.n_rows_,
            "bad_rate": self.bad_rate_,
        }

    def to_dict(self) -> dict[str, Any]:
        """The artifact as JSON-ready data (no pickle)."""
        self._check_fitted()
        return {
            "kind": ARTIFACT_KIND,
            "version": ARTIFACT_VERSION,
            "name": self.name,
            "scaling": asdict(self.scaling_),
            "intercept": self.intercept_,
            "n_rows": self.n_rows_,
            "bad_rate": self.bad_rate_,
            "excluded_protected": self.excluded_,
            "characteristics": [
                {
                    **asdict(c),
                    "splits": list(c.splits),
                    "groups": [list(g) for g in c.groups],
                }
                for c in self.characteristics_
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scorecard:
        """Rebuild a fitted scorecard from :meth:`to_dict` output."""
        if data.get("kind") != ARTIFACT_KIND or data.get("version") != ARTIFACT_VERSION:
            raise InvalidInput(
                f"not a scorecard artifact v{ARTIFACT_VERSION}: "
                f"kind={data.get('kind')!r} version={data.get('version')!r}"
            )
        chars = [
            Characteristic(
                **{
                    **c,
                    "splits": tuple(c["splits"]),
                    "groups": tuple(tuple(g) for g in c["groups"]),
                    "woe": tuple(c["woe"]),
                    "count": tuple(c["count"]),
                    "bad": tuple(c["bad"]),
                    "points": tuple(c["points"]),
                }
            )
            for c in data["characteristics"]
        ]
        sc = cls(name=data["name"], scaling=Scaling(**data["scaling"]))
        sc._set_fitted(
            chars,
            intercept=float(data["intercept"]),
            scaling=Scaling(**data["scaling"]),
            n_rows=int(data["n_rows"]),
            bad_rate=float(data["bad_rate"]),
            excluded=list(data.get("excluded_protected", [])),
        )
        return sc

    def save(self, path: str | Path) -> None:
        """Write the JSON artifact."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False))

    @classmethod
    def load(cls, path: str | Path) -> Scorecard:
        """Read a JSON artifact written by :meth:`save`."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"{path}: cannot read scorecard ({exc})") from exc

    def to_csv(self, path: str | Path) -> None:
        """Write :meth:`table` as CSV."""
        self.table().to_csv(path, index=False)


def _weighted_counts(y: np.ndarray, w: np.ndarray | None) -> tuple[float, float]:
    if w is None:
        return float((y == 0).sum()), float((y == 1).sum())
    return float(w[y == 0].sum()), float(w[y == 1].sum())
