"""Restart where the engine stopped: replay the decision log into a freshly bootstrapped engine.

``AuthorizationEngine.from_dataset(data, until=T)`` builds its state from the dataset as of ``T``.
Every decision taken and every repayment applied after ``T`` (by this process, an earlier one, or
one that was killed) changed that state only in memory; what remains of it is the decision log
and the repayment log. :func:`restore` replays the logged decisions and repayments whose
**request time** is at or after ``T``, in the order the engine applied them (decisions by
``decided_at``, repayments by ``received_at``: one strictly increasing clock of the engine, see
``AuthorizationEngine._stamp``; at an equal time a repayment first, then by id: ADR 0021),
interleaved with the labels in the order they were received (``received_at``), and applies to
the engine exactly the state changes the live engine made (``AuthorizationEngine._purchase`` /
``_return`` / ``add_label``; the debit of an approved purchase and an applied reversal through
the same ``_debit`` / ``_reverse`` the live decision calls). ``from_dataset`` calls it. Only those rows are read: the log's indexed ``request_ts``
column selects them (the older ones are counted in ``older``); a row without it (a request time
that could not be read when the column was filled) is read and placed by its JSON.

What is restored:

- **accounts**: an approved purchase (``APPROVE``, ``APPROVE_WITH_TEMP_CREDIT``) raises the
  balance; its temporary credit (amount and expiry from the logged decision) is granted first,
  stacking like a live grant; an applied reversal (``REVERSAL_APPLIED``) lowers it by
  ``min(amount, original amount)``; an approved refund by its amount.
- **smart credit**: each grant counts against the portfolio's daily budget of its request day.
- **purchases cache** (reversal matching): every replayed purchase with its approved flag; an
  applied reversal marks its original reversed (a second reversal is refused, as live).
- **online features**: the same event the live engine fed, ``features.update(event,
  "authorizations")`` with the request plus ``approved``, ``response_code``,
  ``available_credit_fen`` (as logged) and ``temp_credit_fen``; a purchase declined for an unknown
  card feeds nothing (as live). Only when ``from_dataset`` bootstrapped the features itself
  (``features=True`` here): features passed in by a caller are the caller's state.
- **repayments** (``repayment_log``, ``AuthorizationEngine.repay``): the balance goes down by the
  amount, the ``repayments`` feature event the live engine fed is fed again, and the
  ``repayment_id`` counts as logged (a retry is answered, not applied twice).
- **labels** (``decision_labels``) of replayed decisions: ``features.update(label,
  "fraud_labels")`` at their place in the stream (label-delayed features).
- **idempotency**: replayed ``auth_id``\\ s count as logged even when older than
  ``EngineConfig.idempotency_days``.

What is not restored:

- decisions and repayments with a request time before ``T`` (the dataset is the truth for them);
- what was never committed: after ``kill -9`` the last ``flush_ms`` (+ one batch) of decisions
  are lost with their state changes (ADR 0005); a retry of such an ``auth_id`` is decided again;
- the process counters of ``health()`` (``decisions``, ``by_action``, ...): this process only;
- the idempotency *cache* of decisions (answered from the log on demand, as before).

Logged outcomes are applied, never re-decided: a model or rule change between two runs does not
rewrite history, and restoring is a plain loop (no scoring). The replay checks itself: where the
restored account's open-to-buy differs from the ``available_credit_fen`` the decision logged (the
open-to-buy before a logged repayment), or
a logged outcome contradicts the restored state (an approved purchase on a card the dataset does
not know, a reversal applied live whose original is not in the cache), it is counted in
``mismatches`` (the decision's logged outcome is applied all the same). A row whose request
cannot be read at all (no time, card or amount) is skipped and counted in ``skipped``; a request
that lacks optional fields is completed with their defaults (``partial``).

Replaying is idempotent: it reads the log and writes nothing, and the state it starts from is
rebuilt by the bootstrap each time (``OnlineEngine.bootstrap`` clears a Redis namespace first),
so restarting twice restores the same state.

>>> import tempfile
>>> from datetime import date, datetime
>>> from cardmind.decisions.accounts import AccountBook, CardAccount
>>> from cardmind.decisions.authorize import AuthorizationEngine, EngineConfig
>>> from cardmind.decisions.types import AuthorizationRequest
>>> from cardmind.units import TZ
>>> def book():
...     b = AccountBook(); b.as_of = datetime(2026, 3, 1, tzinfo=TZ)
...     b.put(CardAccount(card_token="c1", customer_id="u1", limit_fen=1_000_000,
...                       opened_at=date(2020, 1, 1)))
...     return b
>>> cfg = EngineConfig(db_url=f"sqlite:///{tempfile.mkdtemp()}/cm.db")
>>> a = AuthorizationEngine(cfg, model=None, accounts=book())
>>> _ = a.decide(AuthorizationRequest(auth_id="a1", card_token="c1", merchant_id="m1",
...     terminal_id="t1", ts="2026-03-01T12:00:00", amount_fen=5_000, mcc="5411",
...     channel="pos_chip", city="Shanghai"))
>>> a.close()
>>> b = AuthorizationEngine(cfg, model=None, accounts=book())
>>> report = restore(b, since=b.accounts.as_of)
>>> report.decisions, b.accounts.get("c1").balance_fen
(1, 5000)
>>> b.close()
"""

