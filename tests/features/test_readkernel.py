"""The online read kernel and the latest-occurrence flags equal the exact scan they replace."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardmind.features.aggregates import N_STATS, WindowLog
from cardmind.features.flags import flag_rebuild
from cardmind.features.readkernel import (
    after_repayment,
    derive,
    derived_table,
    read_group,
    read_plan,
)

WINS = np.asarray([5, 40, 300, 2_000], np.int64)
SPECS = np.asarray([[0, 0], [0, 2], [1, 0], [1, 1]], np.int64)  # (code column, lane)
N_LANES = 3


def _stream(seed: int, n: int, *, integer: bool = True, lateness: int = 30):
    """Events with ties, late arrivals within ``lateness`` and null codes."""
    rng = np.random.default_rng(seed)
    newest = 0
    for _ in range(n):
        t = newest + int(rng.integers(0, 12))
        if lateness and rng.random() < 0.2:
            t = max(0, newest - int(rng.integers(0, lateness)))
        newest = max(newest, t)
        x = int(rng.integers(-50, 3_000)) if integer else float(rng.normal(100, 40))
        lanes = int(rng.integers(1, 1 << N_LANES)) | 1  # lane 0 = every event
        codes = (int(rng.integers(0, 4)), int(rng.choice([0, 7, 8, 9, 10])))
        yield t, x, lanes, codes


def _every_cell():
    reqs = [(s, w, f, (s * len(WINS) + w) * N_LANES + f)
            for s in range(N_STATS) for w in range(len(WINS)) for f in range(N_LANES)]
    base = N_STATS * len(WINS) * N_LANES
    dreqs = [(s, w, base + s * len(WINS) + w) for s in range(len(SPECS)) for w in range(len(WINS))]
    return read_plan(WINS.tolist(), reqs, dreqs), base + len(SPECS) * len(WINS)


def _kernel(log: WindowLog, t: int) -> np.ndarray:
    plan, n = _every_cell()
    vals = np.full(n, -1.0)
    read_group(log.ts, log.val, log.mask, log.dflag, log.codes, log.lo, log.hi, t, plan,
               log.specs, vals)
    return vals


def _exact(log: WindowLog, t: int) -> np.ndarray:
    return np.concatenate([log.get(t, WINS, N_LANES).ravel(),
                           log.get_distinct(t, WINS, SPECS).ravel()])


def _assert_flags_true(log: WindowLog) -> None:
    again = np.zeros_like(log.dflag)
    flag_rebuild(log.codes, log.mask, again, log.lo, log.hi, log.specs)
    np.testing.assert_array_equal(log.dflag[log.lo : log.hi], again[log.lo : log.hi])


@pytest.mark.parametrize("integer", [True, False])
@pytest.mark.parametrize("seed", range(6))
def test_kernel_equals_exact_scan_at_every_time_with_late_events_and_reverts(seed, integer):
    log = WindowLog(integer=integer, n_codes=2, specs=SPECS)
    newest = 0
    for i, (t, x, lanes, codes) in enumerate(_stream(seed, 160, integer=integer)):
        log.update(t, x, lanes, codes)
        newest = max(newest, t)
        if i % 40 == 39:
            log.revert(newest - 400)
        _assert_flags_true(log)
        # after the newest event (the flags path), at it (ties: fallback) and in the past
        for probe in (newest + 1, newest + 7, newest, max(0, newest - 20)):
            np.testing.assert_array_equal(_kernel(log, probe), _exact(log, probe))


def test_flags_survive_merge_grow_and_bytes():
    whole = WindowLog(integer=True, n_codes=2, specs=SPECS)
    a = WindowLog(integer=True, n_codes=2, specs=SPECS)
    b = WindowLog(integer=True, n_codes=2, specs=SPECS)
    for i, ev in enumerate(_stream(42, 300, lateness=0)):
        whole.update(*ev)
        (a if i % 3 else b).update(*ev)
    a.merge(b)
    _assert_flags_true(a)
    t = int(whole.newest) + 1
    np.testing.assert_array_equal(_kernel(a, t), _exact(whole, t))
    again = WindowLog.from_bytes(whole.to_bytes())
    np.testing.assert_array_equal(again.specs, SPECS)
    np.testing.assert_array_equal(_kernel(again, t), _kernel(whole, t))
    again.update(t, 5, 1, (3, 7))  # a loaded log keeps growing correctly
    _assert_flags_true(again)


def test_bad_specs_plans_and_bytes_are_refused():
    with pytest.raises(ValueError, match="do not fit"):
        WindowLog(integer=True, n_codes=1, specs=np.asarray([[1, 0]]))
    with pytest.raises(ValueError, match="ascending"):
        read_plan([40, 5], [], [])
    with pytest.raises(ValueError, match="bad request"):
        read_plan([5], [(0, 1, 0, 0)], [])
    data = WindowLog(integer=True, n_codes=2, specs=SPECS).to_bytes()
    with pytest.raises(ValueError, match="truncated"):
        WindowLog.from_bytes(data + b"\0")


@settings(max_examples=60, deadline=None, derandomize=True)
@given(events=st.lists(st.tuples(st.integers(0, 60), st.integers(1, 7), st.integers(0, 3)),
                       max_size=40),
       t=st.integers(0, 80))
def test_distinct_by_flags_equals_a_set_of_codes(events, t):
    log = WindowLog(integer=True, n_codes=1, specs=np.asarray([[0, 0], [0, 1]]))
    for ts, lanes, c in events:
        log.update(ts, 1, lanes, (c,))
    plan = read_plan([10, 1_000], [], [(s, w, 2 * s + w) for s in range(2) for w in range(2)])
    vals = np.zeros(4)
    read_group(log.ts, log.val, log.mask, log.dflag, log.codes, log.lo, log.hi, t, plan,
               log.specs, vals)
    for s, bit in enumerate((0, 1)):
        for w, width in enumerate((10, 1_000)):
            want = {c for ts, lanes, c in events
                    if t - width <= ts < t and c != 0 and (lanes >> bit) & 1}
            assert vals[2 * s + w] == len(want)


def test_after_repayment_reads_spend_since_the_latest_repayment():
    rts, rval = np.asarray([10, 50, 50]), np.asarray([100, 300, 200])
    pts, pval, pmask = np.asarray([5, 50, 60, 70, 90]), np.asarray([1, 2, 3, 4, 5]), \
        np.asarray([1, 1, 0, 1, 1])
    found, r_t, amount, n, spend, first = after_repayment(rts, rval, 0, 3, pts, pval, pmask, 0, 5,
                                                          90, 100, 1)
    assert (found, r_t, amount, n, spend, first) == (True, 50, 300.0, 2, 6, 50)
    assert not after_repayment(rts, rval, 0, 3, pts, pval, pmask, 0, 5, 200, 100, 1)[0]
    assert not after_repayment(rts, rval, 0, 3, pts, pval, pmask, 0, 5, 10, 100, 1)[0]


@pytest.mark.parametrize("seed", range(4))
def test_a_plan_of_some_cells_reads_the_same_values_as_the_plan_of_all(seed):
    """Lanes skip older events and accumulators they do not need: the asked cells are unchanged."""
    rng = np.random.default_rng(seed)
    log = WindowLog(integer=bool(seed % 2), n_codes=2, specs=SPECS)
    for ev in _stream(seed, 200, integer=bool(seed % 2)):
        log.update(*ev)
    t = int(log.newest) + 3
    full = _kernel(log, t)
    _, n = _every_cell()
    for _ in range(20):
        reqs = [(s, w, f, (s * len(WINS) + w) * N_LANES + f) for s in range(N_STATS)
                for w in range(len(WINS)) for f in range(N_LANES) if rng.random() < 0.1]
        base = N_STATS * len(WINS) * N_LANES
        dreqs = [(s, w, base + s * len(WINS) + w) for s in range(len(SPECS))
                 for w in range(len(WINS)) if rng.random() < 0.2]
        vals = np.full(n, -1.0)
        read_group(log.ts, log.val, log.mask, log.dflag, log.codes, log.lo, log.hi, t,
                   read_plan(WINS.tolist(), reqs, dreqs), log.specs, vals)
        asked = [o for *_, o in reqs] + [o for *_, o in dreqs]
        np.testing.assert_array_equal(vals[asked], full[asked])
        assert (np.delete(vals, asked) == -1.0).all()  # nothing else written


def test_add_is_update_then_revert():
    one = WindowLog(integer=True, n_codes=2, specs=SPECS)
    two = WindowLog(integer=True, n_codes=2, specs=SPECS)
    newest = 0
    for t, x, lanes, codes in _stream(9, 300):
        newest = max(newest, t)
        one.update(t, x, lanes, codes)
        one.revert(newest - 100)
        two.add(t, x, lanes, np.asarray(codes, np.int64), newest - 100)
        assert len(one) == len(two)
        np.testing.assert_array_equal(one.buf[:, one.lo : one.hi], two.buf[:, two.lo : two.hi])


@pytest.mark.parametrize("integer", [True, False])
def test_admit_refuses_too_late_events_and_otherwise_is_update_then_revert(integer):
    one = WindowLog(integer=integer, n_codes=2, specs=SPECS)
    two = WindowLog(integer=integer, n_codes=2, specs=SPECS)
    newest, refused = None, 0
    for t, x, lanes, codes in _stream(5, 300, integer=integer, lateness=60):
        if newest is not None and t < newest - 20:
            assert not two.admit(t, x, lanes, np.asarray(codes, np.int64), 100, 20)
            refused += 1
            continue
        newest = t if newest is None else max(newest, t)
        one.update(t, x, lanes, codes)
        one.revert(newest - 100 - 20)
        assert two.admit(t, x, lanes, np.asarray(codes, np.int64), 100, 20)
        assert len(one) == len(two)
        np.testing.assert_array_equal(one.buf[:, one.lo : one.hi], two.buf[:, two.lo : two.hi])
    assert refused > 0


def _derived_numpy(op: str, xs: list[np.ndarray]) -> np.ndarray:
    """The vectorised NumPy form the compiled table replaced (kept as the reference)."""
    with np.errstate(all="ignore"):
        if op == "ratio":
            a, b = xs
            return np.where(np.isnan(a) | np.isnan(b) | (b == 0), np.nan, a / b)
        if op == "zscore":
            x, m, sd = xs
            bad = np.isnan(x) | np.isnan(m) | np.isnan(sd) | ~(sd > 0)
            return np.where(bad, np.nan, (x - m) / sd)
        (a,) = xs
        return np.where(np.isnan(a) | (a == 0), 1.0, 0.0)


@pytest.mark.parametrize("seed", range(3))
def test_derived_table_equals_the_numpy_operations_on_nulls_zeros_and_infinities(seed):
    rng = np.random.default_rng(seed)
    special = np.asarray([np.nan, 0.0, -0.0, np.inf, -np.inf, 1e-300, -3.0, 5e18, 7.0])
    n_in, n = 60, 200
    base = np.where(rng.random(n_in) < 0.5, rng.choice(special, n_in), rng.normal(0, 1e4, n_in))
    rows, ops = [], []
    for k in range(n):  # each output reads inputs and outputs computed before it
        op = ("ratio", "zscore", "is_zero")[k % 3]
        ins = [int(i) for i in rng.integers(0, n_in + k, (2, 3, 1)[k % 3])]
        rows.append((op, n_in + k, ins))
        ops.append((op, ins))
    vals = np.concatenate([base, np.full(n, -1.0)])
    derive(vals, derived_table(rows))
    want = np.concatenate([base, np.full(n, -1.0)])
    for k, (op, ins) in enumerate(ops):
        want[n_in + k] = _derived_numpy(op, [want[i : i + 1] for i in ins])[0]
    np.testing.assert_array_equal(vals, want)  # NaN == NaN, and the same bits otherwise
    assert np.isnan(want[n_in:]).any() and (want[n_in:] == 1.0).any()
    with pytest.raises(ValueError, match="bad row"):
        derived_table([("ratio", 0, (1,))])
