"""Batch kernels: every row of an entity in one sorted sweep (the ``compiled`` batch strategy).

The online read (:func:`cardmind.features.aggregates.rows_block`) rescans an entity's window for
every row: O(rows x events in the longest window). In batch the rows of an entity can be taken in
time order, so each window keeps two pointers into the entity's time-sorted events — where the
window starts and where it ends — and every aggregate is updated as an event *enters* (its time
is before the row's) or *leaves* (before the row's time minus the window): O(events x windows).

- count, sum, mean, share: exact integer running sums (cumulative minus what left the window);
- min, max: a monotonic queue per (window, lane) in use;
- last, time since last: the lane's newest event so far (ties at one microsecond: the larger value);
- distinct count: per (spec, window) a count per dictionary code and the number above zero.

Only the statistics a catalog asks for are kept. Semantics are ADR 0010's (window ``[t - w, t)``)
and the values are the same floats as the online kernel's: sums and counts are exact integers
converted once. Groups of float values, and ``std`` (whose exact integer moments the online kernel
computes with its own shift and overflow fallback), stay on the online kernel, so that the engines
keep agreeing to the last bit.

>>> ts = np.array([0, 10, 20], np.int64); val = np.array([100, 300, 200], np.int64)
>>> mask = np.array([0b01, 0b11, 0b01], np.int64)
>>> spec = SweepSpec.build([(COUNT, 0, 0), (SUM, 1, 0), (MAX, 0, 1), (SHARE, 1, 1)],
...                        windows=np.array([15, 100]), n_lanes=2, specs=np.empty((0, 2), np.int64))
>>> out = sweep_rows(np.array([0, 3]), ts, val, mask, np.empty((0, 3), np.int64),
...                  np.array([0, 2]), np.array([21, 30]), np.array([1, 0]), spec, n_out=2)
>>> out.tolist()  # rows at t=30 (-> column 0) and t=21 (-> column 1)
[[1.0, 2.0], [600.0, 600.0], [nan, 300.0], [0.3333333333333333, 0.3333333333333333]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Statistic codes, as in aggregates.STATS; DISTINCT marks a distinct-count spec.
COUNT, SUM, MEAN, MIN, MAX, STD, LAST, SINCE, SHARE = range(9)
DISTINCT = -1
SWEPT = frozenset({COUNT, SUM, MEAN, MIN, MAX, LAST, SINCE, SHARE, DISTINCT})


# --- entity keys -> dense ids ------------------------------------------------------------------


class KeyIndex:
    """Dense ids ``0..n-1`` for the distinct entity keys of the events (one or more columns).

    >>> idx = KeyIndex([pa.array(["b", "a", "b"])])
    >>> idx.ids.tolist(), idx.n
    ([0, 1, 0], 2)
    >>> idx.lookup([pa.array(["a", "zz", "b"])]).tolist()  # -1: the entity has no events
    [1, -1, 0]
    """

    def __init__(self, keys: list[pa.Array | pa.ChunkedArray]) -> None:
        self.dictionaries: list[pa.Array] = []
        code: np.ndarray | None = None
        self._uniques: list[np.ndarray | None] = []
        for k in keys:
            enc = pc.dictionary_encode(_one_chunk(k))
            self.dictionaries.append(enc.dictionary)
            idx = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
            code, uniq = _fold(code, idx, len(enc.dictionary))
            self._uniques.append(uniq)
        self.ids = code if code is not None else np.empty(0, np.int64)
        self.n = int(self.ids.max()) + 1 if len(self.ids) else 0

    def lookup(self, keys: list[pa.Array | pa.ChunkedArray]) -> np.ndarray:
        """The id of each row's key, -1 when no event has that key."""
        code: np.ndarray | None = None
        for k, dictionary, uniq in zip(keys, self.dictionaries, self._uniques, strict=True):
            arr = _one_chunk(k)
            if arr.type != dictionary.type:
                arr = arr.cast(dictionary.type)
            idx = pc.fill_null(pc.index_in(arr, value_set=dictionary), -1).to_numpy(
                zero_copy_only=False).astype(np.int64)
            if code is None:
                code = idx
                continue
            pair = np.where((code < 0) | (idx < 0), -1, code * len(dictionary) + idx)
            assert uniq is not None
            pos = np.minimum(np.searchsorted(uniq, pair), max(len(uniq) - 1, 0))
            found = (pair >= 0) & (len(uniq) > 0) & (uniq[pos] == pair) if len(uniq) else \
                np.zeros(len(pair), bool)
            code = np.where(found, pos, -1)
        return code if code is not None else np.empty(0, np.int64)


