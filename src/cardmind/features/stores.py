"""Where the online engine keeps per-entity state: a four-method interface, chosen by URL.

A backend implements ``get``, ``put``, ``delete`` and ``keys``. State objects are
:class:`~cardmind.features.aggregates.WindowLog` (and small JSON-able dicts for label
bookkeeping); they serialise to bytes with ``to_bytes`` / ``from_bytes`` without pickle.
:class:`MemoryStore` keeps them live in a dictionary; :class:`RedisStore` keeps the same live
working set in process and Redis behind it (load on miss, write-behind), so the hot path does not
wait on the network. ``open_store(url)`` picks one from ``CARDMIND_ONLINE_STORE``.

>>> store = open_store("memory://")
>>> store.put("card:t1", {"x": 1}); store.get("card:t1"), store.get("card:t2")
({'x': 1}, None)
>>> sorted(store.keys("card:")), store.delete("card:t1"), len(store)
(['card:t1'], None, 0)
"""

from __future__ import annotations

import atexit
import json
import logging
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

from cardmind.errors import InvalidInput

_log = logging.getLogger(__name__)


class StateStore(ABC):
    """The state-store interface: four methods."""

    @abstractmethod
    def get(self, key: str) -> Any | None:
        """The state under ``key``, or ``None``."""

    @abstractmethod
    def put(self, key: str, state: Any) -> None:
        """Store ``state`` under ``key`` (replacing any previous state)."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Forget ``key`` (no error when absent)."""

    @abstractmethod
    def keys(self, prefix: str = "") -> Iterator[str]:
        """Keys starting with ``prefix``."""

    def clear(self) -> None:
        """Forget every key (``keys`` then ``delete``; backends may do it faster)."""
        for key in list(self.keys("")):
            self.delete(key)


class MemoryStore(StateStore):
    """In-process dictionary: the default, and the fastest (state objects are kept live)."""

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}

    def get(self, key: str) -> Any | None:
        return self._data.get(key)

    def put(self, key: str, state: Any) -> None:
        self._data[key] = state

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def keys(self, prefix: str = "") -> Iterator[str]:
        return (k for k in list(self._data) if k.startswith(prefix))

    def live(self) -> dict[str, Any]:
        """The dictionary itself: its values are the live states (the online engine's write
        reads it without a method call per key, and changes a state it holds in place).

        >>> s = MemoryStore(); s.put("k", [1]); s.live()["k"].append(2); s.get("k")
        [1, 2]
        """
        return self._data

    def __len__(self) -> int:
        return len(self._data)


