"""The application decision log: one row per application id, written once (idempotent).

A repeated application id returns the first decision unchanged (``replayed=True``), even when
two requests race: the primary key decides, the loser reads the winner's row.

>>> from cardmind.storage.base import make_engine, create_all
>>> engine = make_engine("sqlite://"); create_all(engine)
>>> log = ApplicationLog(engine)
>>> log.get("a1") is None, log.count()
(True, 0)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Engine, Float, Integer, String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from cardmind.decisions.origination import ApplicationDecision
from cardmind.storage.base import Base, session_factory
from cardmind.units import TZ


class ApplicationDecisionRow(Base):
    """A logged application decision: request features, scores, action, line, reasons."""

    __tablename__ = "application_decisions"

    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    action: Mapped[str] = mapped_column(String(8), index=True)
    credit_limit_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    rate_tier: Mapped[str | None] = mapped_column(String(8), nullable=True)
    risk_grade: Mapped[str | None] = mapped_column(String(4), nullable=True)
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pd: Mapped[float | None] = mapped_column(Float, nullable=True)
    challenger_pd: Mapped[float | None] = mapped_column(Float, nullable=True)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[str] = mapped_column(String(64))
    latency_ms: Mapped[float] = mapped_column(Float)


def _aware(ts: datetime) -> datetime:
    """SQLite returns naive UTC; PostgreSQL aware: both come back in Asia/Shanghai."""
    return (ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts).astimezone(TZ)


class ApplicationLog:
    """Repository over :class:`ApplicationDecisionRow`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)

    @staticmethod
    def _to_decision(row: ApplicationDecisionRow, *, replayed: bool) -> ApplicationDecision:
        return ApplicationDecision(
            application_id=row.application_id,
            action=row.action,  # type: ignore[arg-type]
            credit_limit_fen=row.credit_limit_fen,
            rate_tier=row.rate_tier,
            risk_grade=row.risk_grade,
            score=row.score,
            pd=row.pd,
            challenger_pd=row.challenger_pd,
            reasons=row.reasons,  # type: ignore[arg-type]
            model_version=row.model_version,
            policy_version=row.policy_version,
            decided_at=_aware(row.decided_at),
            latency_ms=row.latency_ms,
            replayed=replayed,
        )

    def get(self, application_id: str) -> ApplicationDecision | None:
        """The logged decision of ``application_id`` (``replayed=True``), or None."""
        with self._sessions() as s:
            row = s.get(ApplicationDecisionRow, application_id)
            return None if row is None else self._to_decision(row, replayed=True)

    def record(self, decision: ApplicationDecision, request: dict[str, Any]) -> ApplicationDecision:
        """Store ``decision`` unless the id exists; returns what the log holds for the id."""
        row = ApplicationDecisionRow(
            application_id=decision.application_id,
            decided_at=decision.decided_at.astimezone(UTC),
            action=decision.action,
            credit_limit_fen=decision.credit_limit_fen,
            rate_tier=decision.rate_tier,
            risk_grade=decision.risk_grade,
            score=decision.score,
            pd=decision.pd,
            challenger_pd=decision.challenger_pd,
            reasons=[r.model_dump() for r in decision.reasons],
            request=request,
            model_version=decision.model_version,
            policy_version=decision.policy_version,
            latency_ms=decision.latency_ms,
        )
        try:
            with self._sessions.begin() as s:
                s.add(row)
        except IntegrityError:
            existing = self.get(decision.application_id)
            if existing is None:  # pragma: no cover - integrity error for another reason
                raise
            return existing
        return decision

    def decide_once(
        self,
        application_id: str,
        request: dict[str, Any],
        decide: Callable[[], ApplicationDecision],
    ) -> ApplicationDecision:
        """Idempotent decision: the logged one when the id exists, else ``decide()`` logged."""
        existing = self.get(application_id)
        if existing is not None:
            return existing
        return self.record(decide(), request)

    def count(self, action: str | None = None) -> int:
        with self._sessions() as s:
            q = select(func.count()).select_from(ApplicationDecisionRow)
            if action is not None:
                q = q.where(ApplicationDecisionRow.action == action)
            return int(s.scalar(q) or 0)

    def recent(self, limit: int = 50) -> list[ApplicationDecision]:
        """The latest decisions, newest first."""
        with self._sessions() as s:
            rows = s.scalars(
                select(ApplicationDecisionRow)
                .order_by(ApplicationDecisionRow.decided_at.desc())
                .limit(limit)
            ).all()
            return [self._to_decision(r, replayed=True) for r in rows]

    def summary(self) -> dict[str, Any]:
        """Counts by action and the auto-decision rate (APPROVE + DECLINE over all)."""
        with self._sessions() as s:
            rows = s.execute(
                select(ApplicationDecisionRow.action, func.count()).group_by(
                    ApplicationDecisionRow.action
                )
            ).all()
        counts = {a: int(n) for a, n in rows}
        total = sum(counts.values())
        auto = counts.get("APPROVE", 0) + counts.get("DECLINE", 0)
        return {
            "counts": counts,
            "total": total,
            "auto_decision_rate": auto / total if total else None,
        }


class DeviceBlocklist:
    """``device_id in DeviceBlocklist(engine)``: is the device on the block list (``list_entries``,
    kind ``device``, not expired)? Read at every check, so list edits apply at once."""

    def __init__(self, engine: Engine) -> None:
        from cardmind.storage.lists import ListEntryRow

        self._row = ListEntryRow
        self._sessions = session_factory(engine)
        ListEntryRow.__table__.create(engine, checkfirst=True)

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        row = self._row
        now = datetime.now(UTC)
        with self._sessions() as s:
            hit = s.scalars(
                select(row).where(
                    row.kind == "device", row.value == value, row.list_type == "block"
                )
            ).first()
        if hit is None:
            return False
        return hit.expires_at is None or _aware(hit.expires_at) > now
