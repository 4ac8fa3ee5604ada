"""Decision log, temporary-credit grants and labels, with a batched background writer.

Every authorization decision is one ``decision_log`` row: the request (already free of sensitive
fields), the feature values used, model and rule versions, action, reasons, latency. Temporary
credit grants go to ``temp_credit_grants`` so their later losses can be measured; fraud reports,
chargebacks and confirmations to ``decision_labels``; applied repayments to ``repayment_log``.

Durability contract of :class:`DecisionLogWriter` (tested by killing a process mid-stream):

- ``put`` only appends to an in-memory deque: no lock, no thread wake-up (the deciding thread
  pays ~0.1 us). Bounded: at ``queue_max`` waiting rows it blocks (back-pressure, never silent
  loss).
- A background thread wakes every ``flush_ms`` (or as soon as ``batch`` rows are waiting) and
  commits what is waiting, ``batch`` rows per transaction (SQLite WAL or PostgreSQL).
- So after a crash of the process (``kill -9``), every decision that was committed is complete
  and readable; what is lost is at most what was still waiting: the decisions of the last
  ``flush_ms`` milliseconds (default 50 ms) plus one commit, plus any backlog shown by
  ``depth``. A batch is never half written. ``flush()`` returns once everything put before it
  (by any thread) is committed; ``close()`` flushes.
- Inserts ignore an ``auth_id`` (a ``repayment_id``) already logged, so a retried batch cannot duplicate rows.
- A database that is down or locked is retried with back-off (nothing dropped; ``failures`` and
  ``last_error`` say so); a row the database refuses (or that cannot be serialised) is counted in
  ``bad_rows`` and the rest of its batch is written.

>>> import tempfile
>>> from cardmind.storage.base import create_all
>>> engine = log_engine(f"sqlite:///{tempfile.mkdtemp()}/log.db"); create_all(engine)
>>> w = DecisionLogWriter(engine, flush_ms=5)
>>> w.put("decision_log", {"auth_id": "a1", "decided_at": datetime(2026, 1, 1),
...     "card_token": "c", "merchant_id": "m", "message_type": "purchase", "amount_fen": 5,
...     "action": "APPROVE", "response_code": "00", "temp_credit_fen": 0, "rules_version": "r",
...     "standin": False, "latency_us": 10, "request_json": "{}", "features_json": "{}",
...     "decision_json": "{}"})
>>> w.flush(); w.committed, w.depth
(1, 0)
>>> w.close()
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Engine,
    Float,
    Integer,
    LargeBinary,
    String,
    Text,
    insert,
    select,
)
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from cardmind.storage.base import Base


class DecisionLogRow(Base):
    """One authorization decision, reproducible from its stored inputs."""

    __tablename__ = "decision_log"

    auth_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # no index on card_token nor action (ADR 0020): no query of cardmind uses them, and a
    # card_token index dirties one random index page per logged row once the log is large
    card_token: Mapped[str] = mapped_column(String(64))
    merchant_id: Mapped[str] = mapped_column(String(64))
    message_type: Mapped[str] = mapped_column(String(16))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(32))
    response_code: Mapped[str] = mapped_column(String(4))
    fraud_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    cashout_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    temp_credit_fen: Mapped[int] = mapped_column(BigInteger)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    rules_version: Mapped[str] = mapped_column(String(64))
    standin: Mapped[bool] = mapped_column(Boolean)
    standin_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    latency_us: Mapped[int] = mapped_column(Integer)
    request_json: Mapped[str] = mapped_column(Text)
    # the feature values of rows logged before migration 0004 (and of values that are not
    # numbers); NULL when they are in ``feature_set`` / ``feature_values`` (ADR 0023)
    features_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    decision_json: Mapped[str] = mapped_column(Text)
    # last (added by migration 0002): the request's own time (``request_json``'s ``ts``, in
    # Asia/Shanghai), so that restore reads only what is after the dataset's end; NULL when the
    # request has no readable time
    request_ts: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True,
                                                        index=True)
    # added by migration 0004 (ADR 0023): the feature values as little-endian float64, in the
    # order of the names of ``decision_feature_sets.set_id = feature_set`` (NaN: undefined)
    feature_set: Mapped[int | None] = mapped_column(Integer, nullable=True)
    feature_values: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class DecisionFeatureSetRow(Base):
    """The feature names of logged feature vectors (one row per distinct list of names)."""

    __tablename__ = "decision_feature_sets"

    set_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # hex SHA-256 of names_json: the lookup key (a long list of names is too wide to index)
    names_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    names_json: Mapped[str] = mapped_column(Text)


class TempCreditGrantRow(Base):
    """A temporary (transaction-level) credit grant, kept to measure its later losses."""

    __tablename__ = "temp_credit_grants"

    grant_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    auth_id: Mapped[str] = mapped_column(String(64), index=True)
    card_token: Mapped[str] = mapped_column(String(64), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    behaviour_risk: Mapped[float] = mapped_column(Float)
    fraud_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    card_cap_fen: Mapped[int] = mapped_column(BigInteger)
    portfolio_used_fen: Mapped[int] = mapped_column(BigInteger)


class DecisionLabelRow(Base):
    """A fraud report, chargeback or confirmed-genuine label received for a decision."""

    __tablename__ = "decision_labels"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    auth_id: Mapped[str] = mapped_column(String(64), index=True)
    label: Mapped[str] = mapped_column(String(16))
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    scenario: Mapped[str | None] = mapped_column(String(64), nullable=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RepaymentLogRow(Base):
    """A repayment the engine applied (``POST /v1/repayments``, ``engine.repay``): the request
    (card token, never a card number) and the open-to-buy before and after. Written by the same
    writer as decisions (same durability); ``restore`` replays the rows whose ``ts`` is at or
    after the dataset's end, merged with the decisions by ``received_at``."""

    __tablename__ = "repayment_log"

    repayment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # taken under the engine's lock, as a decision's decided_at: the order the engine applied it
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    card_token: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(32))
    payer_is_cardholder: Mapped[bool] = mapped_column(Boolean)
    available_before_fen: Mapped[int] = mapped_column(BigInteger)
    available_after_fen: Mapped[int] = mapped_column(BigInteger)
    balance_after_fen: Mapped[int] = mapped_column(BigInteger)
    temp_credit_fen: Mapped[int] = mapped_column(BigInteger)
    # the request's own time (Asia/Shanghai): restore selects by it, like decision_log.request_ts
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