from __future__ import annotations

import heapq
import json
import logging
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select

from cardmind.decisions.smart_credit import CreditOffer
from cardmind.decisions.types import AuthorizationRequest
from cardmind.decisions.types import to_shanghai as _aware  # naive: Asia/Shanghai (SQLite)
from cardmind.storage.decision_log import (
    DecisionLabelRow,
    DecisionLogRow,
    RepaymentLogRow,
    TempCreditGrantRow,
)

if TYPE_CHECKING:
    from cardmind.decisions.authorize import AuthorizationEngine

try:  # optional: faster JSON; the stdlib is the fallback
    import orjson as _orjson

    _loads: Any = _orjson.loads
except ImportError:  # pragma: no cover
    _loads = json.loads

_log = logging.getLogger(__name__)

APPROVED = frozenset({"APPROVE", "APPROVE_WITH_TEMP_CREDIT"})
_FIELDS = tuple(AuthorizationRequest.model_fields)
_DEFAULTS = {name: f.default for name, f in AuthorizationRequest.model_fields.items()
             if not f.is_required()}
_REQUIRED = tuple(name for name, f in AuthorizationRequest.model_fields.items() if f.is_required())
_CHUNK = 5_000


@dataclass
class RestoreReport:
    """What :func:`restore` replayed (``since``: the dataset's as-of time, ISO 8601)."""

    since: str | None
    decisions: int = 0
    purchases: int = 0
    returns: int = 0
    labels: int = 0
    repayments: int = 0
    repaid_fen: int = 0
    temp_credit_grants: int = 0
    features: bool = True
    older: int = 0  # logged decisions before ``since`` (the dataset holds them)
    older_repayments: int = 0  # logged repayments before ``since``
    skipped: int = 0  # unreadable rows
    partial: int = 0  # requests whose required fields were completed from the columns
    mismatches: int = 0  # logged outcome vs restored state (see the module docstring)
    grant_rows_missing: int = 0  # a logged grant without its temp_credit_grants row
    feature_errors: int = 0
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        """Decisions replayed per second (0 when none)."""
        return self.decisions / self.seconds if self.decisions and self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "per_second": round(self.per_second, 1)}

    def summary(self) -> str:
        """One log line."""
        text = (f"restored {self.decisions:,} decisions ({self.purchases:,} purchases, "
                f"{self.returns:,} reversals/refunds, {self.temp_credit_grants:,} temp-credit "
                f"grants), {self.repayments:,} repayments and {self.labels:,} labels logged "
                f"after {self.since} in "
                f"{self.seconds:.2f} s ({self.per_second:,.0f} decisions/s)")
        if not self.features:
            text += "; online features not replayed (supplied by the caller)"
        problems = {k: v for k, v in (("skipped", self.skipped), ("partial", self.partial),
                                      ("mismatches", self.mismatches),
                                      ("grant rows missing", self.grant_rows_missing),
                                      ("feature errors", self.feature_errors)) if v}
        if problems:
            text += "; " + ", ".join(f"{k}: {v}" for k, v in problems.items())
        return text


