"""Online engine: per-entity incremental state, read before update on every authorization.

>>> from datetime import datetime, timedelta
>>> from cardmind.units import TZ
>>> from cardmind.features.definitions import Catalog, WindowFeature
>>> cat = Catalog([WindowFeature(entity="card", aggregation="sum", column="amount_fen",
...                              window="1h")])
>>> engine = OnlineEngine(cat)
>>> t0 = datetime(2026, 1, 1, 12, tzinfo=TZ)
>>> auth = dict(auth_id="a1", ts=t0, card_token="c1", customer_id="u1", merchant_id="m1",
...             terminal_id="t1", amount_fen=5000, mcc="5812", channel="qr", message_type="purchase",
...             approved=True, cross_border=False)
>>> engine.features_for(auth)
{'card_amount_sum_1h': 0.0}
>>> engine.update(auth)
>>> engine.features_for({**auth, "auth_id": "a2", "ts": t0 + timedelta(minutes=5)})
{'card_amount_sum_1h': 5000.0}

Late and out-of-order events: an event at most ``allowed_lateness`` older than the newest event of
its entity is inserted at its place, so every later read is exact (the batch engine's answer). An
older one is *rejected* — recorded in :attr:`OnlineEngine.rejected` with the reason — because the
state no longer holds the window it would belong to. Events with a missing key raise
:class:`~cardmind.errors.InvalidInput` naming the column (the device is optional: without it the
device features are null).
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from cardmind import schema
from cardmind.errors import InvalidInput
from cardmind.features import vocab
from cardmind.features.aggregates import WindowLog
from cardmind.features.definitions import ENTITIES, Catalog, FeatureService
from cardmind.features.plan import (
    Group,
    LaneMasker,
    Plan,
    code,
    entity_key,
    event_time,
    virtual,
)
from cardmind.features.readkernel import (
    REPAYMENT_MEASURES,
    derive,
    derived_table,
    label_counts,
    read_all,
    read_plan,
    repayment_features,
)
from cardmind.features.row import FeatureRow, RowLayout
from cardmind.features.stores import MemoryStore, StateStore, open_store
from cardmind.features.writekernel import SourceWrite

_NO_CODES = np.zeros(0, np.int64)
_EMPTY_BUF = np.zeros((4, 0), np.int64)  # the storage of a log with no events
_EMPTY_LOG = WindowLog(integer=True, n_codes=0)
_NO_DERIVED = derived_table([])
TABLES = ("authorizations", "repayments", "statements", "installment_plans", "fraud_labels")


class _GroupRuntime:
    """One group's read plan (the cells its features need, their output slots) and write recipe."""

    def __init__(self, g: Group, index: dict[str, int]) -> None:
        self.group = g
        self.entity = g.entity
        self.windows = g.windows_array() if g.windows else np.asarray([g.retention_us], np.int64)
        self.n_lanes = len(g.lanes)
        self.plain = [(s, w, lane, index[n]) for n, s, w, lane in g.features if s >= 0]
        self.dist = [(spec, w, index[n]) for n, s, w, spec in g.features if s < 0]
        cols = g.distinct_columns
        self.distinct_columns = cols
        self.specs = np.asarray([(cols.index(c), lane) for c, lane in g.distinct],
                                np.int64).reshape(-1, 2)
        self.n_codes = len(cols)
        self.integer = g.integer
        self.retention_us = g.retention_us
        self.column = g.column
        col = g.source_spec.column(g.column) if g.column else None
        # how update finds the event's value (plan.event_value, unrolled): 0 none, 1 column, 2 ratio
        self.value_kind = 0 if g.column is None else 2 if col is not None and col.numerator else 1
        self.ratio = (col.numerator, col.denominator) if self.value_kind == 2 else ("", "")
        self.masker = LaneMasker(g.source, g.lanes)
        self._empty = WindowLog(integer=self.integer, n_codes=self.n_codes, specs=self.specs)
        lanes_id = hashlib.blake2b(repr((g.lanes, cols)).encode(), digest_size=4).hexdigest()
        self.prefix = f"g:{g.entity}:{g.source}:{g.column}:{lanes_id}:"

    def read_plan(self, keep: set[int] | None,
                  at: dict[int, int] | None = None) -> np.ndarray | None:
        """The read plan of this group's features whose slot is in ``keep`` (None: all of them),
        or None when there is none: only their lanes are visited, only back to their longest
        window. ``at`` maps a slot to its place in the read's vector (None: the same)."""
        plain = self.plain if keep is None else [x for x in self.plain if x[3] in keep]
        dist = self.dist if keep is None else [x for x in self.dist if x[2] in keep]
        if not (plain or dist):
            return None
        if at is not None:
            plain = [(s, w, lane, at[o]) for s, w, lane, o in plain]
            dist = [(spec, w, at[o]) for spec, w, o in dist]
        return read_plan(self.windows.tolist(), plain, dist)

    def new_log(self) -> WindowLog:
        """An empty log of this group (the layout of one checked at construction)."""
        return self._empty.empty_like()



