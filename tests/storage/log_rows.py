"""Decision-log rows shared by the writer tests on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from cardmind.units import TZ

#: The latest migration.
HEAD = "0004_decision_log_features"


def row(auth_id: str) -> dict:
    return {"auth_id": auth_id, "decided_at": datetime(2026, 1, 1, tzinfo=TZ), "card_token": "c",
            "merchant_id": "m", "message_type": "purchase", "amount_fen": 5, "action": "APPROVE",
            "response_code": "00", "temp_credit_fen": 0, "rules_version": "r", "standin": False,
            "latency_us": 10, "request_json": "{}", "features_json": "{}",
            "decision_json": f'{{"auth_id": "{auth_id}"}}'}


def full_row(auth_id: str) -> dict:
    """Every column set, with the value types a decision gives them."""
    return {**row(auth_id), "decided_at": datetime(2026, 1, 1, 9, 30, 5, 123456, tzinfo=TZ),
            "fraud_score": 0.123456789012345, "cashout_score": None, "model_version": "v1",
            "standin": True, "standin_reason": "延迟 latency", "amount_fen": 10**12,
            "features_json": '{"a":1.5,"b":null}',
            "request_ts": datetime(2026, 1, 1, 9, 30, 4, 250000, tzinfo=TZ)}


def grant_row(auth_id: str) -> dict:
    return {"grant_id": f"tc-{auth_id}", "auth_id": auth_id, "card_token": "c",
            "amount_fen": 50_000, "granted_at": datetime(2026, 1, 1, 9, 30, tzinfo=TZ),
            "expires_at": datetime(2026, 1, 31, tzinfo=TZ), "behaviour_risk": 0.25,
            "fraud_score": 0.01, "card_cap_fen": 100_000, "portfolio_used_fen": 7}


def repayment_row(repayment_id: str) -> dict:
    """Every column of a ``repayment_log`` row, with the value types ``repay`` gives them."""
    return {"repayment_id": repayment_id,
            "received_at": datetime(2026, 1, 2, 8, 0, 0, 654321, tzinfo=TZ),
            "card_token": "c", "customer_id": "u", "amount_fen": 10**11,
            "channel": "third_party_app", "payer_is_cardholder": False,
            "available_before_fen": -5, "available_after_fen": 10**11 - 5,
            "balance_after_fen": 7, "temp_credit_fen": 0,
            "ts": datetime(2026, 1, 2, 7, 59, 59, tzinfo=TZ)}


def stored(engine) -> dict:
    """Every stored value as the driver returns it, per table."""
    with engine.connect() as conn:
        return {t: conn.exec_driver_sql(f"SELECT * FROM {t} ORDER BY 1").all()
                for t in ("decision_log", "temp_credit_grants", "repayment_log")}


#: Requests as logged before ``request_ts`` existed, and the request time each must get.
OLD_REQUESTS = {
    "o1": ('{"auth_id":"o1","ts":"2026-04-11T11:42:52+08:00","amount_fen":5}',
           datetime(2026, 4, 11, 11, 42, 52, tzinfo=TZ)),
    "o2": ('{"auth_id":"o2","ts":"2026-04-11T03:42:53.250000Z"}',  # UTC: stored as Shanghai
           datetime(2026, 4, 11, 11, 42, 53, 250000, tzinfo=TZ)),
    "o3": ('{"auth_id":"o3","ts":"2026-04-12T00:00:00"}',  # naive: Asia/Shanghai
           datetime(2026, 4, 12, tzinfo=TZ)),
    "o4": ("{}", None),  # no time: NULL, restore still reads the row (and skips it)
    "o5": ("not json", None),
}


def check_upgrade_fills_request_ts(url: str) -> None:
    """Migrate ``url`` to 0001, log rows the old way, upgrade to head: every old row gets its
    request time, the unused indexes are gone; then downgrade to 0001 restores the old shape."""
    from sqlalchemy import create_engine, inspect, select

    from cardmind.storage import migrations
    from cardmind.storage.decision_log import DecisionLogRow

    migrations.upgrade(url, "0001_authorization")
    engine = create_engine(url)
    old = {c.name for c in DecisionLogRow.__table__.columns} - {"request_ts"}
    with engine.begin() as conn:
        conn.execute(DecisionLogRow.__table__.insert(), [
            {k: v for k, v in {**row(a), "request_json": js}.items() if k in old}
            for a, (js, _) in OLD_REQUESTS.items()])
    migrations.upgrade(url, "0002_decision_log_request_ts")
    assert migrations.current(url) == "0002_decision_log_request_ts"
    t = DecisionLogRow.__table__
    with engine.connect() as conn:
        got = dict(conn.execute(select(t.c.auth_id, t.c.request_ts)).all())
    aware = {a: (ts if ts is None or ts.tzinfo else ts.replace(tzinfo=TZ)) for a, ts in got.items()}
    assert aware == {a: want for a, (_, want) in OLD_REQUESTS.items()}
    names = {tuple(i["column_names"]) for i in inspect(engine).get_indexes("decision_log")}
    assert names == {("decided_at",), ("request_ts",)}
    migrations.upgrade(url)  # nothing left of 0002 to do (later revisions keep the rows)
    assert migrations.current(url) == HEAD
    names = {tuple(i["column_names"]) for i in inspect(engine).get_indexes("decision_log")}
    assert names == {("decided_at",), ("request_ts",)}
    migrations.downgrade(url, "0001_authorization")
    insp = inspect(engine)
    assert "request_ts" not in {c["name"] for c in insp.get_columns("decision_log")}
    assert {tuple(i["column_names"]) for i in insp.get_indexes("decision_log")} == {
        ("decided_at",), ("card_token",), ("action",)}
    with engine.connect() as conn:  # the rows survive the downgrade
        assert conn.execute(select(t.c.auth_id).order_by(t.c.auth_id)).scalars().all() == sorted(
            OLD_REQUESTS)
    engine.dispose()


def check_feature_vectors_upgrade(url: str) -> None:
    """A log of migration 0002 (feature values as JSON, NOT NULL) is upgraded by ``create_all``
    (what an engine runs at start): its rows keep their JSON and read as before, new rows are
    vectors; the downgrade of 0004 puts every vector back as JSON (sorted, NaN as null), which
    reads to the same values."""
    import math

    from sqlalchemy import inspect

    from cardmind.storage import migrations
    from cardmind.storage.base import create_all
    from cardmind.storage.decision_log import (
        COLUMNS,
        DecisionLogRow,
        DecisionLogWriter,
        load_decision_inputs,
        log_engine,
        pack_features,
    )

    migrations.upgrade(url, "0002_decision_log_request_ts")
    engine = log_engine(url)
    old_cols = {c.name for c in DecisionLogRow.__table__.columns} - {"feature_set",
                                                                    "feature_values"}
    with engine.begin() as conn:
        conn.execute(DecisionLogRow.__table__.insert(), [
            {k: v for k, v in full_row("o1").items() if k in old_cols}])
    create_all(engine)
    cols = {c["name"]: c["nullable"] for c in inspect(engine).get_columns("decision_log")}
    assert cols["features_json"] and cols["feature_set"] and cols["feature_values"]
    assert "decision_feature_sets" in inspect(engine).get_table_names()
    vector = {**full_row("n1"), "features_json": None, "feature_set": ("z", "a"),
              "feature_values": pack_features({"z": 2.5, "a": math.nan})[1]}
    w = DecisionLogWriter(engine, flush_ms=5)
    w.put("decision_log", tuple(vector.get(c) for c in COLUMNS["decision_log"]))
    w.close()
    assert w.committed == 1 and w.bad_rows == 0 and w.failures == 0

    def read(auth_id):
        values, _ = load_decision_inputs(engine, auth_id)
        return {k: (None if v != v else v) for k, v in values.items()}

    assert read("o1") == {"a": 1.5, "b": None} and read("n1") == {"z": 2.5, "a": None}
    migrations.upgrade(url)  # create_all did it: nothing to do
    assert migrations.current(url) == HEAD
    migrations.downgrade(url, "0002_decision_log_request_ts")
    insp = inspect(engine)
    assert "decision_feature_sets" not in insp.get_table_names()
    cols = {c["name"]: c["nullable"] for c in insp.get_columns("decision_log")}
    assert "feature_values" not in cols and cols["features_json"] is False
    with engine.connect() as conn:
        got = dict(conn.exec_driver_sql("SELECT auth_id, features_json FROM decision_log").all())
    assert got == {"o1": '{"a":1.5,"b":null}', "n1": '{"a":null,"z":2.5}'}
    engine.dispose()
