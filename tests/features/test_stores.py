"""State stores: the memory store, and Redis behind an in-process working set (real Redis).

The Redis tests use the ``redis_url`` fixture: skipped with a reason when Redis is absent, failed
under ``CI=true``. Each test writes under its own namespace and removes it.
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from feature_helpers import assert_same, compact_catalog
from feature_synth import FakeDataset, make_tables, replay

from cardmind.errors import InvalidInput
from cardmind.features import MemoryStore, OnlineEngine, open_store
from cardmind.features.aggregates import WindowLog
from cardmind.features.stores import RedisStore
from cardmind.settings import get_settings


@pytest.fixture
def namespace(redis_url):
    import redis

    ns = f"cmtest:{uuid.uuid4().hex}:"
    yield ns
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=ns + "*"))
    if keys:
        client.delete(*keys)
    client.close()


def _log() -> WindowLog:
    log = WindowLog(integer=True, n_codes=1, specs=np.asarray([[0, 0]]))
    for i in range(40):
        log.update(i * 10, i * 7, 1 | (i % 2) << 1, (i % 5 + 1,))
    return log


def test_online_namespace_setting_is_checked(monkeypatch):
    monkeypatch.setenv("CARDMIND_ONLINE_NAMESPACE", "two words:")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="online_namespace"):
        get_settings()
    monkeypatch.delenv("CARDMIND_ONLINE_NAMESPACE")
    get_settings.cache_clear()
    assert get_settings().online_namespace == "cardmind:online:"


def test_memory_store_and_urls():
    s = open_store("memory://")
    assert isinstance(s, MemoryStore)
    s.put("a:1", {"x": 1})
    s.clear()
    assert len(s) == 0
    with pytest.raises(InvalidInput, match="unknown online store"):
        open_store("ftp://x")
    with pytest.raises(InvalidInput, match="Redis not reachable"):
        open_store("redis://127.0.0.1:1/0")  # nothing listens on port 1


def test_redis_writes_behind_and_loads_on_miss(redis_url, namespace):
    a = RedisStore(redis_url, namespace=namespace, flush_every=1000, flush_seconds=3600)
    log = _log()
    a.put("g:card:c1", log)
    a.put("auth:a1", {"card": "c1", "ts": 5})
    other = RedisStore(redis_url, namespace=namespace)
    assert other.get("g:card:c1") is None  # not written yet: write-behind
    a.flush()
    assert a.n_flushes == 1
    b = RedisStore(redis_url, namespace=namespace)
    got = b.get("g:card:c1")
    assert isinstance(got, WindowLog) and b.n_loads == 1
    wins = np.asarray([25, 1_000])
    np.testing.assert_array_equal(got.get(401, wins, 2), log.get(401, wins, 2))
    np.testing.assert_array_equal(got.dflag[got.lo : got.hi], log.dflag[log.lo : log.hi])
    assert b.get("g:card:c1") is got and b.n_loads == 1  # the working set answers
    assert b.get("auth:a1") == {"card": "c1", "ts": 5}
    assert b.get("nothing") is None and b.get("nothing") is None and b.n_loads == 3  # absence kept
    assert sorted(b.keys("g:")) == ["g:card:c1"]
    a.delete("auth:a1")
    a.flush()
    assert RedisStore(redis_url, namespace=namespace).get("auth:a1") is None
    with pytest.raises(TypeError, match="cannot serialise"):
        a.put("bad", object())
        a.flush()
    a._dirty.discard("bad")
    a.clear()
    assert list(RedisStore(redis_url, namespace=namespace).keys("")) == []


def test_engine_on_redis_equals_engine_in_memory_with_eviction_and_reloads(redis_url, namespace):
    tables = make_tables(21, n_auths=150, days=3)
    cat = compact_catalog()
    store = RedisStore(redis_url, namespace=namespace, flush_every=7, flush_seconds=3600,
                       max_items=10)  # tiny: state is evicted and reloaded all the time
    on_redis = replay(OnlineEngine(cat, store=store), tables)
    in_memory = replay(OnlineEngine(cat, store=MemoryStore()), tables)
    assert_same(cat, on_redis, in_memory, "redis vs memory")
    assert store.n_loads > 0 and store.n_flushes > 10


def test_hot_path_does_not_touch_redis_once_warm(redis_url, namespace):
    tables = make_tables(4, n_auths=60, days=2)
    cat = compact_catalog()
    store = RedisStore(redis_url, namespace=namespace, flush_every=10_000, flush_seconds=3600)
    engine = OnlineEngine(cat, store=store)
    auths = tables["authorizations"].to_pylist()
    for a in auths[:-1]:
        engine.features_for(a)
        engine.update(a)
    loads, flushes = store.n_loads, store.n_flushes
    for _ in range(3):
        engine.features_for(auths[-2])  # a warm card: every group from the working set
    assert (store.n_loads, store.n_flushes) == (loads, flushes)


def test_bootstrap_replaces_the_state_and_the_setting_selects_redis(redis_url, namespace,
                                                                    monkeypatch):
    tables = make_tables(11, n_auths=100, days=3)
    cat = compact_catalog()
    cut = tables["authorizations"].column("ts")[70].as_py()
    probe = tables["authorizations"].to_pylist()[70:90]
    monkeypatch.setenv("CARDMIND_ONLINE_STORE", redis_url)
    monkeypatch.setenv("CARDMIND_ONLINE_NAMESPACE", namespace)  # keep the test's keys apart
    get_settings.cache_clear()
    engine = OnlineEngine(cat)
    assert isinstance(engine.store, RedisStore)
    assert engine.store.namespace.startswith(namespace)  # + the catalog's tag
    engine.bootstrap(FakeDataset(tables), until=cut)
    engine.bootstrap(FakeDataset(tables), until=cut)  # again: not counted twice
    monkeypatch.delenv("CARDMIND_ONLINE_STORE")
    get_settings.cache_clear()
    memory = OnlineEngine(cat)
    assert isinstance(memory.store, MemoryStore)
    memory.bootstrap(FakeDataset(tables), until=cut)
    assert_same(cat, [engine.features_for(a) for a in probe], [memory.features_for(a) for a in probe])
    engine.store.flush()
    restarted = OnlineEngine(cat, store=RedisStore(redis_url, namespace=engine.store.namespace))
    assert_same(cat, [restarted.features_for(a) for a in probe],
                [memory.features_for(a) for a in probe], "state loaded from Redis")
