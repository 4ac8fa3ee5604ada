"""The online write of one event: every group of its source in one compiled call.

An authorization enters seven groups of the default catalog (card, customer, merchant, terminal,
device, card-merchant and category logs), each with its own key, lane mask, value and distinct
codes. Calling the compiled :func:`~cardmind.features.flags.admit` once per group cost a dispatch
(a dozen arguments unboxed) and a Python method call per group, and the codes were hashed and
copied column by column per group. A :class:`SourceWrite` is the write recipe of one source,
built once per engine: the groups' keys, value columns, mask slots, the union of their code
columns (each event's codes computed once, into one array) and, per group, which of those codes
it keeps and its distinct specs — packed in a few arrays. Per event the Python side only finds
each group's log (the store lookup is per key) and fills a small state array; :func:`admit_all`
then admits the event into every log in one call, with the same :func:`admit` as before (same
refusals, insert position, expiry and flags), and the new bounds are set back on the logs.

>>> from cardmind.features.aggregates import WindowLog
>>> logs = [WindowLog(integer=True, n_codes=1, specs=np.asarray([[0, 0]])),
...         WindowLog(integer=False, n_codes=0)]
>>> state = np.asarray([1, 500, 0, 0, 3, 0, 0, 0], np.int64)  # lanes, value, lo, hi per log
>>> state.view(np.float64)[5] = 0.25  # a float log's value
>>> recipe = np.asarray([0, 100, 12, 13, 0, 1,  # integer, retention, its codes, its specs
...                      1, 100, 13, 13, 1, 1,  # float, retention, no codes, no specs
...                      0], np.int64)  # the first log's code: the event's code 0
>>> admit_all((logs[0].buf, logs[1].buf), state, np.asarray([77], np.int64), recipe,
...           np.asarray([[0, 0]], np.int64), 10, 5)
>>> state[2::4].tolist()  # the new lo of each log (-1: refused)
[0, 0]
>>> logs[0].hi = logs[1].hi = 1
>>> logs[0].arrays()[1].tolist(), logs[0].arrays()[3].tolist(), logs[1].arrays()[1].tolist()
([500], [[77]], [0.25])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numba
import numpy as np

from cardmind.features.flags import admit
from cardmind.features.plan import MaskSet, codes

#: the per-log state row of :func:`admit_all`: lanes (0: skip), value, lo, hi
STATE_WIDTH = 4
_EMPTY_BUF = np.zeros((4, 0), np.int64)  # in the tuple of logs where a group is skipped


@numba.njit(cache=True)
def admit_all(bufs, state, ecodes, recipe, specs, t, lateness):  # pragma: no cover - compiled
    """:func:`~cardmind.features.flags.admit` of one event into many logs, in one call.

    Log ``g`` (``bufs[g]``, a :attr:`WindowLog.buf <cardmind.features.aggregates.WindowLog>`
    with room for one more event) takes the event when ``state[4g]`` (its lane mask) is not 0,
    with value ``state[4g + 1]`` (a float's bits in a float log) and bounds ``state[4g + 2]``,
    ``state[4g + 3]``; its new ``lo`` (or -1: refused as too late) is written to
    ``state[4g + 2]``. ``recipe`` holds per log ``float log, retention, first and end code
    index, first and end spec`` (6 values), then the code indices: the log's codes are
    ``ecodes[recipe[first:end]]``, its distinct specs ``specs[first spec:end spec]``.
    """
    G = len(bufs)
    fstate = state.view(np.float64)
    width = 0
    for g in range(G):
        width = max(width, recipe[6 * g + 3] - recipe[6 * g + 2])
    scratch = np.empty(width, np.int64)
    for g in range(G):
        lanes = state[4 * g]
        if lanes == 0:
            continue
        r = 6 * g
        a = recipe[r + 2]
        n = recipe[r + 3] - a
        cv = scratch[:n]
        for k in range(n):
            cv[k] = ecodes[recipe[a + k]]
        sp = specs[recipe[r + 4] : recipe[r + 5]]
        lo = state[4 * g + 2]
        hi = state[4 * g + 3]
        if recipe[r]:
            state[4 * g + 2] = admit(bufs[g], True, lo, hi, t, fstate[4 * g + 1], lanes, cv, sp,
                                     recipe[r + 1], lateness)
        else:
            state[4 * g + 2] = admit(bufs[g], False, lo, hi, t, state[4 * g + 1], lanes, cv, sp,
                                     recipe[r + 1], lateness)


class SourceWrite:
    """The write recipe of one source's groups, and the scratch of its compiled call.

    ``groups``: per group ``(entity, value kind, column, denominator, mask slot, code columns,
    specs, state key prefix, retention µs, integer, new_log)`` — value kind 0: no value (counts),
    1: ``int(attrs[column])``, 2: ``attrs[column] / attrs[denominator]`` (a ratio, skipped when
    a part is null or the denominator is not positive); ``new_log()`` makes the group's empty
    log. ``masks`` gives the tuple of lane masks of an event (indexed by mask slot).

    Not thread-safe (the scratch arrays are reused): an engine's writes are one at a time.
    """

    def __init__(self, groups: Sequence[tuple[Any, ...]], masks: MaskSet) -> None:
        self.masks = masks
        self.code_columns = tuple(dict.fromkeys(c for g in groups for c in g[5]))
        where = {c: i for i, c in enumerate(self.code_columns)}
        n = len(groups)
        head: list[int] = []
        cols: list[int] = []
        n_specs = 0
        for g in groups:
            first = 6 * n + len(cols)
            cols += [where[c] for c in g[5]]
            head += [int(not g[9]), g[8], first, first + len(g[5]), n_specs, n_specs + len(g[6])]
            n_specs += len(g[6])
        self.recipe = np.asarray(head + cols, np.int64)
        self.specs = np.concatenate([np.asarray(g[6], np.int64).reshape(-1, 2) for g in groups]
                                    or [np.zeros((0, 2), np.int64)])
        self.state = np.zeros(STATE_WIDTH * n, np.int64)
        self.fstate = self.state.view(np.float64)  # a float log's value, as its bits
        self.ecodes = np.zeros(len(self.code_columns), np.int64)
        # the loop's view of each group: (state offset, entity, kind, column, denominator,
        # mask slot, float value, prefix, new_log)
        self.steps = [(STATE_WIDTH * i, g[0], g[1], g[2], g[3], g[4], not g[9], g[7], g[10])
                      for i, g in enumerate(groups)]

    def __call__(self, get: Any, t: int, attrs: dict[str, Any], keys: dict[str, str | None],
                 lateness: int) -> list[tuple[int, str, Any, bool]]:
        """Admit the event into every group it belongs to; returns ``(state offset, state key,
        log, fresh)`` of each log it was offered to, in group order: refused when
        ``state[offset + 2]`` is -1 (the log then unchanged). ``get(key)`` finds a log (None:
        none yet). Every value is computed before any log changes (a bad value changes none)."""
        masks = self.masks(attrs)
        state = self.state
        fstate = self.fstate
        bufs: list[np.ndarray] = []
        offered: list[tuple[int, str, Any, bool]] = []
        for at, entity, kind, column, den, slot, isfloat, prefix, new_log in self.steps:
            key = keys[entity]
            value: int | float
            if key is None:
                value = 0
            elif kind == 1:
                v = attrs.get(column)
                if v is None:
                    key = None
                    value = 0
                else:
                    value = int(v)
            elif kind == 0:
                value = 0
            else:
                num, d = attrs.get(column), attrs.get(den)
                if num is None or d is None or d <= 0:
                    key = None
                    value = 0
                else:
                    value = int(num) / int(d)
            mask = masks[slot]
            if key is None or mask == 0:
                state[at] = 0
                bufs.append(_EMPTY_BUF)
                continue
            skey = prefix + key
            log = get(skey)
            fresh = log is None
            if fresh:
                log = new_log()
            elif log.hi == log.buf.shape[1]:
                log._grow()
            state[at] = mask
            if isfloat:
                fstate[at + 1] = value
            else:
                state[at + 1] = value
            state[at + 2] = log.lo
            state[at + 3] = log.hi
            bufs.append(log.buf)
            offered.append((at, skey, log, fresh))
        if offered:
            if self.code_columns:
                self.ecodes[:] = codes(list(map(attrs.get, self.code_columns)))
            admit_all(tuple(bufs), state, self.ecodes, self.recipe, self.specs, t, lateness)
        return offered
