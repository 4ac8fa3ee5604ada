"""A feature row: the online read's answer as a read-only mapping over the computed vector.

:meth:`OnlineEngine.read <cardmind.features.online.OnlineEngine.read>` computes every feature
into one float64 vector. Building a ``{name: value}`` dict of the whole catalog from it costs more
than computing it (3,000+ keys per decision), and most consumers look at a few dozen names. A
:class:`FeatureRow` is that vector seen as a ``Mapping[str, float]``: the names and their slots
(a :class:`RowLayout`) are built once per engine and shared by every row; a value is read from
the vector when asked. :meth:`FeatureRow.take` gathers many names at once into an array (the
model's input row), :meth:`FeatureRow.subset` into a plain dict; both cache the slot indices of
a name tuple they have seen.

The values are the vector's float64 values as Python floats: the same bits as the dict
``features_for`` returns, NaN where a feature is undefined.

>>> import numpy as np
>>> layout = RowLayout(["a", "b", "c"], [2, 0, 1])
>>> row = FeatureRow(np.asarray([10.0, float("nan"), 1.5]), layout)
>>> row["a"], row.get("z", 0.0), "b" in row, len(row), list(row)
(1.5, 0.0, True, 3, ['a', 'b', 'c'])
>>> row.take(("b", "a", "z")).tolist()  # absent names: NaN (``fill``)
[10.0, 1.5, nan]
>>> row.subset(("a", "z"))  # absent names left out
{'a': 1.5}
>>> row == {"a": 1.5, "b": 10.0, "c": float("nan")}  # NaN != NaN, as between two dicts
False
>>> row.to_dict()["b"]
10.0
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

_MAX_CACHED = 64  # name tuples whose slot indices a layout keeps (cleared when full)
# a gather: slots (0 where absent), positions of absent names or None, present names, their slots
_Gather = tuple[np.ndarray, np.ndarray | None, tuple[str, ...], np.ndarray]


class RowLayout:
    """The names of a row, in order, and their slots in the engine's vector (built once)."""

    __slots__ = ("_gathers", "names", "slots")

    def __init__(self, names: Sequence[str], slots: Sequence[int]) -> None:
        if len(names) != len(slots):
            raise ValueError(f"row layout: {len(names)} names but {len(slots)} slots")
        self.names: tuple[str, ...] = tuple(names)
        self.slots: dict[str, int] = dict(zip(self.names, (int(s) for s in slots), strict=True))
        if len(self.slots) != len(self.names):
            raise ValueError("row layout: duplicate names")
        # id(tuple) -> (the tuple, its gather)
        self._gathers: dict[int, tuple[tuple[str, ...], _Gather]] = {}

    def gather(self, names: Sequence[str]) -> _Gather:
        """``(slots, positions of absent names or None, present names, their slots)`` of
        ``names`` (an absent name's slot is 0: overwritten by the caller).

        Cached per tuple object (a tuple cannot change): pass the same tuple every time (a
        model's feature names, the rules' feature names) and the lookup is one dict probe.
        Other sequences are resolved on every call.
        """
        if type(names) is tuple:
            hit = self._gathers.get(id(names))
            if hit is not None and hit[0] is names:
                return hit[1]
        get = self.slots.get
        found = [get(n) for n in names]
        idx = np.asarray([0 if s is None else s for s in found], np.intp)
        absent = np.asarray([i for i, s in enumerate(found) if s is None], np.intp)
        present = tuple(n for n, s in zip(names, found, strict=True) if s is not None)
        gathered = (idx, absent if len(absent) else None, present,
                    np.asarray([s for s in found if s is not None], np.intp))
        if type(names) is tuple:
            if len(self._gathers) >= _MAX_CACHED:
                self._gathers.clear()
            # the tuple is kept alive by the entry, so its id cannot be reused while cached
            self._gathers[id(names)] = (names, gathered)
        return gathered


class FeatureRow(Mapping[str, float]):
    """Read-only ``{feature: value}`` over a computed vector (see the module docstring).

    ``vals`` is owned by the row from then on (the engine computes a new vector per read);
    ``layout`` maps each name to its slot.
    """

    __slots__ = ("_layout", "_slots", "_vals")

    def __init__(self, vals: np.ndarray, layout: RowLayout) -> None:
        self._vals = vals
        self._layout = layout
        self._slots = layout.slots

    def __getitem__(self, name: str) -> float:
        return self._vals.item(self._slots[name])

    def get(self, name: str, default: Any = None) -> Any:
        """The value of ``name``, or ``default`` when the row has no such feature."""
        s = self._slots.get(name)
        return default if s is None else self._vals.item(s)

    def __contains__(self, name: object) -> bool:
        return name in self._slots

    def __iter__(self) -> Iterator[str]:
        return iter(self._layout.names)

    def __len__(self) -> int:
        return len(self._layout.names)

    def take(self, names: Sequence[str], fill: float = math.nan) -> np.ndarray:
        """The values of ``names`` as a new float64 array, ``fill`` for names not in the row
        (slot indices cached per tuple, see :meth:`RowLayout.gather`)."""
        idx, miss, _, _ = self._layout.gather(names)
        out = self._vals[idx]  # a little cheaper than ndarray.take
        if miss is not None:
            out[miss] = fill
        return out

    def subset(self, names: Sequence[str]) -> dict[str, float]:
        """``{name: value}`` of the ``names`` the row has, in that order (others left out)."""
        _, _, present, slots = self._layout.gather(names)
        return dict(zip(present, self._vals[slots].tolist(), strict=True))

    def present(self, names: Sequence[str]) -> tuple[tuple[str, ...], np.ndarray]:
        """The ``names`` the row has (in that order) and their values as a new float64 array:
        :meth:`subset` without building the dict (the decision log packs the array as it is).

        >>> row = FeatureRow(np.asarray([10.0, 1.5]), RowLayout(["a", "b"], [1, 0]))
        >>> names, values = row.present(("b", "z", "a"))
        >>> names, values.tolist()
        (('b', 'a'), [10.0, 1.5])
        """
        _, _, present, slots = self._layout.gather(names)
        return present, self._vals[slots]

    def to_dict(self) -> dict[str, float]:
        """Every feature as a plain dict (what ``OnlineEngine.features_for`` returns)."""
        return self.subset(self._layout.names)

    def keys(self) -> Any:
        return self._layout.slots.keys()

    def __repr__(self) -> str:
        n = len(self)
        head = ", ".join(f"{k!r}: {self[k]!r}" for k in self._layout.names[:5])
        return f"FeatureRow({{{head}{', ...' if n > 5 else ''}}}, {n} features)"