def restore(engine: AuthorizationEngine, since: datetime | None, *,
            features: bool = True) -> RestoreReport:
    """Replay into ``engine`` every logged decision and repayment whose request time is at or
    after ``since`` (None: all of them), and the labels of those decisions; see the module
    docstring.

    Call it once, on an engine whose state is as of ``since`` and that has not decided yet."""
    t0 = time.perf_counter()
    since = _aware(since) if since is not None else None
    report = RestoreReport(since=since.isoformat() if since is not None else None,
                           features=features)
    db = engine._db
    engine.flush()
    grants = _grant_rows(db)
    labels = _label_rows(db)
    repayments = _repayment_rows(db, since, report)
    replayed: set[str] = set()
    pending: list[tuple[datetime, int, dict[str, Any]]] = []  # labels of replayed decisions
    r = 0  # next repayment

    def before(at: datetime | None) -> None:
        """Apply the repayments and labels stamped at or before ``at`` (None: all), in time
        order (at an equal time a repayment first)."""
        nonlocal r
        while True:
            rep_at = repayments[r][0] if r < len(repayments) else None
            lab_at = pending[0][0] if pending else None
            if rep_at is not None and (at is None or rep_at <= at) and (
                    lab_at is None or rep_at <= lab_at):
                _repayment(engine, repayments[r][1], report, features)
                r += 1
            elif lab_at is not None and (at is None or lab_at <= at):
                _label(engine, heapq.heappop(pending)[2], report, features)
            else:
                return

    latest = repayments[-1][0] if repayments else None  # the latest stamp replayed
    t = DecisionLogRow
    stmt = (select(t.auth_id, t.decided_at, t.card_token, t.merchant_id, t.message_type,
                   t.amount_fen, t.action, t.response_code, t.temp_credit_fen, t.request_json,
                   t.decision_json)
            .order_by(t.decided_at, t.auth_id))
    with db.connect() as conn:
        if since is not None:  # only what is after the dataset's end (index on request_ts)
            report.older = conn.execute(select(func.count()).select_from(t)
                                        .where(t.request_ts < since)).scalar_one()
            stmt = stmt.where(or_(t.request_ts >= since, t.request_ts.is_(None)))
        result = conn.execution_options(stream_results=True, yield_per=_CHUNK).execute(stmt)
        for row in result:
            decided_at = _aware(row.decided_at)
            before(decided_at)
            latest = decided_at if latest is None else max(latest, decided_at)
            req = _request(row, report)
            if req is None:
                continue
            if since is not None and req["ts"] < since:
                report.older += 1
                continue
            _apply(engine, req, row, _decision_fields(row), grants, report, features)
            replayed.add(row.auth_id)
            for received_at, seq, label in labels.get(row.auth_id, ()):
                heapq.heappush(pending, (received_at, seq, label))
    before(None)
    engine._logged.update(replayed)
    if latest is not None:  # the engine's next stamps come after what it replayed
        engine._last_at = max(engine._last_at, latest)
    report.seconds = time.perf_counter() - t0
    if report.decisions or report.labels or report.repayments:
        _log.info("%s", report.summary())
    return report


# --- reading the log ---------------------------------------------------------------------------

def _grant_rows(db: Any) -> dict[str, tuple[int, datetime]]:
    with db.connect() as conn:
        rows = conn.execute(select(TempCreditGrantRow.auth_id, TempCreditGrantRow.amount_fen,
                                   TempCreditGrantRow.expires_at)).all()
    return {a: (int(amount), _aware(exp)) for a, amount, exp in rows}


def _repayment_rows(db: Any, since: datetime | None, report: RestoreReport
                    ) -> list[tuple[datetime, dict[str, Any]]]:
    """The logged repayments to replay (request time at or after ``since``) as ``(received_at,
    columns)``, in the order the engine applied them (then by id); the others are counted."""
    t = RepaymentLogRow.__table__
    stmt = select(t).order_by(t.c.received_at, t.c.repayment_id)
    with db.connect() as conn:
        if since is not None:
            report.older_repayments = conn.execute(
                select(func.count()).select_from(t).where(t.c.ts < since)).scalar_one()
            stmt = stmt.where(t.c.ts >= since)
        rows = conn.execute(stmt).mappings().all()
    return [(_aware(row["received_at"]), dict(row)) for row in rows]


