import itertools

import numpy as np
import pandas as pd
import pytest

from cardmind.models.evaluation import (
    SplitSpec,
    average_precision,
    card_precision_at_k,
    make_split,
    prequential_splits,
    recall_at_fpr,
    review_curve,
)


def test_recall_at_fpr_never_exceeds_the_false_positive_budget():
    rng = np.random.default_rng(1)
    y = rng.random(5000) < 0.05
    s = rng.random(5000) + y * 0.8
    for fpr in (0.0, 0.01, 0.05):
        rec, thr = recall_at_fpr(y, s, fpr)
        assert ((s >= thr) & ~y).sum() <= fpr * (~y).sum()
        assert rec == pytest.approx((s[y] >= thr).mean(), abs=1e-3)


def test_card_precision_at_k_counts_cards_not_transactions_and_drops_known_cards():
    ts = pd.to_datetime(["2024-05-01 09:00"] * 5 + ["2024-05-02 09:00"] * 3).tz_localize(
        "Asia/Shanghai"
    )
    f = pd.DataFrame(
        {
            "ts": ts,
            # card a: three fraudulent transactions on day 1 (one card), b and c genuine
            "card_token": ["a", "a", "a", "b", "c", "a", "b", "c"],
            "score": [0.9, 0.8, 0.7, 0.6, 0.1, 0.95, 0.5, 0.4],
            "is_fraud": [True, True, True, False, False, True, False, False],
        }
    )
    assert card_precision_at_k(f, k=2) == pytest.approx((0.5 + 0.5) / 2)
    known = {"a": pd.Timestamp("2024-05-01 20:00", tz="Asia/Shanghai")}
    # day 2: a is already known compromised, the top-2 are b and c: precision 0
    assert card_precision_at_k(f, k=2, known_from=known) == pytest.approx((0.5 + 0.0) / 2)


def test_review_curve_is_monotone_and_ends_with_all_fraud():
    rng = np.random.default_rng(2)
    y = rng.random(1000) < 0.1
    rows = review_curve(
        y, rng.random(1000), rng.integers(1, 1000, 1000), alert_shares=[0.1, 0.5, 1.0]
    )
    caught = [r["fraud_amount_fen"] for r in rows]
    assert caught == sorted(caught)
    assert rows[-1]["recall"] == 1.0 and rows[-1]["amount_share"] == 1.0


def test_split_slices_are_ordered_disjoint_and_leave_the_delay_gap():
    t0 = pd.Timestamp("2024-01-01 00:00", tz="Asia/Shanghai")
    t1 = pd.Timestamp("2024-04-30 23:00", tz="Asia/Shanghai")
    spec = SplitSpec(test_days=10, delay_days=5, valid_days=4, calib_days=3, warmup_days=2)
    s = make_split(t0, t1, spec)
    assert s.train_start < s.valid_start < s.calib_start < s.train_end < s.cutoff < s.test_end
    assert (s.cutoff - s.train_end).days == 5 and (s.test_end - s.cutoff).days == 10
    ts = pd.Series(pd.date_range(t0, t1, freq="h"))
    m = s.masks(ts)
    total = sum(v.astype(int) for v in m.values())
    assert total.max() == 1  # disjoint
    gap = (ts >= s.train_end) & (ts < s.cutoff)
    assert not (total[gap.to_numpy()] > 0).any()  # the delay gap is never used


def test_prequential_folds_roll_forward_and_short_data_gets_a_precise_error():
    t0 = pd.Timestamp("2024-01-01", tz="Asia/Shanghai")
    folds = prequential_splits(t0, t0 + pd.Timedelta(days=119), SplitSpec(), folds=3)
    assert len(folds) == 3
    assert [f.cutoff for f in folds] == sorted(f.cutoff for f in folds)
    assert all(b.cutoff - a.cutoff == pd.Timedelta(days=14) for a, b in itertools.pairwise(folds))
    with pytest.raises(ValueError, match="this split needs at least 71"):
        make_split(t0, t0 + pd.Timedelta(days=20), SplitSpec())


def test_average_precision_of_a_perfect_ranking_is_one():
    y = np.array([0, 1, 0, 1], bool)
    assert average_precision(y, y.astype(float)) == 1.0
