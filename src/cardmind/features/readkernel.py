"""The online read kernel: only the statistics a plan asks for, written straight into the vector.

:func:`read_group` is the online engine's read of one (entity, group) log. It computes the same
aggregates as :func:`~cardmind.features.aggregates.WindowLog.get` (same arithmetic, so the same
bits) but only for the (statistic, window, lane) cells the plan needs, visits only the lanes an
event is in (set bits, not every lane), reads distinct counts from the log's *latest-occurrence
flags* instead of hashing codes, and writes each feature into its slot of the output vector — no
block is materialised and gathered in Python.

Distinct counts by flags: bit ``s`` of ``dflag[i]`` says event ``i`` is the newest event matching
spec ``s`` (code column, lane) with its code. When every retained event is older than ``t`` (the
real-time case: read before update), the distinct codes in ``[t - w, t)`` are exactly the flagged
events in that window. Otherwise (a read at an earlier time, ties at ``t``) the kernel falls back
to the exact scan :func:`~cardmind.features.aggregates._distinct_block`.

A read plan is one small integer array built once per group (:func:`read_plan`): the windows,
the requests ``(stat, window, lane, out)``, the distinct requests ``(spec, window, out)`` and the
bit mask of the lanes they use — one argument, because every argument of a compiled call costs.

>>> from cardmind.features.aggregates import COUNT, SUM, WindowLog
>>> log = WindowLog(integer=True, n_codes=1, specs=np.asarray([[0, 0]]))
>>> for ts, amount, lanes, merchant in [(0, 100, 0b01, 7), (10, 300, 0b11, 8), (20, 200, 0b01, 7)]:
...     log.update(ts, amount, lanes, (merchant,))
>>> plan = read_plan([15, 100], [(COUNT, 1, 0, 0), (SUM, 0, 1, 1)], [(0, 1, 2)])
>>> vals = np.full(3, np.nan)
>>> read_group(log.ts, log.val, log.mask, log.dflag, log.codes, log.lo, log.hi, 21, plan,
...            log.specs, vals)
>>> vals.tolist()  # count (100 µs), sum of lane 1 (15 µs), distinct merchants (100 µs)
[3.0, 300.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numba
import numpy as np

from cardmind.features.aggregates import _distinct_block

# de Bruijn sequence: index of the lowest set bit of a 64-bit word in one multiply and a lookup
_DEBRUIJN = 0x03F79D71B4CB0A89
_BIT_INDEX = np.zeros(64, np.int64)
for _i in range(64):
    _BIT_INDEX[(((1 << _i) * _DEBRUIJN) & 0xFFFFFFFFFFFFFFFF) >> 58] = _i
_DB = np.int64(_DEBRUIJN)


# what a lane accumulates, from the statistics its features ask for (count always)
_SUMS, _MOMENTS, _MIN, _MAX, _LAST = 1, 2, 4, 8, 16
_STAT_NEEDS = (0, _SUMS, _SUMS, _MIN, _MAX, _MOMENTS, _LAST, _LAST, 0)  # by stat index


def read_plan(windows: Sequence[int], reqs: Sequence[tuple[int, int, int, int]],
              dreqs: Sequence[tuple[int, int, int]]) -> np.ndarray:
    """The packed plan :func:`read_group` follows.

    ``windows``: ascending, in µs; ``reqs``: (stat index, window index, lane, output slot);
    ``dreqs``: (distinct spec, window index, output slot). Layout: ``[W, R, D, need, n_lanes,
    last window, windows..., lanes by window..., lane needs..., reqs..., dreqs...]`` where
    ``need`` has the bit of every lane used (lane 0 too when a share is asked: it is the share's
    denominator), ``n_lanes`` is one more than the highest such lane, the last window is the
    longest any request uses (the scan stops at its start), *lanes by window* ``w`` are the lanes
    some request reads at window ``w`` or longer (older events skip the others), and each lane's
    *needs* say which accumulators it keeps (sums, moments, min, max, last): a lane asked only for
    counts does nothing else.
    """
    if not len(windows) or any(b <= a for a, b in pairwise(windows)):
        raise ValueError(f"read plan: windows {list(windows)} must be ascending and non-empty")
    need = 0
    for stat, w, lane, _ in reqs:
        if not 0 <= w < len(windows) or not 0 <= stat < 9 or not 0 <= lane < 63:
            raise ValueError(f"read plan: bad request {(stat, w, lane)}")
        need |= 1 << lane
        if stat == 8:  # share: n / n(lane 0)
            need |= 1
    n_lanes = max(need.bit_length(), 1)
    needs = [0] * n_lanes
    longest = [-1] * n_lanes  # per lane: the longest window read
    for stat, w, lane, _ in reqs:
        needs[lane] |= _STAT_NEEDS[stat]
        longest[lane] = max(longest[lane], w)
        if stat == 8:
            longest[0] = max(longest[0], w)
    by_window = [sum(1 << f for f in range(n_lanes) if longest[f] >= w)
                 for w in range(len(windows))]
    last = max([w for _, w, _ in dreqs] + longest)
    head = [len(windows), len(reqs), len(dreqs), need, n_lanes, max(last, 0), *windows,
            *by_window, *needs]
    return np.concatenate([np.asarray(head, np.int64),
                           np.asarray(reqs, np.int64).reshape(-1),
                           np.asarray(dreqs, np.int64).reshape(-1)])


@numba.njit(cache=True)
def _low_bit(word):  # pragma: no cover - compiled
    return _BIT_INDEX[((word * _DB) >> 58) & 63]


@numba.njit(cache=True)
def _scratch(W, nl, S, dtype):  # pragma: no cover - compiled
    """Accumulators for up to W windows x nl lanes and S distinct specs (values of ``dtype``)."""
    return (np.empty((2, W, nl), np.int64),  # count, time of the last event
            np.empty((3, W, nl), dtype),  # sum, sum of (x - c), sum of (x - c) ** 2
            np.empty((3, W, nl)),  # min, max, last value
            np.empty(nl, dtype), np.empty(nl, np.bool_),  # c: the lane's newest value; seen
            np.empty(W, np.int64), np.empty((W, max(S, 1)), np.int64))  # starts, distinct


@numba.njit(cache=True)
def read_group(ts, val, mask, dflag, codes, lo, hi, t, plan, specs,
               vals):  # pragma: no cover - compiled
    """Write the planned aggregates of events ``[lo, hi)`` at time ``t`` into ``vals``."""
    ic, ac, fc, c, seen, starts, dcnt = _scratch(plan[0], plan[4], specs.shape[0], val.dtype)
    _read(ts, val, mask, dflag, codes, lo, hi, t, plan, specs, vals, ic, ac, fc, c, seen, starts,
          dcnt)


@numba.njit(cache=True)
def _read(ts, val, mask, dflag, codes, lo, hi, t, plan, specs, vals, ic, ac, fc, c, seen, starts,
          dcnt):  # pragma: no cover - compiled
    W = plan[0]
    R = plan[1]
    n_d = plan[2]
    need = plan[3]
    nl = plan[4]
    last = plan[5]
    wins = plan[6 : 6 + W]
    by_window = plan[6 + W : 6 + 2 * W]
    needs = plan[6 + 2 * W : 6 + 2 * W + nl]
    at = 6 + 2 * W + nl
    reqs = plan[at : at + 4 * R].reshape(R, 4)
    dreqs = plan[at + 4 * R : at + 4 * R + 3 * n_d].reshape(n_d, 3)
    cnt = ic[0]
    lt = ic[1]
    s1 = ac[0]
    e1 = ac[1]  # sum of (x - c), c = the lane's newest value
    d2 = ac[2]  # sum of (x - c) ** 2
    mn = fc[0]
    mx = fc[1]
    lv = fc[2]
    end = lo + np.searchsorted(ts[lo:hi], t)
    for w in range(W):
        starts[w] = lo + np.searchsorted(ts[lo:end], t - wins[w])
        for f in range(nl):
            cnt[w, f] = 0
            lt[w, f] = -1
            s1[w, f] = 0
            e1[w, f] = 0
            d2[w, f] = 0
            mn[w, f] = np.inf
            mx[w, f] = -np.inf
            lv[w, f] = 0.0
    for f in range(nl):
        seen[f] = False
    S = specs.shape[0]
    flags = n_d > 0 and end == hi
    if flags:
        for w in range(W):
            for s in range(S):
                dcnt[w, s] = 0
    w0 = 0
    for i in range(end - 1, starts[last] - 1, -1):
        while starts[w0] > i:
            w0 += 1
        m = mask[i] & by_window[w0]
        if m != 0:
            x = val[i]
            xf = float(x)
            while m != 0:
                low = m & -m
                m ^= low
                f = _low_bit(low)
                cnt[w0, f] += 1
                nf = needs[f]
                if nf == 0:
                    continue
                if nf & 1:
                    s1[w0, f] += x
                if nf & 2:
                    if not seen[f]:
                        seen[f] = True
                        c[f] = x
                    dx = x - c[f]
                    e1[w0, f] += dx
                    d2[w0, f] += dx * dx
                if nf & 4 and xf < mn[w0, f]:
                    mn[w0, f] = xf
                if nf & 8 and xf > mx[w0, f]:
                    mx[w0, f] = xf
                if nf & 16:
                    if lt[w0, f] < 0:
                        lt[w0, f] = ts[i]
                        lv[w0, f] = xf
                    elif ts[i] == lt[w0, f] and xf > lv[w0, f]:
                        lv[w0, f] = xf
        if flags:
            fl = dflag[i]
            while fl != 0:
                low = fl & -fl
                fl ^= low
                dcnt[w0, _low_bit(low)] += 1
    for w in range(1, W):
        for f in range(nl):
            if not (need >> f) & 1:
                continue
            cnt[w, f] += cnt[w - 1, f]
            nf = needs[f]
            if nf == 0:
                continue
            s1[w, f] += s1[w - 1, f]
            e1[w, f] += e1[w - 1, f]
            d2[w, f] += d2[w - 1, f]
            mn[w, f] = min(mn[w, f], mn[w - 1, f])
            mx[w, f] = max(mx[w, f], mx[w - 1, f])
            if lt[w - 1, f] >= 0:
                lt[w, f] = lt[w - 1, f]
                lv[w, f] = lv[w - 1, f]
        if flags:
            for s in range(S):
                dcnt[w, s] += dcnt[w - 1, s]
    for r in range(R):
        st = reqs[r, 0]
        w = reqs[r, 1]
        f = reqs[r, 2]
        n = cnt[w, f]
        v = np.nan
        if st == 0:
            v = float(n)
        elif st == 1:
            v = float(s1[w, f])
        elif st == 8:
            base = cnt[w, 0]
            if base > 0:
                v = n / base
        elif n > 0:
            if st == 2:
                v = float(s1[w, f]) / n
            elif st == 3:
                v = mn[w, f]
            elif st == 4:
                v = mx[w, f]
            elif st == 6:
                v = lv[w, f]
            elif st == 7:
                v = (t - lt[w, f]) / 1e6
            elif st == 5 and n >= 2:
                d = d2[w, f]
                e = e1[w, f]
                if abs(d) < 4.0e18 / n and abs(e) < 3.0e9:
                    num = float(n * d - e * e)  # exact integer numerator n*s2 - s1**2
                else:
                    num = float(n) * float(d) - float(e) * float(e)
                v = np.sqrt(max(num, 0.0) / (n * (n - 1.0)))
        vals[reqs[r, 3]] = v
    if n_d > 0:
        if flags:
            for r in range(n_d):
                vals[dreqs[r, 2]] = float(dcnt[dreqs[r, 1], dreqs[r, 0]])
        else:
            exact = _distinct_block(ts, codes, mask, lo, hi, t, wins, specs)
            for r in range(n_d):
                vals[dreqs[r, 2]] = exact[dreqs[r, 0], dreqs[r, 1]]


# derived operations: the op codes of a derived table (rows: op, out, in0, in1, in2)
DERIVED_OPS = {"ratio": 0, "zscore": 1, "is_zero": 2}


def derived_table(rows: Sequence[tuple[str, int, Sequence[int]]]) -> np.ndarray:
    """The table :func:`derive` follows, from ``(op, output slot, input slots)`` rows given in
    an order where every input is computed before it is used."""
    table = np.full((len(rows), 5), -1, np.int64)
    for k, (op, out, ins) in enumerate(rows):
        if op not in DERIVED_OPS or len(ins) != (2, 3, 1)[DERIVED_OPS[op]]:
            raise ValueError(f"derived table: bad row {(op, out, tuple(ins))}")
        table[k, :2 + len(ins)] = (DERIVED_OPS[op], out, *ins)
    return table


@numba.njit(cache=True)
def derive(vals, table):  # pragma: no cover - compiled
    """Derived features in place, row by row: ``ratio(a, b)`` (null when an input is null or
    ``b`` is 0), ``zscore(x, mean, std)`` (null when an input is null or ``std`` is not
    positive), ``is_zero(a)`` (1 when ``a`` is 0 or null, else 0). The same IEEE operations as
    the batch engine's SQL, so the same bits.

    >>> vals = np.asarray([6.0, 3.0, 0.0, np.nan, 0.0, 0.0, 0.0, 0.0])
    >>> derive(vals, derived_table([("ratio", 4, (0, 1)), ("ratio", 5, (0, 2)),
    ...                             ("zscore", 6, (0, 1, 1)), ("is_zero", 7, (3,))]))
    >>> vals[4:].tolist()
    [2.0, nan, 1.0, 1.0]
    """
    for k in range(table.shape[0]):
        op = table[k, 0]
        a = vals[table[k, 2]]
        v = np.nan
        if op == 0:
            b = vals[table[k, 3]]
            if not (np.isnan(a) or np.isnan(b) or b == 0):
                v = a / b
        elif op == 1:
            m = vals[table[k, 3]]
            sd = vals[table[k, 4]]
            if not (np.isnan(a) or np.isnan(m) or np.isnan(sd)) and sd > 0:
                v = (a - m) / sd
        else:
            v = 1.0 if np.isnan(a) or a == 0 else 0.0
        vals[table[k, 1]] = v


@numba.njit(cache=True)
def read_all(bufs, bounds, floats, t, plans, plan_off, specs, spec_off, derived,
             vals):  # pragma: no cover - compiled
    """:func:`read_group` over many logs in one compiled call (one per read, not per group),
    then the ``derived`` table (:func:`derive`; empty: none).

    ``bufs``: a tuple of :attr:`WindowLog.buf <cardmind.features.aggregates.WindowLog>` matrices
    (rows: time, value, lane mask, flags, codes...); ``bounds``: ``lo, hi`` per log (``hi < 0``:
    skip the group); ``floats[g]``: the values are float64 bits. Group ``g`` follows
    ``plans[plan_off[g]:plan_off[g + 1]]`` and its distinct specs
    ``specs[spec_off[g]:spec_off[g + 1]]``. The accumulators are allocated once per call.
    """
    G = len(bufs)
    W = 1
    nl = 1
    S = 1
    for g in range(G):
        W = max(W, plans[plan_off[g]])
        nl = max(nl, plans[plan_off[g] + 4])
        S = max(S, spec_off[g + 1] - spec_off[g])
    ic, ai, fc, ci, seen, starts, dcnt = _scratch(W, nl, S, np.int64)
    af = np.empty((3, W, nl))
    cf = np.empty(nl)
    for g in range(G):
        lo = bounds[2 * g]
        hi = bounds[2 * g + 1]
        if hi < 0:
            continue
        buf = bufs[g]
        plan = plans[plan_off[g] : plan_off[g + 1]]
        sp = specs[spec_off[g] : spec_off[g + 1]]
        if floats[g]:
            _read(buf[0], buf[1].view(np.float64), buf[2], buf[3], buf[4:], lo, hi, t, plan, sp,
                  vals, ic, af, fc, cf, seen, starts, dcnt)
        else:
            _read(buf[0], buf[1], buf[2], buf[3], buf[4:], lo, hi, t, plan, sp, vals, ic, ai, fc,
                  ci, seen, starts, dcnt)
    derive(vals, derived)


@numba.njit(cache=True)
def after_repayment(rts, rval, rlo, rhi, pts, pval, pmask, plo, phi, t, lookback,
                    bit):  # pragma: no cover - compiled
    """Spending after the latest repayment before ``t`` (within ``lookback``).

    Returns ``(found, repayment time, repayment amount, purchases, spend, first purchase time)``;
    the amount is the largest repayment at that microsecond, purchases are the events of lane
    ``bit`` in ``[repayment time, t)``.
    """
    end = rlo + np.searchsorted(rts[rlo:rhi], t)
    if end == rlo or rts[end - 1] < t - lookback:
        return False, 0, 0.0, 0, 0, -1
    r_t = rts[end - 1]
    amount = -np.inf
    for i in range(end - 1, rlo - 1, -1):
        if rts[i] != r_t:
            break
        amount = max(amount, float(rval[i]))
    n = 0
    spend = 0
    first = -1
    if phi > plo:
        a = plo + np.searchsorted(pts[plo:phi], r_t)
        b = plo + np.searchsorted(pts[plo:phi], t)
        for i in range(a, b):
            if pmask[i] & bit:
                if n == 0:
                    first = pts[i]
                n += 1
                spend += pval[i]
    return True, r_t, amount, n, spend, first


#: measure codes of :func:`repayment_features` (its ``specs`` rows: output slot, measure)
REPAYMENT_MEASURES = {"count_since": 0, "spend_since": 1, "spend_ratio": 2}  # else 3: time to first


@numba.njit(cache=True)
def repayment_features(rts, rval, rlo, rhi, pts, pval, pmask, plo, phi, t, lookback, bit, specs,
                       vals):  # pragma: no cover - compiled
    """The repayment features of one entity into ``vals`` (:func:`after_repayment`; nothing
    written when no repayment is found): ``specs`` rows are ``(output slot, measure code)``,
    codes in :data:`REPAYMENT_MEASURES` (3: seconds from the repayment to the first purchase)."""
    found, r_t, r_amount, n, spend, first_t = after_repayment(
        rts, rval, rlo, rhi, pts, pval, pmask, plo, phi, t, lookback, bit)
    if not found:
        return
    for k in range(specs.shape[0]):
        m = specs[k, 1]
        v = np.nan
        if m == 0:
            v = float(n)
        elif m == 1:
            v = float(spend)
        elif m == 2:
            if r_amount > 0:
                v = spend / r_amount
        elif n:
            v = (first_t - r_t) / 1e6
        vals[specs[k, 0]] = v


@numba.njit(cache=True)
def label_counts(ts, known, lo, hi, t, specs, vals):  # pragma: no cover - compiled
    """Label-delayed counts of one entity's label log into ``vals``.

    Events ``[lo, hi)`` are labelled authorizations (``ts``: their time, ``known``: when the label
    was reported). ``specs`` rows are ``(output slot, window, delay, rate_of)``: the count of
    authorizations in ``[t - window, t)`` whose label was known by ``t`` (reported at least
    ``delay`` before it), or, when ``rate_of >= 0``, that count over ``vals[rate_of]`` (null when
    it is not positive). Rows are evaluated in order.
    """
    for k in range(specs.shape[0]):
        start = t - specs[k, 1]
        delay = specs[k, 2]
        count = 0
        for i in range(lo, hi):
            a = ts[i]
            if start <= a < t and known[i] + delay <= t:
                count += 1
        rate_of = specs[k, 3]
        if rate_of < 0:
            vals[specs[k, 0]] = float(count)
        else:
            n = vals[rate_of]
            vals[specs[k, 0]] = float(count) / n if n > 0 else np.nan
