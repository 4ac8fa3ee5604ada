"""Origination on simulated applications: training on approved only, reject inference measured
against the simulator's truth, policy figures, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cardmind.decisions.origination_study import (
    evaluate_on_truth,
    reject_inference_study,
    train_origination,
)
from cardmind.models.credit.outcomes import applications_with_observed_outcome


@pytest.fixture(scope="module")
def applications_dataset(tmp_path_factory):
    """4,000 simulated applications (1 month, raised default rate so a small sample has bads)."""
    from cardmind.settings import get_settings
    from cardmind.simulate import load_preset, simulate

    root = tmp_path_factory.mktemp("apps")
    overrides = {
        "population.cards": "2000",
        "population.new_card_share": "1",
        "period.months": "1",
        "population.default_scale": "2.5",
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CARDMIND_HOME", str(root / "home"))
        mp.setenv("CARDMIND_PAN_KEY", "test-key-not-secret")
        get_settings.cache_clear()
        try:
            simulate(load_preset("tiny", seed=1, overrides=overrides), root / "data")
        finally:
            get_settings.cache_clear()
    return root / "data"


@pytest.fixture(scope="module")
def trained(applications_dataset):
    return train_origination(applications_dataset, reject_inference="fuzzy", n_splits=3)


def test_observed_outcomes_exist_only_for_approved_applications(applications_dataset):
    apps, observed = applications_with_observed_outcome(applications_dataset)
    approved = (apps["decision"] == "approved").to_numpy()
    assert np.isnan(observed[~approved]).all()
    assert not np.isnan(observed[approved]).any()


def test_training_reports_cv_and_policy_mix(trained):
    m = trained.metrics
    for key in ("champion_scorecard", "challenger_lightgbm"):
        assert m["cv_known_outcomes"][key]["folds"] == 3
        assert 0.4 < m["cv_known_outcomes"][key]["auc_mean"] < 1.0
    mix = m["policy_on_all_applications"]
    assert mix["approve_rate"] + mix["decline_rate"] + mix["refer_rate"] == pytest.approx(1.0)
    assert "gender" not in trained.policy.models.champion.feature_names_


def test_policy_against_truth_auto_approvals_are_safer_than_declines(trained, applications_dataset):
    ev = evaluate_on_truth(trained.policy, applications_dataset)
    p = ev["policy"]
    assert 0 < p["auto_decision_rate"] <= 1
    assert p["bad_rate_approve"] < p["bad_rate_decline"]
    assert ev["champion_through_the_door"]["auc"] > 0.55


def test_reject_inference_study_compares_every_method(applications_dataset):
    res = reject_inference_study(applications_dataset, repeats=2)
    assert list(res["method"]) == ["none", "fuzzy", "parceling"]
    assert res.loc[res.method == "none", "auc_gain_vs_none"].iloc[0] == 0
    assert res["auc_through_the_door"].between(0.4, 1).all()


def test_cli_train_credit_on_simulated_and_on_german(
    applications_dataset, tmp_path, german_dataset_cli
):
    from cardmind.cli import _register, app

    _register()
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "train",
            "credit",
            "--data",
            str(applications_dataset),
            "--out",
            str(tmp_path / "bundle"),
            "--folds",
            "2",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["reject_inference"] == "fuzzy"
    assert (tmp_path / "bundle" / "bundle.json").is_file()
    r = runner.invoke(
        app,
        [
            "train",
            "credit",
            "--data",
            str(german_dataset_cli),
            "--out",
            str(tmp_path / "german"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["cv"]["champion_scorecard"]["auc_mean"] > 0.74
    assert {f["attribute"] for f in out["fairness"]} == {
        "personal_status_and_sex",
        "foreign_worker",
    }
    assert (tmp_path / "german" / "champion.csv").is_file()


@pytest.fixture(scope="module")
def german_dataset_cli(tmp_path_factory):
    from pathlib import Path

    from cardmind.ingest import MAPPINGS_DIR, Mapping, ingest

    csv = Path(__file__).resolve().parents[3] / "shared" / "data" / "german_credit.csv"
    if not csv.is_file():
        pytest.skip("German credit CSV not available")
    out = tmp_path_factory.mktemp("german") / "ds"
    ingest(
        Mapping.load(MAPPINGS_DIR / "german_credit.yaml").override_sources({"applications": [csv]}),
        out,
    )
    return out
