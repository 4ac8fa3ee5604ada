"""The endpoints behave as documented, over the in-memory test engine."""

from __future__ import annotations

from tests.api.conftest import GOOD_REQUEST, KNOWN_CARD, RULES_TEXT, headers


def test_authorize_approves_and_is_idempotent(client, engine):
    r = client.post("/v1/authorizations", json=GOOD_REQUEST, headers=headers("scoring"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["action"] == "APPROVE" and body["response_code"] == "00"
    again = client.post("/v1/authorizations", json=GOOD_REQUEST, headers=headers("scoring"))
    assert again.json() == body


def test_unknown_card_is_a_decline_14_not_an_http_error(client):
    req = {**GOOD_REQUEST, "auth_id": "A-unknown", "card_token": "d" * 32}
    r = client.post("/v1/authorizations", json=req, headers=headers("scoring"))
    assert r.status_code == 200
    assert (r.json()["action"], r.json()["response_code"]) == ("DECLINE", "14")


def test_get_decision(client):
    client.post("/v1/authorizations", json=GOOD_REQUEST, headers=headers("scoring"))
    r = client.get("/v1/decisions/A1", headers=headers("analyst"))
    assert r.status_code == 200 and r.json()["auth_id"] == "A1"
    missing = client.get("/v1/decisions/nope", headers=headers("analyst"))
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


def test_labels(client, engine):
    client.post("/v1/authorizations", json=GOOD_REQUEST, headers=headers("scoring"))
    label = {"auth_id": "A1", "label": "fraud", "reported_at": "2026-03-05T09:30:00"}
    r = client.post("/v1/labels", json=label, headers=headers("analyst"))
    assert r.status_code == 201 and r.json() == {
        "auth_id": "A1",
        "label": "fraud",
        "status": "recorded",
    }
    assert engine.labels[0].label == "fraud"
    bad = client.post("/v1/labels", json={**label, "label": "maybe"}, headers=headers("analyst"))
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["path"] == "body.label"
    unknown = client.post(
        "/v1/labels", json={**label, "auth_id": "zzz"}, headers=headers("analyst")
    )
    assert unknown.status_code == 422 and "unknown auth_id" in unknown.json()["message"]


def test_lists_add_block_takes_effect_and_remove(client):
    entry = {"kind": "merchant", "value": "M1", "list_type": "block", "reason": "cash-out"}
    r = client.post("/v1/lists", json=entry, headers=headers("analyst"))
    assert r.status_code == 201
    assert r.json()["added_by"].startswith("key:") and r.json()["added_at"]
    listed = client.get("/v1/lists", params={"kind": "merchant"}, headers=headers("analyst"))
    assert [e["value"] for e in listed.json()] == ["M1"]
    assert client.get("/v1/lists", params={"kind": "card"}, headers=headers("analyst")).json() == []
    d = client.post(
        "/v1/authorizations", json={**GOOD_REQUEST, "auth_id": "A2"}, headers=headers("scoring")
    )
    assert d.json()["response_code"] == "05"
    gone = client.delete("/v1/lists/block/merchant/M1", headers=headers("analyst"))
    assert gone.status_code == 204
    assert (
        client.delete("/v1/lists/block/merchant/M1", headers=headers("analyst")).status_code == 404
    )
    assert client.get("/v1/lists", headers=headers("analyst")).json() == []


def test_list_entry_with_card_number_is_refused(client):
    entry = {"kind": "card", "value": "6222021234567894", "list_type": "block"}
    r = client.post("/v1/lists", json=entry, headers=headers("analyst"))
    assert r.status_code == 422 and "6222021234567894" not in r.text
    ok = {"kind": "card", "value": KNOWN_CARD, "list_type": "block"}
    assert client.post("/v1/lists", json=ok, headers=headers("analyst")).status_code == 201


def test_rules_read_and_admin_only_update(client, engine):
    info = client.get("/v1/rules", headers=headers("analyst"))
    assert info.status_code == 200 and info.json()["rules"] == ["big_amount"]
    text = client.get("/v1/rules/text", headers=headers("analyst"))
    assert text.text == RULES_TEXT and text.headers["content-type"].startswith("application/yaml")
    new = "version: '2'\nrules:\n  - name: a\n  - name: b\n"
    assert (
        client.put("/v1/rules", json={"text": new}, headers=headers("analyst")).status_code == 403
    )
    dry = client.put("/v1/rules", json={"text": new, "dry_run": True}, headers=headers("admin"))
    assert dry.status_code == 200 and dry.json()["version"] == "2"
    assert engine.rules.info.version == "1"  # dry run changed nothing
    put = client.put("/v1/rules", json={"text": new}, headers=headers("admin"))
    assert put.status_code == 200 and engine.rules.info.version == "2"
    assert put.json()["source"].startswith("api:key:")  # who changed the rules
    d = client.post(
        "/v1/authorizations", json={**GOOD_REQUEST, "auth_id": "A3"}, headers=headers("scoring")
    )
    assert d.json()["rules_version"] == "2"  # hot: the next decision uses the new rules


def test_invalid_rules_are_refused_and_old_rules_stay(client, engine):
    r = client.put("/v1/rules", json={"text": "rules: [unclosed"}, headers=headers("admin"))
    assert r.status_code == 422 and r.json()["code"] == "invalid_input"
    assert engine.rules.info.version == "1"


def test_healthz_needs_no_key(client, app):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    app.state.engine = None
    assert client.get("/healthz").status_code == 503
    r = client.post("/v1/authorizations", json=GOOD_REQUEST, headers=headers("scoring"))
    assert r.status_code == 503 and r.json()["code"] == "unavailable"


def test_metrics_count_routes_decisions_and_standin(client):
    client.post("/v1/authorizations", json=GOOD_REQUEST, headers=headers("scoring"))
    client.post(
        "/v1/authorizations",
        json={**GOOD_REQUEST, "auth_id": "S1", "city": "StandIn"},
        headers=headers("scoring"),
    )
    client.post(
        "/v1/authorizations",
        json={**GOOD_REQUEST, "auth_id": "S2", "amount_fen": 2_000_000},
        headers=headers("scoring"),
    )
    client.get("/v1/decisions/nope", headers=headers("analyst"))
    text = client.get("/metrics").text
    assert (
        'cardmind_http_requests_total{method="POST",route="/v1/authorizations",status="200"} 3.0'
        in text
    )
    assert 'route="/v1/decisions/{auth_id}",status="404"' in text  # template, not the raw path
    assert 'cardmind_decisions_total{action="APPROVE"} 2.0' in text
    assert 'cardmind_decisions_total{action="CHALLENGE"} 1.0' in text
    assert "cardmind_standin_total 1.0" in text
    assert "cardmind_decision_latency_seconds_bucket" in text
    assert 'cardmind_http_request_duration_seconds_count{route="/v1/authorizations"} 3.0' in text


def test_engine_built_at_startup_and_closed_at_shutdown(keystore):
    from fastapi.testclient import TestClient
    from tests.api.conftest import FakeEngine

    from cardmind.api import create_app

    built: list[FakeEngine] = []

    def factory(_settings):
        built.append(FakeEngine())
        return built[-1]

    app = create_app(keys=keystore, build_engine=factory)
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200
    assert built and built[0].closed


def test_decision_factors_for_any_logged_decision(client):
    client.post("/v1/authorizations", json=GOOD_REQUEST, headers=headers("scoring"))
    r = client.get(f"/v1/decisions/{GOOD_REQUEST['auth_id']}/factors?top=2",
                   headers=headers("analyst"))
    assert r.status_code == 200
    body = r.json()
    assert body["auth_id"] == GOOD_REQUEST["auth_id"]
    assert body["factors"][0]["feature"] == "card_count_1h"
    assert body["factors"][0]["zh"].endswith("偏高")
    assert client.get("/v1/decisions/nope/factors", headers=headers("analyst")).status_code == 404
    assert client.get(f"/v1/decisions/{GOOD_REQUEST['auth_id']}/factors",
                      headers=headers("scoring")).status_code == 403
    assert client.get(f"/v1/decisions/{GOOD_REQUEST['auth_id']}/factors?top=0",
                      headers=headers("analyst")).status_code == 422
