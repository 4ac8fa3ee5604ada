"""Customer value: metrics, profit formula, config, model, tiers and the quality report."""

from __future__ import annotations

import html
import shutil
from dataclasses import replace

import duckdb
import numpy as np
import pandas as pd
import pytest

from cardmind.dataset import Dataset
from cardmind.errors import InvalidInput, NotFittedError
from cardmind.models.value.config import load_value_config
from cardmind.models.value.metrics import monthly_metrics
from cardmind.models.value.model import ValueModel, training_frame, value_metrics
from cardmind.models.value.profit import realised_profit
from cardmind.models.value.quality import render_html, study, threshold, wilson
from cardmind.models.value.tiers import assign_population, load_tiers, parse_tiers


def test_metrics_match_a_direct_count(tiny_dataset, tiny_metrics):
    t = tiny_metrics.table
    assert len(t) == len(tiny_metrics.cards) * len(tiny_metrics.months) == t[["customer_id", "month"]].drop_duplicates().shape[0]
    con = Dataset(tiny_dataset).connect()
    n = con.sql("SELECT count(*) FROM authorizations WHERE approved AND message_type='purchase'").fetchall()[0][0]
    assert t["purchases"].sum() == n
    assert (t["spend_standard_fen"] + t["spend_discounted_fen"] + t["spend_public_fen"]).sum() == \
        con.sql("SELECT sum(amount_fen) FROM authorizations WHERE approved AND message_type='purchase'").fetchall()[0][0]
    assert (t["active_days"] <= 31).all() and (t["on_time"] <= t["statements"]).all()
    assert tiny_metrics.missing == []


def test_missing_tables_degrade(tiny_dataset, tmp_path):
    copy = tmp_path / "ds"
    shutil.copytree(tiny_dataset, copy)
    shutil.rmtree(copy / "installment_plans")
    m = monthly_metrics(copy)
    assert m.missing == ["installment_plans"] and m.table["installment_plans"].sum() == 0
    s = study(m, n_boot=20)
    assert "installment_plans is absent" in render_html(s)


def test_profit_components_follow_the_config(tiny_metrics):
    cfg = load_value_config()
    p = realised_profit(tiny_metrics.table, tiny_metrics.cards, tiny_metrics.months, cfg)
    assert np.allclose(p[["merchant_fee", "interest", "installment_fee", "annual_fee", "funding_cost", "credit_loss",
                          "rewards_cost", "servicing_cost"]].sum(axis=1), p["profit_fen"])
    assert (p["servicing_cost"] == -cfg.servicing_cost_fen_per_month * 12).all()
    free = replace(cfg, issuer_fee_rate_bp={"standard": 0.0, "discounted": 0.0, "public_service": 0.0})
    assert (realised_profit(tiny_metrics.table, tiny_metrics.cards, tiny_metrics.months, free)["merchant_fee"] == 0).all()
    # the annual fee is waived for customers with enough purchases a year
    many = p.merge(tiny_metrics.table.groupby("customer_id")["purchases"].sum().reset_index(), on="customer_id")
    assert (many.loc[many["purchases"] * 2 >= cfg.annual_fee_waiver_purchases, "annual_fee"] == 0).all()


def test_config_rejects_bad_values(tmp_path):
    text = (load_value_config.__globals__["DEFAULT_PATH"]).read_text()
    bad = tmp_path / "v.yaml"
    bad.write_text(text.replace("loss_given_default: {value: 0.85", "loss_given_default: {value: 1.85"))
    with pytest.raises(InvalidInput, match=r"loss_given_default must be within 0\.\.1"):
        load_value_config(bad)
    bad.write_text(text + "\nextra: {value: 1, rationale: x}\n")
    with pytest.raises(InvalidInput, match="unknown parameters"):
        load_value_config(bad)


def test_value_model_beats_past_profit(tiny_metrics, tiny_dataset, tmp_path):
    x, y = training_frame(tiny_metrics, load_value_config())
    with pytest.raises(NotFittedError):
        ValueModel().predict(x)
    rng = np.random.default_rng(0)
    test = rng.random(len(x)) < 0.3
    model = ValueModel(n_estimators=100).fit(x[~test], y[~test])
    pred = model.predict(x[test])
    r = value_metrics(y[test].to_numpy(), pred)
    assert r["spearman"] > 0.3
    model.save(tmp_path / "m")
    assert np.allclose(ValueModel.load(tmp_path / "m").predict(x[test]), pred)
    latent = Dataset(tiny_dataset).read("truth_customers").to_pandas().set_index("customer_id")["value"]
    assert pd.Series(pred, index=x.index[test]).corr(latent.reindex(x.index[test]), method="spearman") > 0.1


def test_tiers_first_match_and_validation(tiny_metrics):
    out = assign_population(tiny_metrics, load_value_config(), load_tiers())
    assert set(out["tier"]) <= {"risky", "dormant", "quality", "potential", "ordinary"}
    assert (out.loc[out["max_dpd"] >= 30, "tier"] == "risky").all()
    q = out[out["tier"] == "quality"]
    assert (q["value_percentile"] >= 0.8).all() and len(q) > 0
    with pytest.raises(InvalidInput, match=r"syntax error|must be true or false"):
        parse_tiers("tiers: [{name: a, when: 'max_dpd >'}]")
    with pytest.raises(InvalidInput, match="no tier matches"):
        parse_tiers("tiers: [{name: a, when: 'max_dpd > 1000'}]").assign(pd.DataFrame({"max_dpd": [0]}))
    # row-by-row evaluation equals the deduplicated batch
    rules = load_tiers()
    one = [rules.assign(out.iloc[[i]])[0] for i in range(0, len(out), 97)]
    assert one == list(out["tier"].iloc[::97])


