"""Windowed aggregates: one state per (entity, feature group) serving every aggregate of it.

A :class:`WindowLog` holds an entity's events of one group (time, value, the bit mask of the
filters — *lanes* — each event matches, and hashed codes for distinct counts), oldest first. It has
the one interface every aggregate shares (see STYLE.md):

- ``update(...)``: an event enters (in order, or late: inserted at its place);
- ``revert(before)``: events older than ``before`` leave the window for good;
- ``get(t, windows)``: every aggregate — count, sum, mean, min, max, std, last, time since last,
  share — for every window and lane, over events with ``ts`` in ``[t - w, t)``;
- ``merge(other)``: combine two partitions of the same entity (e.g. a parallel bootstrap).

Windows are exact (no buckets): ``get`` scans the retained events once in a compiled kernel, newest
first, and combines per-window bands. Sums are exact integers for integer columns; the standard
deviation uses exact integer moments, so the batch engine (``HUGEINT`` in DuckDB) and this one agree
to the last bits.

>>> log = WindowLog(integer=True, n_codes=0)
>>> for ts, amount, lanes in [(0, 100, 0b01), (10, 300, 0b11), (20, 200, 0b01)]:
...     log.update(ts, amount, lanes)
>>> block = log.get(21, np.array([15, 100]), n_lanes=2)
>>> block[COUNT].tolist(), block[SUM].tolist(), block[MAX].tolist()
([[2.0, 1.0], [3.0, 1.0]], [[500.0, 300.0], [600.0, 300.0]], [[300.0, 300.0], [300.0, 300.0]])
>>> round(float(block[STD][1, 0]), 6), float(block[SHARE][1, 1])
(100.0, 0.3333333333333333)
>>> other = WindowLog(integer=True, n_codes=0); other.update(5, 50, 0b01)
>>> log.merge(other); log.get(21, np.array([100]), n_lanes=1)[COUNT].tolist()
[[4.0]]
>>> log.revert(6); len(log)
2
"""

from __future__ import annotations

import struct
from typing import ClassVar

import numba
import numpy as np

from cardmind.features.flags import admit, flag_rebuild, insert, insert_expire

# Index of each statistic in the block ``get`` returns (shape: stats x windows x lanes).
COUNT, SUM, MEAN, MIN, MAX, STD, LAST, SINCE, SHARE = range(9)
STATS = ("count", "sum", "mean", "min", "max", "std", "last", "time_since_last", "share")
N_STATS = len(STATS)
MAX_LANES = 63


def _buffers(W, nl, dtype):  # pragma: no cover - compiled helper
    return (np.empty((9, W, nl)), np.empty((W, nl), np.int64), np.empty((W, nl), dtype),
            np.empty((W, nl), dtype), np.empty((W, nl), dtype), np.empty((W, nl)),
            np.empty((W, nl)), np.empty((W, nl), np.int64), np.empty((W, nl)),
            np.empty(nl, dtype), np.empty(nl, np.bool_), np.empty(W, np.int64))


_buffers = numba.njit(cache=True)(_buffers)


@numba.njit(cache=True)
def _window_block(ts, val, mask, lo, hi, t, wins, nl):  # pragma: no cover - compiled
    out, cnt, s1, e1, d2, mn, mx, lt, lv, c, seen, starts = _buffers(wins.shape[0], nl,
                                                                      val.dtype)
    _window_fill(ts, val, mask, lo, hi, t, wins, nl, out, cnt, s1, e1, d2, mn, mx, lt, lv, c,
                 seen, starts)
    return out