def _label_rows(db: Any) -> dict[str, list[tuple[datetime, int, dict[str, Any]]]]:
    with db.connect() as conn:
        rows = conn.execute(select(DecisionLabelRow.id, DecisionLabelRow.auth_id,
                                   DecisionLabelRow.label, DecisionLabelRow.reported_at,
                                   DecisionLabelRow.scenario, DecisionLabelRow.received_at)
                            .order_by(DecisionLabelRow.received_at, DecisionLabelRow.id)).all()
    out: dict[str, list[tuple[datetime, int, dict[str, Any]]]] = {}
    for seq, (_, auth_id, label, reported_at, scenario, received_at) in enumerate(rows):
        event = {"auth_id": auth_id, "label": label, "reported_at": _aware(reported_at),
                 "scenario": scenario}
        out.setdefault(auth_id, []).append((_aware(received_at), seq, event))
    return out


def _json_object(text: str | None) -> dict[str, Any]:
    """The JSON object logged in ``text``; ``{}`` when empty, unreadable or not an object.

    >>> _json_object('{"a": 1}'), _json_object("[1]"), _json_object("{"), _json_object(None)
    ({'a': 1}, {}, {}, {})
    """
    try:
        data = _loads(text) if text else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _request(row: Any, report: RestoreReport) -> dict[str, Any] | None:
    """The request as ``AuthorizationRequest.as_event()`` gave it live, or None (unreadable).

    The request was validated when it was decided: its JSON is read back without validating it
    again (~40 % of a restore's time), with the same conversions (``ts`` to Asia/Shanghai).
    Missing optional fields take their defaults; missing required ones are completed from the
    row's columns (``partial``)."""
    data = _json_object(row.request_json)
    event = {name: data.get(name, _DEFAULTS.get(name)) for name in _FIELDS}
    missing = [name for name in _REQUIRED if event[name] is None]
    if missing:
        for name in missing:
            event[name] = getattr(row, name, None)
    try:
        ts = _aware(event["ts"])  # as the live request converted it
        if not isinstance(ts, datetime):
            raise TypeError("no request time")
        event["ts"] = ts
        event["amount_fen"] = int(event["amount_fen"])
        if not event["card_token"] or event["amount_fen"] <= 0:
            raise ValueError("no card or amount")
    except (AttributeError, KeyError, TypeError, ValueError):
        report.skipped += 1
        _log.warning("restore: decision %s has no readable request time, card or amount: "
                     "skipped", row.auth_id)
        return None
    if missing:
        report.partial += 1
    return event


def _decision_fields(row: Any) -> dict[str, Any]:
    """The logged decision's outcome: columns first, the decision JSON for the rest."""
    d = _json_object(row.decision_json)
    expires = d.get("temp_credit_expires_at")
    reasons = d.get("reasons")
    return {
        "action": row.action or d.get("action"),
        "response_code": row.response_code or d.get("response_code"),
        "temp_credit_fen": int(row.temp_credit_fen or d.get("temp_credit_fen") or 0),
        "temp_credit_expires_at": _aware(expires) if expires else None,
        "available_credit_fen": d.get("available_credit_fen"),
        # None: unknown (no decision JSON), the state decides as live did
        "reasons": ({r.get("code") if isinstance(r, dict) else r for r in reasons}
                    if isinstance(reasons, list) else None),
    }


# --- applying one decision ---------------------------------------------------------------------

