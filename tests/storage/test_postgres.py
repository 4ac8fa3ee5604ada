"""The decision log, lists and migrations on PostgreSQL (the production database)."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

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

    spec = importlib.util.spec_from_file_location("log_rows",
                                                  Path(__file__).with_name("log_rows.py"))
    rows = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rows)
    migrations.upgrade(pg_url)
    assert migrations.current(pg_url) == rows.HEAD
    engine = create_engine(pg_url)
    assert "repayment_log" in inspect(engine).get_table_names()
    migrations.downgrade(pg_url, "0002_decision_log_request_ts")
    assert "repayment_log" not in inspect(engine).get_table_names()
    assert "decision_log" in inspect(engine).get_table_names()
    migrations.upgrade(pg_url)
    assert "repayment_log" in inspect(engine).get_table_names()
    engine.dispose()
    migrations.downgrade(pg_url)


def test_upgrade_fills_request_ts_of_an_existing_log_on_postgres(pg_url):
    spec = importlib.util.spec_from_file_location("log_rows",
                                                  Path(__file__).with_name("log_rows.py"))
    rows = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rows)
    rows.check_upgrade_fills_request_ts(pg_url)


def test_log_writer_on_postgres_stores_what_core_stores_and_skips_bad_rows(pg_url):
    from sqlalchemy import delete

    from cardmind.storage.base import create_all
    from cardmind.storage.decision_log import (
        DecisionLogRow,
        DecisionLogWriter,
        RepaymentLogRow,
        TempCreditGrantRow,
        log_engine,
    )

    spec = importlib.util.spec_from_file_location("log_rows",
                                                  Path(__file__).with_name("log_rows.py"))
    rows = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rows)
    row, full_row, grant_row, stored = rows.row, rows.full_row, rows.grant_row, rows.stored

    engine = log_engine(pg_url)
    create_all(engine)
    w = DecisionLogWriter(engine, flush_ms=5)
    assert w._raw is not None  # psycopg's executemany, not SQLAlchemy Core per row
    w.put("decision_log", full_row("a1"))
    w.put("temp_credit_grants", grant_row("a1"))
    w.put("repayment_log", rows.repayment_row("r1"))
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
        conn.execute(delete(RepaymentLogRow.__table__))
        conn.execute(DecisionLogRow.__table__.insert(), [full_row("a1")])
        conn.execute(DecisionLogRow.__table__.insert(), [
            {**row("a3"), "fraud_score": None, "cashout_score": None, "model_version": None,
             "standin_reason": None}])
        conn.execute(TempCreditGrantRow.__table__.insert(), [grant_row("a1")])
        conn.execute(RepaymentLogRow.__table__.insert(), [rows.repayment_row("r1")])
    assert len(via_writer["repayment_log"]) == 1
    assert stored(engine) == via_writer
    engine.dispose()


def test_feature_vectors_upgrade_and_downgrade_on_postgres(pg_url):
    spec = importlib.util.spec_from_file_location("log_rows",
                                                  Path(__file__).with_name("log_rows.py"))
    rows = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rows)
    rows.check_feature_vectors_upgrade(pg_url)