@numba.njit(cache=True)
def _window_fill(ts, val, mask, lo, hi, t, wins, nl, out, cnt, s1, e1, d2, mn, mx, lt, lv, c,
                 seen, starts):  # pragma: no cover - compiled
    # e1: sum of (x - c) with c the lane's newest value; d2: sum of (x - c) ** 2
    W = wins.shape[0]
    out[:] = np.nan
    end = lo + np.searchsorted(ts[lo:hi], t)
    for w in range(W):
        starts[w] = lo + np.searchsorted(ts[lo:end], t - wins[w])
    cnt[:] = 0
    s1[:] = 0
    e1[:] = 0
    d2[:] = 0
    mn[:] = np.inf
    mx[:] = -np.inf
    lt[:] = -1
    lv[:] = 0.0
    c[:] = 0
    seen[:] = False
    w0 = 0
    for i in range(end - 1, starts[W - 1] - 1, -1):
        while starts[w0] > i:
            w0 += 1
        m = mask[i]
        x = val[i]
        xf = float(x)
        for f in range(nl):
            if (m >> f) & 1:
                if not seen[f]:
                    seen[f] = True
                    c[f] = x
                dx = x - c[f]
                cnt[w0, f] += 1
                s1[w0, f] += x
                e1[w0, f] += dx
                d2[w0, f] += dx * dx
                if xf < mn[w0, f]:
                    mn[w0, f] = xf
                if xf > mx[w0, f]:
                    mx[w0, f] = xf
                if lt[w0, f] < 0:
                    lt[w0, f] = ts[i]
                    lv[w0, f] = xf
                elif ts[i] == lt[w0, f] and xf > lv[w0, f]:
                    lv[w0, f] = xf
    for w in range(1, W):
        for f in range(nl):
            cnt[w, f] += cnt[w - 1, f]
            s1[w, f] += s1[w - 1, f]
            e1[w, f] += e1[w - 1, f]
            d2[w, f] += d2[w - 1, f]
            mn[w, f] = min(mn[w, f], mn[w - 1, f])
            mx[w, f] = max(mx[w, f], mx[w - 1, f])
            if lt[w - 1, f] >= 0:
                lt[w, f] = lt[w - 1, f]
                lv[w, f] = lv[w - 1, f]
    for w in range(W):
        base = cnt[w, 0]
        for f in range(nl):
            n = cnt[w, f]
            out[0, w, f] = n
            out[1, w, f] = float(s1[w, f])
            if base > 0:
                out[8, w, f] = n / base
            if n == 0:
                continue
            out[2, w, f] = float(s1[w, f]) / n
            out[3, w, f] = mn[w, f]
            out[4, w, f] = mx[w, f]
            out[6, w, f] = lv[w, f]
            out[7, w, f] = (t - lt[w, f]) / 1e6
            if n >= 2:
                d = d2[w, f]
                e = e1[w, f]
                if abs(d) < 4.0e18 / n and abs(e) < 3.0e9:
                    num = float(n * d - e * e)  # exact integer numerator n*s2 - s1**2
                else:
                    num = float(n) * float(d) - float(e) * float(e)
                out[5, w, f] = np.sqrt(max(num, 0.0) / (n * (n - 1.0)))


@numba.njit(cache=True)
def _distinct_block(ts, codes, mask, lo, hi, t, wins, specs):  # pragma: no cover - compiled
    # specs: (n_specs, 2) rows of (code column, lane bit or -1 for every event)
    W = wins.shape[0]
    S = specs.shape[0]
    out = np.zeros((S, W))
    end = lo + np.searchsorted(ts[lo:hi], t)
    starts = np.empty(W, np.int64)
    for w in range(W):
        starts[w] = lo + np.searchsorted(ts[lo:end], t - wins[w])
    for s in range(S):
        col = specs[s, 0]
        bit = specs[s, 1]
        seen = {np.int64(0)}
        seen.clear()
        w = 0
        for i in range(end - 1, starts[W - 1] - 1, -1):
            while w < W and starts[w] > i:
                out[s, w] = len(seen)
                w += 1
            code = codes[col, i]
            if code != 0 and (bit < 0 or (mask[i] >> bit) & 1):
                seen.add(code)
        while w < W:
            out[s, w] = len(seen)
            w += 1
    return out


@numba.njit(cache=True)
def _compact(buf, lo, hi):  # pragma: no cover - compiled
    """Move columns ``[lo, hi)`` of ``buf`` to ``[0, hi - lo)`` (in place, front to back)."""
    if lo == 0:
        return
    for r in range(buf.shape[0]):
        for j in range(hi - lo):
            buf[r, j] = buf[r, lo + j]


