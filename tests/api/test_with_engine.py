"""The API over the real AuthorizationEngine (stand-in rules, small in-memory account book)."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from tests.api.conftest import GOOD_REQUEST, KNOWN_CARD, PAN, headers

from cardmind.api import create_app
from cardmind.decisions.accounts import AccountBook, CardAccount
from cardmind.decisions.authorize import AuthorizationEngine, EngineConfig


@pytest.fixture
def real_client(tmp_path, keystore):
    book = AccountBook()
    book.put(
        CardAccount(
            card_token=KNOWN_CARD,
            customer_id="u1",
            limit_fen=2_000_000,
            balance_fen=500_000,
            opened_at=date(2021, 1, 1),
            avg_purchases_fen=800_000,
        )
    )
    config = EngineConfig(db_url=f"sqlite:///{tmp_path / 'cm.db'}", log_flush_ms=5)
    engine = AuthorizationEngine(config, model=None, accounts=book)
    with TestClient(create_app(engine=engine, keys=keystore), raise_server_exceptions=False) as c:
        yield c, engine
    engine.close()


def test_decide_lookup_label_over_http(real_client):
    client, engine = real_client
    r = client.post("/v1/authorizations", json=GOOD_REQUEST, headers=headers("scoring"))
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["action"] == "APPROVE" and d["standin"] is True  # no model: stand-in rules
    assert (
        client.post("/v1/authorizations", json=GOOD_REQUEST, headers=headers("scoring")).json() == d
    )
    engine.flush()
    got = client.get("/v1/decisions/A1", headers=headers("analyst"))
    assert got.status_code == 200 and got.json() == d
    factors = client.get("/v1/decisions/A1/factors", headers=headers("analyst"))
    assert factors.status_code == 200  # decided by the stand-in rules: no model, no factors
    assert factors.json() == {"auth_id": "A1", "model_version": None, "factors": []}
    label = {"auth_id": "A1", "label": "chargeback", "reported_at": "2026-03-20T10:00:00"}
    assert client.post("/v1/labels", json=label, headers=headers("analyst")).status_code == 201
    unknown = client.post(
        "/v1/labels", json={**label, "auth_id": "nope"}, headers=headers("analyst")
    )
    assert unknown.status_code == 422 and "no decision for auth_id" in unknown.json()["message"]


def test_unknown_card_declines_with_14(real_client):
    client, _ = real_client
    req = {**GOOD_REQUEST, "auth_id": "U1", "card_token": "e" * 32}
    r = client.post("/v1/authorizations", json=req, headers=headers("scoring"))
    assert r.status_code == 200
    assert (r.json()["action"], r.json()["response_code"]) == ("DECLINE", "14")


def test_block_list_and_rules_hot_reload(real_client):
    client, _ = real_client
    entry = {"kind": "card", "value": KNOWN_CARD, "list_type": "block", "reason": "stolen"}
    assert client.post("/v1/lists", json=entry, headers=headers("analyst")).status_code == 201
    conflict = client.post(
        "/v1/lists", json={**entry, "list_type": "trust"}, headers=headers("analyst")
    )
    assert conflict.status_code == 422 and "remove it first" in conflict.json()["message"]
    r = client.post(
        "/v1/authorizations", json={**GOOD_REQUEST, "auth_id": "B1"}, headers=headers("scoring")
    )
    assert r.json()["action"] == "DECLINE"
    assert "LIST_BLOCK_CARD" in [x["code"] for x in r.json()["reasons"]]
    assert (
        client.delete(f"/v1/lists/block/card/{KNOWN_CARD}", headers=headers("analyst")).status_code
        == 204
    )

    text = client.get("/v1/rules/text", headers=headers("analyst")).text
    old = client.get("/v1/rules", headers=headers("analyst")).json()["version"]
    new_text = text.replace(old, "api-test-2", 1)
    bad = client.put(
        "/v1/rules",
        json={"text": "rules: [{name: x, when: 'amount_fen >'}]"},
        headers=headers("admin"),
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_input"
    put = client.put("/v1/rules", json={"text": new_text}, headers=headers("admin"))
    assert put.status_code == 200, put.text
    assert put.json()["version"] == "api-test-2"
    r = client.post(
        "/v1/authorizations", json={**GOOD_REQUEST, "auth_id": "B2"}, headers=headers("scoring")
    )
    assert r.json()["rules_version"] == "api-test-2"


def test_health_and_metrics(real_client):
    client, _ = real_client
    client.post("/v1/authorizations", json=GOOD_REQUEST, headers=headers("scoring"))
    h = client.get("/healthz")
    assert h.status_code == 200 and h.json()["status"] == "degraded"  # no model: stand-in
    assert "model_error" not in h.json()["engine"]  # internals stay private
    assert "cardmind_standin_total 1.0" in client.get("/metrics").text


def test_card_number_never_reaches_the_decision_log(real_client, tmp_path):
    client, engine = real_client
    client.post(
        "/v1/authorizations", json={**GOOD_REQUEST, "city": f"c{PAN}"}, headers=headers("scoring")
    )
    client.post(
        "/v1/authorizations", json={**GOOD_REQUEST, "auth_id": "A9"}, headers=headers("scoring")
    )
    engine.flush()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("cm.db*"))  # with the WAL file
    assert PAN.encode() not in raw and b"A9" in raw
