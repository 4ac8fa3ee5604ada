"""The authorization fast path answers exactly as the route does, and leaves errors to it."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from tests.api.conftest import GOOD_REQUEST, KEYS, PAN, FakeEngine

from cardmind.api import create_app
from cardmind.api.routers import authorizations

CASES = [
    ({"X-API-Key": KEYS["scoring"]}, GOOD_REQUEST),
    ({"X-API-Key": KEYS["admin"]}, {**GOOD_REQUEST, "auth_id": "A2", "amount_fen": 2_000_000}),
    ({"X-API-Key": KEYS["scoring"]}, {**GOOD_REQUEST, "auth_id": "A3", "card_token": "d" * 32}),
    ({"X-API-Key": KEYS["scoring"]}, GOOD_REQUEST),  # repeated: the first decision
    ({}, GOOD_REQUEST),  # 401
    ({"X-API-Key": "not-a-key-0000000000"}, GOOD_REQUEST),  # 401
    ({"X-API-Key": KEYS["analyst"]}, GOOD_REQUEST),  # 403
    ({"X-API-Key": KEYS["scoring"]}, {**GOOD_REQUEST, "amount_fen": -1}),  # 422
    ({"X-API-Key": KEYS["scoring"]}, {**GOOD_REQUEST, "cvv2": "123"}),  # 422 by the guard
    ({"X-API-Key": KEYS["scoring"]}, {**GOOD_REQUEST, "merchant_id": PAN}),  # 422 by the guard
    ({"X-API-Key": KEYS["scoring"]}, "{not json"),  # 400
    ({"X-API-Key": KEYS["scoring"], "Content-Type": "text/plain"}, GOOD_REQUEST),  # 415
]


def _answers(keystore, fast_path: bool, monkeypatch=None) -> list[tuple[int, str, object]]:
    engine = FakeEngine()
    app = create_app(engine=engine, keys=keystore, fast_path=fast_path)
    out = []
    with TestClient(app, raise_server_exceptions=False) as client:
        for hdrs, body in CASES:
            content = body if isinstance(body, str) else json.dumps(body)
            r = client.post("/v1/authorizations", content=content,
                            headers={"Content-Type": "application/json", **hdrs})
            data = r.json()
            if r.status_code == 200:
                data.pop("decided_at"), data.pop("latency_us")
            out.append((r.status_code, r.headers["content-type"], data))
        metrics = client.get("/metrics").text
    out.append((0, "", sorted(line for line in metrics.splitlines()
                               if "_total{" in line and "metrics" not in line)))
    return out


def test_fast_path_and_route_give_the_same_answers(keystore):
    fast = _answers(keystore, True)
    slow = _answers(keystore, False)
    assert [a[0] for a in fast[:-1]] == [200, 200, 200, 200, 401, 401, 403, 422, 422, 422, 400, 415]
    assert fast == slow


def test_valid_requests_do_not_reach_the_route(keystore, monkeypatch):
    calls = {"route": 0}
    real = authorizations.parse_request

    def counting(*args, **kwargs):
        calls["route"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(authorizations, "parse_request", counting)
    engine = FakeEngine()
    with TestClient(create_app(engine=engine, keys=keystore)) as client:
        ok = client.post("/v1/authorizations", json=GOOD_REQUEST, headers={"X-API-Key": KEYS["scoring"]})
        bad = client.post("/v1/authorizations", json={**GOOD_REQUEST, "amount_fen": 0},
                          headers={"X-API-Key": KEYS["scoring"]})
    assert ok.status_code == 200 and bad.status_code == 422
    assert calls["route"] == 1 and engine.calls == 1  # only the invalid one went to the route


@pytest.mark.parametrize("error", [ValueError("boom"), RuntimeError("x")])
def test_an_engine_failure_is_a_bare_500_without_request_data(keystore, error):
    engine = FakeEngine()
    engine.fail_with = error
    with TestClient(create_app(engine=engine, keys=keystore), raise_server_exceptions=False) as c:
        r = c.post("/v1/authorizations", json=GOOD_REQUEST, headers={"X-API-Key": KEYS["scoring"]})
    assert r.status_code == 500 and r.json()["code"] == "internal_error"
    assert GOOD_REQUEST["card_token"] not in r.text


def test_an_engine_input_error_is_answered_by_its_handler_as_on_the_route(keystore):
    from cardmind.errors import InvalidInput

    answers = []
    for fast_path in (True, False):
        engine = FakeEngine()
        engine.fail_with = InvalidInput("unknown card token")
        app = create_app(engine=engine, keys=keystore, fast_path=fast_path)
        with TestClient(app, raise_server_exceptions=False) as c:
            r = c.post("/v1/authorizations", json=GOOD_REQUEST,
                       headers={"X-API-Key": KEYS["scoring"]})
        answers.append((r.status_code, r.json()))
    assert answers[0] == answers[1] and answers[0][0] == 422
