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
>>> recipe = np.asarray([2, 2, 1,  # two logs, two event values, one event code
...                      0, 100, 17, 18, 0, 1, 0,  # integer, retention, code 0, spec 0, value 0
...                      1, 100, 18, 18, 1, 1, 1,  # float, retention, no codes or specs, value 1
...                      0], np.int64)  # the first log's code column: the event's code 0
>>> ev = np.asarray([500, 0, 0, 0, 77, 0, 0], np.int64)  # values, their float bits, code, out
>>> ev.view(np.float64)[3] = 0.25  # the second value as a float
>>> admit_all((logs[0].buf, logs[1].buf), (0, 0, 1, 0, 0, 3), ev, recipe,
...           np.asarray([[0, 0]], np.int64), 10, 5)
>>> ev[5:].tolist()  # the new lo of each log (-1: refused)
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

_EMPTY_BUF = np.zeros((4, 0), np.int64)  # in the tuple of logs where a group is skipped
_HEAD, _PER_LOG = 3, 7  # the recipe's head (logs, values, codes) and its numbers per log


@numba.njit(cache=True)
def admit_all(bufs, bounds, ev, recipe, specs, t, lateness):  # pragma: no cover - compiled
    """:func:`~cardmind.features.flags.admit` of one event into many logs, in one call.

    ``recipe`` starts with ``G, V, C`` (logs, event values, event codes), then 7 numbers per
    log — float log, retention, first and end index of its code columns, first and end spec,
    its value — then the code indices. ``ev`` holds the event: ``V`` integer values, the same
    ``V`` values as float64 bits, ``C`` codes, then ``G`` outputs.

    Log ``g`` (``bufs[g]``, a :attr:`WindowLog.buf <cardmind.features.aggregates.WindowLog>`
    with room for one more event, bounds ``bounds[3g]``, ``bounds[3g + 1]``) takes the event
    in lanes ``bounds[3g + 2]`` unless they are 0 or its ``hi`` is negative (skipped), with
    its codes ``ev[2V + recipe[first:end]]`` and distinct specs ``specs[first spec:end spec]``;
    its new ``lo`` (-1: refused as too late) is written to ``ev[2V + C + g]``.
    """
    G = recipe[0]
    V = recipe[1]
    C = recipe[2]
    fev = ev.view(np.float64)
    width = 0
    for g in range(G):
        r = _HEAD + _PER_LOG * g
        width = max(width, recipe[r + 3] - recipe[r + 2])
    cv = np.empty(width, np.int64)
    for g in range(G):
        lo = bounds[3 * g]
        hi = bounds[3 * g + 1]
        lanes = bounds[3 * g + 2]
        if hi < 0 or lanes == 0:
            continue
        r = _HEAD + _PER_LOG * g
        a = recipe[r + 2]
        n = recipe[r + 3] - a
        for k in range(n):
            cv[k] = ev[2 * V + recipe[a + k]]
        sp = specs[recipe[r + 4] : recipe[r + 5]]
        v = recipe[r + 6]
        if recipe[r]:
            ev[2 * V + C + g] = admit(bufs[g], True, lo, hi, t, fev[V + v], lanes, cv[:n], sp,
                                      recipe[r + 1], lateness)
        else:
            ev[2 * V + C + g] = admit(bufs[g], False, lo, hi, t, ev[v], lanes, cv[:n], sp,
                                      recipe[r + 1], lateness)


