"""Evaluation of credit models: AUC, KS, stratified cross-validation and a fairness table.

>>> y = np.array([0, 0, 1, 1]); p = np.array([0.1, 0.4, 0.35, 0.8])
>>> round(auc(y, p), 2), round(ks(y, p), 2)
(0.75, 0.5)
>>> fairness_table(np.array([True, False, True, True]), pd.DataFrame({"g": ["a", "a", "b", "b"]}))[
...     ["attribute", "group", "n", "approval_rate"]].to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
[{'attribute': 'g', 'group': 'a', 'n': 2, 'approval_rate': 0.5},
 {'attribute': 'g', 'group': 'b', 'n': 2, 'approval_rate': 1.0}]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold


def auc(y: Any, p_bad: Any) -> float:
    """Area under the ROC curve of ``p_bad`` against ``y`` (1 = bad)."""
    return float(roc_auc_score(np.asarray(y).astype(int), np.asarray(p_bad, dtype=float)))


def ks(y: Any, p_bad: Any) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the bad and good score CDFs."""
    y = np.asarray(y).astype(int)
    p = np.asarray(p_bad, dtype=float)
    order = np.argsort(p, kind="mergesort")
    p, y = p[order], y[order]
    cum_bad = np.cumsum(y) / max(y.sum(), 1)
    cum_good = np.cumsum(1 - y) / max((1 - y).sum(), 1)
    last = np.r_[p[1:] != p[:-1], True]  # evaluate only at the end of ties
    return float(np.max(np.abs(cum_bad - cum_good)[last]))


def gini(y: Any, p_bad: Any) -> float:
    """Gini coefficient ``2 * AUC - 1``."""
    return 2.0 * auc(y, p_bad) - 1.0


@dataclass
class CVResult:
    """Out-of-fold predictions and per-fold AUC/KS of one model."""

    name: str
    oof: np.ndarray
    fold_auc: list[float] = field(default_factory=list)
    fold_ks: list[float] = field(default_factory=list)

    @property
    def auc_mean(self) -> float:
        return float(np.mean(self.fold_auc))

    @property
    def ks_mean(self) -> float:
        return float(np.mean(self.fold_ks))

    def summary(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "auc_mean": round(self.auc_mean, 4),
            "auc_std": round(float(np.std(self.fold_auc)), 4),
            "ks_mean": round(self.ks_mean, 4),
            "ks_std": round(float(np.std(self.fold_ks)), 4),
            "folds": len(self.fold_auc),
        }


def cross_validate(
    make_model: Callable[[], Any],
    X: pd.DataFrame,
    y: Any,
    *,
    n_splits: int = 5,
    seed: int = 0,
    name: str = "model",
) -> CVResult:
    """Stratified k-fold CV; the model (binning included) is refitted inside every fold.

    ``make_model()`` returns an unfitted object with ``fit(X, y)`` and ``predict_proba(X)``.
    """
    if n_splits < 2:
        raise ValueError(f"n_splits must be >= 2, got {n_splits}")
    y = np.asarray(y).astype(int)
    oof = np.full(len(y), np.nan)
    res = CVResult(name=name, oof=oof)
    for train, test in StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(X, y):
        model = make_model().fit(X.iloc[train], y[train])
        p = model.predict_proba(X.iloc[test])[:, 1]
        oof[test] = p
        res.fold_auc.append(auc(y[test], p))
        res.fold_ks.append(ks(y[test], p))
    return res


def fairness_table(approved: Any, groups: pd.DataFrame, y: Any | None = None) -> pd.DataFrame:
    """Approval rate (and bad rate among approved, when ``y`` is given) per group of each column.

    ``ratio_to_max`` is the group's approval rate over the highest group's rate of the same
    attribute (the "four-fifths rule" flags ratios below 0.8).
    """
    approved = np.asarray(approved, dtype=bool)
    rows = []
    for col in groups.columns:
        g = groups[col].astype("string").fillna("<missing>").to_numpy()
        for value in sorted(set(g)):
            m = g == value
            row: dict[str, Any] = {
                "attribute": col,
                "group": value,
                "n": int(m.sum()),
                "approval_rate": float(approved[m].mean()),
            }
            if y is not None:
                yy = np.asarray(y).astype(int)
                ok = m & approved
                row["bad_rate_approved"] = float(yy[ok].mean()) if ok.any() else float("nan")
                row["bad_rate_all"] = float(yy[m].mean())
            rows.append(row)
    out = pd.DataFrame(rows)
    out["ratio_to_max"] = out["approval_rate"] / out.groupby("attribute")[
        "approval_rate"
    ].transform("max")
    return out


def expected_cost(
    y: Any, approved: Any, *, cost_bad_accepted: float = 5.0, cost_good_rejected: float = 1.0
) -> float:
    """Average cost per applicant under a cost matrix (German credit: 5 and 1)."""
    y = np.asarray(y).astype(int)
    a = np.asarray(approved, dtype=bool)
    return float(
        ((y == 1) & a).sum() * cost_bad_accepted + ((y == 0) & ~a).sum() * cost_good_rejected
    ) / len(y)