def test_wilson_and_threshold():
    lo, hi = wilson(np.array([0, 50]), np.array([10, 100]))
    assert lo[0] == 0 and 0 < hi[0] < 0.35 and lo[1] < 0.5 < hi[1]
    t = pd.DataFrame({"k": [0, 1, 2], "n": [100, 5, 100], "p_lo": [0.1, 0.0, 0.3]})
    assert threshold(t, 0.2) == 2  # the small bucket does not count
    assert threshold(t.assign(p_lo=[0.1, 0.1, 0.1]), 0.2) is None


def test_monotone_threshold_ignores_a_small_dip_in_the_tail():
    from cardmind.models.value.quality import monotone_band

    n = np.array([2000, 800, 600, 500, 400, 300, 200, 35, 600])
    p = np.array([0.05, 0.08, 0.12, 0.25, 0.30, 0.33, 0.35, 0.12, 0.45])  # k=7: 35 customers dip
    t = pd.DataFrame({"k": range(9), "n": n, "p_top": p})
    t["p_lo"] = wilson(np.round(n * p), n)[0]
    assert threshold(t, 0.18) == 8  # the raw rule waits until after the dip
    t["p_iso"], t["p_iso_lo"] = monotone_band(n, p)
    assert (np.diff(t["p_iso"]) >= 0).all() and (t["p_iso_lo"] <= t["p_iso"] + 1e-12).all()
    assert threshold(t, 0.18) == 3  # the monotone fit is not moved by it


def test_quality_report_answer_is_computed(tiny_metrics):
    s = study(tiny_metrics, n_boot=20)
    t = s.overall
    assert (t["p_lo"] <= t["p_top"]).all() and (t["p_top"] <= t["p_hi"]).all()
    assert (t["value_lo"] <= t["value_mean"] + 1e-9).all()
    en, zh = s.answer()
    if s.threshold is not None:
        assert en.startswith(f"{s.threshold} or more purchases a month") and f"每月消费 {s.threshold} 笔" in zh
    page = render_html(s, source="tiny")
    assert "data:image/png;base64," in page and html.escape(en) in page and html.escape(zh) in page


def test_cli(tiny_dataset, tmp_path):
    from typer.testing import CliRunner

    from cardmind.cli import _register, app

    _register()
    r = CliRunner().invoke(app, ["value", "tiers", "--data", str(tiny_dataset), "--out", str(tmp_path / "t.parquet")])
    assert r.exit_code == 0, r.output
    assert len(pd.read_parquet(tmp_path / "t.parquet")) == duckdb.sql(
        f"SELECT count(DISTINCT customer_id) FROM read_parquet('{tiny_dataset}/cards/*.parquet')").fetchall()[0][0]


def test_evaluate_value_reports_model_and_baseline(tiny_metrics, tiny_dataset):
    from cardmind.models.value.model import evaluate_value

    latent = Dataset(tiny_dataset).read("truth_customers").to_pandas().set_index("customer_id")["value"]
    r = evaluate_value(tiny_metrics, load_value_config(), latent=latent, scheme="random_customers")
    assert set(r) == {"model", "past_profit"}
    assert r["model"]["n_test"] > 100 and -1 <= r["model"]["spearman_latent"] <= 1
    assert r["model"]["mae_yuan"] < r["past_profit"]["mae_yuan"]


def test_out_of_time_evaluation_holds_out_period_and_customers(tiny_metrics, monkeypatch):
    from cardmind.models.value import model as vm

    seen = {}
    fit = vm.ValueModel.fit

    def spy(self, x, y):
        seen["train"] = set(x.index)
        return fit(self, x, y)

    monkeypatch.setattr(vm.ValueModel, "fit", spy)
    predict = vm.ValueModel.predict
    monkeypatch.setattr(vm.ValueModel, "predict", lambda self, x: seen.update(test=set(x.index)) or predict(self, x))
    windows = []
    frame = vm.window_frame
    monkeypatch.setattr(vm, "window_frame", lambda m, c, f, t: windows.append((f, t)) or frame(m, c, f, t))
    r = vm.evaluate_value(tiny_metrics, load_value_config())
    w = len(tiny_metrics.months) // 3
    train_w, test_w = windows
    assert max(train_w[0]) < min(test_w[0]) and max(train_w[1]) < min(test_w[1]) and len(train_w[0]) == w
    assert r["model"]["n_train"] == len(seen["train"]) and r["model"]["n_test"] == len(seen["test"]) > 50
    assert not seen["train"] & seen["test"]  # no test customer was seen in training
    assert np.isfinite(r["model"]["mae_yuan"])
    with pytest.raises(ValueError, match="scheme must be one of"):
        vm.evaluate_value(tiny_metrics, load_value_config(), scheme="nope")
