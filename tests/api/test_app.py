"""``app_from_environment``: what ``cardmind serve`` runs, built from settings alone."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.api.conftest import GOOD_REQUEST, KEYS

from cardmind.api import app as app_module
from cardmind.api.app import app_from_environment, serving_model


def test_served_app_builds_the_real_engine_from_settings(monkeypatch, cardmind_home):
    monkeypatch.setenv("CARDMIND_API_KEYS", f"{KEYS['scoring']}:scoring")
    monkeypatch.delenv("CARDMIND_SERVE_DATA", raising=False)
    monkeypatch.delenv("CARDMIND_SERVE_RULES", raising=False)
    calls = []  # the process-wide OpenMP limit is not applied inside the test session
    monkeypatch.setattr(app_module, "single_threaded_native_code", lambda: calls.append(1))
    monkeypatch.setattr(app_module.gc, "freeze", lambda: calls.append("freeze"))
    assert serving_model() == "registry"  # empty registry: the engine will say why
    with TestClient(app_from_environment()) as client:
        health = client.get("/healthz").json()
        assert health["status"] == "degraded"  # no production model: stand-in rules
        assert health["engine"]["rules_version"]
        r = client.post(
            "/v1/authorizations", json=GOOD_REQUEST, headers={"X-API-Key": KEYS["scoring"]}
        )
        assert r.status_code == 200 and r.json()["response_code"] == "14"  # no accounts loaded
        app_module.gc.collect()  # a full collection: its survivors are frozen too
        assert calls == [1, "freeze", "freeze"]
    app_module.gc.collect()  # after shut-down the hook is gone
    assert (cardmind_home / "cardmind.db").exists()  # decision log in CARDMIND_HOME
    assert calls == [1, "freeze", "freeze"]  # bootstrapped state kept out of full collections
    assert app_module.freeze_survivors not in app_module.gc.callbacks


def test_served_app_restores_what_it_decided_before_a_restart(monkeypatch, tiny_dataset, caplog):
    """``cardmind serve --data``: a restarted server knows the purchases it approved before."""
    from datetime import timedelta

    from cardmind.decisions._data import connect

    monkeypatch.setenv("CARDMIND_API_KEYS", f"{KEYS['scoring']}:scoring")
    monkeypatch.setenv("CARDMIND_SERVE_DATA", str(tiny_dataset))
    monkeypatch.delenv("CARDMIND_SERVE_RULES", raising=False)
    monkeypatch.setattr(app_module, "single_threaded_native_code", lambda: None)
    monkeypatch.setattr(app_module.gc, "freeze", lambda: None)
    _, con = connect(tiny_dataset)
    card, end = con.execute("SELECT card_token, ts FROM authorizations WHERE approved "
                            "AND message_type = 'purchase' ORDER BY ts DESC LIMIT 1").fetchone()
    body = {**GOOD_REQUEST, "card_token": card, "amount_fen": 1_000,
            "ts": (end + timedelta(minutes=5)).isoformat()}
    key = {"X-API-Key": KEYS["scoring"]}
    with TestClient(app_from_environment()) as client:
        engine = client.app.state.engine
        assert client.get("/healthz").json()["engine"]["restored"]["decisions"] == 0
        before = engine.accounts.get(card).balance_fen
        d = client.post("/v1/authorizations", json=body, headers=key).json()
        assert d["action"] == "APPROVE"  # stand-in rules: a small card-present purchase
    with caplog.at_level("INFO", logger="uvicorn.error"), \
            TestClient(app_from_environment()) as client:
        engine = client.app.state.engine
        restored = client.get("/healthz").json()["engine"]["restored"]
        assert restored["decisions"] == 1 and restored["purchases"] == 1
        assert engine.accounts.get(card).balance_fen == before + 1_000
        assert client.post("/v1/authorizations", json=body, headers=key).json() == d
        assert engine.accounts.get(card).balance_fen == before + 1_000
    assert "restored 1 decisions" in caplog.text
