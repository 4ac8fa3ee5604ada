from datetime import datetime

import numpy as np
import pyarrow.compute as pc
import pytest

from cardmind.dataset import Dataset, DatasetWriter
from cardmind.errors import InvalidInput
from cardmind.models.cashout.features import (
    FEATURES,
    REDUCED_FEATURES,
    REPAYMENT_FEATURES,
    FeatureConfig,
    card_cycle_features,
)
from cardmind.units import TZ

CYCLER = f"{0:032x}"  # card 0 is cycled by a 代还 app in the fixture
ORDINARY = f"{40:032x}"


def _rows(table, token):
    return table.filter(pc.equal(table.column("card_token"), token)).to_pylist()


def test_one_row_per_purchase_and_repayment(cashout_ds):
    f = card_cycle_features(cashout_ds)
    n = cashout_ds.read("authorizations").num_rows + cashout_ds.read("repayments").num_rows
    assert f.num_rows == n
    assert f.column_names[:5] == ["card_token", "cycle_start", "cycle_end", "ts", "event"]
    assert set(FEATURES) <= set(f.column_names)


def test_cycled_card_shows_the_pattern_and_ordinary_card_does_not(cashout_ds):
    f = card_cycle_features(cashout_ds)
    cyc = [r for r in _rows(f, CYCLER) if r["third_party_repay"]]
    assert cyc, "the cycled card has a third-party repayment"
    peak = max(cyc, key=lambda r: r["spend_after_repay_ratio"])
    assert peak["third_party_repay"] > 0.5
    assert 0.85 <= peak["spend_after_repay_ratio"] <= 1.3  # repayment + fee spent again
    assert peak["young_merchant_share"] > 0.5
    ordinary = _rows(f, ORDINARY)
    assert all(not r["third_party_repay"] for r in ordinary)
    assert all(r["young_merchant_share"] in (None, 0.0) for r in ordinary)


def test_features_are_point_in_time(cashout_ds):
    full = card_cycle_features(cashout_ds)
    cut = datetime(2026, 3, 10, 12, tzinfo=TZ)
    early = card_cycle_features(cashout_ds, as_of=cut)
    keep = full.filter(pc.less_equal(full.column("ts"), cut))
    assert early.num_rows == keep.num_rows > 0
    for name in FEATURES:
        a = np.array(early.column(name).to_numpy(zero_copy_only=False), float)
        b = np.array(keep.column(name).to_numpy(zero_copy_only=False), float)
        np.testing.assert_allclose(a, b, rtol=1e-9, equal_nan=True, err_msg=name)


def test_hhi_and_shares_are_in_range(cashout_ds):
    f = card_cycle_features(cashout_ds).to_pandas()
    p = f[f.n_purchases > 0]
    assert ((p.merchant_hhi >= 1 / p.n_merchants - 1e-9) & (p.merchant_hhi <= 1 + 1e-9)).all()
    for c in ("round_share", "night_share", "young_merchant_share", "repeat_amount_share"):
        assert p[c].between(0, 1).all(), c


def test_missing_repayments_gives_reduced_flagged_features(cashout_ds, cashout_ds_no_repayments):
    reduced = card_cycle_features(cashout_ds_no_repayments)
    assert reduced.num_rows == cashout_ds.read("authorizations").num_rows
    assert all(reduced.column("reduced_features").to_pylist())
    for name in REPAYMENT_FEATURES:
        assert reduced.column(name).null_count == reduced.num_rows
    full = card_cycle_features(cashout_ds)
    purchases = full.filter(pc.equal(full.column("event"), "purchase"))
    for name in REDUCED_FEATURES:
        if name == "hours_since_cycle_start":
            continue
        a = np.array(reduced.column(name).to_numpy(zero_copy_only=False), float)
        b = np.array(purchases.column(name).to_numpy(zero_copy_only=False), float)
        np.testing.assert_allclose(a, b, rtol=1e-9, equal_nan=True, err_msg=name)


def test_missing_authorizations_is_a_precise_error(tmp_path, cashout_ds):
    with DatasetWriter(tmp_path / "d", manifest={"source": "t"}) as w:
        w.write("cards", cashout_ds.read("cards"))
    with pytest.raises(InvalidInput, match=r"need tables \['merchants', 'authorizations'\]"):
        card_cycle_features(Dataset(tmp_path / "d"))


def test_config_is_validated():
    with pytest.raises(ValueError, match="night_end_hour"):
        FeatureConfig(night_end_hour=30)
    with pytest.raises(TypeError):
        FeatureConfig(7)  # keyword-only
