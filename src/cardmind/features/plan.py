"""How a catalog is evaluated: features grouped so one state serves many aggregates.

A :class:`Plan` groups the windowed features by (entity, source, value column). Each group has
*lanes* (lane 0 = every event of the source's base scope, then one lane per filter in use), its
windows, and its distinct-count specs. Both engines evaluate the same plan: the online engine keeps
one :class:`~cardmind.features.aggregates.WindowLog` per entity key and group; the batch engine
builds one SQL query per group. This module also holds the Python half of the event vocabulary
(virtual columns, lanes, values); :mod:`.sql` holds the SQL half.

>>> from cardmind.features.definitions import Catalog, WindowFeature
>>> plan = Plan(Catalog([WindowFeature(entity="card", aggregation="sum", column="amount_fen",
...                                    window="7d", filter="online")]))
>>> g = plan.groups[0]
>>> g.key, g.lanes, g.window_labels
(('card', 'authorizations', 'amount_fen'), [None, 'online'], ['7d'])
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np

from cardmind.features import vocab
from cardmind.features.aggregates import MAX_LANES, STATS
from cardmind.features.definitions import (
    ENTITIES,
    SOURCES,
    Catalog,
    Definition,
    DerivedFeature,
    LabelFeature,
    RepaymentFeature,
    RequestFeature,
    Source,
    WindowFeature,
)

DEFAULT_COLUMN = {"authorizations": "amount_fen", "repayments": "amount_fen",
                  "installment_plans": "principal_fen", "statements": None}
_STAT_OF = {"count": "count", "sum": "sum", "mean": "mean", "min": "min", "max": "max",
            "std": "std", "last": "last", "time_since_last": "time_since_last", "share": "share"}


@dataclass
class Group:
    """Windowed features of one (entity, source, value column)."""

    entity: str
    source: str
    column: str | None
    lanes: list[str | None] = field(default_factory=lambda: [None])
    windows: list[int] = field(default_factory=list)
    window_labels: list[str] = field(default_factory=list)
    distinct: list[tuple[str, int]] = field(default_factory=list)  # (column, lane index)
    # (feature name, stat index, window index, lane index); stat -1 = distinct spec (lane = spec)
    features: list[tuple[str, int, int, int]] = field(default_factory=list)
    retention_us: int = 0

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.entity, self.source, self.column)

    @property
    def source_spec(self) -> Source:
        return SOURCES[self.source]

    @property
    def integer(self) -> bool:
        col = self.source_spec.column(self.column) if self.column else None
        return col is None or col.integer

    @property
    def distinct_columns(self) -> list[str]:
        return sorted({c for c, _ in self.distinct})

    def lane(self, name: str | None) -> int:
        if name not in self.lanes:
            if len(self.lanes) >= MAX_LANES:
                raise ValueError(f"group {self.key}: more than {MAX_LANES} filters")
            self.lanes.append(name)
        return self.lanes.index(name)

    def window(self, label: str) -> int:
        us = vocab.parse_window(label)
        if us not in self.windows:
            self.windows.append(us)
            self.window_labels.append(label)
            order = np.argsort(self.windows, kind="stable")
            self.windows = [self.windows[i] for i in order]
            self.window_labels = [self.window_labels[i] for i in order]
        self.retention_us = max(self.retention_us, us)
        return self.windows.index(us)

    def windows_array(self) -> np.ndarray:
        return np.asarray(self.windows, np.int64)


class Plan:
    """A catalog split into groups, request, label, repayment and derived features."""

    def __init__(self, catalog: Catalog) -> None:
        self.outputs = catalog.names()
        full = catalog.closure()
        self.catalog = full
        self._groups: dict[tuple[str, str, str | None], Group] = {}
        self.request: list[RequestFeature] = []
        self.derived: list[DerivedFeature] = []
        self.labels: list[LabelFeature] = []
        self.repayments: list[RepaymentFeature] = []
        pending: list[tuple[Group, str, int, str, str | None]] = []
        for d in full:
            if isinstance(d, WindowFeature):
                col = d.column if d.aggregation not in ("count", "share", "time_since_last",
                                                        "distinct_count") else None
                col = col or DEFAULT_COLUMN[d.source]
                g = self._group(d.entity, d.source, col)
                lane = g.lane(d.filter)
                g.window(d.window)
                if d.aggregation == "distinct_count":
                    spec = (d.column, lane)
                    if spec not in g.distinct:
                        g.distinct.append(spec)
                    pending.append((g, d.name, -1, d.window, f"{g.distinct.index(spec)}"))
                else:
                    pending.append((g, d.name, STATS.index(_STAT_OF[d.aggregation]), d.window,
                                    str(lane)))
            elif isinstance(d, RequestFeature):
                self.request.append(d)
            elif isinstance(d, DerivedFeature):
                self.derived.append(d)
            elif isinstance(d, LabelFeature):
                self.labels.append(d)
            elif isinstance(d, RepaymentFeature):
                self.repayments.append(d)
                rep = self._group(d.entity, "repayments", "amount_fen")
                rep.retention_us = max(rep.retention_us, d.lookback_us)
                auth = self._group(d.entity, "authorizations", "amount_fen")
                auth.lane("approved")
                auth.retention_us = max(auth.retention_us, d.lookback_us)
            else:  # pragma: no cover - every kind is handled above
                raise TypeError(f"unknown definition {d!r}")
        for g, name, stat, window, lane in pending:  # windows are final: index them now
            g.features.append((name, stat, g.windows.index(vocab.parse_window(window)), int(lane)))
        self.groups = list(self._groups.values())

    def _group(self, entity: str, source: str, column: str | None) -> Group:
        key = (entity, source, column)
        if key not in self._groups:
            self._groups[key] = Group(entity=entity, source=source, column=column)
        return self._groups[key]

    def group(self, entity: str, source: str, column: str | None) -> Group | None:
        return self._groups.get((entity, source, column))

    def label_entities(self) -> dict[str, int]:
        """Entity -> label retention (µs) for the label-delayed features."""
        out: dict[str, int] = {}
        for d in self.labels:
            out[d.entity] = max(out.get(d.entity, 0), d.window_us)
        return out

    def definition(self, name: str) -> Definition:
        return self.catalog.get(name)


# --- the Python half of the event vocabulary --------------------------------------------------


def event_time(source: str, event: dict[str, Any]) -> int:
    """When the event becomes known, in epoch µs (statements: the local midnight after the cut)."""
    src = SOURCES[source]
    value = event.get(src.time_column)
    if value is None:
        raise ValueError(f"{source} event has no {src.time_column}")
    if source == "statements":
        if isinstance(value, datetime):
            value = value.date()
        if not isinstance(value, date):
            raise ValueError(f"statements event: statement_date {value!r} is not a date")
        days = value.toordinal() - date(1970, 1, 1).toordinal()
        return days * 86_400_000_000 + src.available_after_us - vocab.LOCAL_OFFSET_US
    return vocab.to_epoch_us(value)


_CATEGORY: dict[Any, str] = {}


def _category(mcc: Any) -> str:
    """``vocab.category_group`` memoised (a few hundred MCCs; the range walk costs ~4 µs)."""
    try:
        return _CATEGORY[mcc]
    except KeyError:
        group = vocab.category_group(mcc)
        if len(_CATEGORY) < 100_000:
            _CATEGORY[mcc] = group
        return group
    except TypeError:  # unhashable
        return vocab.category_group(mcc)


def virtual(source: str, event: dict[str, Any], t: int) -> dict[str, Any]:
    """The event's columns plus the virtual ones filters and entities use."""
    attrs = dict(event)
    if source == "authorizations":
        attrs["category"] = _category(event.get("mcc"))
        amount = event.get("amount_fen")
        attrs["amount_band"] = vocab.amount_band(int(amount)) if amount is not None else None
        attrs["night"] = vocab.is_night(t)
    elif source == "statements":
        dpd = event.get("days_past_due")
        attrs["past_due"] = dpd is not None and dpd > 0
    return attrs


