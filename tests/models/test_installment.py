"""Installment propensity: offer table, model, offer choice, evaluation."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from cardmind.errors import InvalidInput, NotFittedError
from cardmind.models.installment import (
    FEE_SCHEDULE_BP,
    InstallmentModel,
    choose_offers,
    evaluate_installment,
    offer_table,
)


@pytest.fixture(scope="module")
def offers(tiny_dataset):
    return offer_table(tiny_dataset)


def test_offer_table_never_carries_the_true_probability(offers):
    assert "accept_probability" not in offers.columns
    assert len(offers) > 200 and offers["offer_id"].is_unique
    assert offers["amount_fen"].notna().all() and (offers["amount_fen"] > 0).all()


def test_needs_an_offer_log(tiny_dataset, tmp_path):
    copy = tmp_path / "ds"
    shutil.copytree(tiny_dataset, copy)
    shutil.rmtree(copy / "truth_installment_offers")
    with pytest.raises(InvalidInput, match="offer log"):
        offer_table(copy)


def test_model_and_offer_choice(offers, tmp_path):
    with pytest.raises(NotFittedError):
        InstallmentModel().predict_proba(offers)
    m = InstallmentModel(n_estimators=50).fit(offers, offers["accepted"].astype(int))
    p = m.predict_proba(offers)
    assert ((p > 0) & (p < 1)).all()
    m.save(tmp_path / "m")
    assert np.allclose(InstallmentModel.load(tmp_path / "m").predict_proba(offers), p)
    best = choose_offers(m, offers.head(50))
    assert set(best["periods"]) <= set(FEE_SCHEDULE_BP)
    assert (best["fee_rate_bp"] == best["periods"].map(FEE_SCHEDULE_BP)).all()
    # the chosen option is at least as good as every other option
    for periods, fee in FEE_SCHEDULE_BP.items():
        alt = m.predict_proba(offers.head(50).assign(periods=periods, fee_rate_bp=fee))
        alt_rev = alt * offers.head(50)["amount_fen"].to_numpy() * fee * periods / 10_000
        assert (best["expected_revenue_fen"].to_numpy() >= alt_rev - 1e-6).all()
    # a large expected loss makes long plans less attractive, never more
    assert (choose_offers(m, offers.head(50), loss_rate=0.5)["expected_loss_fen"] >= 0).all()


def test_evaluation_compares_with_the_naive_policy(tiny_dataset):
    r = evaluate_installment(tiny_dataset, n_estimators=40)
    assert r["offers"] == int(r["n_test"] * 0.2)
    assert 0.5 < r["auc_true_probability"] <= 1
    assert r["model_p_expected_accepted"] > 0 and r["naive_amount_expected_accepted"] > 0
