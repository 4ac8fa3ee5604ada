"""Installment propensity: offer table, model, offer choice on periods and fee, evaluation."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from cardmind.errors import InvalidInput, NotFittedError
from cardmind.models.installment import (
    DISCOUNTS_PCT,
    FEE_SCHEDULE_BP,
    InstallmentModel,
    choose_offers,
    evaluate_installment,
    evaluation_table,
    fee_bp,
    offer_table,
    term_grid,
    value_terms,
)
from cardmind.models.installment_risk import OfferEconomics, card_month_pd


@pytest.fixture(scope="module")
def offers(tiny_dataset):
    return offer_table(tiny_dataset)


@pytest.fixture(scope="module")
def model(offers):
    return InstallmentModel(n_estimators=50).fit(offers, offers["accepted"].astype(int))


def test_offer_table_never_carries_the_truth_and_knows_only_the_past(offers, tiny_dataset):
    assert not {"accept_probability", "list_accept_probability", "price_sensitivity"} & set(offers.columns)
    assert len(offers) > 200 and offers["offer_id"].is_unique
    assert offers["amount_fen"].notna().all() and (offers["amount_fen"] > 0).all()
    assert offers["pd_12m"].between(0, 1).all()
    assert set(offers["discount_pct"].round(-1)) <= set(DISCOUNTS_PCT) and (offers["discount_pct"] > 0).any()
    # a statement's amount is its balance before the conversion the offer led to
    plans = pd.read_parquet(f"{tiny_dataset}/installment_plans")
    st = pd.read_parquet(f"{tiny_dataset}/statements")[["statement_id", "new_balance_fen"]]
    took = offers[(offers["kind"] == "statement") & offers["accepted"]].merge(
        plans[["source_id", "principal_fen"]], on="source_id").merge(st, left_on="source_id", right_on="statement_id")
    assert len(took) and (took["amount_fen"] == took["new_balance_fen"] + took["principal_fen"]).all()


def test_needs_an_offer_log(tiny_dataset, tmp_path):
    copy = tmp_path / "ds"
    shutil.copytree(tiny_dataset, copy)
    shutil.rmtree(copy / "truth_installment_offers")
    with pytest.raises(InvalidInput, match="offer log"):
        offer_table(copy)


def test_pd_falls_back_to_the_portfolio_rate_on_short_data(tiny_dataset):
    table, info = card_month_pd(tiny_dataset)
    assert info["pd_source"] in {"behaviour_scorecard", "portfolio_charge_off_rate"}
    assert len(table) and table["pd_12m"].between(0.001, 1).all()
    if info["pd_source"] == "portfolio_charge_off_rate":
        assert (table["pd_12m"] == info["portfolio_pd_12m"]).all()


def test_economics():
    e = OfferEconomics(funding_rate_annual=0.03, loss_given_default=0.8)
    loss, funding = e.costs(np.array([1e6, 1e6, 1e6]), np.array([3, 24, 24]), np.array([0.05, 0.05, 0.0]))
    assert loss[1] > loss[0] > 0 and loss[2] == 0  # longer and riskier plans lose more
    assert funding[1] > funding[0]
    with pytest.raises(ValueError, match="loss_given_default"):
        OfferEconomics(loss_given_default=1.5)


def test_model_save_load_and_monotone_price_response(offers, model, tmp_path):
    with pytest.raises(NotFittedError):
        InstallmentModel().predict_proba(offers)
    p = model.predict_proba(offers)
    assert ((p > 0) & (p < 1)).all()
    model.save(tmp_path / "m", metadata={"note": "test"})
    assert np.allclose(InstallmentModel.load(tmp_path / "m").predict_proba(offers), p)
    # a discount never lowers the predicted acceptance (monotone constraint)
    base = offers.head(100)
    prev = None
    for d in DISCOUNTS_PCT:
        q = model.predict_proba(base.assign(discount_pct=float(d), fee_rate_bp=fee_bp(base["periods"], d)))
        assert prev is None or (q >= prev - 1e-12).all()
        prev = q


def test_offer_choice_is_the_best_term_of_the_grid(offers, model):
    cand = offers.head(60)
    econ = OfferEconomics()
    best = choose_offers(model, cand, economics=econ)
    assert set(best["periods"]) <= set(FEE_SCHEDULE_BP) and set(best["discount_pct"]) <= set(DISCOUNTS_PCT)
    assert (best["fee_rate_bp"] == fee_bp(best["periods"], best["discount_pct"])).all()
    g = term_grid(cand.reset_index(drop=True))
    money = value_terms(g, model.predict_proba(g), econ)
    top = money.groupby(g["_row"])["expected_net_fen"].max().to_numpy()
    assert np.allclose(best["expected_net_fen"].to_numpy(), top)
    net = best["expected_fee_fen"] - best["expected_loss_fen"] - best["expected_funding_fen"]
    assert np.allclose(best["expected_net_fen"], net)
    assert (best["offer"] == (best["expected_net_fen"] > 0)).all()
    # at list price only, every fee is the schedule's
    listed = choose_offers(model, cand, economics=econ, discounts=False)
    assert (listed["discount_pct"] == 0).all() and (listed["expected_net_fen"] <= best["expected_net_fen"] + 1e-9).all()
    # a certain default makes no term worth offering
    doomed = choose_offers(model, cand.assign(pd_12m=1.0), economics=econ)
    assert not doomed["offer"].any()


def test_evaluation_compares_with_the_naive_policy(tiny_dataset):
    r = evaluate_installment(tiny_dataset, n_estimators=40)
    assert r["budget_offers"] == int(r["n_test"] * 0.2)
    assert 0.5 < r["auc_true_probability"] <= 1
    pol = r["policies"]
    assert set(pol) == {"model_terms", "model_list_price", "naive_amount", "naive_amount_logged_periods", "oracle"}
    for m in pol.values():
        assert m["offers"] <= r["budget_offers"]
        assert np.isclose(m["expected_net_yuan"],
                          m["expected_fee_yuan"] - m["expected_loss_yuan"] - m["expected_funding_yuan"])
    # the oracle (true probabilities, best terms) is an upper bound for every policy
    assert all(pol["oracle"]["expected_net_yuan"] >= m["expected_net_yuan"] - 1e-6 for m in pol.values())
    assert pol["naive_amount"]["mean_discount_pct"] == 0
    assert "| model_terms |" in evaluation_table(r)
    with pytest.raises(ValueError, match="offer_share"):
        evaluate_installment(tiny_dataset, offer_share=0)
