"""Alembic migrations create exactly the tables the models declare, and downgrade cleanly."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from sqlalchemy import create_engine, inspect, select

from cardmind.storage import migrations
from cardmind.storage.base import Base, create_all
from cardmind.storage.decision_log import DecisionLogRow, DecisionLogWriter, log_engine

_spec = importlib.util.spec_from_file_location("log_rows", Path(__file__).with_name("log_rows.py"))
log_rows = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(log_rows)

TABLES = ("decision_log", "decision_feature_sets", "temp_credit_grants", "decision_labels",
          "list_entries", "repayment_log")


def _shape(insp, table):
    cols = {c["name"]: (str(c["type"]).split("(")[0], c["nullable"]) for c in insp.get_columns(table)}
    idx = {tuple(i["column_names"]) for i in insp.get_indexes(table)}
    return cols, idx


def test_upgrade_matches_the_models_and_downgrade_removes(tmp_path):
    import cardmind.storage.tables  # noqa: F401

    url = f"sqlite:///{tmp_path / 'mig.db'}"
    migrations.upgrade(url)
    assert migrations.current(url) == log_rows.HEAD
    ref = create_engine(f"sqlite:///{tmp_path / 'ref.db'}")
    Base.metadata.create_all(ref, tables=[Base.metadata.tables[t] for t in TABLES])
    got, want = inspect(create_engine(url)), inspect(ref)
    for table in TABLES:
        assert _shape(got, table) == _shape(want, table), table
    migrations.downgrade(url)
    assert not set(TABLES) & set(inspect(create_engine(url)).get_table_names())


def test_upgrade_fills_request_ts_of_an_existing_log_and_downgrades(tmp_path):
    log_rows.check_upgrade_fills_request_ts(f"sqlite:///{tmp_path / 'old.db'}")


def test_create_all_upgrades_a_log_created_before_request_ts(tmp_path):
    """A log an earlier version made is brought up to date by ``create_all`` (what every engine
    runs at start): the writer can log ``request_ts``; migrating it afterwards changes nothing."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrations.upgrade(url, "0001_authorization")
    engine = log_engine(url)
    with engine.begin() as conn:
        conn.execute(DecisionLogRow.__table__.insert(), [{
            **log_rows.row("o1"),
            "request_json": log_rows.OLD_REQUESTS["o1"][0]}])
    create_all(engine)
    w = DecisionLogWriter(engine, flush_ms=5)
    w.put("decision_log", {**log_rows.row("n1"), "request_ts": log_rows.OLD_REQUESTS["o3"][1]})
    w.close()
    assert w.committed == 1 and w.failures == 0 and w.bad_rows == 0
    t = DecisionLogRow.__table__
    with engine.connect() as conn:
        got = dict(conn.execute(select(t.c.auth_id, t.c.request_ts)).all())
    assert got == {"o1": log_rows.OLD_REQUESTS["o1"][1].replace(tzinfo=None),
                   "n1": log_rows.OLD_REQUESTS["o3"][1].replace(tzinfo=None)}
    ref = create_engine(f"sqlite:///{tmp_path / 'ref.db'}")
    Base.metadata.create_all(ref, tables=[t])
    assert _shape(inspect(engine), "decision_log") == _shape(inspect(ref), "decision_log")
    migrations.upgrade(url)
    assert migrations.current(url) == log_rows.HEAD


def test_repayment_log_migrates_up_and_down_and_create_all_makes_it_on_an_older_file(tmp_path):
    """0003 adds ``repayment_log`` as the model declares it and its downgrade removes only it; a
    file at 0002 gets the table from ``create_all`` (every engine's start), after which
    migrating to the head changes nothing and keeps the rows."""
    import cardmind.storage.tables  # noqa: F401
    from cardmind.storage.decision_log import RepaymentLogRow

    ref = create_engine(f"sqlite:///{tmp_path / 'ref.db'}")
    Base.metadata.create_all(ref, tables=[RepaymentLogRow.__table__])
    want = _shape(inspect(ref), "repayment_log")
    url = f"sqlite:///{tmp_path / 'mig.db'}"
    migrations.upgrade(url)
    assert _shape(inspect(create_engine(url)), "repayment_log") == want
    migrations.downgrade(url, "0002_decision_log_request_ts")
    names = set(inspect(create_engine(url)).get_table_names())
    assert "repayment_log" not in names and {"decision_log", "temp_credit_grants"} <= names
    migrations.upgrade(url)
    assert _shape(inspect(create_engine(url)), "repayment_log") == want

    old = f"sqlite:///{tmp_path / 'old.db'}"
    migrations.upgrade(old, "0002_decision_log_request_ts")
    engine = log_engine(old)
    create_all(engine)
    assert _shape(inspect(engine), "repayment_log") == want
    w = DecisionLogWriter(engine, flush_ms=5)
    w.put("repayment_log", log_rows.repayment_row("r1"))
    w.close()
    assert w.committed == 1 and w.bad_rows == w.failures == 0
    migrations.upgrade(old)
    assert migrations.current(old) == log_rows.HEAD
    with engine.connect() as conn:
        got = conn.execute(select(RepaymentLogRow.repayment_id)).scalars().all()
    assert got == ["r1"] and _shape(inspect(engine), "repayment_log") == want


def test_feature_vectors_upgrade_and_downgrade_keep_every_logged_value(tmp_path):
    log_rows.check_feature_vectors_upgrade(f"sqlite:///{tmp_path / 'old.db'}")
