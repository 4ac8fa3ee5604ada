"""The decision log, lists and migrations on PostgreSQL (the production database)."""

from __future__ import annotations

import uuid

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