def _apply(engine: AuthorizationEngine, req: dict[str, Any], row: Any, d: dict[str, Any],
           grants: dict[str, tuple[int, datetime]], report: RestoreReport,
           features: bool) -> None:
    from cardmind.decisions.authorize import _Purchase

    report.decisions += 1
    card, amount, now = req["card_token"], req["amount_fen"], req["ts"]
    acct = engine.accounts.get(card)
    logged_available = d["available_credit_fen"]
    if acct is not None and logged_available is not None \
            and acct.available_fen(now) != logged_available:
        report.mismatches += 1
    if req.get("customer_id") is None and acct is not None:
        req["customer_id"] = acct.customer_id
    action, code, reasons = d["action"], d["response_code"], d["reasons"]
    if req["message_type"] == "purchase":
        report.purchases += 1
        approved = action in APPROVED
        unknown = "CARD_UNKNOWN" in reasons if reasons is not None else acct is None
        if unknown:  # live: declined 14 without features, whatever the book says now
            if approved:
                report.mismatches += 1
            engine._remember_purchase(req["auth_id"], _Purchase(card, amount, False))
            return
        # live: account state unavailable (stand-in) or gone: decided, but nothing debited
        debit = approved and acct is not None and not (
            reasons is not None and "STANDIN_ACCOUNT" in reasons)
        if approved and acct is None:
            report.mismatches += 1
        temp = d["temp_credit_fen"] if debit else 0
        if debit:
            offer = None
            if temp > 0:
                expires = d["temp_credit_expires_at"]
                grant = grants.get(req["auth_id"])
                if grant is None:
                    report.grant_rows_missing += 1
                expires = expires or (grant[1] if grant is not None else now + timedelta(
                    days=engine.credit.config.expiry_days))
                offer = _offer(temp, expires)
                report.temp_credit_grants += 1
            engine._debit(card, amount, offer, now)
        engine._remember_purchase(req["auth_id"], _Purchase(card, amount, approved))
        outcome = {"approved": approved, "response_code": code,
                   "available_credit_fen": logged_available or 0, "temp_credit_fen": temp}
    else:
        report.returns += 1
        if req["message_type"] == "reversal":
            orig = engine._purchases.get(req.get("original_auth_id") or "")
            matches = (orig is not None and orig.approved and not orig.reversed
                       and orig.card_token == card)
            applied = matches if reasons is None else "REVERSAL_APPLIED" in reasons
            if applied:
                if not matches:
                    report.mismatches += 1
                if orig is not None:
                    engine._reverse(orig, card, amount)
                else:
                    engine.accounts.credit(card, amount)
        elif acct is not None and action == "APPROVE":
            engine.accounts.credit(card, amount)
        outcome = {"approved": action == "APPROVE", "response_code": code,
                   "available_credit_fen": logged_available or 0, "temp_credit_fen": 0}
    if features:
        req.update(outcome)
        try:
            engine.features.update(req, "authorizations")
        except Exception:
            report.feature_errors += 1


def _repayment(engine: AuthorizationEngine, row: dict[str, Any], report: RestoreReport,
               features: bool) -> None:
    """A logged repayment, as ``AuthorizationEngine.repay`` applied it."""
    from cardmind.decisions.authorize import repayment_event

    report.repayments += 1
    card, amount, ts = row["card_token"], int(row["amount_fen"]), _aware(row["ts"])
    engine._logged_repayments.add(row["repayment_id"])
    acct = engine.accounts.get(card)
    if acct is None:  # live: an unknown card is refused, never logged
        report.mismatches += 1
        return
    if acct.available_fen(ts) != row["available_before_fen"]:
        report.mismatches += 1
    report.repaid_fen += amount
    engine.accounts.credit(card, amount)
    if features:
        event = repayment_event({
            "repayment_id": row["repayment_id"], "card_token": card,
            "customer_id": row["customer_id"], "ts": ts, "amount_fen": amount,
            "channel": row["channel"], "payer_is_cardholder": bool(row["payer_is_cardholder"]),
        }, acct.customer_id)
        try:
            engine.features.update(event, "repayments")
        except Exception:
            report.feature_errors += 1


def _offer(amount: int, expires: datetime) -> CreditOffer:
    return CreditOffer(granted=True, amount_fen=amount, expires_at=expires,
                       reason="TEMP_CREDIT_GRANTED", behaviour_risk=0.0, card_cap_fen=0,
                       portfolio_used_fen=0)


def _label(engine: AuthorizationEngine, event: dict[str, Any], report: RestoreReport,
           features: bool) -> None:
    report.labels += 1
    if not features:
        return
    try:
        engine.features.update(dict(event), "fraud_labels")
    except Exception:
        report.feature_errors += 1