def _one_chunk(a: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(a, pa.ChunkedArray):
        return a.combine_chunks() if a.num_chunks != 1 else a.chunk(0)
    return a


def _fold(code: np.ndarray | None, idx: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Combine the ids so far with the next key column's dictionary indices into dense ids."""
    if code is None:
        return idx, None
    uniq, inverse = np.unique(code * n + idx, return_inverse=True)
    return inverse.astype(np.int64), uniq


def dictionary_codes(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, int]:
    """Dense codes of a column's values for distinct counts (-1 = null) and how many there are.

    >>> dictionary_codes(pa.array(["x", None, "y", "x"]))[0].tolist()
    [0, -1, 1, 0]
    """
    enc = pc.dictionary_encode(_one_chunk(column))
    codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, len(enc.dictionary)


# --- sorting -----------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def order_by_key_time(kid, t, n_ids):  # pragma: no cover - compiled
    """Items with ``kid >= 0`` ordered by (kid, t), stable; and where each id starts.

    Returns ``(order, starts)`` with id ``k`` owning ``order[starts[k]:starts[k + 1]]``. A counting
    sort by id, then each id's items sorted by time unless they already are.
    """
    n = kid.shape[0]
    starts = np.zeros(n_ids + 1, np.int64)
    for i in range(n):
        if kid[i] >= 0:
            starts[kid[i] + 1] += 1
    for k in range(n_ids):
        starts[k + 1] += starts[k]
    pos = starts[:-1].copy()
    order = np.empty(starts[n_ids], np.int64)
    for i in range(n):
        k = kid[i]
        if k >= 0:
            order[pos[k]] = i
            pos[k] += 1
    for k in range(n_ids):
        a = starts[k]
        b = starts[k + 1]
        for i in range(a + 1, b):
            if t[order[i]] < t[order[i - 1]]:
                seg = order[a:b].copy()
                o = np.argsort(t[seg], kind="mergesort")
                for j in range(b - a):
                    order[a + j] = seg[o[j]]
                break
    return order, starts


# --- the sweep ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepSpec:
    """What the sweep keeps, derived from the features asked for (only those statistics).

    ``feats`` rows are (stat, window, lane) — for ``DISTINCT``: (DISTINCT, window, spec) with
    ``specs`` rows (code column, lane or -1).
    """

    feats: np.ndarray  # (F, 3) int64
    windows: np.ndarray  # (W,) int64 µs, ascending
    specs: np.ndarray  # (S, 2) int64
    enter_bits: int  # lanes with running count/sum
    leave_bits: np.ndarray  # (W,) lanes whose count/sum must drop events leaving window w
    last_bits: int  # lanes with last / time since last
    queues: np.ndarray  # (Q, 2) int64: lane, 1 = max / 0 = min; one queue serves every window
    queue_need: np.ndarray  # (Q, W) bool: the queue's windows in use
    queue_of: np.ndarray  # (F,) queue of a min/max feature, else -1
    distinct_need: np.ndarray  # (S, W) bool

    @classmethod
    def build(cls, feats: list[tuple[int, int, int]], *, windows: np.ndarray, n_lanes: int,
              specs: np.ndarray) -> SweepSpec:
        W = len(windows)
        enter, last = 0, 0
        leave = np.zeros(W, np.int64)
        queues: list[tuple[int, int]] = []
        queue_of = np.full(len(feats), -1, np.int64)
        qneed: list[np.ndarray] = []
        need = np.zeros((len(specs), W), np.bool_)
        for i, (stat, w, lane) in enumerate(feats):
            if stat not in SWEPT:
                raise ValueError(f"statistic {stat} is not computed by the sweep")
            if stat == DISTINCT:
                need[lane, w] = True
                continue
            if not 0 <= lane < n_lanes:
                raise ValueError(f"lane {lane} out of range")
            if stat in (COUNT, SUM, MEAN, SHARE):
                bits = (1 << lane) | (1 if stat == SHARE else 0)
                enter |= bits
                leave[w] |= bits
            elif stat in (MIN, MAX):
                q = (lane, int(stat == MAX))
                if q not in queues:
                    queues.append(q)
                    qneed.append(np.zeros(W, np.bool_))
                queue_of[i] = queues.index(q)
                qneed[queue_of[i]][w] = True
            else:
                last |= 1 << lane
        return cls(feats=np.asarray(feats, np.int64).reshape(-1, 3),
                   windows=np.asarray(windows, np.int64), specs=np.asarray(specs, np.int64),
                   enter_bits=enter, leave_bits=leave, last_bits=last,
                   queues=np.asarray(queues, np.int64).reshape(-1, 2),
                   queue_need=np.asarray(qneed, np.bool_).reshape(-1, W), queue_of=queue_of,
                   distinct_need=need)


def sweep_rows(ev_start: np.ndarray, ts: np.ndarray, val: np.ndarray, mask: np.ndarray,
               codes: np.ndarray, row_start: np.ndarray, row_t: np.ndarray,
               row_pos: np.ndarray, spec: SweepSpec, *, n_out: int,
               n_codes: np.ndarray | None = None, blocks: int = 0,
               scratch: list[np.ndarray] | None = None,
               out: np.ndarray | None = None) -> np.ndarray:
    """Features of every row, feature-major ``(features, n_out)``; row ``r`` -> ``row_pos[r]``.

    Events are sorted by (entity, time) with entity ``k`` owning ``[ev_start[k], ev_start[k+1])``
    (integer values); rows likewise sorted, entity ``k`` owning ``[row_start[k],
    row_start[k+1])``. Output columns no row maps to stay NaN. ``codes`` (code column x events)
    are dense dictionary codes, -1 = null, with ``n_codes`` per column. ``blocks`` > 1 splits the
    entities into that many blocks run in parallel (default: one per thread). ``scratch``: a
    list holding a buffer reused between calls (fresh memory is slow to fault in); ``out``: a
    buffer of at least ``features x n_out`` doubles to write the result into.
    """
    n_ids = len(ev_start) - 1
    if n_ids <= 0 or len(row_t) == 0:
        return np.full((len(spec.feats), n_out), np.nan)
    if n_codes is None:
        n_codes = np.asarray([int(c.max()) + 1 if c.size else 0 for c in codes], np.int64)
    if blocks <= 0:
        blocks = numba.get_num_threads()
    work = (np.diff(ev_start) + 4 * np.diff(row_start)).cumsum()
    bounds = np.searchsorted(work, np.linspace(0, work[-1], blocks + 1)[1:-1])
    bounds = np.unique(np.concatenate([[0], bounds, [n_ids]])).astype(np.int64)
    size = len(spec.feats) * len(row_t)
    if scratch is None:
        scratch = []
    if not scratch or scratch[0].size < size:
        scratch[:] = [np.empty(size)]
    done = scratch[0][:size].reshape(len(row_t), len(spec.feats))
    _sweep(done, ev_start, ts, val, mask, codes, np.asarray(n_codes, np.int64), row_start,
           row_t, spec.windows, spec.feats, spec.specs, spec.enter_bits, spec.leave_bits,
           spec.last_bits, spec.queues, spec.queue_need, spec.queue_of, spec.distinct_need,
           bounds)
    source = np.full(n_out, -1, np.int64)
    source[row_pos] = np.arange(len(row_pos))
    F = len(spec.feats)
    result = np.empty((F, n_out)) if out is None else out.reshape(-1)[: F * n_out].reshape(
        F, n_out)
    _gather(done, source, result)
    return result


@numba.njit(cache=True, parallel=True, nogil=True)
def _gather(done, source, out):  # pragma: no cover - compiled
    """Feature-major output in input order from row-major sorted rows: output ``p`` is sorted
    row ``source[p]`` (NaN when -1). One random read of a whole row per output, and the columns
    are written in tiles that stay in cache."""
    F = done.shape[1]
    n = source.shape[0]
    tile = 1024
    for b in numba.prange((n + tile - 1) // tile):
        p0 = b * tile
        p1 = min(n, p0 + tile)
        for p in range(p0, p1):
            r = source[p]
            if r < 0:
                for f in range(F):
                    out[f, p] = np.nan
            else:
                for f in range(F):
                    out[f, p] = done[r, f]
    return out


@numba.njit(cache=True, parallel=True, nogil=True)
def _sweep(out, ev_start, ts, val, mask, codes, n_codes, row_start, row_t, wins, feats, specs,
           enter_bits, leave_bits, last_bits, queues, queue_need, queue_of, distinct_need,
           bounds):  # pragma: no cover - compiled
    # Output in sorted row order, row-major: a row's features are written together.
    F = feats.shape[0]
    W = wins.shape[0]
    S = specs.shape[0]
    Q = queues.shape[0]
    nan = np.nan
    nl = 0
    for b in range(63):
        if (enter_bits >> b) & 1 or (last_bits >> b) & 1:
            nl = b + 1
    for f in range(F):
        nl = max(nl, feats[f, 2] + 1 if feats[f, 0] >= 0 else 0)
    max_codes = 1
    for s in range(S):
        max_codes = max(max_codes, n_codes[specs[s, 0]])
    q_long = np.zeros(Q, np.int64)  # the longest window of each queue: its head is the lowest
    for q in range(Q):
        for w in range(W):
            if queue_need[q, w]:
                q_long[q] = w
    for blk in numba.prange(bounds.shape[0] - 1):
        k0 = bounds[blk]
        k1 = bounds[blk + 1]
        longest = 1
        for k in range(k0, k1):
            longest = max(longest, ev_start[k + 1] - ev_start[k])
        cum_n = np.zeros(nl, np.int64)
        cum_s = np.zeros(nl, np.int64)
        out_n = np.zeros((W, nl), np.int64)
        out_s = np.zeros((W, nl), np.int64)
        seen = np.zeros(nl, np.bool_)
        lt = np.zeros(nl, np.int64)
        lv = np.zeros(nl)
        st = np.zeros(W, np.int64)
        qbuf = np.empty((Q, longest), np.int64)
        qh = np.zeros((Q, W), np.int64)
        qt = np.zeros(Q, np.int64)
        dcount = np.zeros((S * W, max_codes if S else 1), np.int32)
        ndist = np.zeros(S * W, np.int64)
        for k in range(k0, k1):
            r0 = row_start[k]
            r1 = row_start[k + 1]
            if r0 == r1:
                continue
            e0 = ev_start[k]
            e1 = ev_start[k + 1]
            cum_n[:] = 0
            cum_s[:] = 0
            out_n[:] = 0
            out_s[:] = 0
            seen[:] = False
            qh[:] = 0
            qt[:] = 0
            ndist[:] = 0
            st[:] = e0
            end = e0
            for r in range(r0, r1):
                t = row_t[r]
                while end < e1 and ts[end] < t:  # events entering: strictly before the row
                    x = val[end]
                    m = mask[end]
                    e_bits = m & enter_bits
                    l_bits = m & last_bits
                    for ln in range(nl):
                        if (e_bits >> ln) & 1:
                            cum_n[ln] += 1
                            cum_s[ln] += x
                        if (l_bits >> ln) & 1:
                            if not seen[ln] or ts[end] > lt[ln]:
                                seen[ln] = True
                                lt[ln] = ts[end]
                                lv[ln] = float(x)
                            elif float(x) > lv[ln]:  # same microsecond: the larger value
                                lv[ln] = float(x)
                    for q in range(Q):
                        if (m >> queues[q, 0]) & 1:
                            low = qh[q, q_long[q]]
                            tl = qt[q]
                            if queues[q, 1] == 1:
                                while tl > low and val[e0 + qbuf[q, tl - 1]] <= x:
                                    tl -= 1
                            else:
                                while tl > low and val[e0 + qbuf[q, tl - 1]] >= x:
                                    tl -= 1
                            for w in range(W):  # a window whose queue emptied starts here
                                if qh[q, w] > tl:
                                    qh[q, w] = tl
                            qbuf[q, tl] = end - e0
                            qt[q] = tl + 1
                    for s in range(S):
                        lane = specs[s, 1]
                        c = codes[specs[s, 0], end]
                        if c >= 0 and (lane < 0 or (m >> lane) & 1):
                            for w in range(W):
                                if distinct_need[s, w]:
                                    j = s * W + w
                                    if dcount[j, c] == 0:
                                        ndist[j] += 1
                                    dcount[j, c] += 1
                    end += 1
                for w in range(W):  # events leaving: before t - w
                    bound = t - wins[w]
                    i = st[w]
                    while i < end and ts[i] < bound:
                        m = mask[i]
                        o_bits = m & leave_bits[w]
                        if o_bits:
                            x = val[i]
                            for ln in range(nl):
                                if (o_bits >> ln) & 1:
                                    out_n[w, ln] += 1
                                    out_s[w, ln] += x
                        for s in range(S):
                            if distinct_need[s, w]:
                                lane = specs[s, 1]
                                c = codes[specs[s, 0], i]
                                if c >= 0 and (lane < 0 or (m >> lane) & 1):
                                    j = s * W + w
                                    dcount[j, c] -= 1
                                    if dcount[j, c] == 0:
                                        ndist[j] -= 1
                        i += 1
                    st[w] = i
                for q in range(Q):
                    for w in range(W):
                        if queue_need[q, w]:
                            bound = t - wins[w]
                            h = qh[q, w]
                            while h < qt[q] and ts[e0 + qbuf[q, h]] < bound:
                                h += 1
                            qh[q, w] = h
                for f in range(F):
                    stat = feats[f, 0]
                    w = feats[f, 1]
                    ln = feats[f, 2]
                    v = nan
                    if stat == -1:
                        v = ndist[ln * W + w]
                    elif stat == 0:
                        v = cum_n[ln] - out_n[w, ln]
                    elif stat == 1:
                        v = float(cum_s[ln] - out_s[w, ln])
                    elif stat == 2:
                        n = cum_n[ln] - out_n[w, ln]
                        if n > 0:
                            v = float(cum_s[ln] - out_s[w, ln]) / n
                    elif stat == 3 or stat == 4:
                        q = queue_of[f]
                        if qh[q, w] < qt[q]:
                            v = float(val[e0 + qbuf[q, qh[q, w]]])
                    elif stat == 6 or stat == 7:
                        if seen[ln] and lt[ln] >= t - wins[w]:
                            v = lv[ln] if stat == 6 else (t - lt[ln]) / 1e6
                    elif stat == 8:
                        base = cum_n[0] - out_n[w, 0]
                        if base > 0:
                            v = (cum_n[ln] - out_n[w, ln]) / base
                    out[r, f] = v
            for s in range(S):  # leave the distinct counters at zero for the next entity
                for w in range(W):
                    if distinct_need[s, w]:
                        j = s * W + w
                        for i in range(st[w], end):
                            c = codes[specs[s, 0], i]
                            if c >= 0:
                                dcount[j, c] = 0
    return out


def float_column(x: np.ndarray) -> pa.Array:
    """A float64 Arrow array on ``x``'s memory (no copy), NaN as null.

    >>> float_column(np.array([1.5, np.nan])).to_pylist()
    [1.5, None]
    """
    x = np.ascontiguousarray(x, np.float64)
    nan = np.isnan(x)
    n_null = int(nan.sum())
    if not n_null:
        return pa.array(x)
    bitmap = np.packbits(~nan, bitorder="little")
    return pa.Array.from_buffers(pa.float64(), len(x), [pa.py_buffer(bitmap), pa.py_buffer(x)],
                                 null_count=n_null)
