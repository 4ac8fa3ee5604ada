from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from cardmind.models.credit.challenger import LightGBMChallenger
from cardmind.models.credit.evaluation import auc, cross_validate, fairness_table, ks


def test_ks_equals_two_sample_ks_statistic():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = rng.random(500) + 0.3 * y
    assert ks(y, p) == pytest.approx(ks_2samp(p[y == 1], p[y == 0]).statistic)


def test_ks_handles_ties_and_perfect_separation():
    assert ks([0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5]) == 0.0
    assert ks([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0


def test_cross_validate_fills_every_out_of_fold_prediction():
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.choice(["x", "y"], 300)})
    y = (X.a + rng.normal(size=300) > 0.5).astype(int)
    res = cross_validate(lambda: LightGBMChallenger(n_estimators=20, n_jobs=1), X, y, n_splits=3)
    assert len(res.fold_auc) == 3 and not np.isnan(res.oof).any()
    assert res.auc_mean > 0.6
    with pytest.raises(ValueError, match="n_splits"):
        cross_validate(lambda: None, X, y, n_splits=1)


def test_fairness_table_bad_rates_and_ratio():
    approved = np.array([1, 1, 0, 1, 0, 0], dtype=bool)
    y = np.array([0, 1, 0, 0, 1, 1])
    g = pd.DataFrame({"sex": ["F", "F", "F", "M", "M", "M"]})
    t = fairness_table(approved, g, y).set_index("group")
    assert t.loc["F", "approval_rate"] == pytest.approx(2 / 3)
    assert t.loc["M", "approval_rate"] == pytest.approx(1 / 3)
    assert t.loc["F", "bad_rate_approved"] == pytest.approx(0.5)
    assert t.loc["M", "ratio_to_max"] == pytest.approx(0.5)


def test_challenger_artifact_round_trip_and_protected_refusal(tmp_path):
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"a": rng.normal(size=200), "gender": rng.choice(["F", "M"], 200)})
    y = (X.a > 0).astype(int)
    m = LightGBMChallenger(n_estimators=10, n_jobs=1).fit(X, y)
    assert m.feature_names_ == ["a"] and m.excluded_ == ["gender"]
    m.save(tmp_path / "m.json")
    assert (tmp_path / "m.txt").read_text().startswith("tree")
    again = LightGBMChallenger.load(tmp_path / "m.json")
    assert np.allclose(again.predict_proba(X), m.predict_proba(X))
    with pytest.raises(ValueError, match="protected"):
        LightGBMChallenger(features=["a", "gender"]).fit(X, y)


def test_challenger_predict_one_equals_batch():
    rng = np.random.default_rng(3)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=300),
            "b": rng.choice(["x", "y", "z"], 300),
            "c": rng.integers(0, 5, 300),
        }
    )
    y = ((X.a > 0) ^ (X.b == "z")).astype(int)
    m = LightGBMChallenger(n_estimators=20, n_jobs=1, min_child_samples=5).fit(X, y)
    X.loc[0, "b"] = "unseen"
    X.loc[1, "a"] = np.nan
    batch = m.predict_proba(X)[:, 1]
    one = [m.predict_proba_one(r) for r in X.to_dict("records")]
    assert np.allclose(batch, one)