def entity_key(entity: str, attrs: dict[str, Any]) -> str | None:
    """The entity's key in an event (``None`` when a key column is missing)."""
    parts = []
    for k in ENTITIES[entity].keys:
        v = attrs.get(k)
        if v is None:
            return None
        parts.append(str(v))
    return "\x1f".join(parts)


class LaneMasker:
    """The lane bit mask of an event, in one dictionary lookup per constrained column.

    A lane is a conjunction of ``column IN values`` conditions on distinct columns, so the mask is
    the AND over columns of (lanes accepting the event's value | lanes not constraining it).

    >>> m = LaneMasker("authorizations", [None, "online", "returns"])
    >>> m({"message_type": "purchase", "channel": "qr"}), m({"message_type": "refund"})
    (3, 4)
    """

    def __init__(self, source: str, lanes: list[str | None]) -> None:
        src = SOURCES[source]
        every = (1 << len(lanes)) - 1
        accept: dict[str, dict[Any, int]] = {}
        constrained: dict[str, int] = {}
        for i, name in enumerate(lanes):
            for f in src.lane(name):
                constrained[f.column] = constrained.get(f.column, 0) | (1 << i)
                table = accept.setdefault(f.column, {})
                for v in f.values:
                    table[v] = table.get(v, 0) | (1 << i)
        self.every = every
        self.columns = [(c, accept[c], every & ~bits) for c, bits in constrained.items()]

    def __call__(self, attrs: dict[str, Any]) -> int:
        mask = self.every
        for column, accept, free in self.columns:
            v = attrs.get(column)
            try:
                mask &= free | accept.get(v, 0)
            except TypeError:  # unhashable value: in no lane that constrains this column
                mask &= free
        return mask