class RedisStore(StateStore):
    """Redis behind an in-process working set: reads and writes never wait on the network.

    - ``get`` answers from the working set; a key not seen yet costs one ``GET`` (load on miss)
      and the answer — the state, or its absence — is kept.
    - ``put`` / ``delete`` change the working set and mark the key; marked keys go to Redis in
      one pipelined round trip (write-behind) every ``flush_every`` changes or ``flush_seconds``,
      and at :meth:`flush` / :meth:`close` / interpreter exit. A crash loses at most that much.
    - The working set holds at most ``max_items`` keys: beyond, it is flushed and the oldest
      loaded half forgotten (they load again on the next miss).
    - One process writes a namespace (partition entities across processes): a key in the working
      set does not see another writer's changes. Not thread-safe (like the engine itself), and a
      flush runs on the caller's thread: the decision that triggers it pays the round trip.

    Values are ``b"W"`` + :meth:`WindowLog.to_bytes
    <cardmind.features.aggregates.WindowLog.to_bytes>` or ``b"J"`` + JSON (label bookkeeping);
    never pickle. ``client`` is a ``redis.Redis`` (tests); otherwise one is made from ``url``.
    """

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *,
                 namespace: str = "cardmind:online:", flush_every: int = 1000,
                 flush_seconds: float = 1.0, max_items: int = 2_000_000,
                 client: Any = None) -> None:
        if flush_every < 1 or flush_seconds <= 0 or max_items < 1:
            raise ValueError("RedisStore: flush_every and max_items must be >= 1, "
                             "flush_seconds > 0")
        if client is None:
            import redis

            client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        try:
            client.ping()
        except Exception as exc:  # redis.ConnectionError, bad URL, auth...
            raise InvalidInput(f"online store {url}: Redis not reachable ({exc})") from None
        self.url = url
        self.namespace = namespace
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self.max_items = max_items
        self._redis = client
        self._live: dict[str, Any] = {}
        self._absent: set[str] = set()
        self._dirty: set[str] = set()
        self._deleted: set[str] = set()
        self._flushed_at = time.monotonic()
        self.n_loads = 0  # GETs on a miss
        self.n_flushes = 0  # pipelined write rounds
        atexit.register(_flush_at_exit, weakref.ref(self))

    # --- the four methods ---------------------------------------------------------------------

    def get(self, key: str) -> Any | None:
        state = self._live.get(key)
        if state is not None or key in self._absent:
            return state
        data = self._redis.get(self.namespace + key)
        self.n_loads += 1
        if data is None:
            self._absent.add(key)
            if len(self._absent) > self.max_items:
                self._absent.clear()  # only a cache of misses
            return None
        state = _decode(data)
        self._live[key] = state
        self._trim()
        return state

    def put(self, key: str, state: Any) -> None:
        self._live[key] = state
        self._absent.discard(key)
        self._deleted.discard(key)
        self._dirty.add(key)
        self._maybe_flush()

    def delete(self, key: str) -> None:
        self._live.pop(key, None)
        self._dirty.discard(key)
        self._absent.add(key)
        self._deleted.add(key)
        self._maybe_flush()

    def keys(self, prefix: str = "") -> Iterator[str]:
        self.flush()
        n = len(self.namespace)
        pattern = _glob_escape(self.namespace + prefix) + "*"
        return (k.decode()[n:] for k in self._redis.scan_iter(match=pattern, count=1000))

    # --- write-behind -------------------------------------------------------------------------

    def flush(self) -> None:
        """Write every changed key to Redis now (one pipelined round trip)."""
        if not self._dirty and not self._deleted:
            return
        pipe = self._redis.pipeline(transaction=False)
        for key in self._dirty:
            pipe.set(self.namespace + key, _encode(self._live[key]))
        for key in self._deleted:
            pipe.delete(self.namespace + key)
        pipe.execute()  # on failure the marks stay: the next flush retries
        self._dirty.clear()
        self._deleted.clear()
        self._flushed_at = time.monotonic()
        self.n_flushes += 1

    def clear(self) -> None:
        """Forget the whole namespace, here and in Redis."""
        self._live.clear()
        self._absent.clear()
        self._dirty.clear()
        self._deleted.clear()
        batch = []
        for k in self._redis.scan_iter(match=_glob_escape(self.namespace) + "*", count=1000):
            batch.append(k)
            if len(batch) >= 1000:
                self._redis.delete(*batch)
                batch = []
        if batch:
            self._redis.delete(*batch)

    def close(self) -> None:
        """Flush and close the connection."""
        self.flush()
        self._redis.close()

    def __len__(self) -> int:
        return len(self._live)

    def _maybe_flush(self) -> None:
        if (len(self._dirty) + len(self._deleted) >= self.flush_every
                or time.monotonic() - self._flushed_at >= self.flush_seconds):
            self.flush()

    def _trim(self) -> None:
        if len(self._live) <= self.max_items:
            return
        self.flush()  # everything clean: forgetting loses nothing
        drop = len(self._live) - self.max_items // 2
        for key in list(self._live)[:drop]:
            del self._live[key]


def _flush_at_exit(ref: weakref.ref) -> None:
    store = ref()
    if store is None:
        return
    try:
        store.flush()
    except Exception as exc:  # Redis gone at exit: say what was lost, do not hide it
        _log.warning("online store %s: %d changed keys not written at exit (%s)", store.url,
                     len(store._dirty) + len(store._deleted), exc)


def _encode(state: Any) -> bytes:
    from cardmind.features.aggregates import WindowLog

    if isinstance(state, WindowLog):
        return b"W" + state.to_bytes()
    if isinstance(state, dict):
        return b"J" + json.dumps(state, separators=(",", ":")).encode()
    raise TypeError(f"online store: cannot serialise {type(state).__name__} (WindowLog or dict)")


def _decode(data: bytes) -> Any:
    from cardmind.features.aggregates import WindowLog

    kind, body = data[:1], data[1:]
    if kind == b"W":
        return WindowLog.from_bytes(body)
    if kind == b"J":
        return json.loads(body)
    raise ValueError(f"online store: unknown value kind {kind!r}")


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def open_store(url: str | None = None, *, namespace: str = "cardmind:online:") -> StateStore:
    """A store from a URL (default: ``CARDMIND_ONLINE_STORE``): ``memory://`` or ``redis://...``
    (``rediss://`` for TLS); ``namespace`` prefixes the Redis keys."""
    if url is None:
        from cardmind.settings import get_settings

        url = getattr(get_settings(), "online_store", None) or "memory://"
    if url.startswith("memory://"):
        return MemoryStore()
    if url.startswith(("redis://", "rediss://")):
        return RedisStore(url, namespace=namespace)
    raise InvalidInput(f"unknown online store URL {url!r}; use memory:// or redis://host:port/db")