class _ReadPlan:
    """What one read computes, for a set of vector slots (the requested features and what they
    are computed from): the groups to read and their plans, the request, label, repayment and
    derived features among them, and the row layout of the requested names.

    The read's vector holds the kept slots only, in slot order (``blank``: all of them NaN):
    a served read of a few dozen features fills a vector of that size, not one of the whole
    catalog; the eager plan's vector is the engine's (``self.names`` order).
    """

    def __init__(self, engine: OnlineEngine, names: Sequence[str], keep: set[int] | None) -> None:
        def kept(slot: int) -> bool:
            return keep is None or slot in keep

        index = engine._index
        # slot -> place in this read's vector (None: the engine's slots)
        at = None if keep is None else {s: i for i, s in enumerate(sorted(keep))}

        def place(slot: int) -> int:
            return slot if at is None else at[slot]

        def places(rows: np.ndarray, cols: Sequence[int]) -> np.ndarray:
            rows = rows.copy()
            for c in cols:
                rows[:, c] = [o if o < 0 else place(o) for o in rows[:, c].tolist()]
            return rows

        self.blank = np.full(len(engine.names) if at is None else len(at), np.nan)
        self.layout = RowLayout(names, [place(index[n]) for n in names])
        readers = [(r, plan) for r in engine._groups
                   if (plan := r.read_plan(keep, at)) is not None]
        self.reader_keys = [(r.prefix, r.entity) for r, _ in readers]
        self.floats = np.asarray([not r.integer for r, _ in readers], np.bool_)
        self.plans = np.concatenate([plan for _, plan in readers] or [_NO_CODES])
        self.plan_off = np.cumsum([0] + [len(plan) for _, plan in readers]).astype(np.int64)
        self.specs = np.concatenate([r.specs for r, _ in readers]
                                    or [np.zeros((0, 2), np.int64)]).reshape(-1, 2)
        self.spec_off = np.cumsum([0] + [len(r.specs) for r, _ in readers]).astype(np.int64)
        self.req_plain = [(place(i), what) for i, what in engine._req_plain if kept(i)]
        # one-hot request features: (column, value -> slot); every one is 0 unless its value
        # is the event's, so the blank vector holds their 0 and a read sets one 1 per column
        self.req_onehot: list[tuple[str, dict[str, int]]] = []
        for col, (_, by_value) in engine._req_onehot.items():
            m = {v: place(i) for v, i in by_value.items() if kept(i)}
            if m:
                self.req_onehot.append((col, m))
                self.blank[list(m.values())] = 0.0
        # (entity, state key prefix, label_counts rows: out, window, delay, rate_of)
        self.label_specs: list[tuple[str, str, np.ndarray]] = []
        for entity, prefix, specs in engine._label_specs:
            rows = specs[[kept(int(o)) for o in specs[:, 0]]]
            if len(rows):
                self.label_specs.append((entity, prefix, places(rows, (0, 3))))
        # (entity, lookback, repayments prefix, auth prefix, approved bit, repayment_features rows)
        self.rep_specs: list[tuple[Any, ...]] = []
        for *head, specs in engine._rep_specs:
            rows = specs[[kept(int(o)) for o in specs[:, 0]]]
            if len(rows):
                self.rep_specs.append((*head, places(rows, (0,))))
        # one table in dependency order, evaluated in the read's compiled call when nothing
        # computed in Python (labels, repayments) comes between the window reads and it
        self.derived = derived_table([(op, place(out), [place(i) for i in ins])
                                      for op, out, ins in engine._derived_rows if kept(out)])
        self.derived_fused = bool(readers) and not (self.label_specs or self.rep_specs)
        self.has_reads = bool(readers)