class MaskSet:
    """The masks of several :class:`LaneMasker` of one source for an event, computed together.

    A mask depends only on the event's values of the columns its lanes constrain, so the tuple of
    masks is memoised by those values (a few thousand combinations in practice, at most
    ``limit`` kept; an unhashable value is computed every time): one tuple built and one
    dictionary lookup per event instead of a lookup per constrained column and masker.

    >>> ms = MaskSet([LaneMasker("authorizations", [None, "online"]),
    ...               LaneMasker("authorizations", [None, "returns"])])
    >>> ms({"message_type": "purchase", "channel": "qr"}), ms({"message_type": "refund"})
    ((3, 1), (0, 2))
    """

    def __init__(self, maskers: list[LaneMasker], *, limit: int = 100_000) -> None:
        self.maskers = list(maskers)
        self.columns = tuple(dict.fromkeys(c for m in self.maskers for c, _, _ in m.columns))
        self.limit = limit
        self._memo: dict[tuple[Any, ...], tuple[int, ...]] = {}

    def __call__(self, attrs: dict[str, Any]) -> tuple[int, ...]:
        values = tuple(map(attrs.get, self.columns))
        try:
            masks = self._memo.get(values)
        except TypeError:  # an unhashable value
            return tuple(m(attrs) for m in self.maskers)
        if masks is None:
            masks = tuple(m(attrs) for m in self.maskers)
            if len(self._memo) >= self.limit:
                self._memo.clear()
            self._memo[values] = masks
        return masks


def lane_mask(source: str, lanes: list[str | None], attrs: dict[str, Any]) -> int:
    """The lane bit mask of an event (slow path; engines keep a :class:`LaneMasker`)."""
    return LaneMasker(source, lanes)(attrs)


def event_value(source: str, column: str | None, attrs: dict[str, Any]) -> float | int | None:
    """The group's value for the event (``None``: the event does not enter this group)."""
    if column is None:
        return 0
    col = SOURCES[source].column(column)
    if col is not None and col.numerator:
        num, den = attrs.get(col.numerator), attrs.get(col.denominator)  # type: ignore[arg-type]
        if num is None or den is None or den <= 0:
            return None
        return int(num) / int(den)
    v = attrs.get(column)
    return None if v is None else int(v)


_CODES: dict[str, int] = {}


def code(value: Any) -> int:
    """A stable non-zero 64-bit code of a value for distinct counts (0 means null)."""
    if value is None:
        return 0
    text = str(value)
    h = _CODES.get(text)
    if h is None:
        h = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little",
                           signed=True) or 1
        if len(_CODES) > 1_000_000:
            _CODES.clear()
        _CODES[text] = h
    return h


def codes(values: list[Any]) -> list[int]:
    """:func:`code` of each value; a ``str`` already coded costs one dictionary probe (codes are
    kept by text, and a ``str`` is its own text).

    >>> codes(["m1", None, 42]) == [code("m1"), 0, code(42)]
    True
    """
    try:
        hs: list[Any] = list(map(_CODES.get, values))
    except TypeError:  # an unhashable value
        return [code(v) for v in values]
    for i, v in enumerate(values):
        if hs[i] is None or type(v) is not str:  # not coded yet, null, or not a str
            hs[i] = code(v)
    return hs
