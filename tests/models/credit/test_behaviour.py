"""Behaviour characteristics from monthly aggregate matrices (hand-computed cases)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cardmind.models.credit.behaviour import (
    AGGREGATES,
    BEHAVIOUR_FEATURES,
    features_from_matrices,
    matrices,
)


def _mats(n_months: int = 12, **over) -> dict[str, np.ndarray]:
    base = {name: np.zeros((1, n_months)) for name in AGGREGATES}
    base["credit_limit_fen"][:] = 1_000_000
    for k, v in over.items():
        base[k] = np.asarray(v, dtype=float).reshape(1, n_months)
    return base


def test_utilisation_payment_and_delinquency_features():
    bal = [0] * 6 + [100_000, 200_000, 300_000, 400_000, 500_000, 800_000]
    prev = [0] * 7 + [100_000, 200_000, 300_000, 400_000, 500_000]
    rep = [0] * 7 + [100_000, 100_000, 30_000, 20_000, 500_000]
    mind = [np.nan] + [0] * 6 + [10_000, 20_000, 30_000, 40_000, 50_000]
    dpd = [0] * 10 + [35, 0]
    f = features_from_matrices(
        _mats(
            new_balance_fen=bal,
            previous_balance_fen=prev,
            repayments_fen=rep,
            prev_minimum_due_fen=mind,
            days_past_due=dpd,
            repayments_month_fen=rep,
        ),
        np.array([30]),
    ).iloc[0]
    assert list(f.index) == list(BEHAVIOUR_FEATURES)
    assert f.utilisation_last == pytest.approx(0.8)
    assert f.utilisation_max_6m == pytest.approx(0.8)
    assert f.utilisation_avg_6m == pytest.approx(np.mean([0.1, 0.2, 0.3, 0.4, 0.5, 0.8]))
    assert f.payment_ratio_avg_6m == pytest.approx(np.mean([1.0, 0.5, 0.1, 0.05, 1.0]))
    # months paying only (about) the minimum: 30,000 <= 1.1 * 30,000 and 20,000 <= 1.1 * 40,000
    assert f.min_payer_share_6m == pytest.approx(2 / 5)
    assert f.dpd_max_6m == 35 and f.months_delinquent_12m == 1
    assert f.balance_growth_3m == pytest.approx((800_000 - 300_000) / 1_000_000)
    assert f.cash_like_share == 0 and f.tenure_months == 30


def test_months_without_statement_are_ignored_not_zero():
    bal = [np.nan] * 10 + [200_000, 400_000]
    lim = [np.nan] * 10 + [1_000_000, 1_000_000]
    f = features_from_matrices(
        _mats(new_balance_fen=bal, credit_limit_fen=lim), np.array([2])
    ).iloc[0]
    assert f.utilisation_avg_6m == pytest.approx(0.3)
    assert np.isnan(f.balance_growth_3m)


def test_matrices_pivot_last_statement_per_month():
    agg = pd.DataFrame(
        {
            "card_token": ["a", "a", "b"],
            "customer_id": ["c1", "c1", "c2"],
            "month_index": [100, 101, 101],
            **{name: [1.0, 2.0, 3.0] for name in AGGREGATES},
        }
    )
    cards, m = matrices(agg, as_of_month=101, history=3)
    assert cards.card_token.tolist() == ["a", "b"]
    assert m["new_balance_fen"][0].tolist()[1:] == [1.0, 2.0] and np.isnan(
        m["new_balance_fen"][0, 0]
    )
    assert m["new_balance_fen"][1, 2] == 3.0 and np.isnan(m["new_balance_fen"][1, :2]).all()


def test_parity_with_the_feature_catalog_batch_engine(tiny_dataset):
    """Where a behaviour characteristic and a catalog feature share a definition, they agree."""
    import datetime as dt

    import pyarrow as pa

    from cardmind.dataset import Dataset
    from cardmind.features import BatchEngine, default_catalog
    from cardmind.models.credit.behaviour import (
        CATALOG_EQUIVALENTS,
        behaviour_frame,
        monthly_aggregates,
    )
    from cardmind.units import TZ

    ds = Dataset(tiny_dataset)
    agg = monthly_aggregates(ds)
    as_of = pd.to_datetime(agg["statement_date"]).max().date()
    cards, X, _ = behaviour_frame(ds, as_of=as_of, agg=agg)
    # a statement is known from the local midnight after its cut
    ts = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(0, 0, 1), tzinfo=TZ)
    rows = pa.table(
        {
            "card_token": cards["card_token"].to_numpy(),
            "customer_id": cards["customer_id"].to_numpy(),
            "ts": pa.array([ts] * len(cards), pa.timestamp("us", tz="Asia/Shanghai")),
        }
    )
    catalog = default_catalog().select(list(CATALOG_EQUIVALENTS.values()))
    got = BatchEngine(ds).compute(catalog, rows).to_pandas()
    assert len(cards) > 500
    for ours, theirs in CATALOG_EQUIVALENTS.items():
        np.testing.assert_allclose(
            X[ours].to_numpy(), got[theirs].to_numpy(), equal_nan=True, err_msg=ours
        )
