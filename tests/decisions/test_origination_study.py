"""Origination on simulated data: training on approved only, reject inference measured against the
simulator's truth, policy figures; behaviour score, line management and batch pre-approval; CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cardmind.decisions.line_management import TAGS
from cardmind.decisions.origination_study import (
    evaluate_on_truth,
    reject_inference_study,
    train_origination,
)
from cardmind.decisions.preapproval import preapprove_dataset
from cardmind.errors import InvalidInput
from cardmind.models.credit.behaviour import BEHAVIOUR_FEATURES
from cardmind.models.credit.outcomes import applications_with_observed_outcome


@pytest.fixture(scope="module")
def applications_dataset(tmp_path_factory):
    """4,000 simulated applications and ~4,000 cards over 6 months (default rate raised so that
    a small sample has enough bads)."""
    from cardmind.settings import get_settings
    from cardmind.simulate import load_preset, simulate

    root = tmp_path_factory.mktemp("apps")
    overrides = {
        "population.cards": "2000",
        "population.new_card_share": "1",
        "population.default_scale": "4",
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
    out = json.loads(r.output)
    assert out["reject_inference"] == "fuzzy"
    assert 0 < out["evaluation_on_truth"]["policy"]["auto_decision_rate"] <= 1
    assert out["evaluation_on_truth"]["policy"]["bad_rate_approve"] is not None
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


@pytest.fixture(scope="module")
def behaviour_model(applications_dataset):
    from cardmind.models.credit.behaviour import train_behaviour

    return train_behaviour(applications_dataset, horizon=3, n_splits=3)


def test_behaviour_score_separates_future_delinquency(behaviour_model):
    meta = behaviour_model.metadata
    assert meta["target"] == "90+ days past due within 3 months"
    assert meta["metrics"]["cv"]["champion_scorecard"]["auc_mean"] > 0.7
    assert set(behaviour_model.scorecard.feature_names_) <= set(BEHAVIOUR_FEATURES)


def test_preapproval_writes_one_row_per_card_with_reasons_offers_and_tags(
    applications_dataset, behaviour_model, tmp_path
):
    import pandas as pd

    out = tmp_path / "pre.parquet"
    seen = []
    summary = preapprove_dataset(
        applications_dataset,
        behaviour_model,
        out,
        chunk_rows=700,
        progress=lambda done, total: seen.append((done, total)),
    )
    df = pd.read_parquet(out)
    assert len(df) == summary["customers"] == df.card_token.nunique()
    assert seen[-1][0] == seen[-1][1] == len(df) and len(seen) > 1
    assert sum(summary["line_actions"].values()) == len(df)
    inc = df[df.line_action == "increase"]
    assert (inc.new_limit_fen > inc.current_limit_fen).all() and (
        inc.new_limit_fen % 100_000 == 0
    ).all()
    dec = df[df.line_action == "decrease"]
    assert (dec.new_limit_fen < dec.current_limit_fen).all()
    hold = df[df.line_action == "hold"]
    assert (hold.new_limit_fen == hold.current_limit_fen).all()
    assert summary["pre_approved_increase_total_fen"] == int(inc.line_change_fen.sum())
    # early warning = riskiest customers; reasons name characteristics
    assert df[df.early_warning].behaviour_pd.min() >= df[~df.early_warning].behaviour_pd.median()
    assert df.reason_1.astype(str).str.startswith(("FACTOR_", "")).all()
    assert (df.reason_1_points >= df.reason_2_points).all()
    assert not (df.offer_line_increase & (df.line_action != "increase")).any()
    assert {c for c in df.columns if c.startswith("tag_")} == {f"tag_{t}" for t in TAGS}


def test_cli_preapprove_trains_when_needed_and_refuses_bad_output(applications_dataset, tmp_path):
    from cardmind.cli import _register, app

    _register()
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "preapprove",
            "--data",
            str(applications_dataset),
            "--out",
            str(tmp_path / "p.parquet"),
            "--horizon",
            "3",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.strip().splitlines()[-1])["customers"] > 1000
    r = runner.invoke(
        app, ["preapprove", "--data", str(applications_dataset), "--out", str(tmp_path / "p.csv")]
    )
    assert r.exit_code != 0


def test_html_report_has_every_section_and_embedded_plots(
    applications_dataset, trained, behaviour_model, tmp_path
):
    from cardmind.decisions.origination_report import build_report, write_report

    text = build_report(
        applications_dataset,
        policy=trained.policy,
        behaviour=behaviour_model,
        reject_inference_repeats=1,
    )
    for heading in (
        "Application scorecard",
        "Policy on all applications",
        "protected attribute",
        "Population stability",
        "Behaviour score",
        "Reject inference",
    ):
        assert heading in text
    assert text.count("data:image/png;base64,") >= 2
    write_report(tmp_path / "r.html", text)
    assert (tmp_path / "r.html").read_text(encoding="utf-8").startswith("<!doctype html>")
    with pytest.raises(InvalidInput, match="html"):
        write_report(tmp_path / "r.pdf", text)


def test_cli_report_on_imported_german_credit(german_dataset_cli, tmp_path, cardmind_home):
    from cardmind.cli import _register, app

    _register()
    out = tmp_path / "german.html"
    r = CliRunner().invoke(
        app, ["report", "credit", "--data", str(german_dataset_cli), "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    text = out.read_text(encoding="utf-8")
    assert "foreign_worker" in text and "Cross-validated performance" in text and "base64," in text
    # an imported German file never becomes the origination bundle the API serves
    assert not (cardmind_home / "models" / "credit" / "origination").exists()
    bad = CliRunner().invoke(
        app,
        ["report", "credit", "--data", str(german_dataset_cli), "--out", str(tmp_path / "x.txt")],
    )
    assert isinstance(bad.exception, InvalidInput) and "html" in str(
        bad.exception
    )  # main() -> exit 2