_YIELD_EVERY = 32  # rows serialised between GIL hand-offs (each hand-off costs a thread switch)
_CHUNK = 64  # rows per executemany inside one batch transaction

_TABLES = {
    "decision_log": DecisionLogRow.__table__,
    "temp_credit_grants": TempCreditGrantRow.__table__,
    "repayment_log": RepaymentLogRow.__table__,
}

#: Column names of each log table, in table order: the order of a row given as a tuple.
COLUMNS: dict[str, tuple[str, ...]] = {
    name: tuple(c.name for c in t.columns) for name, t in _TABLES.items()}

#: A prepared row: a dict of columns (a missing one is NULL), or a tuple of every column in
#: ``COLUMNS[table]`` order (no dict to build and take apart again: ~2 us less per row).
Row = dict[str, Any] | tuple[Any, ...]


def log_engine(url: str | None = None) -> Engine:
    """An engine for the log; an in-memory SQLite URL gets one shared connection across threads."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import StaticPool

    from cardmind.storage.base import make_engine

    if url in ("sqlite://", "sqlite:///:memory:"):
        return create_engine(
            "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    return make_engine(url)


def _insert_ignore(engine: Engine, table: Any) -> Any:
    if engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert

        return insert(table).on_conflict_do_nothing()
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        return insert(table).on_conflict_do_nothing()
    return table.insert()


class _Marker:
    """A flush request in the queue: set once every row put before it is committed."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


#: Position of ``feature_set`` in a ``decision_log`` tuple row.
_FEATURE_SET = COLUMNS["decision_log"].index("feature_set")


class _FeatureSets:
    """The ids of the lists of feature names in ``decision_feature_sets``: a list is looked up
    (or registered) in the transaction of the first batch that uses it, and remembered once
    that transaction is committed."""

    __slots__ = ("_ids",)

    def __init__(self) -> None:
        self._ids: dict[tuple[str, ...], int] = {}

    def resolve(self, conn: Any, rows: list[Row], new: dict[tuple[str, ...], int]
                ) -> dict[int, int]:
        """``{id(names): set_id}`` of every names tuple given as ``feature_set`` in ``rows``
        (lists not yet committed are looked up or inserted through ``conn`` and added to
        ``new``)."""
        at = _FEATURE_SET
        seen: dict[int, tuple[str, ...]] = {}
        for r in rows:  # by identity: rows of one source share their names tuple
            v = r[at] if type(r) is tuple else r.get("feature_set")
            if type(v) is tuple:
                seen[id(v)] = v
        out: dict[int, int] = {}
        for key, names in seen.items():
            sid = self._ids.get(names)
            if sid is None:
                sid = new.get(names)
                if sid is None:
                    sid = new[names] = feature_set_id(conn, names)
            out[key] = sid
        return out

    def remember(self, new: dict[tuple[str, ...], int]) -> None:
        """Keep the ids of a committed transaction."""
        self._ids.update(new)


