"""Fixtures for the fraud-model tests: a synthetic training table with known structure.

Fraud comes in two scenarios with different signatures (a card-not-present breach: large online
amounts far above the card's usual; lost/stolen: bursts of night-time chip purchases), labels
arrive 1-20 days late and 10 % are never reported. The signal lives in interactions, as in real
data, so a tree model has something to beat a linear model on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cardmind.models.fraud import TrainingTable

FEATURES = [
    "auth_amount",
    "card_amount_mean_30d",
    "card_auth_count_1h",
    "card_seconds_since_last_auth",
    "auth_is_night",
    "auth_is_cross_border",
    "auth_is_online",
    "merchant_fraud_rate_30d",
    "card_distinct_mcc_7d",
    "noise_a",
    "noise_b",
]


def make_table(
    seed: int = 0, n_cards: int = 600, days: int = 70, rate: float = 0.012
) -> TrainingTable:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01", tz="Asia/Shanghai")
    n = n_cards * days // 2
    card = rng.integers(0, n_cards, n)
    t = start + pd.to_timedelta(rng.uniform(0, days * 86400, n), unit="s")
    order = np.argsort(t.asi8)
    card, t = card[order], t[order]
    usual = np.exp(rng.normal(9.5, 0.8, n_cards))  # card's usual amount in fen
    amount = usual[card] * np.exp(rng.normal(0, 0.7, n))
    online = rng.random(n) < 0.3
    night = rng.random(n) < 0.06
    cross = rng.random(n) < 0.02
    count1h = rng.poisson(0.4, n) + 1
    since = rng.exponential(86400.0, n)
    mfr = rng.beta(1, 300, n)
    mcc_div = rng.poisson(3, n)
    is_fraud = np.zeros(n, bool)
    scenario = np.array([None] * n, dtype=object)
    # Scenario A: CNP breach -- online, amount far above usual, risky merchants.
    a = rng.random(n) < rate * 0.6
    online[a] = True
    amount[a] = usual[card[a]] * rng.uniform(2.5, 8.0, a.sum())
    mfr[a] = rng.beta(2, 60, a.sum())
    # Scenario B: lost/stolen -- bursts at night, short gaps, chip present.
    b = (rng.random(n) < rate * 0.4) & ~a
    night[b] = rng.random(b.sum()) < 0.7
    count1h[b] = rng.integers(3, 8, b.sum())
    since[b] = rng.exponential(600.0, b.sum())
    online[b] = False
    is_fraud[a | b] = True
    scenario[a] = "cnp_breach"
    scenario[b] = "lost_stolen"
    # Decoys that fool single rules: genuine night bursts and large genuine online buys.
    d = rng.random(n) < 0.02
    night[d], count1h[d] = True, rng.integers(3, 6, d.sum())
    e = rng.random(n) < 0.02
    online[e], amount[e] = True, usual[card[e]] * rng.uniform(2.5, 8.0, e.sum())
    delay = pd.to_timedelta(rng.uniform(1, 20, n), unit="D")
    reported = pd.Series(t + delay).where(is_fraud & (rng.random(n) < 0.9))
    amount_fen = np.maximum(100, amount).astype(np.int64)
    hour_shift = np.where(night, 3, 14)
    ts = pd.Series(
        t.normalize()
        + pd.to_timedelta(hour_shift, unit="h")
        + pd.to_timedelta(rng.uniform(0, 3600, n), unit="s")
    )
    auth = pd.DataFrame(
        {
            "auth_id": [f"a{i}" for i in range(n)],
            "ts": ts,
            "card_token": [f"c{c}" for c in card],
            "amount_fen": amount_fen,
            "channel": np.where(online, "online_cnp", "pos_chip"),
            "cross_border": cross,
            "mcc": np.where(mfr > 0.02, "5944", "5411"),
        }
    )
    X = np.column_stack(
        [
            amount_fen,
            usual[card] * np.exp(rng.normal(0, 0.1, n)),
            count1h,
            since,
            night,
            cross,
            online,
            mfr,
            mcc_div,
            rng.normal(size=n),
            rng.normal(size=n),
        ]
    ).astype(float)
    X[rng.random(n) < 0.05, 3] = np.nan  # no previous authorization
    return TrainingTable(
        auth=auth,
        X=X,
        feature_names=list(FEATURES),
        fraud_reported_at=reported.to_numpy(),
        truth=is_fraud,
        scenario=scenario,
        fingerprint={"synthetic": seed},
    )


@pytest.fixture(scope="session")
def synthetic_table() -> TrainingTable:
    return make_table()


@pytest.fixture(scope="session")
def synthetic_evaluation(synthetic_table):
    """The protocol run once on the synthetic table (model + both baselines)."""
    from cardmind.models.evaluation import SplitSpec
    from cardmind.models.fraud import FraudTrainConfig, evaluate_fraud

    return evaluate_fraud(
        synthetic_table,
        SplitSpec(test_days=14, delay_days=7, valid_days=7, calib_days=7),
        FraudTrainConfig(
            num_boost_round=120, top_features=6, early_stopping_rounds=20, num_threads=1
        ),
    )
