"""Application decision log: idempotency and summary."""

from __future__ import annotations

from datetime import datetime

from cardmind.decisions.origination import ApplicationDecision
from cardmind.decisions.origination_reasons import policy_reason
from cardmind.storage.applications import ApplicationLog
from cardmind.storage.base import create_all, make_engine
from cardmind.units import TZ


def _decision(
    app_id: str, action: str = "APPROVE", line: int | None = 1_000_000
) -> ApplicationDecision:
    return ApplicationDecision(
        application_id=app_id,
        action=action,
        credit_limit_fen=line,
        rate_tier="T2",
        risk_grade="B",
        score=620,
        pd=0.03,
        reasons=[policy_reason("SCORE_APPROVED")],
        model_version="m1",
        policy_version="p1",
        decided_at=datetime(2026, 3, 1, 12, tzinfo=TZ),
        latency_ms=0.5,
    )


def test_repeated_application_id_returns_the_first_decision(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    create_all(engine)
    log = ApplicationLog(engine)
    calls = []

    def decide(action):
        def _d():
            calls.append(action)
            return _decision("A1", action, None if action != "APPROVE" else 1_000_000)

        return _d

    first = log.decide_once("A1", {"age": 30}, decide("APPROVE"))
    again = log.decide_once("A1", {"age": 99}, decide("DECLINE"))
    assert calls == ["APPROVE"]
    assert not first.replayed and again.replayed
    assert again.action == "APPROVE" and again.credit_limit_fen == 1_000_000
    assert again.reasons[0].zh == policy_reason("SCORE_APPROVED").zh
    assert again.decided_at == first.decided_at
    # a race: record() of a second decision for the same id keeps the first
    assert log.record(_decision("A1", "DECLINE", None), {}).action == "APPROVE"
    assert log.count() == 1


def test_summary_reports_auto_decision_rate():
    engine = make_engine("sqlite://")
    create_all(engine)
    log = ApplicationLog(engine)
    log.record(_decision("a"), {})
    log.record(_decision("b", "DECLINE", None), {})
    log.record(_decision("c", "REFER", None), {})
    s = log.summary()
    assert s["total"] == 3 and s["counts"]["REFER"] == 1
    assert abs(s["auto_decision_rate"] - 2 / 3) < 1e-9
    assert [d.application_id for d in log.recent(2)] and len(log.recent(2)) == 2
