"""The batched decision-log writer: batching, flush, retry without loss, bad rows, close."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from cardmind.storage.base import create_all
from cardmind.storage.decision_log import (
    DecisionLogRow,
    DecisionLogWriter,
    load_decision_json,
    log_engine,
    logged_auth_ids,
)
from cardmind.units import TZ


def row(auth_id: str) -> dict:
    return {"auth_id": auth_id, "decided_at": datetime(2026, 1, 1, tzinfo=TZ), "card_token": "c",
            "merchant_id": "m", "message_type": "purchase", "amount_fen": 5, "action": "APPROVE",
            "response_code": "00", "temp_credit_fen": 0, "rules_version": "r", "standin": False,
            "latency_us": 10, "request_json": "{}", "features_json": "{}",
            "decision_json": f'{{"auth_id": "{auth_id}"}}'}


@pytest.fixture
def engine(tmp_path):
    e = log_engine(f"sqlite:///{tmp_path / 'log.db'}")
    create_all(e)
    return e


def count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(DecisionLogRow)).scalar_one()


def test_batches_are_committed_and_flush_waits(engine):
    w = DecisionLogWriter(engine, flush_ms=1000, batch=10)
    for i in range(25):
        w.put("decision_log", row(f"a{i}"))
    w.flush()
    assert count(engine) == 25 and w.depth == 0 and w.committed == 25
    assert logged_auth_ids(engine) == {f"a{i}" for i in range(25)}
    assert load_decision_json(engine, "a3") == '{"auth_id": "a3"}'
    w.close()
    with pytest.raises(RuntimeError, match="closed"):
        w.put("decision_log", row("late"))


def test_duplicate_auth_ids_are_ignored_not_fatal(engine):
    w = DecisionLogWriter(engine, flush_ms=5)
    w.put("decision_log", row("a1"))
    w.flush()
    w.put("decision_log", row("a1"))
    w.put("decision_log", row("a2"))
    w.close()
    assert count(engine) == 2 and w.failures == 0


def test_database_errors_are_retried_without_loss(engine, monkeypatch):
    w = DecisionLogWriter(engine, flush_ms=5)
    real = engine.begin
    calls = {"n": 0}

    def flaky():
        calls["n"] += 1
        if calls["n"] <= 2:
            raise OSError("database is locked")
        return real()

    monkeypatch.setattr(engine, "begin", flaky)
    w.put("decision_log", row("a1"))
    w.flush()
    assert count(engine) == 1 and w.failures == 2 and "locked" in w.last_error
    w.close()


def test_prepare_runs_in_the_writer_and_bad_rows_are_counted(engine):
    def prepare(x):
        if x is None:
            raise TypeError("nothing to log")
        return row(x)

    w = DecisionLogWriter(engine, flush_ms=5, prepare={"decision_log": prepare})
    w.put("decision_log", "ok")
    w.put("decision_log", None)  # cannot be prepared: counted, the rest is written
    w.put("decision_log", {**row("x"), "auth_id": None}.get("auth_id"))  # also None
    w.close()
    assert count(engine) == 1 and w.bad_rows == 2


def test_a_row_the_database_refuses_does_not_block_the_log(engine):
    w = DecisionLogWriter(engine, flush_ms=5)
    w.put("decision_log", row("a1"))
    w.put("decision_log", {**row("a2"), "action": None})  # NOT NULL violated
    w.put("decision_log", row("a3"))
    w.close()
    assert logged_auth_ids(engine) == {"a1", "a3"} and w.bad_rows == 1
    assert "refused by the database" in w.last_error


def test_bad_parameters_are_refused(engine):
    with pytest.raises(ValueError, match="must be > 0"):
        DecisionLogWriter(engine, flush_ms=0)
    w = DecisionLogWriter(engine)
    with pytest.raises(ValueError, match="unknown log table"):
        w.put("nope", {})
    w.close()