def feature_set_id(conn: Any, names: tuple[str, ...]) -> int:
    """The ``set_id`` of the list ``names`` in ``decision_feature_sets``, inserted (in the
    transaction of ``conn``) when it is not there yet.

    >>> from cardmind.storage.base import create_all
    >>> e = log_engine("sqlite://"); create_all(e)
    >>> with e.begin() as conn:
    ...     feature_set_id(conn, ("a", "b")), feature_set_id(conn, ("b",)), feature_set_id(conn, ("a", "b"))
    (1, 2, 1)
    """
    text = json.dumps(list(names), ensure_ascii=False, separators=(",", ":"))
    key = hashlib.sha256(text.encode()).hexdigest()
    t = DecisionFeatureSetRow.__table__
    sid = conn.execute(select(t.c.set_id).where(t.c.names_sha256 == key)).scalar()
    if sid is None:
        sid = conn.execute(insert(t).values(names_sha256=key, names_json=text)
                           ).inserted_primary_key[0]
    return int(sid)


#: ``feature_values``: each value as a little-endian IEEE 754 double (8 bytes), NaN when undefined.
FEATURE_DTYPE = np.dtype("<f8")


def pack_features(values: Mapping[str, Any]) -> tuple[tuple[str, ...], bytes] | None:
    """``(feature_set, feature_values)`` of a ``{name: number}`` mapping (None is NaN), or None
    when a value is not a number (such a row keeps its values in ``features_json``).

    >>> names, blob = pack_features({"b": 2.5, "a": None})
    >>> names, len(blob), unpack_features(names, blob)
    (('b', 'a'), 16, {'b': 2.5, 'a': nan})
    >>> pack_features({"a": "x"}) is None
    True
    """
    try:
        arr = np.array(list(values.values()), dtype=FEATURE_DTYPE)
    except (TypeError, ValueError):
        return None
    if arr.ndim != 1:
        return None
    return tuple(values), arr.tobytes()


def unpack_features(names: Sequence[str], blob: bytes) -> dict[str, float]:
    """``{name: value}`` of stored ``feature_values`` in the order of ``names``."""
    values = np.frombuffer(blob, dtype=FEATURE_DTYPE)
    if len(values) != len(names):
        raise ValueError(f"{len(values)} feature values for {len(names)} names")
    return dict(zip(names, values.tolist(), strict=True))


def stored_features(features_json: str | None, names_json: str | None,
                    feature_values: bytes | None) -> dict[str, float]:
    """The feature values of a logged decision, from either format (``feature_values`` with
    the names of its set, or the ``features_json`` of older rows): NaN where undefined
    (``null`` in JSON).

    >>> stored_features('{"a":1.5,"b":null}', None, None)
    {'a': 1.5, 'b': nan}
    >>> stored_features(None, '["a","b"]', pack_features({"a": 1.5, "b": None})[1])
    {'a': 1.5, 'b': nan}
    """
    if feature_values is not None:
        return unpack_features(json.loads(names_json or "[]"), bytes(feature_values))
    return {k: (float("nan") if v is None else v)
            for k, v in json.loads(features_json or "{}").items()}


