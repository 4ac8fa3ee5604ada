"""The batched decision-log writer: batching, flush, retry without loss, bad rows, close."""

from __future__ import annotations

import importlib.util
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cardmind.storage.base import create_all
from cardmind.storage.decision_log import (
    COLUMNS,
    DecisionLogRow,
    DecisionLogWriter,
    RepaymentLogRow,
    TempCreditGrantRow,
    load_decision_json,
    log_engine,
    logged_auth_ids,
)
from cardmind.units import TZ

_spec = importlib.util.spec_from_file_location("log_rows", Path(__file__).with_name("log_rows.py"))
log_rows = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(log_rows)
row, full_row, grant_row, stored = log_rows.row, log_rows.full_row, log_rows.grant_row, log_rows.stored
repayment_row = log_rows.repayment_row





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


def test_driver_inserts_store_what_sqlalchemy_core_stores(engine, tmp_path):
    w = DecisionLogWriter(engine, flush_ms=5)
    assert w._raw is not None  # SQLite goes through the driver's executemany
    w.put("decision_log", full_row("a1"))
    w.put("decision_log", row("a2"))  # absent optional columns are NULL
    w.put("temp_credit_grants", grant_row("a1"))
    w.put("repayment_log", repayment_row("r1"))
    w.put("repayment_log", {**repayment_row("r1"), "amount_fen": 1})  # a logged id: ignored
    w.close()
    core = log_engine(f"sqlite:///{tmp_path / 'core.db'}")
    create_all(core)
    with core.begin() as conn:
        conn.execute(DecisionLogRow.__table__.insert(),
                     [full_row("a1"), {**row("a2"), "fraud_score": None, "cashout_score": None,
                                       "model_version": None, "standin_reason": None, "request_ts": None}])
        conn.execute(TempCreditGrantRow.__table__.insert(), [grant_row("a1")])
        conn.execute(RepaymentLogRow.__table__.insert(), [repayment_row("r1")])
    assert stored(engine) == stored(core)
    assert len(stored(engine)["decision_log"]) == 2 and len(stored(engine)["repayment_log"]) == 1


def test_tuple_rows_store_what_dict_rows_store(engine, tmp_path):
    """A row given as a tuple in ``COLUMNS`` order (what the engine's ``prepare`` gives) is
    stored as its dict; through the driver, and one by one when the database refuses a row of
    the batch; a tuple of the wrong length or another type is a bad row, not a stuck log."""
    def as_tuple(r):
        return tuple(r.get(c) for c in COLUMNS["decision_log"])

    w = DecisionLogWriter(engine, flush_ms=5)
    w.put("decision_log", as_tuple(full_row("a1")))
    w.put("decision_log", row("a2"))
    w.put("temp_credit_grants", tuple(grant_row("a1")[c] for c in COLUMNS["temp_credit_grants"]))
    w.flush()
    w.put("decision_log", as_tuple({**row("b1"), "action": None}))  # refused: one by one
    w.put("decision_log", as_tuple(full_row("b2")))
    w.put("decision_log", as_tuple(row("b3"))[:-1])  # a column short
    w.put("decision_log", list(as_tuple(row("b4"))))  # neither a dict nor a tuple
    w.close()
    assert w.bad_rows == 3 and w.failures == 0 and "refused by the database" in w.last_error
    ref = log_engine(f"sqlite:///{tmp_path / 'ref.db'}")
    create_all(ref)
    v = DecisionLogWriter(ref, flush_ms=5)
    for r in (full_row("a1"), row("a2"), full_row("b2")):
        v.put("decision_log", r)
    v.put("temp_credit_grants", grant_row("a1"))
    v.close()
    assert stored(engine) == stored(ref)
    assert [r[0] for r in stored(engine)["decision_log"]] == ["a1", "a2", "b2"]


def test_a_missing_table_is_an_outage_retried_until_it_is_back(engine):
    """A DBAPI error from the driver's executemany is handled as SQLAlchemy's: an operational
    error (here: no such table) is retried with back-off, nothing is dropped."""
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE decision_log RENAME TO decision_log_away")
    w = DecisionLogWriter(engine, flush_ms=5)
    w.put("decision_log", row("a1"))
    deadline = time.monotonic() + 10
    while w.failures == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert w.failures >= 1 and "no such table" in w.last_error and w.depth == 1
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE decision_log_away RENAME TO decision_log")
    w.flush()
    w.close()
    assert logged_auth_ids(engine) == {"a1"} and w.bad_rows == 0


def test_new_sqlite_files_use_16k_pages(engine):
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 16384
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_sqlite_datetime_text_is_sqlalchemys(engine):
    from datetime import date, timedelta, timezone

    from cardmind.storage.decision_log import _raw_inserts

    sa = DecisionLogRow.__table__.c.decided_at.type._cached_bind_processor(engine.dialect)
    ins = _raw_inserts(engine)["decision_log"]
    (fast,) = [p for i, p in ins.procs if ins.names[i] == "decided_at"]
    assert fast is not sa
    values = [datetime(1, 1, 1), datetime(999, 12, 31, 23, 59, 59, 999999),
              datetime(2026, 3, 1, 12, 0, tzinfo=TZ), datetime(2026, 3, 1, 12, 0, 0, 7, tzinfo=TZ),
              datetime(2026, 3, 1, tzinfo=timezone(timedelta(hours=-5))), date(2026, 3, 1), None]
    assert [fast(v) for v in values] == [sa(v) for v in values]
