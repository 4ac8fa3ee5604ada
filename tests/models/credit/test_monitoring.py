from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cardmind.models.credit import Scorecard
from cardmind.models.credit.monitoring import bin_psi, psi, psi_from_shares, scorecard_stability


def test_psi_is_zero_for_identical_and_symmetric_formula():
    x = np.random.default_rng(0).normal(size=1000)
    assert psi(x, x) == pytest.approx(0.0, abs=1e-12)
    e, a = np.array([0.5, 0.5]), np.array([0.2, 0.8])
    expected = (0.2 - 0.5) * np.log(0.2 / 0.5) + (0.8 - 0.5) * np.log(0.8 / 0.5)
    assert psi_from_shares(e, a) == pytest.approx(expected)
    assert psi_from_shares(e, a) == pytest.approx(psi_from_shares(a, e))


def test_psi_grows_with_the_shift_and_counts_missing_values():
    rng = np.random.default_rng(1)
    base = rng.normal(size=4000)
    values = [psi(base, rng.normal(mu, 1, 4000)) for mu in (0.0, 0.2, 0.5, 1.0)]
    assert values == sorted(values)
    with_missing = np.where(rng.random(4000) < 0.3, np.nan, rng.normal(size=4000))
    assert psi(base, with_missing) > 0.25
    assert bin_psi(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]), 3) == pytest.approx(
        0.0, abs=1e-9
    )


def test_scorecard_stability_flags_the_shifted_characteristic():
    rng = np.random.default_rng(2)
    n = 3000
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    y = (rng.random(n) < 1 / (1 + np.exp(-(X.a + X.b - 1.5)))).astype(int)
    sc = Scorecard(min_iv=0.0).fit(X, y)
    recent = X.assign(b=X.b + 1.5)
    t = scorecard_stability(sc, X, recent).set_index("variable")
    assert t.loc["b", "stability"] == "major shift"
    assert t.loc["a", "stability"] == "stable"
    assert t.loc["score", "psi"] > 0.1
