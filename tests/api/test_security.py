"""API keys and roles: 401 for missing/unknown keys, 403 for the wrong role, admin everywhere."""

from __future__ import annotations

import pytest
from tests.api.conftest import GOOD_REPAYMENT, GOOD_REQUEST, KEYS, headers

from cardmind.api.security import (
    KeyStore,
    Role,
    create_db_key,
    key_digest,
    list_db_keys,
    parse_env_keys,
    revoke_db_key,
)
from cardmind.decisions.types import ListEntry
from cardmind.errors import InvalidInput
from cardmind.storage.base import make_engine

# (method, path, json, roles allowed besides admin)
ENDPOINTS = [
    ("post", "/v1/authorizations", GOOD_REQUEST, {"scoring"}),
    ("post", "/v1/repayments", GOOD_REPAYMENT, {"scoring"}),
    ("get", "/v1/decisions/A1", None, {"analyst"}),
    (
        "post",
        "/v1/labels",
        {"auth_id": "A1", "label": "genuine", "reported_at": "2026-03-02T00:00:00"},
        {"analyst"},
    ),
    ("get", "/v1/lists", None, {"analyst"}),
    ("post", "/v1/lists", {"kind": "device", "value": "D1", "list_type": "trust"}, {"analyst"}),
    ("delete", "/v1/lists/trust/device/D1", None, {"analyst"}),
    ("get", "/v1/rules", None, {"analyst"}),
    ("get", "/v1/rules/text", None, {"analyst"}),
    ("put", "/v1/rules", {"text": "rules: []", "dry_run": True}, set()),
]


def _call(client, method, path, body, hdrs):
    kwargs = {"headers": hdrs}
    if body is not None:
        kwargs["json"] = body
    return client.request(method.upper(), path, **kwargs)


@pytest.mark.parametrize(("method", "path", "body", "allowed"), ENDPOINTS)
def test_role_matrix(client, engine, method, path, body, allowed):
    client.post("/v1/authorizations", json=GOOD_REQUEST, headers=headers("scoring"))
    entry = ListEntry(kind="device", value="D1", list_type="trust")
    engine.lists.add(entry)
    assert _call(client, method, path, body, {}).status_code == 401
    r = _call(client, method, path, body, {"X-API-Key": "not-a-key-at-all-0000"})
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "ApiKey"
    for role in ("scoring", "analyst"):
        engine.lists.add(entry)
        r = _call(client, method, path, body, headers(role))
        if role in allowed:
            assert r.status_code < 400, (role, r.text)
        else:
            assert r.status_code == 403, (role, r.text)
            assert r.json()["code"] == "forbidden" and role in r.json()["message"]
    engine.lists.add(entry)
    assert _call(client, method, path, body, headers("admin")).status_code < 400


def test_keys_are_never_echoed(client):
    r = client.get("/v1/lists", headers={"X-API-Key": "secret-wrong-key-123456"})
    assert "secret-wrong-key-123456" not in r.text


def test_parse_env_keys_errors():
    with pytest.raises(InvalidInput, match="unknown role 'root'"):
        parse_env_keys("a-long-enough-key-123:root")
    with pytest.raises(InvalidInput, match="expected 'key:role'"):
        parse_env_keys("no-role-separator-here")
    keys = parse_env_keys("key-with:colon-inside-x:admin")
    assert keys == {key_digest("key-with:colon-inside-x"): Role.ADMIN}
    assert "key-with:colon-inside-x" not in repr(keys)


def test_environment_keys(monkeypatch):
    monkeypatch.setenv("CARDMIND_API_KEYS", f"{KEYS['analyst']}:analyst")
    store = KeyStore.from_environment()
    assert store.principal(KEYS["analyst"]).role is Role.ANALYST
    assert store.principal(KEYS["admin"]) is None


def test_database_keys_create_list_revoke(tmp_path):
    db = make_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    now = [0.0]
    store = KeyStore(db_engine=db, refresh_seconds=30.0, clock=lambda: now[0])
    assert store.principal("cmk_unknown") is None
    key = create_db_key(db, role=Role.ANALYST, label="alice")
    assert key.startswith("cmk_") and len(key) > 40
    now[0] += 2.0  # a miss re-reads the table (at most once a second)
    p = store.principal(key)
    assert p is not None and p.role is Role.ANALYST
    rows = list_db_keys(db)
    assert [(r["key_id"], r["role"], r["label"]) for r in rows] == [(p.key_id, "analyst", "alice")]
    assert key not in str(rows) and key_digest(key) not in str(rows)
    assert revoke_db_key(db, p.key_id) == 1
    assert store.principal(key) is not None  # cached until the refresh interval
    now[0] += 31.0
    assert store.principal(key) is None
    assert revoke_db_key(db, p.key_id) == 0


def test_database_stores_only_the_digest(tmp_path):
    import sqlite3

    path = tmp_path / "keys.db"
    key = create_db_key(make_engine(f"sqlite:///{path}"), role=Role.ADMIN)
    dump = "\n".join(sqlite3.connect(path).iterdump())
    assert key not in dump and key_digest(key) in dump
