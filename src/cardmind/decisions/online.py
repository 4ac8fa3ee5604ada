"""Online features as the authorization engine sees them: ``features_for`` then ``update``.

The engine talks to any object with ``features_for(auth: dict) -> dict[str, float]`` (state
*before* this authorization) and ``update(event: dict) -> None``; when it also has ``read(auth)
-> (Mapping[str, float], pending)``, the engine reads through it and passes ``pending`` to
``update(event, table, pending=...)`` (the catalog's engine: its read returns a
:class:`~cardmind.features.row.FeatureRow` over the computed vector, no dict of every feature
is built). The full catalog is served by ``cardmind.features.OnlineEngine``; :class:`BasicOnlineFeatures` is a small built-in catalog
(velocity, amount, novelty) so that the engine works, and is tested, on its own.

>>> from datetime import datetime, timedelta
>>> f = BasicOnlineFeatures()
>>> e = {"card_token": "c", "merchant_id": "m", "device_id": None, "city": "SH",
...      "amount_fen": 1000, "ts": datetime(2026, 1, 1, 12, tzinfo=TZ), "message_type": "purchase",
...      "channel": "pos_chip", "cross_border": False}
>>> f.features_for(e)["card_new_merchant"]
1.0
>>> f.update(e); f.features_for(dict(e, ts=e["ts"].replace(minute=30)))["card_auth_count_1h"]
1.0
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from cardmind.units import TZ


class FeatureSource(Protocol):
    """What the engine needs from an online feature engine."""

    def features_for(self, auth: dict[str, Any]) -> dict[str, float]: ...

    def update(self, event: dict[str, Any], table: str = "authorizations") -> None: ...


BASIC_FEATURES = (
    "card_auth_count_1h", "card_auth_count_24h", "card_amount_sum_24h", "card_seconds_since_last",
    "card_amount_ratio_mean", "card_new_merchant", "card_new_device", "card_new_city",
    "txn_amount_fen", "txn_hour", "txn_cross_border", "txn_card_not_present",
)
_DAY = 86_400.0
_NOT_SEEN = 1e7


@dataclass(slots=True)
class _CardState:
    recent: deque = field(default_factory=deque)  # (epoch_s, amount_fen) within 24h
    last: float | None = None
    n: int = 0
    total: int = 0
    merchants: set = field(default_factory=set)
    devices: set = field(default_factory=set)
    cities: set = field(default_factory=set)


class BasicOnlineFeatures:
    """A minimal online catalog, per card, in memory (purchases only)."""

    feature_names = BASIC_FEATURES

    def __init__(self) -> None:
        self._cards: dict[str, _CardState] = {}

    def features_for(self, auth: dict[str, Any]) -> dict[str, float]:
        t = auth["ts"].timestamp()
        st = self._cards.get(auth["card_token"])
        amount = float(auth["amount_fen"])
        out = {
            "txn_amount_fen": amount,
            "txn_hour": float(auth["ts"].astimezone(TZ).hour),
            "txn_cross_border": 1.0 if auth.get("cross_border") else 0.0,
            "txn_card_not_present": 1.0 if auth.get("channel") == "online_cnp" else 0.0,
        }
        if st is None:
            out.update(card_auth_count_1h=0.0, card_auth_count_24h=0.0, card_amount_sum_24h=0.0,
                       card_seconds_since_last=_NOT_SEEN, card_amount_ratio_mean=1.0,
                       card_new_merchant=1.0, card_new_device=1.0 if auth.get("device_id") else 0.0,
                       card_new_city=1.0)
            return out
        c1 = c24 = 0
        s24 = 0
        for ts, amt in st.recent:
            if t - _DAY <= ts < t:
                c24 += 1
                s24 += amt
                if ts >= t - 3600:
                    c1 += 1
        mean = st.total / st.n if st.n else amount
        device = auth.get("device_id")
        out.update(
            card_auth_count_1h=float(c1), card_auth_count_24h=float(c24),
            card_amount_sum_24h=float(s24),
            card_seconds_since_last=(t - st.last) if st.last is not None else _NOT_SEEN,
            card_amount_ratio_mean=amount / mean if mean > 0 else 1.0,
            card_new_merchant=0.0 if auth["merchant_id"] in st.merchants else 1.0,
            card_new_device=1.0 if device and device not in st.devices else 0.0,
            card_new_city=0.0 if auth.get("city") in st.cities else 1.0,
        )
        return out

    def update(self, event: dict[str, Any], table: str = "authorizations") -> None:
        if table != "authorizations" or event.get("message_type", "purchase") != "purchase":
            return
        t = event["ts"].timestamp()
        st = self._cards.get(event["card_token"])
        if st is None:
            st = self._cards[event["card_token"]] = _CardState()
        st.recent.append((t, int(event["amount_fen"])))
        while st.recent and st.recent[0][0] < t - _DAY:
            st.recent.popleft()
        st.last = t if st.last is None else max(st.last, t)
        st.n += 1
        st.total += int(event["amount_fen"])
        st.merchants.add(event["merchant_id"])
        if event.get("device_id"):
            st.devices.add(event["device_id"])
        st.cities.add(event.get("city"))

    def bootstrap(self, data: str | Path, *, until: datetime | None = None,
                  lookback_days: int = 90) -> None:
        """Feed the purchases of ``lookback_days`` before ``until`` (time order)."""
        from cardmind.decisions._data import connect

        _, con = connect(data)
        where = "message_type = 'purchase'"
        params: list[Any] = []
        if until is not None:
            where += " AND ts < $1 AND ts >= $1 - to_days($2)"
            params = [until, lookback_days]
        cur = con.execute(
            f"SELECT card_token, merchant_id, device_id, city, amount_fen, ts FROM authorizations "
            f"WHERE {where} ORDER BY ts", params)
        while batch := cur.fetchmany(50_000):
            for card, merchant, device, city, amount, ts in batch:
                self.update({"card_token": card, "merchant_id": merchant, "device_id": device,
                             "city": city, "amount_fen": amount, "ts": ts})


def serving_features(model: Any = None, *, full_catalog: bool = False) -> Any:
    """The online engine to serve ``model``: the catalog features it needs (or the full default
    catalog), from :mod:`cardmind.features`; :class:`BasicOnlineFeatures` when that is not
    possible (no model, or features outside the catalog)."""
    names = list(getattr(model, "feature_names", ()) or ())
    try:
        from cardmind.features import FeatureService, OnlineEngine, default_catalog

        if full_catalog:
            return OnlineEngine(default_catalog())
        if names and not set(names) <= set(BASIC_FEATURES):
            return OnlineEngine(FeatureService(name="fraud-serving", features=names))
    except Exception:
        pass
    return BasicOnlineFeatures()


def bootstrap_features(features: Any, data: str | Path, until: datetime | None) -> None:
    """Feed the dataset's history before ``until`` into ``features``.

    For the catalog's online engine only the authorizations that can still matter are fed: those
    younger than the longest window (plus label look-back and allowed lateness) before ``until``
    — the state is the same (tested), the bootstrap of a long history much shorter.
    """
    if isinstance(features, BasicOnlineFeatures):
        features.bootstrap(data, until=until)
        return
    from cardmind.dataset import Dataset

    ds: Any = Dataset(data)
    needed = history_needed_us(features)
    if until is not None and needed is not None:
        ds = _RecentAuthorizations(ds, until - timedelta(microseconds=needed))
    features.bootstrap(ds, until=until)


def history_needed_us(features: Any) -> int | None:
    """How far back events still affect the online engine's features (None: unknown)."""
    try:
        groups = list(features.plan.groups)
        longest = max((int(g.retention_us) for g in groups), default=0)
        labels = max((int(v) for v in (features._label_entities or {}).values()), default=0)
        return longest + labels + int(features.allowed_lateness_us)
    except (AttributeError, TypeError, ValueError):
        return None


class _RecentAuthorizations:
    """A dataset view whose ``authorizations`` start at ``since`` (other tables unchanged)."""

    def __init__(self, dataset: Any, since: datetime) -> None:
        self._ds, self._since = dataset, since

    def has(self, table: str) -> bool:
        return self._ds.has(table)

    def read(self, table: str, columns: Any = None) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        data = self._ds.read(table) if columns is None else self._ds.read(table, columns)
        if table != "authorizations":
            return data
        ts = data.column("ts")
        return data.filter(pc.greater_equal(ts, pa.scalar(self._since, type=ts.type)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ds, name)
