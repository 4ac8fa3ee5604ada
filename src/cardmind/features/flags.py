"""Latest-occurrence flags: exact distinct counts without hashing at read time.

For each distinct-count spec ``s`` (a code column and a lane) of a
:class:`~cardmind.features.aggregates.WindowLog`, bit ``s`` of ``dflag[i]`` is set when event ``i``
matches the spec, its code is not null (0), and no newer retained event of the spec has the same
code. Then, when every retained event is older than the read time ``t``, the number of distinct
codes in ``[t - w, t)`` is the number of flagged events in that window (each code's newest
occurrence is in the window whenever any occurrence is). Events leaving the window from the old end
never change the flags of the others, so ``revert`` has nothing to do; an insertion (in order or
late) moves one flag per spec (:func:`flag_insert`); a merge rebuilds them (:func:`flag_rebuild`).

>>> codes = np.asarray([[5, 6, 5]]); mask = np.asarray([1, 1, 1]); specs = np.asarray([[0, 0]])
>>> dflag = np.zeros(3, np.int64)
>>> for pos in range(3):
...     flag_insert(codes, mask, dflag, 0, pos, pos + 1, specs)
>>> dflag.tolist()  # the first 5 gave its flag to the later 5
[0, 1, 1]
>>> flag_rebuild(codes, mask, dflag, 0, 3, specs); dflag.tolist()
[0, 1, 1]
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def flag_insert(codes, mask, dflag, lo, pos, hi, specs):  # pragma: no cover - compiled
    """Keep the latest-occurrence flags true after event ``pos`` entered ``[lo, hi)``.

    The new event is flagged for a spec when no newer event of that spec has its code; it then
    takes the flag from the previous newest occurrence (the nearest older one). That occurrence
    is the one older event flagged for the spec with this code, so one backward pass over the
    flags finds it for every spec at once, reading a code only where its spec's flag is set
    (the flag row is what a read scans; the code rows stay cold).
    """
    dflag[pos] = 0
    pending = np.int64(0)  # specs whose older flagged occurrence of the new code is to be found
    for s in range(specs.shape[0]):
        col = specs[s, 0]
        bit = specs[s, 1]
        code = codes[col, pos]
        if code == 0 or not (mask[pos] >> bit) & 1:
            continue
        newer = False
        for j in range(pos + 1, hi):
            if codes[col, j] == code and (mask[j] >> bit) & 1:
                newer = True
                break
        if newer:
            continue
        dflag[pos] |= np.int64(1) << s
        pending |= np.int64(1) << s
    j = pos - 1
    while pending != 0 and j >= lo:
        f = dflag[j] & pending
        if f != 0:
            for s in range(specs.shape[0]):
                if (f >> s) & 1 and codes[specs[s, 0], j] == codes[specs[s, 0], pos]:
                    dflag[j] &= ~(np.int64(1) << s)
                    pending &= ~(np.int64(1) << s)
        j -= 1


@numba.njit(cache=True)
def flag_rebuild(codes, mask, dflag, lo, hi, specs):  # pragma: no cover - compiled
    """Recompute every latest-occurrence flag of ``[lo, hi)`` from scratch (after a merge)."""
    for i in range(lo, hi):
        dflag[i] = 0
    for s in range(specs.shape[0]):
        col = specs[s, 0]
        bit = specs[s, 1]
        seen = {np.int64(0)}
        seen.clear()
        for i in range(hi - 1, lo - 1, -1):
            code = codes[col, i]
            if code != 0 and (mask[i] >> bit) & 1 and code not in seen:
                seen.add(code)
                dflag[i] |= np.int64(1) << s


@numba.njit(cache=True)
def insert(ts, val, mask, codes, dflag, lo, hi, t, x, lanes, cv, specs):  # pragma: no cover
    """Put one event into ``[lo, hi)`` (capacity checked by the caller); returns its position.

    In order: appended. Late: after the events with the same or an older ``ts`` (stable), the
    newer ones shifted right. Code columns beyond ``cv`` are null (0). Flags follow.
    """
    if hi == lo or t >= ts[hi - 1]:
        pos = hi
    else:
        pos = lo + np.searchsorted(ts[lo:hi], t, side="right")
        for j in range(hi, pos, -1):
            ts[j] = ts[j - 1]
            val[j] = val[j - 1]
            mask[j] = mask[j - 1]
            dflag[j] = dflag[j - 1]
            for k in range(codes.shape[0]):
                codes[k, j] = codes[k, j - 1]
    ts[pos] = t
    val[pos] = x
    mask[pos] = lanes
    for k in range(codes.shape[0]):
        codes[k, pos] = cv[k] if k < cv.shape[0] else 0
    dflag[pos] = 0
    if specs.shape[0] > 0:
        flag_insert(codes, mask, dflag, lo, pos, hi + 1, specs)
    return pos


@numba.njit(cache=True)
def insert_expire(ts, val, mask, codes, dflag, lo, hi, t, x, lanes, cv, specs,
                  before):  # pragma: no cover - compiled
    """:func:`insert`, then the events older than ``before`` leave; returns the new ``lo``."""
    insert(ts, val, mask, codes, dflag, lo, hi, t, x, lanes, cv, specs)
    hi += 1
    while lo < hi and ts[lo] < before:
        lo += 1
    return lo


@numba.njit(cache=True)
def admit(buf, floats, lo, hi, t, x, lanes, cv, specs, retention, lateness):  # pragma: no cover
    """The online write of one event into a log stored as one matrix (see ``WindowLog.buf``).

    Refuses (returns -1) an event more than ``lateness`` older than the newest retained one;
    otherwise inserts it (capacity checked by the caller), expires the events older than
    ``max(t, newest) - retention - lateness`` and returns the new ``lo``.
    """
    newest = t
    if hi > lo:
        newest = buf[0, hi - 1]
        if t < newest - lateness:
            return -1
        newest = max(newest, t)
    if floats:
        return insert_expire(buf[0], buf[1].view(np.float64), buf[2], buf[4:], buf[3], lo, hi, t,
                             x, lanes, cv, specs, newest - retention - lateness)
    return insert_expire(buf[0], buf[1], buf[2], buf[4:], buf[3], lo, hi, t, x, lanes, cv, specs,
                         newest - retention - lateness)
