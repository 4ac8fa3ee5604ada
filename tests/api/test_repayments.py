"""``POST /v1/repayments`` over the real engine: credit freed once, logged, every bad input a 4xx."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.api.conftest import GOOD_REPAYMENT, GOOD_REQUEST, KNOWN_CARD, PAN, headers

from cardmind.api import create_app
from cardmind.decisions.accounts import AccountBook, CardAccount
from cardmind.decisions.authorize import AuthorizationEngine, EngineConfig
from cardmind.storage.decision_log import RepaymentLogRow

SCORING = headers("scoring")


@pytest.fixture
def real(tmp_path, keystore):
    book = AccountBook()
    book.put(CardAccount(card_token=KNOWN_CARD, customer_id="u1", limit_fen=2_000_000,
                         balance_fen=1_990_000, opened_at=date(2021, 1, 1)))
    config = EngineConfig(db_url=f"sqlite:///{tmp_path / 'cm.db'}", log_flush_ms=5)
    # no model: the stand-in rules decide, and they never grant temporary credit
    engine = AuthorizationEngine(config, model=None, accounts=book)
    with TestClient(create_app(engine=engine, keys=keystore), raise_server_exceptions=False) as c:
        yield c, engine
    engine.close()


def test_a_repayment_over_http_frees_credit_once_and_is_logged(real):
    client, engine = real
    declined = client.post("/v1/authorizations", json=GOOD_REQUEST, headers=SCORING).json()
    assert (declined["action"], declined["response_code"]) == ("DECLINE", "51")  # 10,000 left
    r = client.post("/v1/repayments", json=GOOD_REPAYMENT, headers=SCORING)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["available_credit_before_fen"], body["available_credit_fen"],
            body["balance_fen"], body["status"]) == (10_000, 60_000, 1_940_000, "applied")
    again = client.post("/v1/repayments", json=GOOD_REPAYMENT, headers=headers("admin"))
    assert again.status_code == 200 and again.json() == body  # the first answer, freed once
    assert engine.accounts.get(KNOWN_CARD).balance_fen == 1_940_000
    ok = client.post("/v1/authorizations", json={**GOOD_REQUEST, "auth_id": "A2",
                                                 "ts": "2026-03-05T10:00:00+08:00"},
                     headers=SCORING).json()
    assert ok["action"] == "APPROVE" and ok["available_credit_fen"] == 60_000
    other = client.post("/v1/repayments", json={**GOOD_REPAYMENT, "amount_fen": 1},
                        headers=SCORING)
    assert other.status_code == 422 and "already applied" in other.json()["message"]
    engine.flush()
    with engine._db.connect() as conn:
        rows = conn.execute(select(RepaymentLogRow.__table__)).mappings().all()
    assert [(x["repayment_id"], x["amount_fen"], x["card_token"]) for x in rows] == [
        ("R1", 50_000, KNOWN_CARD)]


BAD = [
    ({**GOOD_REPAYMENT, "amount_fen": -5}, 422, "body.amount_fen"),
    ({**GOOD_REPAYMENT, "amount_fen": 0}, 422, "body.amount_fen"),
    ({**GOOD_REPAYMENT, "amount_fen": 10**15}, 422, "body.amount_fen"),
    ({**GOOD_REPAYMENT, "amount_fen": "500"}, 422, "body.amount_fen"),
    ({**GOOD_REPAYMENT, "amount_fen": 1.5}, 422, "body.amount_fen"),
    ({**GOOD_REPAYMENT, "channel": "cash"}, 422, "body.channel"),
    ({**GOOD_REPAYMENT, "ts": "last tuesday"}, 422, "body.ts"),
    ({**GOOD_REPAYMENT, "repayment_id": "a b"}, 422, "body.repayment_id"),
    ({**GOOD_REPAYMENT, "extra": 1}, 422, "body.extra"),
    ({k: v for k, v in GOOD_REPAYMENT.items() if k != "card_token"}, 422, "body.card_token"),
    ({**GOOD_REPAYMENT, "card_token": "e" * 32}, 422, "unknown card token"),
    ({**GOOD_REPAYMENT, "card_token": PAN}, 422, "full card number"),
    ({**GOOD_REPAYMENT, "repayment_id": PAN}, 422, "full card number"),
    ({**GOOD_REPAYMENT, "note": f"card {PAN}"}, 422, "full card number"),
    ({**GOOD_REPAYMENT, "cvv2": "123"}, 422, "CVV"),
    ({**GOOD_REPAYMENT, "payer": {"password": "x"}}, 422, "password"),
    ([GOOD_REPAYMENT], 422, "JSON object"),
]


@pytest.mark.parametrize(("body", "status", "says"), BAD)
def test_every_bad_repayment_is_a_precise_4xx_and_changes_nothing(real, body, status, says):
    client, engine = real
    r = client.post("/v1/repayments", json=body, headers=SCORING)
    assert r.status_code == status, r.text
    assert says in r.text and PAN not in r.text
    assert engine.accounts.get(KNOWN_CARD).balance_fen == 1_990_000
    assert engine.health()["repayments"] == 0


def test_malformed_json_wrong_type_and_roles(real):
    client, _ = real
    r = client.post("/v1/repayments", content=b'{"repayment_id": ',
                    headers={**SCORING, "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "malformed_json"
    r = client.post("/v1/repayments", content=b"a=1",
                    headers={**SCORING, "content-type": "text/plain"})
    assert r.status_code == 415
    assert client.post("/v1/repayments", json=GOOD_REPAYMENT).status_code == 401
    r = client.post("/v1/repayments", json=GOOD_REPAYMENT, headers=headers("analyst"))
    assert r.status_code == 403


def test_the_route_is_documented_and_counted(real):
    client, _ = real
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/v1/repayments"]["post"]
    assert op["security"] == [{"APIKeyHeader": []}]
    assert {"400", "401", "403", "415", "422"} <= set(op["responses"])
    example = op["requestBody"]["content"]["application/json"]["examples"]["repayment"]["value"]
    from cardmind.decisions.types import RepaymentRequest

    assert RepaymentRequest.model_validate(example).amount_fen == example["amount_fen"]
    client.post("/v1/repayments", json=GOOD_REPAYMENT, headers=SCORING)
    metrics = client.get("/metrics").text
    assert ('cardmind_http_requests_total{method="POST",route="/v1/repayments",status="200"} 1.0'
            in metrics)