class SourceWrite:
    """The write recipe of one source's groups, and the scratch of its compiled call.

    ``groups``: per group ``(entity, value kind, column, denominator, masker, code columns,
    specs, state key prefix, retention µs, integer, new_log)`` — value kind 0: no value (counts),
    1: ``int(attrs[column])``, 2: ``attrs[column] / attrs[denominator]`` (a ratio, skipped when
    a part is null or the denominator is not positive; float groups only); ``masker`` a
    :class:`~cardmind.features.plan.LaneMasker`; ``new_log()`` makes the group's empty log.
    Groups with the same value share its computation, and their masks are memoised together.

    Not thread-safe (the scratch arrays are reused): an engine's writes are one at a time.
    """

    def __init__(self, groups: Sequence[tuple[Any, ...]]) -> None:
        self.masks = MaskSet([g[4] for g in groups])  # one mask per group
        values = list(dict.fromkeys((g[1], g[2], g[3]) for g in groups))
        for g in groups:
            if g[1] == 2 and g[9]:
                raise ValueError(f"{g[7]}: a ratio value needs a float group")
        self.values = [(i, *v) for i, v in enumerate(values)]
        self.code_columns = tuple(dict.fromkeys(c for g in groups for c in g[5]))
        where = {c: i for i, c in enumerate(self.code_columns)}
        n, n_values, n_codes = len(groups), len(values), len(self.code_columns)
        head: list[int] = [n, n_values, n_codes]
        cols: list[int] = []
        n_specs = 0
        for g in groups:
            first = _HEAD + _PER_LOG * n + len(cols)
            cols += [where[c] for c in g[5]]
            head += [int(not g[9]), g[8], first, first + len(g[5]), n_specs, n_specs + len(g[6]),
                     values.index((g[1], g[2], g[3]))]
            n_specs += len(g[6])
        self.recipe = np.asarray(head + cols, np.int64)
        self.specs = np.concatenate([np.asarray(g[6], np.int64).reshape(-1, 2) for g in groups]
                                    or [np.zeros((0, 2), np.int64)])
        self.ev = np.zeros(2 * n_values + n_codes + n, np.int64)
        self.fev = self.ev.view(np.float64)
        self._codes_at = 2 * n_values
        self.out_at = 2 * n_values + n_codes
        # the loop's view of each group: (index, entity, value index, prefix, new_log)
        self.steps = [(i, g[0], values.index((g[1], g[2], g[3])), g[7], g[10])
                      for i, g in enumerate(groups)]

    def __call__(self, get: Any, t: int, attrs: dict[str, Any], keys: dict[str, str | None],
                 lateness: int) -> list[tuple[int, str, Any, bool]]:
        """Admit the event into every group it belongs to; returns ``(group index, state key,
        log, fresh)`` of each log it was offered to, in group order: refused when
        ``ev[out_at + index]`` is -1 (the log then unchanged). ``get(key)`` finds a log (None:
        none yet). Every value is computed before any log changes (a bad value changes none)."""
        masks = self.masks(attrs)
        ev = self.ev
        fev = self.fev
        n_values = len(self.values)
        present: list[bool] = []
        for i, kind, column, den in self.values:
            if kind == 1:
                v = attrs.get(column)
                if v is None:
                    present.append(False)
                    continue
                ev[i] = x = int(v)
                fev[n_values + i] = x
            elif kind == 2:
                num, d = attrs.get(column), attrs.get(den)
                if num is None or d is None or d <= 0:
                    present.append(False)
                    continue
                fev[n_values + i] = int(num) / int(d)
            else:
                ev[i] = 0
                fev[n_values + i] = 0.0
            present.append(True)
        bufs: list[np.ndarray] = []
        bounds: list[int] = []
        offered: list[tuple[int, str, Any, bool]] = []
        for g, entity, value, prefix, new_log in self.steps:
            key = keys[entity]
            mask = masks[g]
            if key is None or mask == 0 or not present[value]:
                bufs.append(_EMPTY_BUF)
                bounds += (0, -1, 0)
                continue
            skey = prefix + key
            log = get(skey)
            fresh = log is None
            if fresh:
                log = new_log()
            elif log.hi == len(log.ts):  # full (ts: the time row, as wide as the storage)
                log._grow()
            bufs.append(log.buf)
            bounds += (log.lo, log.hi, mask)
            offered.append((g, skey, log, fresh))
        if offered:
            if self.code_columns:
                at = self._codes_at
                ev[at : at + len(self.code_columns)] = codes(list(map(attrs.get,
                                                                      self.code_columns)))
            admit_all(tuple(bufs), tuple(bounds), ev, self.recipe, self.specs, t, lateness)
        return offered
