import numpy as np
import pandas as pd
import pytest

from cardmind.errors import NotFittedError
from cardmind.models.baselines import LogisticBaseline, RulesBaseline, card_velocity


def test_card_velocity_equals_a_brute_force_count():
    rng = np.random.default_rng(0)
    n = 400
    auth = pd.DataFrame(
        {
            "card_token": rng.choice(["a", "b", "c"], n),
            "ts": pd.Series(
                pd.Timestamp("2024-01-01", tz="Asia/Shanghai")
                + pd.to_timedelta(rng.integers(0, 86400 * 2, n), unit="s")
            ),
        }
    )
    got = card_velocity(auth, 3600)
    t = auth["ts"].to_numpy()
    c = auth["card_token"].to_numpy()
    want = [
        int(((c == c[i]) & (t <= t[i]) & (t > t[i] - np.timedelta64(3600, "s"))).sum())
        for i in range(n)
    ]
    assert got.tolist() == want


def test_unfitted_baselines_raise_not_fitted():
    with pytest.raises(NotFittedError):
        LogisticBaseline().predict_many(np.zeros((1, 2)))
    with pytest.raises(NotFittedError):
        RulesBaseline().predict_many(pd.DataFrame())


def test_rules_score_counts_fired_rules(synthetic_table):
    auth = synthetic_table.auth
    rules = RulesBaseline().fit(auth)
    hits = rules.rule_hits(auth)
    fired = np.sum(np.vstack(list(hits.values())), axis=0)
    assert np.array_equal(np.floor(rules.predict_many(auth)), fired)
    # large_amount is the 99th percentile of the training amounts
    assert hits["large_amount"].mean() == pytest.approx(0.01, abs=0.002)