@numba.njit(cache=True)
def _copy(dst, src, lo, hi):  # pragma: no cover - compiled
    """Copy columns ``[lo, hi)`` of ``src`` to ``[0, hi - lo)`` of ``dst``."""
    for r in range(src.shape[0]):
        for j in range(hi - lo):
            dst[r, j] = src[r, lo + j]


# rows of WindowLog.buf
ROW_TS, ROW_VAL, ROW_MASK, ROW_FLAG, ROW_CODES = range(5)
_NO_SPECS = np.zeros((0, 2), np.int64)  # shared by every log without distinct counts


class WindowLog:
    """The retained events of one entity for one feature group, oldest first.

    ``specs`` (rows of code column, lane) are the distinct counts the group serves: the log keeps
    their latest-occurrence flags (``dflag``, see :mod:`cardmind.features.flags`) up to date so a
    read counts distinct codes without hashing.

    Storage is one int64 matrix ``buf`` (rows: time, value — float values as their bits —, lane
    mask, flags, then one row per code column); ``ts``, ``val``, ``mask``, ``dflag`` and
    ``codes`` are views of it. One array per log is what lets the engine hand every group of a
    read to one compiled call cheaply (:func:`cardmind.features.readkernel.read_all`).
    """

    __slots__ = ("buf", "codes", "dflag", "hi", "integer", "lo", "mask", "specs", "ts", "val")
    _MAGIC: ClassVar[bytes] = b"CMWL2"

    def __init__(self, *, integer: bool, n_codes: int, capacity: int = 16,
                 specs: np.ndarray | None = None) -> None:
        self.integer = bool(integer)
        self._use(np.zeros((ROW_CODES + n_codes, capacity), np.int64))
        # kept as given when already an int64 (n, 2) array: every log of a group then shares
        # its group's specs (never written), one object the write's compiled call finds in cache
        if specs is None:
            specs = _NO_SPECS
        elif not (isinstance(specs, np.ndarray) and specs.dtype == np.int64 and specs.ndim == 2
                  and specs.shape[1] == 2 and specs.flags.c_contiguous):
            specs = np.asarray(specs, np.int64).reshape(-1, 2)
        self.specs = specs
        if len(specs) and (len(specs) > 63 or max(specs[:, 0].tolist()) >= n_codes):
            raise ValueError(f"distinct specs {specs.tolist()} do not fit {n_codes} code "
                             f"columns (at most 63 specs)")
        self.lo = 0
        self.hi = 0

    def __len__(self) -> int:
        return self.hi - self.lo

    def empty_like(self) -> WindowLog:
        """A new empty log of the same kind (values, code columns, the same specs object), made
        without checking the specs again (the online write's new logs).

        >>> log = WindowLog(integer=False, n_codes=2, specs=np.asarray([[1, 0]]))
        >>> log.update(5, 1.5, 1, (3, 4)); new = log.empty_like()
        >>> len(new), new.integer, new.codes.shape[0], new.specs is log.specs
        (0, False, 2, True)
        """
        log = WindowLog.__new__(WindowLog)
        log.integer = self.integer
        log._use(np.zeros((self.buf.shape[0], 16), np.int64))
        log.specs = self.specs
        log.lo = 0
        log.hi = 0
        return log

    @property
    def newest(self) -> int | None:
        return int(self.ts[self.hi - 1]) if self.hi > self.lo else None

    def _use(self, buf: np.ndarray) -> None:
        """Adopt ``buf`` as storage (C-contiguous int64) and rebuild the row views."""
        self.buf = buf
        self.ts = buf[ROW_TS]
        self.val = buf[ROW_VAL] if self.integer else buf[ROW_VAL].view(np.float64)
        self.mask = buf[ROW_MASK]
        self.dflag = buf[ROW_FLAG]
        self.codes = buf[ROW_CODES:]

    def _grow(self) -> None:
        """Make room for one more event at ``hi`` (called when ``hi`` reached the capacity).

        The storage becomes twice as wide as the retained events (at least 16), so it grows
        with a busy entity and shrinks after one (no peak storage kept) — except when that width
        is more than half the current one and no more than it: then the retained events move to
        the start in place (the expired prefix ``[0, lo)`` is reused) and nothing is allocated.
        An event costs O(1) amortised; new storage is not zero-filled, because nothing reads a
        column outside ``[lo, hi)``.
        """
        n = self.hi - self.lo
        cap = self.buf.shape[1]
        target = max(16, 2 * n)
        if cap // 2 < target <= cap:
            _compact(self.buf, self.lo, self.hi)
        else:
            new = np.empty((self.buf.shape[0], target), np.int64)
            _copy(new, self.buf, self.lo, self.hi)  # compiled: keeps the GIL (NumPy's copy
            self._use(new)  # releases it for large ones, letting other threads in mid-write)
        self.lo, self.hi = 0, n

    def update(self, ts: int, value: float, lanes: int,
               codes: tuple[int, ...] | np.ndarray = ()) -> None:
        """An event enters; a late event is inserted after the events with the same or older ts."""
        if self.hi == self.ts.shape[0]:
            self._grow()
        cv = codes if isinstance(codes, np.ndarray) else np.asarray(codes, np.int64)
        insert(self.ts, self.val, self.mask, self.codes, self.dflag, self.lo, self.hi, ts, value,
               lanes, cv, self.specs)
        self.hi += 1

    def add(self, ts: int, value: float, lanes: int, codes: np.ndarray, before: int) -> None:
        """``update`` then ``revert(before)`` in one compiled call (the online engine's write)."""
        if self.hi == self.buf.shape[1]:
            self._grow()
        self.lo = insert_expire(self.ts, self.val, self.mask, self.codes, self.dflag, self.lo,
                                self.hi, ts, value, lanes, codes, self.specs, before)
        self.hi += 1

    def admit(self, ts: int, value: float, lanes: int, codes: np.ndarray, retention: int,
              lateness: int) -> bool:
        """The online write: refuse an event more than ``lateness`` older than the newest (returns
        False), else ``add`` it with expiry at ``max(ts, newest) - retention - lateness``."""
        if self.hi == self.buf.shape[1]:
            self._grow()
        lo = admit(self.buf, not self.integer, self.lo, self.hi, ts, value, lanes, codes,
                   self.specs, retention, lateness)
        if lo < 0:
            return False
        self.lo = lo
        self.hi += 1
        return True

    def revert(self, before: int) -> None:
        """Events with ``ts < before`` leave the window for good."""
        if self.hi > self.lo and self.ts[self.lo] < before:
            self.lo += int(np.searchsorted(self.ts[self.lo : self.hi], before))

    def get(self, t: int, windows: np.ndarray, n_lanes: int) -> np.ndarray:
        """Every statistic for every window (ascending µs) and lane: shape (9, W, n_lanes)."""
        return _window_block(self.ts, self.val, self.mask, self.lo, self.hi, t, windows, n_lanes)

    def get_distinct(self, t: int, windows: np.ndarray, specs: np.ndarray) -> np.ndarray:
        """Distinct non-null codes per (code column, lane) spec and window: shape (S, W)."""
        return _distinct_block(self.ts, self.codes, self.mask, self.lo, self.hi, t, windows, specs)

    def merge(self, other: WindowLog) -> None:
        """Add the events of another partition of the same entity (stable by time)."""
        if other.integer != self.integer or other.buf.shape[0] != self.buf.shape[0]:
            raise ValueError("merge: the logs hold different values or code columns")
        both = np.concatenate([self.buf[:, self.lo : self.hi], other.buf[:, other.lo : other.hi]],
                              axis=1)
        order = np.argsort(both[ROW_TS], kind="stable")
        self._use(np.ascontiguousarray(both[:, order]))
        self.lo, self.hi = 0, both.shape[1]
        self.dflag[:] = 0
        if self.specs.shape[0]:
            flag_rebuild(self.codes, self.mask, self.dflag, self.lo, self.hi, self.specs)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Views of the retained events: ts, value, lane mask, codes."""
        s = slice(self.lo, self.hi)
        return self.ts[s], self.val[s], self.mask[s], self.codes[:, s]

    # --- serialisation for remote stores (no pickle) -------------------------------------------

    def to_bytes(self) -> bytes:
        """A compact, versioned binary form (for a Redis backend)."""
        ts, val, mask, codes = self.arrays()
        head = struct.pack(self._HEAD, self._MAGIC, int(val.dtype == np.int64), len(ts),
                           codes.shape[0], self.specs.shape[0])
        parts = (ts, val, mask, codes, self.specs, self.dflag[self.lo : self.hi])
        return head + b"".join(np.ascontiguousarray(a).tobytes() for a in parts)

    _HEAD: ClassVar[str] = "<5sBqqq"

    @classmethod
    def from_bytes(cls, data: bytes) -> WindowLog:
        """The log :meth:`to_bytes` wrote (``ValueError`` on anything else)."""
        head = struct.calcsize(cls._HEAD)
        if len(data) < head or data[:5] != cls._MAGIC:
            raise ValueError("not a serialised WindowLog")
        _, integer, n, k, n_specs = struct.unpack_from(cls._HEAD, data)
        if min(n, k, n_specs) < 0 or len(data) != head + 8 * (n * (4 + k) + 2 * n_specs):
            raise ValueError("not a serialised WindowLog (truncated or corrupt)")
        off = head
        specs = np.frombuffer(data, np.int64, 2 * n_specs, head + 8 * n * (3 + k))
        log = cls(integer=bool(integer), n_codes=k, capacity=max(n, 16),
                  specs=specs.reshape(-1, 2))

        def take(dtype: type, count: int) -> np.ndarray:
            nonlocal off
            arr = np.frombuffer(data, dtype, count, off)
            off += arr.nbytes
            return arr

        log.ts[:n] = take(np.int64, n)
        log.val[:n] = take(np.int64 if integer else np.float64, n)
        log.mask[:n] = take(np.int64, n)
        log.codes[:, :n] = take(np.int64, n * k).reshape(k, n)
        take(np.int64, 2 * n_specs)
        log.dflag[:n] = take(np.int64, n)
        log.hi = n
        return log


@numba.njit(cache=True)
def rows_block(kid_start, kid_end, ts, val, mask, codes, row_kid, row_t, wins, nl, src, specs,
               dsrc, row_pos, n_out):  # pragma: no cover - compiled
    """Batch form of ``get``: for each row (entity id, time), the gathered statistics.

    Events are sorted by (entity id, time); entity ``k`` owns events ``[kid_start[k],
    kid_end[k])``; ``row_kid < 0`` means the entity has no events. The same kernel as the online
    read, so both engines share one definition of every windowed aggregate. Returns a
    feature-major ``(features, n_out)`` array; row ``r`` lands in column ``row_pos[r]``.
    """
    R = row_kid.shape[0]
    ns = src.shape[0]
    nf = ns + dsrc.shape[0]
    out = np.full((nf, n_out), np.nan)
    buf, cnt, s1, e1, d2, mn, mx, lt, lv, c, seen, starts = _buffers(wins.shape[0], nl,
                                                                      val.dtype)
    block = buf.reshape(-1)  # a view: refilled for every row
    chunk = 1024
    tmp = np.empty((chunk, nf))
    for r0 in range(0, R, chunk):
        r1 = min(R, r0 + chunk)
        for r in range(r0, r1):
            k = row_kid[r]
            lo = 0
            hi = 0
            if k >= 0:
                lo = kid_start[k]
                hi = kid_end[k]
            _window_fill(ts, val, mask, lo, hi, row_t[r], wins, nl, buf, cnt, s1, e1, d2, mn,
                         mx, lt, lv, c, seen, starts)
            for j in range(ns):
                tmp[r - r0, j] = block[src[j]]
            if dsrc.shape[0] > 0:
                d = _distinct_block(ts, codes, mask, lo, hi, row_t[r], wins, specs).ravel()
                for j in range(dsrc.shape[0]):
                    tmp[r - r0, ns + j] = d[dsrc[j]]
        for j in range(nf):  # feature-major writes, sequential within a feature
            for r in range(r0, r1):
                out[j, row_pos[r]] = tmp[r - r0, j]
    return out