class DecisionLogWriter:
    """Deque + background thread that commits decision-log rows in batches."""

    def __init__(self, engine: Engine, *, flush_ms: int = 50, batch: int = 512,
                 queue_max: int = 200_000,
                 prepare_many: Mapping[str, Callable[[list[Any]], list[Row]]] | None = None
                 ) -> None:
        if flush_ms <= 0 or batch <= 0 or queue_max <= 0:
            raise ValueError("flush_ms, batch and queue_max must be > 0")
        self.engine = engine
        self.flush_ms = flush_ms
        self.batch = batch
        self.queue_max = queue_max
        self.prepare_many = dict(prepare_many or {})
        self._sets = _FeatureSets()
        self.bad_rows = 0
        self._dq: deque[Any] = deque()
        self._wake = threading.Event()
        self._inflight = 0
        self.committed = 0
        self.failures = 0
        self.last_error: str | None = None
        self._stmts = {name: _insert_ignore(engine, t) for name, t in _TABLES.items()}
        self._raw = _raw_inserts(engine)
        self._dbapi_error = engine.dialect.loaded_dbapi.Error
        self._closed = False
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="decision-log-writer", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Rows waiting to be committed."""
        return sum(1 for x in tuple(self._dq) if not isinstance(x, _Marker)) + self._inflight

    def put(self, table: str, row: Any) -> None:
        """Enqueue one row for ``table`` (``decision_log``, ``temp_credit_grants`` or
        ``repayment_log``).

        ``row`` is a dict of columns, a tuple of every column in ``COLUMNS[table]`` order, or any
        object that ``prepare_many[table]`` turns into one of these in the writer thread, a list
        of objects at a time (serialisation stays off the hot path, and is done per batch).
        A ``decision_log`` row gives ``feature_set`` as the tuple of names its
        ``feature_values`` are in (see :func:`pack_features`): the writer stores their id."""
        if self._closed:
            raise RuntimeError("decision log writer is closed")
        if table not in self._stmts:
            raise ValueError(f"unknown log table {table!r}")
        dq = self._dq
        dq.append((table, row))
        n = len(dq)
        if n == self.batch:  # a full batch: wake the writer now (once per batch)
            self._wake.set()
        elif n >= self.queue_max:  # back-pressure: wait for the writer to catch up
            self._wake.set()
            while len(dq) >= self.queue_max and self._thread.is_alive():
                time.sleep(0.001)

    def flush(self, timeout: float = 30.0) -> None:
        """Block until every row put before this call is committed."""
        marker = _Marker()
        self._dq.append(marker)
        self._wake.set()
        if not marker.done.wait(timeout):
            raise TimeoutError(f"decision log: {self.depth} rows not committed")

    def close(self) -> None:
        """Flush and stop the thread."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        dq = self._dq
        while not self._stop:
            self._wake.wait(self.flush_ms / 1000)
            self._wake.clear()
            items: list[tuple[str, Any]] = []
            while dq:
                item = dq.popleft()
                if isinstance(item, _Marker):
                    self._commit(items)
                    items = []
                    item.done.set()
                    continue
                items.append(item)
                self._inflight = len(items)
                if len(items) >= self.batch:
                    self._commit(items)
                    items = []
            self._commit(items)

    def _write(self, grouped: dict[str, list[Row]]) -> None:
        with self.engine.begin() as conn:
            new: dict[tuple[str, ...], int] = {}
            for table, rows in grouped.items():
                ids = self._sets.resolve(conn, rows, new) if table == "decision_log" else None
                if self._raw is not None:  # the driver's executemany, same stored values
                    ins = self._raw[table]
                    cursor = conn.connection.cursor()  # the DBAPI cursor, in this transaction
                    try:
                        cursor.executemany(ins.sql, ins.params(rows, ids))
                    except self._dbapi_error as exc:  # as SQLAlchemy would raise it
                        raise DBAPIError.instance(ins.sql, None, exc, self._dbapi_error) from exc
                    finally:
                        cursor.close()
                    continue
                for k in range(0, len(rows), _CHUNK):
                    conn.execute(self._stmts[table], _dicts(table, rows[k : k + _CHUNK], ids))
                    time.sleep(0)
        self._sets.remember(new)  # committed

    def _write_one_by_one(self, grouped: dict[str, list[Row]]) -> None:
        for table, rows in grouped.items():
            for r in rows:
                new: dict[tuple[str, ...], int] = {}
                try:
                    with self.engine.begin() as conn:
                        ids = (self._sets.resolve(conn, [r], new) if table == "decision_log"
                               else None)
                        conn.execute(self._stmts[table], _dicts(table, [r], ids))
                except SQLAlchemyError as exc:
                    self.bad_rows += 1
                    self.last_error = (f"{table} row refused by the database: "
                                       f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
                    continue
                self._sets.remember(new)

    def _prepare(self, table: str, objs: list[Any]) -> list[Row]:
        """``prepare_many[table]`` of ``objs`` (a chunk at a time, handing the GIL back between
        chunks); an object that cannot be prepared is counted in ``bad_rows`` and left out."""
        fn = self.prepare_many.get(table)
        out: list[Row] = []
        for k in range(0, len(objs), _YIELD_EVERY):
            time.sleep(0)  # hand the GIL to the decision thread: keeps its tail latency low
            chunk = objs[k : k + _YIELD_EVERY]
            try:
                rows = fn(chunk) if fn is not None else chunk
                if len(rows) != len(chunk):
                    raise ValueError(f"{len(rows)} rows prepared from {len(chunk)} objects")
            except Exception:  # find the objects that fail, one at a time
                rows = []
                for obj in chunk:
                    try:
                        rows.extend(fn([obj]))  # type: ignore[misc]
                    except Exception as exc:  # cannot be serialised: counted, not retried
                        self.bad_rows += 1
                        self.last_error = (f"cannot serialise a {table} row: "
                                           f"{type(exc).__name__}: {exc}")
            ncols = len(COLUMNS[table])
            for row in rows:
                if type(row) is tuple:
                    if len(row) == ncols:
                        out.append(row)
                        continue
                    error = f"{len(row)} values for {ncols} columns"
                elif isinstance(row, dict):
                    out.append(row)
                    continue
                else:
                    error = f"a row is a dict or a tuple, not {type(row).__name__}"
                self.bad_rows += 1
                self.last_error = f"cannot serialise a {table} row: TypeError: {error}"
        return out

    def _commit(self, items: list[tuple[str, Any]]) -> None:
        if not items:
            return
        objs: dict[str, list[Any]] = {}
        for table, obj in items:
            objs.setdefault(table, []).append(obj)
        grouped: dict[str, list[Row]] = {}
        for table, those in objs.items():
            rows = self._prepare(table, those)
            if rows:
                grouped[table] = rows
        delay = 0.05
        while grouped:
            try:
                self._write(grouped)
                break
            except (OperationalError, OSError) as exc:  # database down or locked: retry
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            except SQLAlchemyError:  # a row the database refuses: write the others one by one
                self._write_one_by_one(grouped)
                break
        self.committed += len(items)
        self._inflight = 0


def _dicts(table: str, rows: list[Row], ids: dict[int, int] | None = None
           ) -> list[dict[str, Any]]:
    """``rows`` as dicts of columns (SQLAlchemy Core's form), a ``feature_set`` given as names
    replaced by its id (``ids``: by the names tuple's ``id()``)."""
    names = COLUMNS[table]
    out = [dict(r) if isinstance(r, dict) else dict(zip(names, r, strict=True)) for r in rows]
    if ids:
        for d in out:
            v = d.get("feature_set")
            if type(v) is tuple:
                d["feature_set"] = ids[id(v)]
    return out


class _RawInsert:
    """One table's insert-or-skip statement for the driver, with SQLAlchemy's own bind
    processors applied to the few columns that have one (e.g. datetimes to SQLite's text).

    ``procs``: ``(column, processor, types it leaves as they are)``; the processor of a column
    whose values in a batch are all of those types is skipped (e.g. SQLite's ``to_float`` of
    floats: the driver binds them the same)."""

    __slots__ = ("names", "procs", "sql")

    def __init__(self, sql: str, names: tuple[str, ...],
                 procs: tuple[tuple[int, Callable[[Any], Any], frozenset[type]], ...]) -> None:
        self.sql, self.names, self.procs = sql, names, procs

    def params(self, rows: list[Row], ids: dict[int, int] | None = None) -> list[Any]:
        """Each row as a parameter sequence in column order (a missing column is NULL; a tuple
        row is already in that order); a ``feature_set`` given as names is replaced by its id
        (``ids``: by the names tuple's ``id()``). Column by column: one pass of C-level ``map``
        per processed column instead of a Python loop per row."""
        names, procs = self.names, self.procs
        # a tuple's length is checked when it is prepared
        tuples = [r if type(r) is tuple else tuple(map(r.get, names)) for r in rows]
        if not tuples or (not procs and not ids):
            return tuples
        cols: list[Any] = list(zip(*tuples, strict=True))
        for i, process, keep in procs:
            col = cols[i]
            if not keep.issuperset(map(type, col)):
                cols[i] = map(process, col)
        if ids:
            at = names.index("feature_set")
            get = ids.get
            cols[at] = [get(id(v), v) if type(v) is tuple else v for v in cols[at]]
        return list(zip(*cols, strict=True))


#: SQLAlchemy's text format of a datetime on SQLite (its ``DATETIME`` default storage format).
_SQLITE_DATETIME = ("%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d"
                    ".%(microsecond)06d")


def _fast(type_: Any, dialect: Any, process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process``, or an equal and cheaper one: SQLite's datetime text without the mapping
    SQLAlchemy builds per value (~0.9 us less per row). Anything but a
    ``datetime`` still goes through SQLAlchemy's processor.

    >>> from sqlalchemy import DateTime, create_engine
    >>> dialect = create_engine("sqlite://").dialect
    >>> t = DateTime(timezone=True)
    >>> fast = _fast(t, dialect, t._cached_bind_processor(dialect))
    >>> fast(datetime(987, 6, 5, 4, 3, 2)), fast(None)
    ('0987-06-05 04:03:02.000000', None)
    """
    if (dialect.name == "sqlite" and isinstance(type_, DateTime)
            and getattr(type_.dialect_impl(dialect), "_storage_format", None) == _SQLITE_DATETIME):
        def sqlite_datetime(value: Any) -> Any:
            if type(value) is datetime:
                # %-formatting of a tuple: ~1.0 us here, f-string ~2.0, SQLAlchemy's ~1.9
                return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031
                    value.year, value.month, value.day, value.hour, value.minute, value.second,
                    value.microsecond)
            return process(value)

        return sqlite_datetime
    return process


def _as_is(type_: Any, dialect: Any) -> frozenset[type]:
    """The value types that ``type_``'s bind processor stores as the driver would store them
    unprocessed (its processor can be skipped when a batch has only these): on SQLite, floats
    of a ``Float`` (``to_float`` returns them), bools of a ``Boolean`` (``int()`` of one binds
    the same integer), bytes of a ``LargeBinary`` (SQLAlchemy wraps them in a memoryview, both
    bind as the same BLOB), and None of these and of a ``DateTime``. Anything else, and every
    type on other databases: the processor runs.

    >>> from sqlalchemy import Boolean, DateTime, create_engine
    >>> dialect = create_engine("sqlite://").dialect
    >>> sorted(t.__name__ for t in _as_is(Boolean(), dialect)), _as_is(DateTime(), dialect)
    (['NoneType', 'bool'], frozenset({<class 'NoneType'>}))
    """
    if dialect.name == "sqlite":
        for kind, values in ((Float, {float}), (Boolean, {bool}), (LargeBinary, {bytes}),
                             (DateTime, set())):
            if isinstance(type_, kind):  # (SQLAlchemy's processors of these give None for None)
                return frozenset({type(None), *values})
    return frozenset()


def _raw_inserts(engine: Engine) -> dict[str, _RawInsert] | None:
    """Per table, the driver-level ``INSERT ... ON CONFLICT DO NOTHING`` (SQLite and
    PostgreSQL), or None for another database (SQLAlchemy Core inserts then).

    SQLAlchemy's per-row parameter handling in ``executemany`` costs more than the database's
    insert itself (~25 us per row); the driver's ``executemany`` with SQLAlchemy's bind
    processors stores the same values. ``ON CONFLICT DO NOTHING`` skips a logged ``auth_id``
    only (SQLite's ``OR IGNORE`` would also drop rows that break NOT NULL, silently)."""
    dialect = engine.dialect
    if dialect.name not in ("sqlite", "postgresql"):
        return None
    mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(dialect.paramstyle)
    if mark is None:
        return None
    out = {}
    for name, table in _TABLES.items():
        names = COLUMNS[name]  # the order of a tuple row, passed through as it is
        procs = tuple((i, _fast(c.type, dialect, p), _as_is(c.type, dialect))
                      for i, c in enumerate(table.columns)
                      if (p := c.type._cached_bind_processor(dialect)) is not None)
        columns = ", ".join(f'"{c}"' for c in names)
        marks = ", ".join(mark for _ in names)
        sql = f'INSERT INTO "{table.name}" ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING'
        out[name] = _RawInsert(sql, names, procs)
    return out


def load_decision_json(engine: Engine, auth_id: str) -> str | None:
    """The stored decision JSON for ``auth_id``, or None."""
    with engine.connect() as conn:
        return conn.execute(
            select(DecisionLogRow.decision_json).where(DecisionLogRow.auth_id == auth_id)
        ).scalar_one_or_none()


def load_decision_inputs(engine: Engine, auth_id: str
                         ) -> tuple[dict[str, float], str | None] | None:
    """The stored feature values (``{name: value}``, NaN where undefined; either format) and
    model version of ``auth_id``'s decision, or None."""
    d, s = DecisionLogRow.__table__, DecisionFeatureSetRow.__table__
    stmt = (select(d.c.features_json, s.c.names_json, d.c.feature_values, d.c.model_version)
            .select_from(d.outerjoin(s, s.c.set_id == d.c.feature_set))
            .where(d.c.auth_id == auth_id))
    with engine.connect() as conn:
        row = conn.execute(stmt).one_or_none()
    return None if row is None else (stored_features(row[0], row[1], row[2]), row[3])


def logged_auth_ids(engine: Engine, since: datetime | None = None) -> set[str]:
    """Every logged ``auth_id`` (decided at or after ``since``): rebuilds idempotency."""
    stmt = select(DecisionLogRow.auth_id)
    if since is not None:
        stmt = stmt.where(DecisionLogRow.decided_at >= since)
    with engine.connect() as conn:
        return set(conn.execute(stmt).scalars())


def load_repayment(engine: Engine, repayment_id: str) -> dict[str, Any] | None:
    """The logged repayment ``repayment_id`` as a dict of its columns, or None."""
    with engine.connect() as conn:
        row = conn.execute(select(RepaymentLogRow.__table__)
                           .where(RepaymentLogRow.repayment_id == repayment_id)).one_or_none()
    return None if row is None else dict(row._mapping)


def logged_repayment_ids(engine: Engine, since: datetime | None = None) -> set[str]:
    """Every logged ``repayment_id`` (received at or after ``since``): rebuilds idempotency."""
    stmt = select(RepaymentLogRow.repayment_id)
    if since is not None:
        stmt = stmt.where(RepaymentLogRow.received_at >= since)
    with engine.connect() as conn:
        return set(conn.execute(stmt).scalars())


# --- schema upgrades of an existing log (migration 0002, and engines started on an old file) ---

#: Indexes of the original ``decision_log`` (migration 0001) that no query uses (ADR 0020).
DROPPED_INDEXES = ("ix_decision_log_action", "ix_decision_log_card_token")
REQUEST_TS_INDEX = "ix_decision_log_request_ts"
_FILL_CHUNK = 5_000


def request_time(request_json: str | None) -> datetime | None:
    """The ``ts`` of a logged request as an Asia/Shanghai datetime, None when unreadable
    (what ``restore`` reads from the JSON; naive means Asia/Shanghai).

    >>> request_time('{"ts":"2026-04-11T03:42:52Z"}').isoformat()
    '2026-04-11T11:42:52+08:00'
    >>> request_time('{"ts":"2026-04-11T11:42:52"}').isoformat(), request_time("{}")
    ('2026-04-11T11:42:52+08:00', None)
    """
    from cardmind.decisions.types import to_shanghai  # the request's own conversion of ts

    try:
        at = to_shanghai(json.loads(request_json or "").get("ts"))
    except (AttributeError, TypeError, ValueError):
        return None
    return at if isinstance(at, datetime) else None


def upgrade_decision_log(conn: Any) -> bool:
    """Bring an existing ``decision_log`` to the current shape, in the transaction of ``conn``:
    add ``request_ts`` (filled from each row's ``request_json``) and its index, drop the unused
    ``action`` and ``card_token`` indexes. Idempotent (a no-op on a current table, or without
    the table); returns True when it changed something. Migration 0002 runs it, and so does an
    engine started on a database that ``create_all`` made before the change (it never ran
    migrations).

    >>> from sqlalchemy import create_engine, inspect
    >>> e = create_engine("sqlite://")
    >>> with e.begin() as conn:
    ...     _ = conn.exec_driver_sql("CREATE TABLE decision_log (auth_id VARCHAR(64) PRIMARY KEY,"
    ...                              " action VARCHAR(32), request_json TEXT)")
    ...     _ = conn.exec_driver_sql("CREATE INDEX ix_decision_log_action ON decision_log (action)")
    ...     _ = conn.exec_driver_sql("INSERT INTO decision_log VALUES "
    ...                              "('a1', 'APPROVE', '{\\"ts\\": \\"2026-04-11T11:42:52+08:00\\"}')")
    ...     upgrade_decision_log(conn), upgrade_decision_log(conn)
    (True, False)
    >>> with e.connect() as conn:
    ...     conn.exec_driver_sql("SELECT request_ts FROM decision_log").scalar()
    '2026-04-11 11:42:52.000000'
    >>> [i["name"] for i in inspect(e).get_indexes("decision_log")]
    ['ix_decision_log_request_ts']
    """
    from sqlalchemy import bindparam, inspect, update

    insp = inspect(conn)
    if not insp.has_table("decision_log"):
        return False
    changed = False
    t = DecisionLogRow.__table__
    if "request_ts" not in {c["name"] for c in insp.get_columns("decision_log")}:
        kind = t.c.request_ts.type.compile(dialect=conn.dialect)
        conn.exec_driver_sql(f"ALTER TABLE decision_log ADD COLUMN request_ts {kind}")
        fill = (update(t).where(t.c.auth_id == bindparam("key"))
                .values(request_ts=bindparam("at")))
        last = ""
        while True:
            chunk = conn.execute(select(t.c.auth_id, t.c.request_json).where(t.c.auth_id > last)
                                 .order_by(t.c.auth_id).limit(_FILL_CHUNK)).all()
            if not chunk:
                break
            values = [{"key": k, "at": at} for k, js in chunk
                      if (at := request_time(js)) is not None]
            if values:
                conn.execute(fill, values)
            last = chunk[-1][0]
        changed = True
    indexes = {i["name"] for i in insp.get_indexes("decision_log")}
    for name in DROPPED_INDEXES:
        if name in indexes:
            conn.exec_driver_sql(f"DROP INDEX {name}")
            changed = True
    if REQUEST_TS_INDEX not in indexes:
        conn.exec_driver_sql(f"CREATE INDEX {REQUEST_TS_INDEX} ON decision_log (request_ts)")
        changed = True
    return changed


def upgrade_decision_log_features(conn: Any) -> bool:
    """Bring an existing ``decision_log`` to the shape of migration 0004 (ADR 0023), in the
    transaction of ``conn``: the ``decision_feature_sets`` table, the ``feature_set`` and
    ``feature_values`` columns, and ``features_json`` nullable (on SQLite the table is copied
    once: it cannot relax a NOT NULL in place). Rows already logged keep their
    ``features_json``; readers read both (:func:`stored_features`). Idempotent (a no-op on a
    current table, or without the table); returns True when it changed something. Migration
    0004 runs it, and so does ``create_all`` (every engine's start).

    >>> from sqlalchemy import create_engine, inspect
    >>> e = create_engine("sqlite://")
    >>> with e.begin() as conn:
    ...     _ = conn.exec_driver_sql("CREATE TABLE decision_log (auth_id VARCHAR(64) PRIMARY KEY,"
    ...                              " features_json TEXT NOT NULL)")
    ...     _ = conn.exec_driver_sql("INSERT INTO decision_log VALUES ('a1', '{\\"a\\":1.5}')")
    ...     upgrade_decision_log_features(conn), upgrade_decision_log_features(conn)
    (True, False)
    >>> {c["name"]: c["nullable"] for c in inspect(e).get_columns("decision_log")}
    {'auth_id': True, 'features_json': True, 'feature_set': True, 'feature_values': True}
    >>> with e.connect() as conn:
    ...     conn.exec_driver_sql("SELECT features_json FROM decision_log").scalar()
    '{"a":1.5}'
    """
    from sqlalchemy import Column, inspect

    insp = inspect(conn)
    if not insp.has_table("decision_log"):
        return False
    changed = False
    if not insp.has_table(DecisionFeatureSetRow.__tablename__):
        DecisionFeatureSetRow.__table__.create(conn)
        changed = True
    cols = {c["name"]: c for c in insp.get_columns("decision_log")}
    add = [c for c in ("feature_set", "feature_values") if c not in cols]
    relax = cols["features_json"]["nullable"] is False
    if not add and not relax:
        return changed
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    t = DecisionLogRow.__table__
    ops = Operations(MigrationContext.configure(conn))
    with ops.batch_alter_table("decision_log") as batch:  # SQLite: one copy of the table
        for name in add:
            batch.add_column(Column(name, t.c[name].type, nullable=True))
        if relax:
            batch.alter_column("features_json", existing_type=Text(), nullable=True)
    return True


def downgrade_decision_log_features(conn: Any) -> None:
    """Undo :func:`upgrade_decision_log_features`: rows logged with ``feature_values`` get
    their values back in ``features_json`` (sorted by name, ``null`` where undefined), then the
    columns, the NOT NULL and the names table are as before (migration 0004's downgrade)."""
    import math

    from sqlalchemy import bindparam, update

    d, s = DecisionLogRow.__table__, DecisionFeatureSetRow.__table__
    fill = (update(d).where(d.c.auth_id == bindparam("key"))
            .values(features_json=bindparam("text")))
    last = ""
    while True:
        chunk = conn.execute(
            select(d.c.auth_id, s.c.names_json, d.c.feature_values)
            .select_from(d.outerjoin(s, s.c.set_id == d.c.feature_set))
            .where(d.c.feature_values.is_not(None), d.c.auth_id > last)
            .order_by(d.c.auth_id).limit(_FILL_CHUNK)).all()
        if not chunk:
            break
        values = []
        for key, names, blob in chunk:
            got = stored_features(None, names, blob)
            clean = {k: (v if math.isfinite(v) else None) for k, v in sorted(got.items())}
            values.append({"key": key, "text": json.dumps(clean, separators=(",", ":"))})
        conn.execute(fill, values)
        last = chunk[-1][0]
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    ops = Operations(MigrationContext.configure(conn))
    with ops.batch_alter_table("decision_log") as batch:
        batch.drop_column("feature_values")
        batch.drop_column("feature_set")
        batch.alter_column("features_json", existing_type=Text(), nullable=False)
    s.drop(conn)
