"""The batch sweep equals the online read kernel, row by row, on random event streams."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from cardmind.features import batch_kernels as K
from cardmind.features.aggregates import rows_block

STATS = (K.COUNT, K.SUM, K.MEAN, K.MIN, K.MAX, K.LAST, K.SINCE, K.SHARE)


def _stream(seed: int, n_ids: int = 7, n_events: int = 600, n_rows: int = 500):
    rng = np.random.default_rng(seed)
    kid = rng.integers(0, n_ids, n_events)
    t = rng.integers(0, 400, n_events) * 10  # a coarse grid: many ties
    val = rng.choice(np.array([1, 5, 5, 100, 3_000_000_000, 7]), n_events)
    mask = rng.integers(0, 8, n_events)  # lane 0 (the base scope) not always set
    code_col = rng.choice(np.array([-1, 0, 1, 2, 3]), n_events)
    row_kid = rng.integers(-1, n_ids + 1, n_rows)  # -1 and n_ids: entities without events
    row_kid[row_kid == n_ids] = -1
    row_t = rng.integers(0, 420, n_rows) * 10 + rng.choice([0, 5], n_rows)
    return kid, t, val, mask, code_col[None, :], row_kid, row_t


@pytest.mark.parametrize("seed", range(6))
def test_sweep_equals_the_online_kernel(seed):
    kid, t, val, mask, codes, row_kid, row_t = _stream(seed)
    n_ids = int(kid.max()) + 1
    order, ev_start = K.order_by_key_time(kid, t, n_ids)
    assert (np.diff(kid[order]) >= 0).all()
    ts, v, m, c = t[order], val[order], mask[order], codes[:, order]
    wins = np.array([10, 100, 1000, 5000], np.int64)
    L = 3
    specs = np.array([[0, -1], [0, 1]], np.int64)
    feats = [(s, w, lane) for s in STATS for w in range(len(wins)) for lane in range(L)]
    feats += [(K.DISTINCT, w, sp) for w in range(len(wins)) for sp in range(len(specs))]
    spec = K.SweepSpec.build(feats, windows=wins, n_lanes=L, specs=specs)
    rorder, row_start = K.order_by_key_time(row_kid, row_t, n_ids)
    pos = np.arange(len(row_t))
    got = K.sweep_rows(ev_start, ts, v, m, c, row_start, row_t[rorder], pos[rorder], spec,
                       n_out=len(row_t), n_codes=np.array([4]))
    src = np.array([(s * len(wins) + w) * L + lane for s, w, lane in feats if s >= 0])
    dsrc = np.array([sp * len(wins) + w for s, w, sp in feats if s < 0])
    want = rows_block(ev_start[:-1], ev_start[1:], ts, v, m, c + 1, row_kid, row_t, wins, L,
                      src, specs, dsrc, pos, len(row_t))
    has = row_kid >= 0
    np.testing.assert_array_equal(got[:, has], want[:, has])  # bit for bit, NaN where undefined
    assert np.isnan(got[:, ~has]).all()  # no entity: the caller fills empty-window values


def test_sweep_refuses_std_and_checks_lanes():
    with pytest.raises(ValueError, match="not computed by the sweep"):
        K.SweepSpec.build([(K.STD, 0, 0)], windows=np.array([10]), n_lanes=1,
                          specs=np.empty((0, 2), np.int64))
    with pytest.raises(ValueError, match="lane 2 out of range"):
        K.SweepSpec.build([(K.COUNT, 0, 2)], windows=np.array([10]), n_lanes=2,
                          specs=np.empty((0, 2), np.int64))


def test_key_index_with_two_columns():
    idx = K.KeyIndex([pa.array(["c1", "c1", "c2", "c1"]), pa.array(["m1", "m2", "m1", "m1"])])
    assert idx.n == 3 and idx.ids[0] == idx.ids[3] and len(set(idx.ids.tolist())) == 3
    got = idx.lookup([pa.array(["c2", "c2", "c9", "c1"]), pa.array(["m1", "m2", "m1", "m2"])])
    assert got.tolist() == [idx.ids[2], -1, -1, idx.ids[1]]
