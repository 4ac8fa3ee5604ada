"""WindowLog storage: growth, in-place compaction and shrinking keep exactly the retained events."""

from __future__ import annotations

import numpy as np
import pytest

from cardmind.features.aggregates import WindowLog
from cardmind.features.flags import flag_insert, flag_rebuild

SPECS = np.asarray([[0, 0], [1, 1]], np.int64)


def _reference_admit(events: list, t: int, x: int, lanes: int, codes: tuple, retention: int,
                     lateness: int) -> bool:
    """The online write on a plain list (stable insert by time, expiry from the old end)."""
    newest = max((e[0] for e in events), default=t)
    if events and t < newest - lateness:
        return False
    pos = sum(1 for e in events if e[0] <= t)
    events.insert(pos, (t, x, lanes, codes))
    before = max(newest, t) - retention - lateness
    events[:] = [e for i, e in enumerate(events) if not all(f[0] < before for f in events[: i + 1])]
    return True


def _same(log: WindowLog, events: list) -> None:
    ts, val, mask, codes = log.arrays()
    assert ts.tolist() == [e[0] for e in events]
    assert val.tolist() == [e[1] for e in events]
    assert mask.tolist() == [e[2] for e in events]
    assert codes.T.tolist() == [list(e[3]) for e in events]
    again = np.zeros_like(log.dflag)
    flag_rebuild(log.codes, log.mask, again, log.lo, log.hi, log.specs)
    np.testing.assert_array_equal(log.dflag[log.lo : log.hi], again[log.lo : log.hi])


@pytest.mark.parametrize("seed", range(4))
def test_busy_then_quiet_entity_keeps_exactly_its_window_through_compactions(seed):
    """A burst (storage doubles), a steady state (compaction reuses the expired prefix), a quiet
    spell (storage shrinks), with late events and ties all along: the log equals the reference."""
    rng = np.random.default_rng(seed)
    log = WindowLog(integer=True, n_codes=2, specs=SPECS)
    ref: list = []
    t, moves, widths = 0, 0, []
    for gap, n in ((1, 600), (4, 1_500), (400, 60), (1, 300)):
        for _ in range(n):
            t += int(rng.integers(0, 2 * gap + 1))
            ts = t - int(rng.integers(0, 60)) if rng.random() < 0.15 else t
            x, lanes = int(rng.integers(-5, 1_000)), int(rng.integers(1, 4)) | 1
            codes = (int(rng.integers(0, 5)), int(rng.integers(0, 3)))
            full, buf = log.hi == log.buf.shape[1], log.buf
            want = _reference_admit(ref, ts, x, lanes, codes, 200, 50)
            assert log.admit(ts, x, lanes, np.asarray(codes, np.int64), 200, 50) == want
            moves += full and log.buf is buf  # room made in place
        _same(log, ref)
        widths.append(log.buf.shape[1])
        again = WindowLog.from_bytes(log.to_bytes())  # CMWL2 round trip, then keeps going
        _same(again, ref)
        log = again
    assert moves > 0
    assert widths[2] < widths[0]  # the quiet spell gave the burst's storage back


def test_compaction_moves_the_live_part_in_place_and_doubling_copies_it():
    log = WindowLog(integer=False, n_codes=1, capacity=16)
    for i in range(16):
        log.update(i, i / 2, 1, (i % 3,))
    log.revert(10)  # 6 live of 16: the next event compacts in place
    buf = log.buf
    log.update(16, 8.0, 1, (1,))
    assert log.buf is buf and (log.lo, log.hi) == (0, 7)
    assert log.arrays()[0].tolist() == list(range(10, 17))
    assert log.arrays()[1].tolist() == [i / 2 for i in range(10, 17)]
    for i in range(17, 27):  # the 17th live event: the storage doubles
        log.update(i, 0.5, 1, (2,))
    assert log.buf.shape[1] == 32 and log.arrays()[0].tolist() == list(range(10, 27))
    for i in range(27, 42):
        log.update(i, 1.0, 1, (0,))
    log.revert(41)  # 1 live of 32: the next growth shrinks the storage
    log.update(42, 2.0, 1, (0,))
    assert log.buf.shape[1] == 16 and log.arrays()[0].tolist() == [41, 42]
    assert log.arrays()[1].tolist() == [1.0, 2.0]


def _flag_insert_plain(codes, mask, dflag, lo, pos, hi, specs) -> None:
    """The flag rule spec by spec: the new event takes the flag of its code's nearest older
    occurrence unless a newer one exists (what the compiled pass over the flags must equal)."""
    dflag[pos] = 0
    for s, (col, bit) in enumerate(specs.tolist()):
        c = codes[col, pos]
        if c == 0 or not (mask[pos] >> bit) & 1:
            continue
        if any(codes[col, j] == c and (mask[j] >> bit) & 1 for j in range(pos + 1, hi)):
            continue
        dflag[pos] |= 1 << s
        for j in range(pos - 1, lo - 1, -1):
            if codes[col, j] == c and (mask[j] >> bit) & 1:
                dflag[j] &= ~(1 << s)
                break


@pytest.mark.parametrize("seed", range(3))
def test_flag_insert_equals_the_per_spec_scan_in_order_and_late(seed):
    """Many specs on few code values and lanes (repeats, nulls, codes outside a spec's lane),
    events inserted at the end and in the middle, with an advancing ``lo``."""
    rng = np.random.default_rng(seed)
    specs = np.asarray([[0, 0], [0, 1], [1, 0], [2, 2], [1, 1]], np.int64)
    n = 400
    codes = rng.integers(0, 4, (3, n)).astype(np.int64)
    mask = rng.integers(0, 8, n).astype(np.int64)
    got, want = np.zeros(n, np.int64), np.zeros(n, np.int64)
    lo = 0
    for hi in range(1, n + 1):
        pos = hi - 1 if rng.random() < 0.7 else int(rng.integers(lo, hi))
        if pos < hi - 1:  # a late event: the newer ones move right, as insert does
            for arr in (codes, mask[None, :], got[None, :], want[None, :]):
                arr[:, pos + 1 : hi] = arr[:, pos : hi - 1].copy()
            codes[:, pos] = rng.integers(0, 4, 3)
            mask[pos] = rng.integers(0, 8)
        flag_insert(codes, mask, got, lo, pos, hi, specs)
        _flag_insert_plain(codes, mask, want, lo, pos, hi, specs)
        np.testing.assert_array_equal(got[lo:hi], want[lo:hi])
        if rng.random() < 0.05:
            lo = int(rng.integers(lo, hi))
    again = np.zeros(n, np.int64)
    flag_rebuild(codes, mask, again, lo, n, specs)
    np.testing.assert_array_equal(got[lo:], again[lo:])