class Pending:
    """What :meth:`OnlineEngine.read` computed about an authorization that its update reuses:
    its time, virtual columns and entity keys (see :meth:`OnlineEngine.update`)."""

    __slots__ = ("event", "keys", "t", "virtual")

    def __init__(self, event: dict[str, Any], t: int, virtual: dict[str, Any],
                 keys: dict[str, str | None]) -> None:
        self.event, self.t, self.virtual, self.keys = event, t, virtual, keys


class OnlineEngine:
    """Evaluate a catalog (or feature service) one authorization at a time.

    ``features_for`` / ``vector`` compute every feature of the catalog. ``read`` (the decision's
    read) returns a :class:`~cardmind.features.row.FeatureRow`: by default every feature too;
    with ``serve=names`` only those names (and what they are computed from) — the state of the
    whole catalog is still maintained by ``update``, so ``features_for`` stays complete and the
    served values are the eager read's, bit for bit. ``feature_names`` is then the served names
    (None without ``serve``).

    >>> from datetime import datetime
    >>> from cardmind.units import TZ
    >>> from cardmind.features import default_catalog
    >>> engine = OnlineEngine(default_catalog(), serve=["card_count_1h", "req_amount"])
    >>> auth = dict(auth_id="a1", ts=datetime(2026, 1, 1, 12, tzinfo=TZ), card_token="c1",
    ...             customer_id="u1", merchant_id="m1", terminal_id="t1", amount_fen=5000,
    ...             mcc="5812", channel="qr", message_type="purchase", approved=True,
    ...             cross_border=False)
    >>> row, pending = engine.read(auth)
    >>> dict(row), len(engine.features_for(auth)) > 3000
    ({'card_count_1h': 0.0, 'req_amount': 5000.0}, True)
    >>> engine.update(auth, pending=pending)
    """

    def __init__(self, catalog: Catalog | FeatureService, store: StateStore | None = None, *,
                 allowed_lateness: str = "1h", serve: Sequence[str] | None = None) -> None:
        if isinstance(catalog, FeatureService):
            catalog = catalog.catalog()
        self.catalog = catalog
        self.allowed_lateness_us = vocab.parse_window(allowed_lateness)
        self.plan = Plan(catalog)
        self.names = self.plan.catalog.names()
        if store is None:  # CARDMIND_ONLINE_STORE; a Redis namespace per catalog
            from cardmind.settings import get_settings

            tag = hashlib.blake2b("\n".join(self.names).encode(), digest_size=6).hexdigest()
            store = open_store(namespace=f"{get_settings().online_namespace}{tag}:")
        self.store = store
        self._index = {n: i for i, n in enumerate(self.names)}
        self._out = np.asarray([self._index[n] for n in self.plan.outputs], np.int64)
        self._out_names = list(self.plan.outputs)
        self._template: dict[str, float] = dict.fromkeys(self._out_names, math.nan)
        if np.array_equal(self._out, np.arange(len(self.names))):
            self._out = None  # type: ignore[assignment]  # outputs are the whole vector
        self._groups = [_GroupRuntime(g, self._index) for g in self.plan.groups]
        self._group_entities = sorted({r.entity for r in self._groups})
        self._by_source: dict[str, list[_GroupRuntime]] = {}
        for r in self._groups:
            self._by_source.setdefault(r.group.source, []).append(r)
        self._source_key_columns = {
            src: [(e, ENTITIES[e].keys) for e in dict.fromkeys(r.entity for r in rs)]
            for src, rs in self._by_source.items()}
        self._required = {src: [e for e, _ in cols if not ENTITIES[e].optional]
                          for src, cols in self._source_key_columns.items()}
        maskers: dict[tuple[str, tuple[str | None, ...]], LaneMasker] = {}
        for r in self._groups:  # one masker per distinct lane list: a mask computed once per event
            r.masker = maskers.setdefault((r.group.source, tuple(r.group.lanes)), r.masker)
        # the write recipe of each source (writekernel.SourceWrite): its lane masks computed
        # together, its groups admitted in one compiled call
        self._writes = {src: SourceWrite([
            (r.entity, r.value_kind, r.column if r.value_kind == 1 else r.ratio[0], r.ratio[1],
             r.masker, tuple(r.distinct_columns), r.specs, r.prefix, r.retention_us, r.integer,
             r.new_log) for r in rs]) for src, rs in self._by_source.items()}
        self._label_entities = self.plan.label_entities()
        self._entities = sorted({r.entity for r in self._groups}
                                | {d.entity for d in self.plan.labels}
                                | {d.entity for d in self.plan.repayments})
        self._key_columns = [(e, ENTITIES[e].keys) for e in self._entities]
        rep_specs: dict[tuple[Any, ...], list[tuple[int, int]]] = {}
        for d in self.plan.repayments:
            auth_rt = self._runtime(d.entity, "authorizations", "amount_fen")
            head = (d.entity, d.lookback_us, self._prefix(d.entity, "repayments", "amount_fen"),
                    auth_rt.prefix, 1 << auth_rt.group.lanes.index("approved"))
            rep_specs.setdefault(head, []).append((self._index[d.name],
                                                   REPAYMENT_MEASURES.get(d.measure, 3)))
        # (entity, lookback, repayments prefix, authorizations prefix, approved bit, specs)
        self._rep_specs = [(*head, np.asarray(specs, np.int64).reshape(-1, 2))
                           for head, specs in rep_specs.items()]
        self._req_plain: list[tuple[int, str]] = []
        self._req_onehot: dict[str, tuple[np.ndarray, dict[str, int]]] = {}
        onehot: dict[str, dict[str, int]] = {}
        for d in self.plan.request:
            head, _, tail = d.what.partition("_")
            if head in ("channel", "category", "band"):
                col = {"channel": "channel", "category": "category", "band": "amount_band"}[head]
                onehot.setdefault(col, {})[tail] = self._index[d.name]
            else:
                self._req_plain.append((self._index[d.name], d.what))
        self._req_onehot = {c: (np.asarray(list(m.values()), np.int64), m)
                            for c, m in onehot.items()}
        level: dict[str, int] = {}
        for d in self.plan.derived:
            level[d.name] = 1 + max((level.get(n, -1) for n in d.inputs), default=-1)
        batches: dict[tuple[int, str], list[Any]] = {}
        for d in self.plan.derived:
            batches.setdefault((level[d.name], d.op), []).append(d)
        self._derived_rows = [  # dependency order
            (d.op, self._index[d.name], [self._index[n] for n in d.inputs])
            for _, ds in sorted(batches.items(), key=lambda kv: kv[0]) for d in ds]
        label_specs: dict[str, list[tuple[int, int, int, int]]] = {}
        for d in self.plan.labels:
            label_specs.setdefault(d.entity, []).append((
                self._index[d.name], d.window_us, d.delay_us,
                self._index[d.inputs[0]] if d.measure == "rate" else -1))
        # (entity, state key prefix, rows of label_counts: out, window, delay, rate_of)
        self._label_specs = [(e, f"lbl:{e}:", np.asarray(specs, np.int64).reshape(-1, 4))
                             for e, specs in label_specs.items()]
        self.rejected: deque[str] = deque(maxlen=10_000)
        self._auth_index: deque[tuple[int, str]] = deque()
        self._label_retention = max(self._label_entities.values(), default=0) \
            + self.allowed_lateness_us
        self.n_rejected = 0
        self._eager = _ReadPlan(self, self._out_names, None)
        self.feature_names: tuple[str, ...] | None = None
        self._served = self._eager
        if serve is not None:
            self.feature_names = tuple(dict.fromkeys(serve))
            self._served = self.read_plan(self.feature_names)

    def read_plan(self, names: Sequence[str]) -> _ReadPlan:
        """What a read of just ``names`` computes: their groups (only the lanes and windows they
        use), their request, label, repayment and derived features, and what those need."""
        unknown = [n for n in names if n not in self._index]
        if unknown:
            raise ValueError(f"online engine: {len(unknown)} features to serve are not in the "
                             f"catalog (e.g. {unknown[:3]})")
        names = list(dict.fromkeys(names))
        keep = {self._index[n] for n in self.plan.catalog.select(names).closure().names()}
        return _ReadPlan(self, names, keep)

    # --- read ----------------------------------------------------------------------------------

    def features_for(self, auth: dict[str, Any]) -> dict[str, float]:
        """Every output feature for the authorization ``auth`` (NaN where undefined).

        Reads state only: call :meth:`update` afterwards to add the authorization to history.
        """
        return self._as_dict(self.vector(auth))

    def _as_dict(self, vals: np.ndarray) -> dict[str, float]:
        # copying a dict of the right keys then assigning is ~1/3 cheaper than dict(zip(...))
        out = self._template.copy()
        picked = vals if self._out is None else vals[self._out]
        out.update(zip(self._out_names, picked.tolist(), strict=True))
        return out

    def read(self, auth: dict[str, Any]) -> tuple[FeatureRow, Pending]:
        """:meth:`features_for` as a read-only mapping over the computed vector (a
        :class:`~cardmind.features.row.FeatureRow`: the same names and values, without building a
        dict of the whole catalog), and what the update of this same authorization reuses (its
        time, virtual columns and entity keys): pass it as ``update(auth, pending=...)`` once the
        decision's outcome fields are in ``auth``."""
        t = _time(auth)
        attrs = virtual("authorizations", auth, t)
        keys = self._keys(attrs)
        rp = self._served
        feats = FeatureRow(self._vector(t, attrs, keys, rp), rp.layout)
        return feats, Pending(auth, t, {"category": attrs["category"],
                                        "amount_band": attrs["amount_band"],
                                        "night": attrs["night"]}, keys)

    def vector(self, auth: dict[str, Any]) -> np.ndarray:
        """All computed features (the catalog's closure, in ``self.names`` order) as an array."""
        t = _time(auth)
        attrs = virtual("authorizations", auth, t)
        return self._vector(t, attrs, self._keys(attrs))

    def _vector(self, t: int, attrs: dict[str, Any], keys: dict[str, str | None],
                rp: _ReadPlan | None = None) -> np.ndarray:
        """The features of read plan ``rp`` (default: every one) in a new vector of its slots
        (``rp.blank``: the engine's for the eager plan; the others NaN)."""
        if rp is None:
            rp = self._eager
        vals = rp.blank.copy()
        if None in keys.values():  # the same keys are required whatever is read
            for e in self._group_entities:
                if keys[e] is None:
                    _require(e, attrs, "authorization")
        for idx, what in rp.req_plain:  # first: derived features may use them
            vals[idx] = _request_value(what, attrs, t)
        for head, by_value in rp.req_onehot:  # the blank holds their 0
            hit = by_value.get(attrs.get(head))
            if hit is not None:
                vals[hit] = 1.0
        if rp.has_reads:  # every group of the read (and the derived features) in one call
            store = self.store
            get = store.live().get if type(store) is MemoryStore else store.get
            bufs, bounds = [], []
            for prefix, entity in rp.reader_keys:
                key = keys[entity]
                log = None if key is None else get(prefix + key)
                if log is None:  # no state: the empty-window values; no key: skipped (null)
                    bufs.append(_EMPTY_BUF)
                    bounds.append(0)
                    bounds.append(0 if key is not None else -1)
                else:
                    bufs.append(log.buf)
                    bounds.append(log.lo)
                    bounds.append(log.hi)
            read_all(tuple(bufs), tuple(bounds), rp.floats, t, rp.plans, rp.plan_off, rp.specs,
                     rp.spec_off, rp.derived if rp.derived_fused else _NO_DERIVED, vals)
        if rp.label_specs:
            self._labels(vals, keys, t, rp.label_specs)
        if rp.rep_specs:
            self._repayments(vals, keys, t, rp.rep_specs)
        if not rp.derived_fused and len(rp.derived):
            derive(vals, rp.derived)
        return vals

    def _keys(self, attrs: dict[str, Any]) -> dict[str, str | None]:
        return _keys(self._key_columns, attrs)

    def _labels(self, vals: np.ndarray, keys: dict[str, str | None], t: int,
                label_specs: list[tuple[str, str, np.ndarray]]) -> None:
        get = self.store.get
        for entity, prefix, specs in label_specs:
            key = keys[entity]
            if key is None:
                continue
            log = get(prefix + key) or _EMPTY_LOG  # no labels: counts 0
            label_counts(log.ts, log.val, log.lo, log.hi, t, specs, vals)

    def _repayments(self, vals: np.ndarray, keys: dict[str, str | None], t: int,
                    rep_specs: list[tuple[Any, ...]]) -> None:
        get = self.store.get
        for entity, lookback, rep_prefix, auth_prefix, bit, specs in rep_specs:
            key = keys[entity]
            rep = get(rep_prefix + key) if key is not None else None
            if rep is None:
                continue
            p = get(auth_prefix + key) or _EMPTY_LOG
            repayment_features(rep.ts, rep.val, rep.lo, rep.hi, p.ts, p.val, p.mask, p.lo, p.hi,
                               t, lookback, bit, specs, vals)

    def _runtime(self, entity: str, source: str, column: str | None) -> _GroupRuntime:
        return next(r for r in self._groups if r.group.key == (entity, source, column))

    def _prefix(self, entity: str, source: str, column: str | None) -> str:
        return self._runtime(entity, source, column).prefix

    # --- write ---------------------------------------------------------------------------------

    def update(self, event: dict[str, Any], table: str = "authorizations", *,
               pending: Pending | None = None) -> None:
        """Add one event of ``table`` to the state of every entity it belongs to.

        ``pending``: what :meth:`read` returned for this same authorization (the same dict,
        since given the decision's outcome fields — its keys, time, MCC and amount unchanged):
        its time, virtual columns and keys are reused instead of computed again.
        """
        if table == "fraud_labels":
            self._update_label(event)
            return
        if table not in TABLES:
            raise InvalidInput(f"unknown event table {table!r}; known: {', '.join(TABLES)}")
        if pending is not None and pending.event is event and table == "authorizations":
            t = pending.t
            attrs = dict(event)
            attrs.update(pending.virtual)
            keys = pending.keys
        else:
            try:
                t = event_time(table, event)
            except ValueError as exc:
                raise InvalidInput(str(exc)) from None
            attrs = virtual(table, event, t)
            keys = _keys(self._source_key_columns.get(table, ()), attrs)
        index_auth = (table == "authorizations" and bool(self._label_entities)
                      and event.get("message_type") == "purchase")
        if index_auth and event.get("auth_id") is None:
            raise InvalidInput("authorization event rejected: missing auth_id (needed by "
                               "label-delayed features)")
        runtimes = self._by_source.get(table)
        if runtimes:
            if None in keys.values():  # validate every key before touching any state
                for e in self._required[table]:
                    if keys[e] is None:
                        _require(e, attrs, f"{table} event")
            self._write(table, t, attrs, keys)
        if index_auth:
            put = self.store.put
            auth_id = event["auth_id"]
            info: dict[str, Any] = {e: keys[e] if e in keys else entity_key(e, attrs)
                                    for e in self._label_entities}
            info["ts"] = t
            put(f"auth:{auth_id}", info)
            # the label index only needs purchases a label could still count for
            self._auth_index.append((t, auth_id))
            horizon = t - self._label_retention
            while self._auth_index and self._auth_index[0][0] < horizon:
                self.store.delete(f"auth:{self._auth_index.popleft()[1]}")

    def _write(self, table: str, t: int, attrs: dict[str, Any],
               keys: dict[str, str | None]) -> None:
        """The event enters the state of every group of its table it belongs to."""
        store = self.store
        # a MemoryStore's dictionary holds the live logs themselves: read it directly, and
        # putting back a log it returned would change nothing (any other store, e.g. Redis,
        # is told of every change)
        in_place = type(store) is MemoryStore
        write = self._writes[table]
        offered = write(store.live().get if in_place else store.get, t, attrs, keys,
                        self.allowed_lateness_us)
        if not offered:
            return
        put = store.put
        out = write.ev[write.out_at:].tolist()
        for g, skey, log, fresh in offered:
            lo = out[g]
            if lo < 0:
                entity = write.steps[g][1]
                self._reject(f"{table} event at {t} is older than the allowed lateness behind "
                             f"the newest event {log.newest} of {entity} {keys[entity]!r}: "
                             f"not applied")
                continue
            log.lo = lo
            log.hi += 1
            if fresh or not in_place:
                put(skey, log)

    def _update_label(self, event: dict[str, Any]) -> None:
        auth_id = event.get("auth_id")
        if auth_id is None:
            raise InvalidInput("fraud_labels event has no auth_id")
        if event.get("reported_at") is None:
            raise InvalidInput(f"fraud label for {auth_id}: no reported_at")
        if event.get("label") not in schema.FRAUD_LABELS or not self._label_entities:
            return
        known = vocab.to_epoch_us(event["reported_at"])
        info = self.store.get(f"auth:{auth_id}")
        if info is None:
            self._reject(f"fraud label for {auth_id}: authorization unknown to the online state "
                         f"(older than retention, not a purchase, or never seen): not applied")
            return
        for entity, retention in self._label_entities.items():
            key = info.get(entity)
            if key is None:
                continue
            skey = f"lbl:{entity}:{key}"
            log = self.store.get(skey) or WindowLog(integer=True, n_codes=1)
            c = code(auth_id)
            if np.any(log.arrays()[3][0] == c):
                continue  # the same authorization labelled twice counts once
            log.update(info["ts"], known, 1, (c,))
            newest = log.newest or info["ts"]
            log.revert(newest - retention - self.allowed_lateness_us)
            self.store.put(skey, log)

    def _reject(self, reason: str) -> None:
        self.n_rejected += 1
        self.rejected.append(reason)

    def bootstrap(self, dataset: Any, until: Any = None) -> None:
        """Build the state from a dataset's history: every event known before ``until``.

        The state is *replaced*: the store is cleared first, so bootstrapping again (a restarted
        server on a persistent Redis namespace) never counts the history twice.
        """
        limit = None if until is None else vocab.to_epoch_us(until)
        self.store.clear()
        self._auth_index.clear()
        for table in TABLES:
            if not dataset.has(table):
                continue
            data = dataset.read(table)
            rows = data.to_pylist()
            if table == "fraud_labels":
                rows.sort(key=lambda e: vocab.to_epoch_us(e["reported_at"]))
                times = [vocab.to_epoch_us(e["reported_at"]) for e in rows]
            else:
                times = [event_time(table, e) for e in rows]
                order = sorted(range(len(rows)), key=times.__getitem__)
                rows, times = [rows[i] for i in order], [times[i] for i in order]
            for e, t in zip(rows, times, strict=True):
                if limit is not None and t >= limit:
                    break
                self.update(e, table)

    def update_many(self, events: Iterable[dict[str, Any]], table: str = "authorizations") -> None:
        """``update`` each event in turn (the same state as one by one)."""
        for e in events:
            self.update(e, table)


