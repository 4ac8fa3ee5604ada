"""Replay a simulated period through the authorization engine and measure what it would have done.

The engine's state (card accounts, online features, recent purchases) is bootstrapped from the
data *before* the replay window; nothing is trained here (the registry's production fraud model
is used when there is one, else the stand-in rules decide). Authorizations and repayments of the
window are streamed in time order. Evaluation reads the simulator's ``truth_*`` tables (this is
evaluation code, never a decision input) and reports:

- fraud caught: count and amount declined or challenged, by scenario (cash-out scenarios are
  listed apart: they are not third-party fraud);
- genuine traffic: false-positive declines (any decline but ``51``) and challenge rate
  ("zero perception" is a low challenge rate on genuine purchases);
- smart credit: over-limit purchases, how many were rescued by temporary credit, their amount,
  and the later losses on them (rescued purchases that were fraud, and grants on cards charged
  off afterwards);
- latency p50 / p99 / p99.9 and throughput; the issuer's legacy decisions side by side.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from cardmind.decisions._data import connect
from cardmind.decisions.authorize import AuthorizationEngine, EngineConfig
from cardmind.decisions.types import AuthorizationRequest
from cardmind.errors import InvalidInput
from cardmind.units import TZ

#: Latency budget of a replay when no config is given (50 ms): stand-in only on real failures.
REPLAY_BUDGET_US = 50_000

_REQUEST_FIELDS = (
    "auth_id", "card_token", "customer_id", "merchant_id", "terminal_id", "device_id", "ts",
    "amount_fen", "mcc", "channel", "city", "cross_border", "message_type", "original_auth_id",
)


@dataclass
class ScenarioRow:
    scenario: str
    is_fraud: bool
    count: int = 0
    amount_fen: int = 0
    declined: int = 0
    challenged: int = 0
    caught_amount_fen: int = 0
    temp_credit: int = 0
    legacy_declined: int = 0

    @property
    def caught(self) -> int:
        return self.declined + self.challenged


@dataclass
class ReplayReport:
    """Figures of one replay (money in fen, latency in microseconds)."""

    start: str
    end: str
    model_version: str | None
    rules_version: str
    decisions: int = 0
    purchases: int = 0
    repayments: int = 0
    repayments_refused: int = 0  # ``engine.repay`` refused them (an unknown card)
    by_action: dict[str, int] = field(default_factory=dict)
    standin: int = 0
    fraud_count: int = 0
    fraud_amount_fen: int = 0
    fraud_caught: int = 0
    fraud_caught_amount_fen: int = 0
    fraud_declined: int = 0
    fraud_challenged: int = 0
    legacy_fraud_caught: int = 0
    scenarios: list[ScenarioRow] = field(default_factory=list)
    genuine: int = 0
    genuine_declined_risk: int = 0
    genuine_challenged: int = 0
    genuine_declined_51: int = 0
    legacy_genuine_declined_risk: int = 0
    over_limit: int = 0
    rescued: int = 0
    rescued_amount_fen: int = 0
    temp_credit_fen: int = 0
    rescued_fraud_loss_fen: int = 0
    rescued_chargeoff_loss_fen: int = 0
    latency_p50_us: float = 0.0
    latency_p99_us: float = 0.0
    latency_p999_us: float = 0.0
    decisions_per_s: float = 0.0

    def rate(self, num: int, den: int) -> float:
        return num / den if den else 0.0

    @property
    def false_positive_rate(self) -> float:
        return self.rate(self.genuine_declined_risk, self.genuine)

    @property
    def challenge_rate_genuine(self) -> float:
        return self.rate(self.genuine_challenged, self.genuine)

    @property
    def rescue_rate(self) -> float:
        return self.rate(self.rescued, self.over_limit)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["scenarios"] = [dict(asdict(s), caught=s.caught) for s in self.scenarios]
        out.update(false_positive_rate=self.false_positive_rate,
                   challenge_rate_genuine=self.challenge_rate_genuine,
                   rescue_rate=self.rescue_rate,
                   fraud_caught_rate=self.rate(self.fraud_caught, self.fraud_count),
                   fraud_caught_amount_rate=self.rate(self.fraud_caught_amount_fen,
                                                      self.fraud_amount_fen))
        return out

    def tables(self) -> list[Any]:
        """Rich tables: summary and per-scenario."""
        from rich.table import Table

        def pct(x: float) -> str:
            return f"{100 * x:.2f} %"

        def cny(f: int) -> str:
            return f"¥{f / 100:,.0f}"

        s = Table(title=f"Replay {self.start} .. {self.end}  (model {self.model_version or 'none: stand-in'}, "
                        f"rules {self.rules_version})")
        s.add_column("measure")
        s.add_column("cardmind", justify="right")
        s.add_column("legacy issuer", justify="right")
        s.add_row("decisions (purchases)", f"{self.decisions:,} ({self.purchases:,})", "")
        s.add_row("fraud caught (count)", f"{self.fraud_caught:,} / {self.fraud_count:,} "
                  f"({pct(self.rate(self.fraud_caught, self.fraud_count))})",
                  f"{self.legacy_fraud_caught:,} ({pct(self.rate(self.legacy_fraud_caught, self.fraud_count))})")
        s.add_row("fraud caught (amount)", f"{cny(self.fraud_caught_amount_fen)} / "
                  f"{cny(self.fraud_amount_fen)}", "")
        s.add_row("  of which declined / challenged", f"{self.fraud_declined:,} / "
                  f"{self.fraud_challenged:,}", "")
        s.add_row("false-positive declines (genuine)", pct(self.false_positive_rate),
                  pct(self.rate(self.legacy_genuine_declined_risk, self.genuine)))
        s.add_row("challenge rate (genuine)", pct(self.challenge_rate_genuine), "")
        s.add_row("over-limit purchases", f"{self.over_limit:,}", "")
        s.add_row("rescued by smart credit", f"{self.rescued:,} ({pct(self.rescue_rate)}), "
                  f"{cny(self.rescued_amount_fen)}", "")
        s.add_row("temporary credit granted", cny(self.temp_credit_fen), "")
        s.add_row("later losses on rescued", f"fraud {cny(self.rescued_fraud_loss_fen)}, "
                  f"charge-off {cny(self.rescued_chargeoff_loss_fen)}", "")
        s.add_row("stand-in decisions", f"{self.standin:,}", "")
        s.add_row("latency p50 / p99 / p99.9", f"{self.latency_p50_us:.0f} / "
                  f"{self.latency_p99_us:.0f} / {self.latency_p999_us:.0f} µs", "")
        s.add_row("throughput (incl. replay overhead)", f"{self.decisions_per_s:,.0f} /s", "")
        sc = Table(title="By scenario (truth; cash-out is not third-party fraud)")
        for col in ("scenario", "fraud", "auths", "amount", "declined", "challenged",
                    "caught amount", "temp credit", "legacy declined"):
            sc.add_column(col, justify="left" if col == "scenario" else "right")
        for r in self.scenarios:
            sc.add_row(r.scenario, "yes" if r.is_fraud else "no", f"{r.count:,}", cny(r.amount_fen),
                       f"{r.declined:,}", f"{r.challenged:,}", cny(r.caught_amount_fen),
                       f"{r.temp_credit:,}", f"{r.legacy_declined:,}")
        return [s, sc]


def _window(con: Any, start: datetime | None, days: int) -> tuple[datetime, datetime]:
    lo, hi = con.execute("SELECT min(ts), max(ts) FROM authorizations").fetchone()
    if lo is None:
        raise InvalidInput("replay: the dataset has no authorizations")
    end = hi + timedelta(microseconds=1)
    if start is None:
        start = end - timedelta(days=days)
    start = start.astimezone(TZ) if start.tzinfo else start.replace(tzinfo=TZ)
    if not lo < start < end:
        raise InvalidInput(f"replay: start {start} must fall inside the data ({lo} .. {hi}) "
                           "so that state can be bootstrapped from the period before it")
    return start, end


def replay(
    data: str | Path,
    *,
    days: int = 30,
    start: datetime | None = None,
    config: EngineConfig | None = None,
    model: Any = "registry",
    features: Any = None,
    cashout: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayReport:
    """Stream the last ``days`` (or from ``start``) of ``data`` through a fresh engine.

    The decision log goes to ``config.db_url`` (default: an in-memory SQLite database). Use a
    fresh database: authorizations already in the log are answered from it (idempotency), not
    decided again.

    ``cashout`` is the engine's cash-out hook ``(event, features) -> score | None`` (for example
    ``CashoutRiskTable.engine_hook()`` from :mod:`cardmind.models.cashout.risk`)."""
    if days <= 0:
        raise InvalidInput(f"replay: days must be > 0, got {days}")
    ds, con = connect(data)
    start, end = _window(con, start, days)
    if config is None:  # a replay measures the policy: a generous budget (a server sets its own)
        config = EngineConfig(db_url="sqlite://", latency_budget_us=REPLAY_BUDGET_US)
    engine = AuthorizationEngine.from_dataset(data, until=start, config=config, model=model,
                                              features=features, cashout=cashout)
    try:
        return _run(engine, ds, con, start, end, progress)
    finally:
        engine.close()


def _run(engine: AuthorizationEngine, ds: Any, con: Any, start: datetime, end: datetime,
         progress: Callable[[int, int], None] | None) -> ReplayReport:
    cols = ", ".join(_REQUEST_FIELDS)
    auths = con.execute(
        f"SELECT {cols}, approved, response_code FROM authorizations "
        "WHERE ts >= $1 AND ts < $2 ORDER BY ts, auth_id", [start, end]).fetchall()
    reps: list[dict[str, Any]] = []
    if ds.has("repayments"):
        cur = con.execute("SELECT * FROM repayments WHERE ts >= $1 AND ts < $2 ORDER BY ts",
                          [start, end])
        names = [d[0] for d in cur.description]
        reps = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    total = len(auths) + len(reps)
    report = ReplayReport(start=start.isoformat(), end=end.isoformat(),
                          model_version=engine.model_version, rules_version=engine.rules.version)
    results: list[tuple[str, str, str, int, int, int, bool, bool, int]] = []
    latencies = np.empty(len(auths), dtype=np.int64)
    ri = 0
    t_wall = time.perf_counter()
    for i, row in enumerate(auths):
        rec = dict(zip(_REQUEST_FIELDS, row[: len(_REQUEST_FIELDS)], strict=True))
        while ri < len(reps) and reps[ri]["ts"] <= rec["ts"]:
            report.repayments_refused += _repay(engine, reps[ri])
            ri += 1
        d = engine.decide(AuthorizationRequest(**rec))
        latencies[i] = d.latency_us
        over = d.available_credit_fen is not None and rec["amount_fen"] > d.available_credit_fen
        results.append((rec["auth_id"], rec["card_token"], rec["message_type"], rec["amount_fen"],
                        d.temp_credit_fen, d.latency_us, over, bool(row[-2]), 0))
        report.by_action[d.action] = report.by_action.get(d.action, 0) + 1
        report.standin += d.standin
        results[-1] = (*results[-1][:-1], _code(d.action, d.response_code))
        if progress is not None and (i % 500 == 0 or i == len(auths) - 1):
            progress(i + 1 + ri, total)
    for rep in reps[ri:]:
        report.repayments_refused += _repay(engine, rep)
    wall = time.perf_counter() - t_wall
    report.repayments = len(reps)
    report.decisions = len(auths)
    report.decisions_per_s = len(auths) / wall if wall > 0 else 0.0
    if len(auths):
        p50, p99, p999 = np.percentile(latencies, [50, 99, 99.9])
        report.latency_p50_us, report.latency_p99_us, report.latency_p999_us = (
            float(p50), float(p99), float(p999))
    engine.flush()
    _evaluate(report, results, ds, con, start)
    return report


def _repay(engine: AuthorizationEngine, row: dict[str, Any]) -> int:
    """A ``repayments`` row through the engine's ``repay`` (validated, logged, idempotent, as a
    ``POST /v1/repayments``): 0, or 1 when it was refused."""
    try:
        engine.apply_repayment(row)
    except InvalidInput:
        return 1
    return 0


_ACTION_CODE = {"APPROVE": 0, "APPROVE_WITH_TEMP_CREDIT": 1, "CHALLENGE": 2, "DECLINE": 3}


def _code(action: str, response_code: str) -> int:
    """Action as an int; declines for insufficient credit (51) are 4."""
    return 4 if action == "DECLINE" and response_code == "51" else _ACTION_CODE[action]


def _evaluate(report: ReplayReport, results: list[tuple], ds: Any, con: Any,
              start: datetime) -> None:
    import pyarrow as pa

    table = pa.table({
        "auth_id": [r[0] for r in results], "card_token": [r[1] for r in results],
        "message_type": [r[2] for r in results], "amount_fen": [r[3] for r in results],
        "temp_credit_fen": [r[4] for r in results], "over": [r[6] for r in results],
        "legacy_approved": [r[7] for r in results], "act": [r[8] for r in results],
    })
    con.register("replayed", table)
    truth = ("LEFT JOIN truth_authorizations t USING (auth_id)" if ds.has("truth_authorizations")
             else "LEFT JOIN (SELECT NULL::VARCHAR auth_id, NULL::VARCHAR scenario, "
                  "NULL::BOOLEAN is_fraud WHERE false) t USING (auth_id)")
    con.execute(f"CREATE TEMP TABLE ev AS SELECT r.*, t.scenario, t.is_fraud FROM replayed r {truth} "
                "WHERE r.message_type = 'purchase'")
    report.purchases = con.execute("SELECT count(*) FROM ev").fetchone()[0]
    q = con.execute
    for row in q("""SELECT scenario, any_value(is_fraud), count(*), sum(amount_fen),
                    sum((act = 3)::INT), sum((act = 2)::INT),
                    coalesce(sum(CASE WHEN act IN (2, 3) THEN amount_fen END), 0),
                    sum((act = 1)::INT), sum((NOT legacy_approved)::INT)
                 FROM ev WHERE scenario IS NOT NULL GROUP BY scenario ORDER BY scenario""").fetchall():
        report.scenarios.append(ScenarioRow(
            scenario=row[0], is_fraud=bool(row[1]), count=row[2], amount_fen=int(row[3]),
            declined=int(row[4]), challenged=int(row[5]), caught_amount_fen=int(row[6]),
            temp_credit=int(row[7]), legacy_declined=int(row[8])))
    for s in report.scenarios:
        if s.is_fraud:
            report.fraud_count += s.count
            report.fraud_amount_fen += s.amount_fen
            report.fraud_declined += s.declined
            report.fraud_challenged += s.challenged
            report.fraud_caught += s.caught
            report.fraud_caught_amount_fen += s.caught_amount_fen
            report.legacy_fraud_caught += s.legacy_declined
    g = q("""SELECT count(*), sum((act = 3)::INT), sum((act = 2)::INT), sum((act = 4)::INT)
             FROM ev WHERE scenario IS NULL""").fetchone()
    report.genuine, report.genuine_declined_risk, report.genuine_challenged, \
        report.genuine_declined_51 = (int(x or 0) for x in g)
    legacy = "SELECT count(*) FROM ev JOIN authorizations a USING (auth_id) " \
             "WHERE ev.scenario IS NULL AND NOT a.approved AND a.response_code <> '51'"
    report.legacy_genuine_declined_risk = int(q(legacy).fetchone()[0])
    o = q("""SELECT sum(over::INT), sum((act = 1)::INT),
                    coalesce(sum(CASE WHEN act = 1 THEN amount_fen END), 0),
                    coalesce(sum(temp_credit_fen), 0),
                    coalesce(sum(CASE WHEN act = 1 AND is_fraud THEN amount_fen END), 0)
             FROM ev""").fetchone()
    report.over_limit, report.rescued, report.rescued_amount_fen, report.temp_credit_fen, \
        report.rescued_fraud_loss_fen = (int(x or 0) for x in o)
    if ds.has("charge_offs"):
        loss = q("""SELECT coalesce(sum(least(g.tc, c.amount_fen)), 0) FROM
                      (SELECT card_token, sum(temp_credit_fen) tc FROM ev WHERE act = 1
                       GROUP BY card_token) g
                    JOIN charge_offs c USING (card_token)
                    WHERE c.charged_off_at >= CAST($1 AS DATE)""", [start]).fetchone()[0]
        report.rescued_chargeoff_loss_fen = int(loss)
