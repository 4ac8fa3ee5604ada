"""Block, trust and watch lists of cards, merchants, devices, terminals and categories.

Persisted in the ``list_entries`` table, cached in memory for the authorization hot path. A
value is on at most one list of its kind (block, trust or watch). ``category`` entries are MCCs.
``watch`` holds values under suspicion — the merchants of a cash-out ring found by
``cardmind cashout rings`` — that the default rules deny temporary credit without declining.
Edits go to the database first, then to the cache, so a crash never leaves the cache ahead.

>>> from cardmind.storage.decision_log import log_engine
>>> from cardmind.storage.base import create_all
>>> engine = log_engine("sqlite://"); create_all(engine)
>>> lists = ListStore(engine)
>>> _ = lists.add(ListEntry(kind="merchant", value="m42", list_type="block", reason="ring"))
>>> lists.lookup("merchant", "m42"), lists.lookup("merchant", "m1")
('block', '')
>>> lists.remove("merchant", "m42"), lists.lookup("merchant", "m42")
(True, '')
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, select

from cardmind.decisions.types import LIST_KINDS, LIST_TYPES, ListEntry
from cardmind.errors import InvalidInput
from cardmind.storage.lists import ListEntryRow
from cardmind.units import TZ


class ListStore:
    """Persisted block/trust lists with an in-memory cache."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], ListEntry] = {}
        self._counts: dict[str, int] = {}  # entries per kind: kinds without any skip the lookup
        #: Kinds with at least one entry (expired ones included); a request whose kinds are
        #: all absent is on no list.
        self.kinds_present: frozenset[str] = frozenset()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refresh_errors = 0
        self.refresh()

    def start_refresh(self, every_s: float) -> None:
        """Reload the cache every ``every_s`` seconds in a background thread, so that edits made
        by other processes (other API workers) are seen; errors keep the current cache."""
        if every_s <= 0 or self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(every_s):
                try:
                    self.refresh()
                except Exception:
                    self.refresh_errors += 1

        self._thread = threading.Thread(target=loop, name="list-refresh", daemon=True)
        self._thread.start()

    def stop_refresh(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def refresh(self) -> None:
        """Reload the cache from the database (picks up edits made by other processes)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(ListEntryRow.__table__)).mappings().all()
        cache = {}
        for r in rows:
            entry = ListEntry(
                kind=r["kind"], value=r["value"], list_type=r["list_type"], reason=r["reason"],
                added_by=r["added_by"], added_at=r["added_at"], expires_at=r["expires_at"],
            )
            cache[(entry.kind, entry.value)] = entry
        counts: dict[str, int] = {}
        for kind, _ in cache:
            counts[kind] = counts.get(kind, 0) + 1
        with self._lock:
            self._cache = cache
            self._counts = counts
            self.kinds_present = frozenset(counts)

    def lookup(self, kind: str, value: str | None, now: datetime | None = None) -> str:
        """``'block'``, ``'trust'``, ``'watch'`` or ``''`` for ``value`` of ``kind`` (expired: '')."""
        if value is None:
            return ""
        entry = self._cache.get((kind, value))
        if entry is None:
            return ""
        if entry.expires_at is not None and now is not None and now >= entry.expires_at:
            return ""
        return entry.list_type

    def lookup_fields(self, fields: tuple[tuple[str, str], ...], record: Mapping[str, Any],
                      now: datetime | None = None) -> dict[str, str]:
        """``{kind: lookup(kind, record[field], now)}`` for each ``(kind, field)`` pair; a kind
        with no entry on any list answers ``''`` without a lookup (the authorization hot path).

        >>> from cardmind.storage.decision_log import log_engine
        >>> from cardmind.storage.base import create_all
        >>> engine = log_engine("sqlite://"); create_all(engine)
        >>> lists = ListStore(engine)
        >>> _ = lists.add(ListEntry(kind="card", value="c9", list_type="trust"))
        >>> lists.lookup_fields((("card", "card_token"), ("merchant", "merchant_id")),
        ...                     {"card_token": "c9", "merchant_id": "m1"})
        {'card': 'trust', 'merchant': ''}
        """
        counts, lookup = self._counts, self.lookup
        out = {}
        for kind, name in fields:
            out[kind] = lookup(kind, record[name], now) if counts.get(kind) else ""
        return out

    def add(self, entry: ListEntry) -> ListEntry:
        """Put ``entry`` on its list (replacing the same value's entry on the same list)."""
        problem = self._problem(entry)
        if problem:
            raise InvalidInput(f"lists: {problem}")
        return self._write([entry])[0]

    def add_many(self, entries: list[ListEntry]) -> tuple[list[ListEntry], list[tuple[ListEntry, str]]]:
        """Add every acceptable entry in one transaction; return (added, [(refused, reason)]).

        An entry is refused when ``add`` would refuse it — in particular a value already on
        another list is never moved (a cash-out import must not lift a block or a trust).

        >>> from cardmind.storage.decision_log import log_engine
        >>> from cardmind.storage.base import create_all
        >>> engine = log_engine("sqlite://"); create_all(engine)
        >>> lists = ListStore(engine)
        >>> _ = lists.add(ListEntry(kind="merchant", value="m1", list_type="block"))
        >>> added, refused = lists.add_many([ListEntry(kind="merchant", value=v, list_type="watch")
        ...                                  for v in ("m1", "m2")])
        >>> [e.value for e in added], [(e.value, why) for e, why in refused]
        (['m2'], [('m1', "merchant 'm1' is on the block list; remove it first")])
        """
        ok: dict[tuple[str, str], ListEntry] = {}
        refused: list[tuple[ListEntry, str]] = []
        for entry in entries:
            problem = self._problem(entry)
            if problem:
                refused.append((entry, problem))
            else:
                ok[(entry.kind, entry.value)] = entry  # the last of duplicates wins
        return (self._write(list(ok.values())) if ok else []), refused

    def _problem(self, entry: ListEntry) -> str:
        """Why ``entry`` cannot be added, or ''."""
        if entry.kind not in LIST_KINDS or entry.list_type not in LIST_TYPES:
            return f"kind must be one of {LIST_KINDS}, type one of {LIST_TYPES}"
        if entry.kind == "category" and not (len(entry.value) == 4 and entry.value.isdigit()):
            return "a category entry is a 4-digit MCC, e.g. 7995"
        existing = self._cache.get((entry.kind, entry.value))
        if existing is not None and existing.list_type != entry.list_type:
            return (f"{entry.kind} {entry.value!r} is on the {existing.list_type} list; "
                    "remove it first")
        return ""

    def _write(self, entries: list[ListEntry]) -> list[ListEntry]:
        """Replace the entries' values in the database (one transaction), then in the cache."""
        now = datetime.now(TZ)
        stamped = [e.model_copy(update={"added_at": e.added_at or now}) for e in entries]
        with self._lock, self.engine.begin() as conn:
            for e in stamped:
                conn.execute(
                    delete(ListEntryRow).where(ListEntryRow.kind == e.kind, ListEntryRow.value == e.value)
                )
            conn.execute(ListEntryRow.__table__.insert(), [e.model_dump() for e in stamped])
        with self._lock:
            for e in stamped:
                if (e.kind, e.value) not in self._cache:
                    self._counts[e.kind] = self._counts.get(e.kind, 0) + 1
                self._cache[(e.kind, e.value)] = e
            self.kinds_present = frozenset(k for k, n in self._counts.items() if n)
        return stamped

    def remove(self, kind: str, value: str, list_type: str | None = None) -> bool:
        """Remove ``value`` from its list (only from ``list_type`` when given); True if removed."""
        existing = self._cache.get((kind, value))
        if existing is None or (list_type is not None and existing.list_type != list_type):
            return False
        with self._lock, self.engine.begin() as conn:
            conn.execute(
                delete(ListEntryRow).where(ListEntryRow.kind == kind, ListEntryRow.value == value)
            )
            if self._cache.pop((kind, value), None) is not None:
                self._counts[kind] -= 1
                self.kinds_present = frozenset(k for k, n in self._counts.items() if n)
        return True

    def entries(self, kind: str | None = None, list_type: str | None = None) -> list[ListEntry]:
        """Entries, optionally of one kind and/or list type, sorted by kind and value."""
        if kind is not None and kind not in LIST_KINDS:
            raise InvalidInput(f"lists: unknown kind {kind!r}; known: {LIST_KINDS}")
        if list_type is not None and list_type not in LIST_TYPES:
            raise InvalidInput(f"lists: unknown list type {list_type!r}; known: {LIST_TYPES}")
        out = [
            e for e in self._cache.values()
            if (kind is None or e.kind == kind) and (list_type is None or e.list_type == list_type)
        ]
        return sorted(out, key=lambda e: (e.kind, e.value))

    def __len__(self) -> int:
        return len(self._cache)
