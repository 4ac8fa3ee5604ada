"""Where the online engine keeps per-entity state: a four-method interface, chosen by URL.

A backend implements ``get``, ``put``, ``delete`` and ``keys``. State objects are
:class:`~cardmind.features.aggregates.WindowLog` (and small dicts for label bookkeeping); they
serialise to bytes with ``to_bytes`` / ``from_bytes`` without pickle, so a Redis backend stores
``key -> bytes`` (not yet supported: it follows in a later issue; ``open_store`` says so).

>>> store = open_store("memory://")
>>> store.put("card:t1", {"x": 1}); store.get("card:t1"), store.get("card:t2")
({'x': 1}, None)
>>> sorted(store.keys("card:")), store.delete("card:t1"), len(store)
(['card:t1'], None, 0)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

from cardmind.errors import InvalidInput


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

    def __len__(self) -> int:
        return len(self._data)


def open_store(url: str | None = None) -> StateStore:
    """A store from a URL (``CARDMIND_ONLINE_STORE``): ``memory://`` today."""
    if url is None:
        from cardmind.settings import get_settings

        url = getattr(get_settings(), "online_store", None) or "memory://"
    if url.startswith("memory://"):
        return MemoryStore()
    if url.startswith("redis://"):
        raise InvalidInput("online store redis:// is not yet supported (planned); use memory://")
    raise InvalidInput(f"unknown online store URL {url!r}; use memory://")
