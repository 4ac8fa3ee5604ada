"""Decision-log rows shared by the writer tests on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from cardmind.units import TZ


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
            "features_json": '{"a":1.5,"b":null}'}


def grant_row(auth_id: str) -> dict:
    return {"grant_id": f"tc-{auth_id}", "auth_id": auth_id, "card_token": "c",
            "amount_fen": 50_000, "granted_at": datetime(2026, 1, 1, 9, 30, tzinfo=TZ),
            "expires_at": datetime(2026, 1, 31, tzinfo=TZ), "behaviour_risk": 0.25,
            "fraud_score": 0.01, "card_cap_fen": 100_000, "portfolio_used_fen": 7}


def stored(engine) -> dict:
    """Every stored value as the driver returns it, per table."""
    with engine.connect() as conn:
        return {t: conn.exec_driver_sql(f"SELECT * FROM {t} ORDER BY 1").all()
                for t in ("decision_log", "temp_credit_grants")}
