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
    def prepare(xs):
        if None in xs:
            raise TypeError("nothing to log")
        return [row(x) for x in xs]

    w = DecisionLogWriter(engine, flush_ms=5, prepare_many={"decision_log": prepare})
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
    w.flush()
    w.put("decision_log", {**row("a3"), "fraud_score": 1, "standin": 1})  # processed: an int
    w.put("decision_log", full_row("a4"))  # in the same batch (the column is processed)
    w.put("temp_credit_grants", grant_row("a1"))
    w.put("repayment_log", repayment_row("r1"))
    w.put("repayment_log", {**repayment_row("r1"), "amount_fen": 1})  # a logged id: ignored
    w.close()
    core = log_engine(f"sqlite:///{tmp_path / 'core.db'}")
    create_all(core)
    with core.begin() as conn:
        conn.execute(DecisionLogRow.__table__.insert(),
                     [full_row("a1"), {**row("a2"), "fraud_score": None, "cashout_score": None,
                                       "model_version": None, "standin_reason": None, "request_ts": None},
                      {**row("a3"), "fraud_score": 1, "standin": 1, "cashout_score": None,
                       "model_version": None, "standin_reason": None, "request_ts": None},
                      full_row("a4")])
        conn.execute(TempCreditGrantRow.__table__.insert(), [grant_row("a1")])
        conn.execute(RepaymentLogRow.__table__.insert(), [repayment_row("r1")])
    assert stored(engine) == stored(core)
    assert len(stored(engine)["decision_log"]) == 4 and len(stored(engine)["repayment_log"]) == 1


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
    (fast,) = [p for i, p, _ in ins.procs if ins.names[i] == "decided_at"]
    assert fast is not sa
    values = [datetime(1, 1, 1), datetime(999, 12, 31, 23, 59, 59, 999999),
              datetime(2026, 3, 1, 12, 0, tzinfo=TZ), datetime(2026, 3, 1, 12, 0, 0, 7, tzinfo=TZ),
              datetime(2026, 3, 1, tzinfo=timezone(timedelta(hours=-5))), date(2026, 3, 1), None]
    assert [fast(v) for v in values] == [sa(v) for v in values]


def _vector_row(auth_id: str, names: tuple[str, ...], values: list) -> tuple:
    """A tuple row whose features are a vector (``feature_set`` given as its names)."""
    from cardmind.storage.decision_log import pack_features

    packed = pack_features(dict(zip(names, values, strict=True)))
    d = {**full_row(auth_id), "features_json": None, "feature_set": names,
         "feature_values": packed[1]}
    return tuple(d.get(c) for c in COLUMNS["decision_log"])


def _feature_sets(engine) -> list:
    with engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT set_id, names_json FROM decision_feature_sets ORDER BY set_id").all()


def test_feature_vectors_are_stored_with_their_names_once_and_read_back(engine):
    """Rows of one source share one ``decision_feature_sets`` row (registered in the batch's
    transaction, across batches and writers); the values read back exactly, NaN included,
    next to rows whose values are JSON (logged before migration 0004)."""
    import math

    from cardmind.storage.decision_log import load_decision_inputs

    names, other = ("b", "a"), ("a",)
    w = DecisionLogWriter(engine, flush_ms=5)
    w.put("decision_log", _vector_row("v1", names, [0.1 + 0.2, math.nan]))
    w.put("decision_log", _vector_row("v2", tuple(names), [-0.0, 1e308]))  # an equal tuple
    w.put("decision_log", full_row("j1"))  # JSON
    w.flush()
    w.put("decision_log", _vector_row("v3", other, [math.inf]))
    w.put("decision_log", _vector_row("v4", names, [5.0, 6.0]))
    w.close()
    assert w.bad_rows == 0 and w.failures == 0
    again = DecisionLogWriter(engine, flush_ms=5)  # a restarted writer finds the stored sets
    again.put("decision_log", _vector_row("v5", names, [7.0, 8.0]))
    again.close()
    assert _feature_sets(engine) == [(1, '["b","a"]'), (2, '["a"]')]
    got = {a: load_decision_inputs(engine, a)[0] for a in ("v1", "v2", "v3", "v4", "v5", "j1")}
    assert list(got["v1"]) == ["b", "a"] and got["v1"]["b"] == 0.1 + 0.2
    assert math.isnan(got["v1"]["a"]) and math.copysign(1, got["v2"]["b"]) == -1
    assert got["v2"]["a"] == 1e308 and got["v3"] == {"a": math.inf}
    assert got["v4"] == {"b": 5.0, "a": 6.0} and got["v5"] == {"b": 7.0, "a": 8.0}
    assert got["j1"]["a"] == 1.5 and math.isnan(got["j1"]["b"])  # '{"a":1.5,"b":null}'
    assert load_decision_inputs(engine, "v1")[1] == "v1"  # full_row's model version
    assert load_decision_inputs(engine, "x") is None


def test_a_refused_row_does_not_lose_the_feature_set_of_its_batch(engine):
    """The batch's transaction (which registered a new set) is rolled back when the database
    refuses one row; the rows written one by one then register it again."""
    from cardmind.storage.decision_log import load_decision_inputs

    w = DecisionLogWriter(engine, flush_ms=5)
    bad = list(_vector_row("b1", ("x", "y"), [1.0, 2.0]))
    bad[COLUMNS["decision_log"].index("action")] = None  # NOT NULL violated
    w.put("decision_log", tuple(bad))
    w.put("decision_log", _vector_row("b2", ("x", "y"), [3.0, 4.0]))
    w.close()
    assert w.bad_rows == 1 and logged_auth_ids(engine) == {"b2"}
    assert _feature_sets(engine) == [(1, '["x","y"]')]
    assert load_decision_inputs(engine, "b2")[0] == {"x": 3.0, "y": 4.0}


def test_driver_stores_feature_vectors_as_sqlalchemy_core_does(engine, tmp_path):
    w = DecisionLogWriter(engine, flush_ms=5)
    w.put("decision_log", _vector_row("a1", ("f", "g"), [1.25, -3.0]))
    w.close()
    core = log_engine(f"sqlite:///{tmp_path / 'core.db'}")
    create_all(core)
    row_ = dict(zip(COLUMNS["decision_log"], _vector_row("a1", ("f", "g"), [1.25, -3.0]),
                    strict=True))
    with core.begin() as conn:
        from cardmind.storage.decision_log import feature_set_id

        row_["feature_set"] = feature_set_id(conn, ("f", "g"))
        conn.execute(DecisionLogRow.__table__.insert(), [row_])
    assert stored(engine) == stored(core) and _feature_sets(engine) == _feature_sets(core)
