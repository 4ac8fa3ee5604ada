"""Customer profile: thousands of features, declared once, computed in batch and online.

- :mod:`.definitions` — typed definitions, :class:`Catalog`, :class:`FeatureService`;
- :mod:`.catalog` — :func:`default_catalog` (3,000+ features);
- :mod:`.batch` — :class:`BatchEngine` on DuckDB (point-in-time correct);
- :mod:`.online` — :class:`OnlineEngine` (per-entity state, read before update);
- :mod:`.aggregates` — the windowed state every aggregate shares;
- :mod:`.stores` — the state-store interface and :class:`MemoryStore`.

>>> from cardmind.features import default_catalog
>>> "card_amount_sum_7d_online" in default_catalog()
True
"""

from cardmind.features.batch import BatchEngine
from cardmind.features.catalog import default_catalog
from cardmind.features.definitions import (
    Catalog,
    DerivedFeature,
    FeatureService,
    LabelFeature,
    RepaymentFeature,
    RequestFeature,
    WindowFeature,
)
from cardmind.features.online import OnlineEngine
from cardmind.features.stores import MemoryStore, StateStore, open_store

__all__ = [
    "BatchEngine",
    "Catalog",
    "DerivedFeature",
    "FeatureService",
    "LabelFeature",
    "MemoryStore",
    "OnlineEngine",
    "RepaymentFeature",
    "RequestFeature",
    "StateStore",
    "WindowFeature",
    "default_catalog",
    "open_store",
]
