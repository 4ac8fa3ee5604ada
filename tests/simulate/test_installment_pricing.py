"""The installment pricing experiment: discounts, price-responsive acceptance, its own random stream."""

from __future__ import annotations

import numpy as np
import pytest

from cardmind.dataset import Dataset
from cardmind.errors import InvalidInput
from cardmind.simulate import load_preset, simulate
from cardmind.simulate.spending import INSTALLMENT_FEE_BP, priced_probability

SMALL = {"population.cards": 300, "period.months": 3}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("pricing")
    off = simulate(load_preset("tiny", overrides={**SMALL, "credit.installment_price_test_share": 0}), base / "off")
    on = simulate(load_preset("tiny", overrides={**SMALL, "credit.installment_price_test_share": 1}), base / "on")
    return Dataset(base / "off"), Dataset(base / "on"), off, on


def test_without_the_test_every_offer_is_at_the_schedule(runs):
    off = runs[0].read("truth_installment_offers").to_pandas()
    assert len(off) > 50
    assert (off["fee_rate_bp"] == off["list_fee_rate_bp"]).all()
    assert (off["list_fee_rate_bp"] == off["periods"].map(INSTALLMENT_FEE_BP)).all()
    assert (off["accept_probability"] == off["list_accept_probability"]).all()


def test_discounted_offers_are_cheaper_and_more_likely_accepted(runs):
    on = runs[1].read("truth_installment_offers").to_pandas()
    pct = 100 - 100 * on["fee_rate_bp"] / on["list_fee_rate_bp"]
    assert (pct.round(-1).between(10, 50)).all()  # every offer in the test arm, 10-50 % off
    assert set(pct.round(-1).astype(int)) == {10, 20, 30, 40, 50}
    assert (on["accept_probability"] > on["list_accept_probability"]).all()
    expected = priced_probability(on["list_accept_probability"].to_numpy(), on["price_sensitivity"].to_numpy(),
                                  pct.round(-1).to_numpy())
    assert np.allclose(on["accept_probability"], expected)
    # the plans carry the discounted fee of their offer
    plans = runs[1].read("installment_plans").to_pandas()
    offered = plans[plans["offered"]].merge(on, on="source_id", suffixes=("", "_offer"))
    assert len(offered) > 10 and (offered["fee_rate_bp"] == offered["fee_rate_bp_offer"]).all()


def test_the_test_draws_from_its_own_stream(runs):
    off, on = runs[0], runs[1]
    for table in ("customers", "cards", "merchants", "applications", "truth_applications"):
        assert off.read(table).equals(on.read(table)), table
    # acceptance rises with the discount, and more plans are taken
    assert runs[3].authorizations > 0
    a = off.read("truth_installment_offers").to_pandas()["accepted"].mean()
    b = on.read("truth_installment_offers").to_pandas()["accepted"].mean()
    assert b > a


def test_bad_discount_settings_are_refused():
    with pytest.raises(InvalidInput, match=r"installment_max_discount_pct must be in 10\.\.90"):
        load_preset("tiny", overrides={"credit.installment_max_discount_pct": "95"})
    with pytest.raises(InvalidInput, match="probability"):
        load_preset("tiny", overrides={"credit.installment_price_test_share": "1.5"})