def _keys(key_columns: Iterable[tuple[str, tuple[str, ...]]],
          attrs: dict[str, Any]) -> dict[str, str | None]:
    """Every entity's key in ``attrs`` (``plan.entity_key``, unrolled for one- and two-column
    keys)."""
    out: dict[str, str | None] = {}
    for e, cols in key_columns:
        n = len(cols)
        if n == 1:
            v = attrs.get(cols[0])
            out[e] = None if v is None else v if type(v) is str else str(v)
        elif n == 2:
            a, b = attrs.get(cols[0]), attrs.get(cols[1])
            out[e] = (None if a is None or b is None else
                      (a if type(a) is str else str(a)) + "\x1f" + (b if type(b) is str else str(b)))
        else:
            out[e] = entity_key(e, attrs)
    return out


def _time(auth: dict[str, Any]) -> int:
    if auth.get("ts") is None:
        raise InvalidInput("authorization has no ts")
    try:
        return vocab.to_epoch_us(auth["ts"])
    except ValueError as exc:
        raise InvalidInput(f"authorization ts: {exc}") from None


def _require(entity: str, attrs: dict[str, Any], what: str) -> None:
    ent = ENTITIES[entity]
    if ent.optional:
        return
    missing = [k for k in ent.keys if attrs.get(k) is None]
    if "category" in missing:
        missing = ["mcc"]
    raise InvalidInput(f"{what} rejected: missing key {', '.join(missing)} (needed by {entity} "
                       f"features)")


def _request_value(what: str, attrs: dict[str, Any], t: int) -> float:
    if what == "amount":
        v = attrs.get("amount_fen")
        return math.nan if v is None else float(v)
    if what == "hour":
        return float(vocab.local_hour(t))
    if what == "is_night":
        return float(vocab.is_night(t))
    if what == "is_online":
        return float(attrs.get("channel") in ("online_cnp", "wallet", "qr"))
    if what == "is_cross_border":
        v = attrs.get("cross_border")
        return math.nan if v is None else float(bool(v))
    head, _, tail = what.partition("_")
    if head == "channel":
        return float(attrs.get("channel") == tail)
    if head == "category":
        return float(attrs.get("category") == tail)
    if head == "band":
        return float(attrs.get("amount_band") == tail)
    raise ValueError(f"unknown request feature {what!r}")  # pragma: no cover
