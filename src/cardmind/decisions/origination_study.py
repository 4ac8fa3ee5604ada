"""Train the origination bundle from a dataset and evaluate the policy on the through-the-door
population (the library behind ``cardmind train credit`` and ``cardmind report credit``).

Evaluation against the truth (rejected applicants' outcomes) exists only for simulated data and
only here: the models are fitted on approved applications with an observed outcome
(:mod:`cardmind.models.credit.outcomes`), optionally with reject inference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from cardmind.dataset import Dataset
from cardmind.decisions.origination import OriginationConfig, OriginationPolicy, calibrate_quote
from cardmind.errors import InvalidInput
from cardmind.models.credit.application import (
    CATEGORICAL,
    application_features,
    fit_origination_models,
)
from cardmind.models.credit.challenger import LightGBMChallenger
from cardmind.models.credit.evaluation import auc, cross_validate, ks
from cardmind.models.credit.outcomes import (
    applications_with_observed_outcome,
    through_the_door_truth,
)
from cardmind.models.credit.reject_inference import METHODS, augment, compare_methods
from cardmind.models.credit.scorecard import Scorecard


@dataclass
class OriginationTraining:
    """The trained policy and what was measured on the way."""

    policy: OriginationPolicy
    metrics: dict[str, Any] = field(default_factory=dict)


def train_origination(
    dataset: Dataset | str,
    *,
    reject_inference: str = "none",
    uplift: float = 2.0,
    n_splits: int = 5,
    seed: int = 0,
    config: OriginationConfig | None = None,
    version: str | None = None,
) -> OriginationTraining:
    """Fit champion/challenger/quote on approved applications with an outcome (plus inferred
    rejects when ``reject_inference`` is ``fuzzy`` or ``parceling``), calibrate the quick quote
    on all applications, and report 5-fold CV AUC/KS of both models on the known outcomes."""
    if reject_inference not in METHODS:
        raise InvalidInput(f"reject inference must be one of {METHODS}, got {reject_inference!r}")
    ds = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    apps, observed = applications_with_observed_outcome(ds)
    known = ~np.isnan(observed)
    if known.sum() < 200 or observed[known].sum() < 20:
        raise InvalidInput(
            f"{ds.path}: {int(known.sum())} applications with an outcome, {int(np.nansum(observed))} bad: "
            "need at least 200 and 20 (simulate more applications, e.g. --set population.new_card_share=1)"
        )
    X = application_features(apps)
    sc_kw = {"categorical": [c for c in CATEGORICAL if c in X.columns]}
    cv = {
        "champion_scorecard": cross_validate(
            lambda: Scorecard(**sc_kw),
            X[known],
            observed[known],
            n_splits=n_splits,
            seed=seed,
            name="scorecard",
        ).summary(),
        "challenger_lightgbm": cross_validate(
            lambda: LightGBMChallenger(seed=seed),
            X[known],
            observed[known],
            n_splits=n_splits,
            seed=seed,
            name="lightgbm",
        ).summary(),
    }
    w = None
    if reject_inference != "none":
        kgb = Scorecard(**sc_kw).fit(X[known], observed[known].astype(int))
        Xa, ya, w = augment(
            X,
            observed,
            kgb.predict_proba(X)[:, 1],
            method=reject_inference,
            uplift=uplift,
            seed=seed,
        )
        # augment() keeps row labels: fit_origination_models needs the application rows
        train_apps, y = apps.loc[Xa.index].reset_index(drop=True), ya
    else:
        train_apps, y = apps[known].reset_index(drop=True), observed[known].astype(int)
    models = fit_origination_models(
        train_apps,
        y,
        sample_weight=w,
        version=version
        or f"origination-{reject_inference}-{pd.Timestamp.now(tz='Asia/Shanghai'):%Y%m%d%H%M%S}",
        seed=seed,
    )
    policy = OriginationPolicy(models, config)
    calibrate_quote(policy, apps)
    decisions = policy.decide_frame(apps)
    models.metrics = {
        "cv_known_outcomes": cv,
        "n_applications": len(apps),
        "n_with_outcome": int(known.sum()),
        "bad_rate_with_outcome": float(observed[known].mean()),
        "reject_inference": reject_inference,
        "policy_on_all_applications": decision_mix(decisions),
    }
    return OriginationTraining(policy=policy, metrics=models.metrics)


def decision_mix(decisions: pd.DataFrame, truth: np.ndarray | None = None) -> dict[str, Any]:
    """Approve/decline/refer shares, auto-decision rate; with ``truth``, bad rates per action."""
    action = decisions["action"].to_numpy()
    out: dict[str, Any] = {
        "n": len(action),
        "approve_rate": float((action == "APPROVE").mean()),
        "decline_rate": float((action == "DECLINE").mean()),
        "refer_rate": float((action == "REFER").mean()),
        "auto_decision_rate": float((action != "REFER").mean()),
    }
    if truth is not None:
        for a in ("APPROVE", "DECLINE", "REFER"):
            m = action == a
            out[f"bad_rate_{a.lower()}"] = float(truth[m].mean()) if m.any() else None
    return out


def evaluate_on_truth(policy: OriginationPolicy, dataset: Dataset | str) -> dict[str, Any]:
    """Simulated data only: the policy and the legacy decision on every applicant, against the
    true 12-month outcome (auto-decision rate, bad rate of auto-approvals, AUC/KS on all)."""
    ds = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    apps = ds.read("applications").to_pandas()
    truth = through_the_door_truth(ds, apps["application_id"])
    decisions = policy.decide_frame(apps)
    legacy = (apps["decision"] == "approved").to_numpy()
    return {
        "policy": decision_mix(decisions, truth),
        "legacy": {
            "approve_rate": float(legacy.mean()),
            "bad_rate_approved": float(truth[legacy].mean()),
            "bad_rate_rejected": float(truth[~legacy].mean()),
        },
        "champion_through_the_door": {
            "auc": auc(truth, decisions["pd"].to_numpy()),
            "ks": ks(truth, decisions["pd"].to_numpy()),
        },
        "bad_rate_through_the_door": float(truth.mean()),
    }


def reject_inference_study(
    dataset: Dataset | str,
    *,
    repeats: int = 5,
    test_size: float = 0.4,
    uplift: float = 2.0,
    challenger: bool = False,
) -> pd.DataFrame:
    """Repeated random splits of the applications: train on the training part (known outcomes of
    approved plus, per method, inferred rejects), measure AUC/KS on the whole test part against
    the truth. Returns per-method mean and standard deviation and the mean paired gain over
    ``none`` (training on approved applications only)."""
    ds = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    apps, observed = applications_with_observed_outcome(ds)
    truth = through_the_door_truth(ds, apps["application_id"])
    X = application_features(apps)
    approved = (apps["decision"] == "approved").to_numpy()
    sc_kw = {"categorical": [c for c in CATEGORICAL if c in X.columns]}

    def make() -> Any:
        return LightGBMChallenger(n_estimators=200) if challenger else Scorecard(**sc_kw)

    runs = []
    for r in range(repeats):
        tr, te = train_test_split(
            np.arange(len(X)), test_size=test_size, random_state=r, stratify=approved
        )
        res = compare_methods(
            X.iloc[tr],
            observed[tr],
            X.iloc[te],
            truth[te],
            make,
            uplift=uplift,
            approved_test=approved[te],
            seed=r,
        )
        res["repeat"] = r
        runs.append(res)
    allruns = pd.concat(runs, ignore_index=True)
    base = allruns[allruns.method == "none"].set_index("repeat")
    allruns["auc_gain_vs_none"] = allruns.apply(
        lambda row: row["auc_through_the_door"] - base.loc[row["repeat"], "auc_through_the_door"],
        axis=1,
    )
    allruns["ks_gain_vs_none"] = allruns.apply(
        lambda row: row["ks_through_the_door"] - base.loc[row["repeat"], "ks_through_the_door"],
        axis=1,
    )
    g = allruns.groupby("method", sort=False)
    out = g[
        ["auc_through_the_door", "ks_through_the_door", "auc_gain_vs_none", "ks_gain_vs_none"]
    ].mean()
    out["auc_sd"] = g["auc_through_the_door"].std()
    out["auc_gain_sd"] = g["auc_gain_vs_none"].std()
    out["gain_positive_runs"] = g["auc_gain_vs_none"].apply(lambda s: int((s > 0).sum()))
    out["repeats"] = repeats
    return out.reset_index()
