"""The decision log, lists and migrations on PostgreSQL (the production database)."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from sqlalchemy import create_engine, text

from cardmind.decisions.authorize import AuthorizationEngine, EngineConfig
from cardmind.decisions.types import AuthorizationRequest, ListEntry

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(postgres_url):
    """A fresh schema per test, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    yield f"{postgres_url}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def test_engine_logs_decisions_and_lists_on_postgres(pg_url):
    from datetime import date

    from cardmind.decisions.accounts import AccountBook, CardAccount

    book = AccountBook()
    book.put(CardAccount(card_token="c", customer_id="u", limit_fen=10**9, opened_at=date(2020, 1, 1)))
    e = AuthorizationEngine(EngineConfig(db_url=pg_url, log_flush_ms=5), model=None, accounts=book)
    e.lists.add(ListEntry(kind="merchant", value="bad", list_type="block"))
    req = dict(card_token="c", merchant_id="m", terminal_id="t", ts="2026-03-01T12:00:00",
               amount_fen=100, mcc="5411", channel="pos_chip", city="SH")
    first = e.decide(AuthorizationRequest(auth_id="a1", **req))
    blocked = e.decide(AuthorizationRequest(auth_id="a2", **{**req, "merchant_id": "bad"}))
    e.close()
    assert first.action == "APPROVE" and blocked.reason_codes[1] == "LIST_BLOCK_MERCHANT"
    again = AuthorizationEngine(EngineConfig(db_url=pg_url), model=None, accounts=book)
    assert again.get_decision("a1") == first
    assert again.lists.lookup("merchant", "bad") == "block"
    again.close()


def test_migrations_on_postgres(pg_url):
    from cardmind.storage import migrations

    migrations.upgrade(pg_url)
    assert migrations.current(pg_url) == "0001_authorization"
    migrations.downgrade(pg_url)


def test_log_writer_on_postgres_stores_what_core_stores_and_skips_bad_rows(pg_url):
    from sqlalchemy import delete

    from cardmind.storage.base import create_all
    from cardmind.storage.decision_log import (
        DecisionLogRow,
        DecisionLogWriter,
        TempCreditGrantRow,
        log_engine,
    )
    from cardmind.units import TZ

    def row(auth_id: str) -> dict:
        return {"auth_id": auth_id, "decided_at": datetime(2026, 1, 1, tzinfo=TZ),
                "card_token": "c", "merchant_id": "m", "message_type": "purchase",
                "amount_fen": 5, "action": "APPROVE", "response_code": "00",
                "temp_credit_fen": 0, "rules_version": "r", "standin": False, "latency_us": 10,
                "request_json": "{}", "features_json": "{}", "decision_json": "{}"}

    def full_row(auth_id: str) -> dict:
        return {**row(auth_id), "decided_at": datetime(2026, 1, 1, 9, 30, 5, 123456, tzinfo=TZ),
                "fraud_score": 0.123456789012345, "cashout_score": None, "model_version": "v1",
                "standin": True, "standin_reason": "延迟 latency", "amount_fen": 10**12,
                "features_json": '{"a":1.5,"b":null}'}

    def grant_row(auth_id: str) -> dict:
        return {"grant_id": f"tc-{auth_id}", "auth_id": auth_id, "card_token": "c",
                "amount_fen": 50_000, "granted_at": datetime(2026, 1, 1, 9, 30, tzinfo=TZ),
                "expires_at": datetime(2026, 1, 31, tzinfo=TZ), "behaviour_risk": 0.25,
                "fraud_score": 0.01, "card_cap_fen": 100_000, "portfolio_used_fen": 7}

    def stored(engine) -> dict:
        with engine.connect() as conn:
            return {t: conn.exec_driver_sql(f"SELECT * FROM {t} ORDER BY 1").all()
                    for t in ("decision_log", "temp_credit_grants")}

    engine = log_engine(pg_url)
    create_all(engine)
    w = DecisionLogWriter(engine, flush_ms=5)
    assert w._raw is not None  # psycopg's executemany, not SQLAlchemy Core per row
    w.put("decision_log", full_row("a1"))
    w.put("temp_credit_grants", grant_row("a1"))
    w.flush()
    w.put("decision_log", full_row("a1"))  # a retried auth_id: ignored
    w.put("decision_log", {**row("a2"), "action": None})  # refused (NOT NULL): counted
    w.put("decision_log", row("a3"))
    w.close()
    assert w.bad_rows == 1 and w.failures == 0 and "refused by the database" in w.last_error
    via_writer = stored(engine)
    assert [r[0] for r in via_writer["decision_log"]] == ["a1", "a3"]
    with engine.begin() as conn:
        conn.execute(delete(DecisionLogRow.__table__))
        conn.execute(delete(TempCreditGrantRow.__table__))
        conn.execute(DecisionLogRow.__table__.insert(), [full_row("a1")])
        conn.execute(DecisionLogRow.__table__.insert(), [
            {**row("a3"), "fraud_score": None, "cashout_score": None, "model_version": None,
             "standin_reason": None}])
        conn.execute(TempCreditGrantRow.__table__.insert(), [grant_row("a1")])
    assert stored(engine) == via_writer
    engine.dispose()
