"""Train and evaluate champion (scorecard) and challenger (LightGBM) on application data.

One function, :func:`train_application_models`, runs the whole routine a credit team expects:
stratified k-fold cross-validated AUC and KS for both models (binning refitted inside every
fold), accuracy at probability 0.5 (the figure published for German credit), a cut-off chosen
on out-of-fold predictions by the cost matrix, a fairness table of approval rates by the
protected attributes (which the models never see), and both models refitted on all rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cardmind.models.credit.challenger import LightGBMChallenger
from cardmind.models.credit.evaluation import (
    CVResult,
    cross_validate,
    expected_cost,
    fairness_table,
)
from cardmind.models.credit.scorecard import PROTECTED_ATTRIBUTES, Scorecard


@dataclass
class TrainingReport:
    """Everything :func:`train_application_models` produced."""

    champion: Scorecard
    challenger: LightGBMChallenger
    cv: dict[str, CVResult]
    accuracy_at_half: dict[str, float]
    cutoff_pd: float
    cutoff_score: int
    approval_rate: float
    bad_rate_approved: float
    expected_cost: float
    fairness: pd.DataFrame
    excluded: list[str]

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (the models themselves are saved separately)."""
        return {
            "cv": {k: v.summary() for k, v in self.cv.items()},
            "accuracy_at_0.5": {k: round(v, 4) for k, v in self.accuracy_at_half.items()},
            "cutoff_pd": round(self.cutoff_pd, 4),
            "cutoff_score": self.cutoff_score,
            "approval_rate_at_cutoff": round(self.approval_rate, 4),
            "bad_rate_of_approved": round(self.bad_rate_approved, 4),
            "expected_cost_per_applicant": round(self.expected_cost, 4),
            "excluded_protected_attributes": self.excluded,
            "champion": self.champion.information(),
            "fairness": self.fairness.round(4).to_dict("records"),
        }


def choose_cutoff(
    y: Any, p_bad: Any, *, cost_bad_accepted: float, cost_good_rejected: float
) -> float:
    """The PD cut-off (approve when ``p_bad < cutoff``) that minimises the expected cost.

    >>> choose_cutoff([0, 0, 1, 1], [0.1, 0.2, 0.6, 0.9], cost_bad_accepted=5, cost_good_rejected=1)
    0.6
    """
    y = np.asarray(y).astype(int)
    p = np.asarray(p_bad, dtype=float)
    candidates = np.unique(np.r_[p, 1.0 + 1e-9])
    costs = [
        expected_cost(
            y, p < c, cost_bad_accepted=cost_bad_accepted, cost_good_rejected=cost_good_rejected
        )
        for c in candidates
    ]
    return float(candidates[int(np.argmin(costs))])


def train_application_models(
    X: pd.DataFrame,
    y: Any,
    *,
    protected: pd.DataFrame | None = None,
    n_splits: int = 5,
    seed: int = 0,
    cost_bad_accepted: float = 5.0,
    cost_good_rejected: float = 1.0,
    cutoff_pd: float | None = None,
    scorecard: dict[str, Any] | None = None,
    challenger: dict[str, Any] | None = None,
) -> TrainingReport:
    """Cross-validate and fit champion and challenger; see the module docstring.

    ``X`` must not contain protected attributes (pass them as ``protected`` for the fairness
    table); ``scorecard`` / ``challenger`` are keyword arguments for the two estimators.
    """
    leaked = sorted(set(X.columns) & PROTECTED_ATTRIBUTES)
    if leaked:
        raise ValueError(
            f"protected attributes must not be in X (pass them as protected=): {leaked}"
        )
    y = np.asarray(y).astype(int)
    sc_kw = dict(scorecard or {})
    ch_kw = dict(challenger or {})
    cv = {
        "champion_scorecard": cross_validate(
            lambda: Scorecard(**sc_kw), X, y, n_splits=n_splits, seed=seed, name="scorecard"
        ),
        "challenger_lightgbm": cross_validate(
            lambda: LightGBMChallenger(seed=seed, **ch_kw),
            X,
            y,
            n_splits=n_splits,
            seed=seed,
            name="lightgbm",
        ),
    }
    accuracy = {k: float(((r.oof >= 0.5).astype(int) == y).mean()) for k, r in cv.items()}
    oof = cv["champion_scorecard"].oof
    if cutoff_pd is None:
        cutoff_pd = choose_cutoff(
            y, oof, cost_bad_accepted=cost_bad_accepted, cost_good_rejected=cost_good_rejected
        )
    approved = oof < cutoff_pd
    champion = Scorecard(**sc_kw).fit(X, y)
    fitted_challenger = LightGBMChallenger(seed=seed, **ch_kw).fit(X, y)
    groups = protected if protected is not None else pd.DataFrame(index=X.index)
    fair = (
        fairness_table(approved, groups.reset_index(drop=True), y)
        if len(groups.columns)
        else pd.DataFrame(columns=["attribute", "group", "n", "approval_rate"])
    )
    return TrainingReport(
        champion=champion,
        challenger=fitted_challenger,
        cv=cv,
        accuracy_at_half=accuracy,
        cutoff_pd=float(cutoff_pd),
        cutoff_score=int(
            np.ceil(champion.scaling_.score_from_pd(min(max(cutoff_pd, 1e-6), 1 - 1e-6)))
        ),
        approval_rate=float(approved.mean()),
        bad_rate_approved=float(y[approved].mean()) if approved.any() else float("nan"),
        expected_cost=expected_cost(
            y, approved, cost_bad_accepted=cost_bad_accepted, cost_good_rejected=cost_good_rejected
        ),
        fairness=fair,
        excluded=sorted(set(protected.columns) if protected is not None else set()),
    )
