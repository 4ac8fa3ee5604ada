"""Probability calibration stored as JSON: isotonic (enough positives) or Platt (few).

A gradient-boosted model trained with class weights ranks well but its raw outputs are not
probabilities. A calibration is fitted on a held-out, time-ordered slice and saved as plain numbers
(breakpoints, or the two Platt coefficients) in the model's metadata: no pickle.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> raw = rng.random(4000)
>>> y = rng.random(4000) < raw ** 3
>>> cal = Calibration.fit(raw, y)
>>> cal.method
'isotonic'
>>> p = cal.transform(np.array([0.05, 0.95]))
>>> bool(p[0] < 0.05 < 0.5 < p[1])
True
>>> bool(Calibration.from_dict(cal.to_dict()).transform(np.array([0.95]))[0] == p[1])
True
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MIN_POSITIVES_FOR_ISOTONIC = 30
RANK_KEEP = 1e-6  # share of the raw score kept in an isotonic map (no ties)


@dataclass(frozen=True, kw_only=True)
class Calibration:
    """A monotone map from raw model output to a probability.

    ``method`` is ``"isotonic"`` (piecewise-linear through ``x``/``y`` breakpoints),
    ``"platt"`` (``1 / (1 + exp(-(a * logit(raw) + b)))``) or ``"identity"``.
    """

    method: str
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    a: float = 1.0
    b: float = 0.0

    def __post_init__(self) -> None:
        if self.method not in ("isotonic", "platt", "identity"):
            raise ValueError(f"unknown calibration method {self.method!r}")
        if self.method == "isotonic" and (len(self.x) < 2 or len(self.x) != len(self.y)):
            raise ValueError("isotonic calibration needs >= 2 breakpoints with x and y alike")

    @classmethod
    def fit(cls, raw: np.ndarray, labels: np.ndarray, *, method: str = "auto") -> Calibration:
        """Fit on raw scores in [0, 1] and boolean labels of a held-out slice.

        ``method="auto"`` picks isotonic with >= 30 positives, else Platt scaling; with no
        positive or no negative at all the calibration is the identity.
        """
        raw = np.asarray(raw, dtype=float)
        y = np.asarray(labels, dtype=bool)
        if raw.shape != y.shape or raw.ndim != 1:
            raise ValueError("raw and labels must be 1-D arrays of the same length")
        pos = int(y.sum())
        if pos == 0 or pos == len(y):
            return cls(method="identity")
        if method == "auto":
            method = "isotonic" if pos >= MIN_POSITIVES_FOR_ISOTONIC else "platt"
        if method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            iso.fit(raw, y.astype(float))
            xs = np.asarray(iso.X_thresholds_, float)
            ys = np.asarray(iso.y_thresholds_, float)
            keep = np.r_[True, np.diff(xs) > 0]  # one breakpoint per distinct raw score
            xs, ys = xs[keep], ys[keep]
            # Pad to [0, 1] and blend in a 1e-6 share of the raw score: the map becomes strictly
            # increasing, so calibration never creates ties and never changes the ranking
            # (AUC, AP and CP@k of calibrated and raw scores are equal).
            if xs[0] > 0.0:
                xs, ys = np.r_[0.0, xs], np.r_[ys[0], ys]
            if xs[-1] < 1.0:
                xs, ys = np.r_[xs, 1.0], np.r_[ys, ys[-1]]
            ys = (1.0 - RANK_KEEP) * ys + RANK_KEEP * xs
            return cls(method="isotonic", x=tuple(xs.tolist()), y=tuple(ys.tolist()))
        if method == "platt":
            from sklearn.linear_model import LogisticRegression

            lr = LogisticRegression(C=1e6, max_iter=1000)
            lr.fit(_logit(raw).reshape(-1, 1), y)
            a = float(lr.coef_[0, 0])
            if a <= 0:  # a decreasing map would reverse the model's ranking: keep raw scores
                return cls(method="identity")
            return cls(method="platt", a=a, b=float(lr.intercept_[0]))
        raise ValueError(f"unknown calibration method {method!r}")

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw scores."""
        raw = np.asarray(raw, dtype=float)
        if self.method == "identity":
            return raw
        if self.method == "isotonic":
            return np.interp(raw, self.x, self.y)
        return 1.0 / (1.0 + np.exp(-(self.a * _logit(raw) + self.b)))

    def transform_one(self, raw: float) -> float:
        """Calibrated probability of one raw score (no array allocation for Platt/identity)."""
        if self.method == "identity":
            return float(raw)
        if self.method == "isotonic":  # plain Python: np.interp releases the GIL, which on the
            # authorization path hands the interpreter to the decision-log writer thread
            return _interp(raw, self.x, self.y)
        r = min(max(raw, 1e-12), 1 - 1e-12)
        return float(1.0 / (1.0 + np.exp(-(self.a * np.log(r / (1 - r)) + self.b))))

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "x": list(self.x),
            "y": list(self.y),
            "a": self.a,
            "b": self.b,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(
            method=data["method"],
            x=tuple(float(v) for v in data.get("x", ())),
            y=tuple(float(v) for v in data.get("y", ())),
            a=float(data.get("a", 1.0)),
            b=float(data.get("b", 0.0)),
        )


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def _interp(x: float, xp: Sequence[float], fp: Sequence[float]) -> float:
    """``np.interp(x, xp, fp)`` for one value, computed as NumPy does, without NumPy.

    >>> xp, fp = [0.0, 0.2, 1.0], [0.0, 0.1, 0.9]
    >>> all(_interp(v, xp, fp) == float(np.interp(v, xp, fp)) for v in (-1, 0, 0.1, 0.2, 0.7, 1, 2))
    True
    """
    if x != x:
        return math.nan
    j = bisect_right(xp, x) - 1
    if j < 0:
        return fp[0]
    if j >= len(xp) - 1:
        return fp[-1]
    if xp[j] == x:
        return fp[j]
    slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
    return slope * (x - xp[j]) + fp[j]
