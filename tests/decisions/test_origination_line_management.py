"""Line management policy: increase / hold / decrease, caps, validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cardmind.decisions.line_management import LineManagementPolicy


def _features(n: int, **over) -> pd.DataFrame:
    base = {
        "utilisation_avg_6m": 0.5,
        "dpd_max_6m": 0.0,
        "tenure_months": 24.0,
        "payment_ratio_avg_6m": 1.0,
        "utilisation_last": 0.5,
        "purchases_avg_3m_to_limit": 0.2,
        "installment_to_limit": 0.0,
        "cash_like_share": 0.0,
    }
    base.update(over)
    return pd.DataFrame({k: np.full(n, v, dtype=float) for k, v in base.items()})


def test_increase_needs_tenure_usage_and_clean_history():
    p = LineManagementPolicy()
    pd_bad = np.full(4, 0.001)
    f = _features(4)
    f.loc[1, "tenure_months"] = 3
    f.loc[2, "utilisation_avg_6m"] = 0.1
    f.loc[3, "dpd_max_6m"] = 5
    r = p.apply(pd_bad, f, np.full(4, 1_000_000), np.full(4, 500_000))
    assert r["line_action"].tolist() == ["increase", "hold", "hold", "hold"]


def test_increase_is_capped_and_decrease_never_below_balance():
    p = LineManagementPolicy(max_line_fen=1_100_000)
    r = p.apply(
        np.array([0.001, 0.5]),
        _features(2),
        np.array([1_000_000, 1_000_000]),
        np.array([0, 950_000]),
    )
    assert r["new_limit_fen"].tolist() == [1_100_000, 1_000_000]
    assert r["line_action"].tolist() == ["increase", "hold"]  # balance 950k rounds up to the limit
    r = p.apply(np.array([0.5]), _features(1), np.array([1_000_000]), np.array([250_000]))
    assert r["line_action"].tolist() == ["decrease"] and r["new_limit_fen"].tolist() == [700_000]
    assert r["early_warning"].tolist() == [True]


@pytest.mark.parametrize(
    "kw", [{"increase_factor": {"A": 0.9}}, {"decrease_factor": 1.2}, {"early_warning_pd": 0}]
)
def test_bad_parameters_are_refused(kw):
    with pytest.raises(ValueError):
        LineManagementPolicy(**kw)
