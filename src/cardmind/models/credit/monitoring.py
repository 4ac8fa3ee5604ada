"""Population stability: PSI of scores and characteristics between two periods.

``PSI = sum_i (a_i - e_i) * ln(a_i / e_i)`` over bins, with ``e`` the baseline shares and ``a``
the recent ones (a small floor avoids empty bins). Common reading: below 0.10 stable, 0.10-0.25
a moderate shift worth a look, above 0.25 a major shift (rebuild or recalibrate).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> base = rng.normal(size=5000)
>>> round(psi(base, rng.normal(size=5000)), 3) < 0.01, psi(base, rng.normal(1, 1, 5000)) > 0.25
(True, True)
>>> stability_label(0.05), stability_label(0.3)
('stable', 'major shift')
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

FLOOR = 1e-4


def stability_label(value: float) -> str:
    return "stable" if value < 0.10 else "moderate shift" if value < 0.25 else "major shift"


def psi_from_shares(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI of two share vectors over the same bins."""
    e = np.maximum(np.asarray(expected, float), FLOOR)
    a = np.maximum(np.asarray(actual, float), FLOOR)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def psi(expected: Any, actual: Any, *, bins: int = 10) -> float:
    """PSI of a numeric variable, bins at the baseline's quantiles (missing values: own bin)."""
    e = np.asarray(expected, float)
    a = np.asarray(actual, float)
    edges = np.unique(np.quantile(e[~np.isnan(e)], np.linspace(0, 1, bins + 1)[1:-1]))
    return psi_from_shares(_shares(e, edges), _shares(a, edges))


def _shares(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    idx = np.where(np.isnan(x), len(edges) + 1, np.searchsorted(edges, x, side="right"))
    return np.bincount(idx, minlength=len(edges) + 2) / max(len(x), 1)


def bin_psi(expected_bins: np.ndarray, actual_bins: np.ndarray, n_bins: int) -> float:
    """PSI over integer bin indices (e.g. a scorecard characteristic's bins)."""
    e = np.bincount(expected_bins, minlength=n_bins) / max(len(expected_bins), 1)
    a = np.bincount(actual_bins, minlength=n_bins) / max(len(actual_bins), 1)
    return psi_from_shares(e, a)


def scorecard_stability(
    scorecard: Any, baseline: pd.DataFrame, recent: pd.DataFrame
) -> pd.DataFrame:
    """PSI of the score (baseline deciles) and of every characteristic (its scorecard bins)."""
    rows = [
        {
            "variable": "score",
            "psi": psi(scorecard.score(baseline), scorecard.score(recent)),
            "mean_baseline": float(scorecard.score(baseline).mean()),
            "mean_recent": float(scorecard.score(recent).mean()),
        }
    ]
    b, r = scorecard.bins(baseline), scorecard.bins(recent)
    for j, ch in enumerate(scorecard.characteristics_):
        pts = np.asarray(ch.points)
        rows.append(
            {
                "variable": ch.name,
                "psi": bin_psi(b[:, j], r[:, j], ch.n_bins),
                "mean_baseline": float(pts[b[:, j]].mean()),
                "mean_recent": float(pts[r[:, j]].mean()),
            }
        )
    out = pd.DataFrame(rows)
    out["stability"] = out["psi"].map(stability_label)
    return out
