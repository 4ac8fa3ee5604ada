"""Real-time authorization: one decision per authorization (fraud shield + smart credit).

Per purchase the engine (1) returns the first decision again for a repeated ``auth_id``,
(2) reads the card's online features, then updates them, (3) scores fraud with the production
model, (4) evaluates the rules and lists, (5) checks the available credit and, when the amount
exceeds it, decides a temporary raise (smart credit), and (6) logs the decision off the hot path.
Reversals and refunds adjust the card's state. When the model, the feature store, the account
state or the latency budget fails, the stand-in rules decide and the decision says so.

Public surface (used by the HTTP API):

- ``AuthorizationEngine(config=EngineConfig(...), model=..., features=..., accounts=...)`` or
  ``AuthorizationEngine.from_dataset(DIR, until=...)`` (accounts and features bootstrapped).
- ``engine.decide(request) -> Decision``: idempotent on ``auth_id``.
- ``engine.get_decision(auth_id) -> Decision | None``
- ``engine.explain_decision(auth_id, top=3)``: the model's top factors of any logged decision
  (approvals included), recomputed exactly from the stored features and model version.
- ``engine.add_label(label) -> None``: fraud report, chargeback or confirmed genuine.
- ``engine.repay(request) -> RepaymentResult``: a repayment frees credit; idempotent on
  ``repayment_id``, logged, restored after a restart. ``engine.apply_repayment(row)`` does the
  same with a ``repayments`` table row (``cardmind replay``).
- ``engine.lists``: block/trust lists (``add``, ``remove``, ``entries``, ``lookup``), persisted.
- ``engine.rules``: rule set in force (``info``, ``text``, ``validate``, ``load``, ``reload``).
- ``engine.health() -> dict``; ``engine.close()`` flushes the decision log.

>>> import tempfile
>>> from datetime import date
>>> from cardmind.decisions.accounts import AccountBook, CardAccount
>>> book = AccountBook()
>>> book.put(CardAccount(card_token="c1", customer_id="u1", limit_fen=1_000_000,
...     balance_fen=990_000, opened_at=date(2020, 1, 1), avg_purchases_fen=500_000))
>>> cfg = EngineConfig(db_url=f"sqlite:///{tempfile.mkdtemp()}/cm.db")
>>> engine = AuthorizationEngine(cfg, model=None, accounts=book)
>>> req = AuthorizationRequest(auth_id="a1", card_token="c1", merchant_id="m1",
...     terminal_id="t1", ts="2026-03-01T12:00:00", amount_fen=5_000, mcc="5411",
...     channel="pos_chip", city="Shanghai")
>>> d = engine.decide(req)
>>> d.action, d.response_code, d.standin, d.reasons[0].code
('APPROVE', '00', True, 'STANDIN_MODEL')
>>> engine.decide(req) == d  # idempotent: same decision, state changed once
True
>>> book.get("c1").balance_fen
995000
>>> engine.close()
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from cardmind.decisions.accounts import AccountBook
from cardmind.decisions.context import ContextPlan
from cardmind.decisions.lists import ListStore
from cardmind.decisions.online import bootstrap_features, serving_features
from cardmind.decisions.reasons import reason
from cardmind.decisions.restore import RestoreReport, restore
from cardmind.decisions.rules import (
    RuleEvaluationError,
    RuleManager,
    RuleSet,
    Verdict,
    verdict,
)
from cardmind.decisions.smart_credit import CreditOffer, SmartCredit, SmartCreditConfig
from cardmind.decisions.standin import standin_verdict
from cardmind.decisions.types import (
    AuthorizationRequest,
    Decision,
    Label,
    Reason,
    RepaymentRequest,
    RepaymentResult,
    to_shanghai,
)
from cardmind.errors import InvalidInput
from cardmind.features.row import FeatureRow
from cardmind.storage.base import create_all
from cardmind.storage.decision_log import (
    FEATURE_DTYPE,
    DecisionLabelRow,
    DecisionLogWriter,
    load_decision_inputs,
    load_decision_json,
    load_repayment,
    log_engine,
    logged_auth_ids,
    logged_repayment_ids,
    pack_features,
)
from cardmind.units import TZ

try:  # optional: ~10x faster feature JSON in the log writer; the stdlib is the fallback
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None

#: Name of the cash-out score hook (issue 8): a feature of this name, or a ``cashout`` callable.
CASHOUT_SCORE = "cashout_score"


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """Settings of the engine; every field has a safe default.

    - ``db_url``: decision log, lists and temp-credit grants (default: the configured database).
    - ``rules_path``: YAML rule file (default: the packaged ``rules/default.yaml``), watched for
      changes every ``watch_rules_s`` seconds (hot reload).
    - ``latency_budget_us``: when reading features and scoring took longer, the stand-in rules
      decide (the model's answer is not used).
    - ``log_flush_ms`` / ``log_batch`` / ``log_queue_max``: see
      :class:`~cardmind.storage.decision_log.DecisionLogWriter` (durability contract).
    - ``unknown_card``: ``"decline"`` (response 14, logged) or ``"error"`` (raise InvalidInput).
    - ``idempotency_cache``: decisions kept in memory; older ones are read back from the log.
    - ``idempotency_days``: at start, auth ids logged in the last N days are loaded, so that a
      retried authorization is answered from the log after a restart.
    - ``purchases_cache``: recent purchases remembered for reversals (oldest forgotten first).
    - ``lists_refresh_s``: reload block/trust lists from the database this often, in the
      background (edits by other processes); 0 turns it off.
    - ``explain_top``: model reasons added to challenges and declines.
    """

    db_url: str | None = None
    rules_path: Path | None = None
    latency_budget_us: int = 5_000
    log_flush_ms: int = 50
    log_batch: int = 512
    log_queue_max: int = 200_000
    watch_rules_s: float = 1.0
    unknown_card: str = "decline"
    idempotency_cache: int = 200_000
    idempotency_days: int = 7
    purchases_cache: int = 2_000_000
    lists_refresh_s: float = 30.0
    explain_top: int = 2
    smart_credit: SmartCreditConfig = field(default_factory=SmartCreditConfig)

    def __post_init__(self) -> None:
        if self.unknown_card not in ("decline", "error"):
            raise ValueError(f"unknown_card must be 'decline' or 'error', got {self.unknown_card!r}")
        for name in ("latency_budget_us", "log_flush_ms", "log_batch", "log_queue_max",
                     "idempotency_cache", "idempotency_days", "purchases_cache"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")


@dataclass(slots=True)
class _Purchase:
    card_token: str
    amount_fen: int
    approved: bool
    reversed: bool = False


@dataclass
class _Counters:
    decisions: int = 0
    duplicates: int = 0
    standin: int = 0
    by_action: dict[str, int] = field(default_factory=dict)
    feature_update_errors: int = 0
    temp_credit_grants: int = 0
    temp_credit_fen: int = 0
    repayments: int = 0
    repayment_duplicates: int = 0
    repaid_fen: int = 0


def load_serving_model(name: str = "fraud") -> tuple[Any, str | None]:
    """The registry's production model compiled for one-row scoring (numba tree walker, same
    scores as LightGBM), or ``(None, why)`` when there is none. Every engine loads through here,
    so the server, ``cardmind replay``, the demo and the benchmarks score the same way."""
    try:
        from cardmind.models.registry import load

        model = load(name, "production")
    except Exception as exc:  # no registry, no production model, unreadable artifact
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    compile_model = getattr(model, "compile", None)
    if compile_model is not None:
        compile_model()
    return model, None


class AuthorizationEngine:
    """Decides authorizations; see the module docstring for the public methods."""

    def __init__(
        self,
        config: EngineConfig | None = None,
        *,
        model: Any = "registry",
        features: Any = None,
        accounts: AccountBook | None = None,
        cashout: Any = None,
    ) -> None:
        self.config = config or EngineConfig()
        cfg = self.config
        if isinstance(model, str) and model == "registry":
            model, self.model_error = load_serving_model()
        else:
            self.model_error = None if model is not None else "no fraud model configured"
        self.features = features if features is not None else serving_features(model)
        provided = getattr(self.features, "feature_names", None) or getattr(
            self.features, "names", None)
        needed = list(getattr(model, "feature_names", ()) or ()) if model is not None else []
        missing = [n for n in needed if provided is not None and n not in set(provided)]
        if missing:  # scoring on absent features would be silently wrong: stand-in instead
            self.model_error = (f"the feature source lacks {len(missing)} model features "
                                f"(e.g. {missing[:3]})")
            model = None
        self.model = model
        self.model_version: str | None = getattr(model, "version", None) if model else None
        self.accounts = accounts if accounts is not None else AccountBook()
        self.cashout = cashout
        self.credit = SmartCredit(cfg.smart_credit)
        known = set(getattr(self.features, "feature_names", None)
                    or getattr(self.features, "names", None) or ())
        known |= set(getattr(model, "feature_names", ()) or ()) if model is not None else set()
        self._rules = RuleManager(cfg.rules_path, watch_s=cfg.watch_rules_s,
                                  known_features=frozenset(known) if known else None)
        self._db = log_engine(cfg.db_url)
        create_all(self._db)
        self._lists = ListStore(self._db)
        self._lists.start_refresh(cfg.lists_refresh_s)
        self._log = DecisionLogWriter(
            self._db, flush_ms=cfg.log_flush_ms, batch=cfg.log_batch,
            queue_max=cfg.log_queue_max,
            prepare_many={"decision_log": _decision_rows,
                          "temp_credit_grants": _each(_grant_row),
                          "repayment_log": _each(_repayment_row)},
        )
        self._decisions: OrderedDict[str, Decision] = OrderedDict()
        since = datetime.now(TZ) - timedelta(days=cfg.idempotency_days)
        self._logged = logged_auth_ids(self._db, since)  # idempotency survives a restart
        self._repayments: OrderedDict[str, RepaymentResult] = OrderedDict()
        self._logged_repayments = logged_repayment_ids(self._db, since)
        self._last_at = datetime.min.replace(tzinfo=TZ)  # the latest stamp (see _stamp)
        self._purchases: OrderedDict[str, _Purchase] = OrderedDict()
        self._lock = threading.RLock()
        self.counters = _Counters()
        self._model_features = tuple(getattr(model, "feature_names", ()) or ())
        rs = self._rules.current  # what the rules read of the context, per rule set
        self._plan: tuple[RuleSet, ContextPlan] = (rs, ContextPlan.for_reads(rs.reads))
        self.restored: RestoreReport | None = None  # set by from_dataset

    # --- construction from data ------------------------------------------------------------
    @classmethod
    def from_dataset(cls, data: str | Path, *, until: datetime | None = None,
                     config: EngineConfig | None = None, model: Any = "registry",
                     features: Any = None, cashout: Any = None) -> AuthorizationEngine:
        """An engine whose card accounts, online features and recent purchases are bootstrapped
        from the dataset ``data`` as of ``until`` (default: the end of the data), then brought up
        to date with the decisions logged after ``until`` in the configured database
        (:func:`cardmind.decisions.restore.restore`; report in ``engine.restored``)."""
        accounts = AccountBook.from_dataset(data, until=until)
        until = accounts.as_of
        error = None
        if isinstance(model, str) and model == "registry":
            model, error = load_serving_model()
        bootstrapped = features is None
        if bootstrapped:
            features = serving_features(model)
            bootstrap_features(features, data, until)
        engine = cls(config, model=model, features=features, accounts=accounts, cashout=cashout)
        engine.model_error = error or engine.model_error
        engine._bootstrap_purchases(data, until)
        # what was decided after `until` (earlier runs on this database): see decisions/restore.py
        engine.restored = restore(engine, until, features=bootstrapped)
        return engine

    def _bootstrap_purchases(self, data: str | Path, until: datetime | None,
                             days: int = 30) -> None:
        from cardmind.decisions._data import connect

        _, con = connect(data)
        cur = con.execute(
            "SELECT auth_id, card_token, amount_fen, approved FROM authorizations "
            "WHERE message_type = 'purchase' AND ts < $1 AND ts >= $1 - to_days($2)",
            [until, days])
        while batch := cur.fetchmany(100_000):
            for auth_id, card, amount, approved in batch:
                self._remember_purchase(auth_id, _Purchase(card, int(amount), bool(approved)))

    # --- the decision ----------------------------------------------------------------------
    def decide(self, request: AuthorizationRequest) -> Decision:
        """Decide one authorization; a repeated ``auth_id`` returns the first decision unchanged."""
        t0 = time.perf_counter_ns()
        with self._lock:
            previous = self._previous(request.auth_id)
            if previous is not None:
                self.counters.duplicates += 1
                return previous
            self._rules.maybe_reload(time.monotonic())
            if request.message_type == "purchase":
                decision, used, offer = self._purchase(request, t0, time.perf_counter_ns())
            else:
                decision, used, offer = self._return(request, t0), {}, None
            self._remember(request.auth_id, decision)
            c = self.counters
            c.decisions += 1
            c.standin += decision.standin
            c.by_action[decision.action] = c.by_action.get(decision.action, 0) + 1
        self._log.put("decision_log", (request, decision, used))
        if offer is not None:
            self._log.put("temp_credit_grants", (request, decision, offer))
        return decision

    def _previous(self, auth_id: str) -> Decision | None:
        d = self._decisions.get(auth_id)
        if d is not None or auth_id not in self._logged:
            return d
        self._log.flush()
        text = load_decision_json(self._db, auth_id)
        return Decision.model_validate_json(text) if text else None

    def _stamp(self) -> datetime:
        """The time of a decision or repayment (under the lock): now, or 1 µs after the previous
        stamp when the clock has not moved on or went back. Stamps strictly increase, so the
        log's ``decided_at`` / ``received_at`` order is the order the engine applied them
        (restore merges the two logs by them: ADR 0021)."""
        now = datetime.now(TZ)
        if now <= self._last_at:
            now = self._last_at + _TICK
        self._last_at = now
        return now

    def _remember(self, auth_id: str, decision: Decision) -> None:
        self._decisions[auth_id] = decision
        self._logged.add(auth_id)
        if len(self._decisions) > self.config.idempotency_cache:
            self._decisions.popitem(last=False)

    def _remember_purchase(self, auth_id: str, purchase: _Purchase) -> None:
        self._purchases[auth_id] = purchase
        if len(self._purchases) > self.config.purchases_cache:
            self._purchases.popitem(last=False)

    def _purchase(self, req: AuthorizationRequest, t0: int, t_budget: int
                  ) -> tuple[Decision, Any, CreditOffer | None]:
        now = req.ts
        cause: str | None = None
        try:
            acct = self.accounts.get(req.card_token)
            available = acct.available_fen(now) if acct is not None else None
        except Exception:
            acct, available, cause = None, None, "account"
        if acct is None and cause is None:
            if self.config.unknown_card == "error":
                raise InvalidInput(f"unknown card token {req.card_token!r}")
            return self._unknown_card(req, t0), {}, None
        rs = self._rules.current  # one rule set for the whole decision (a reload may swap it)
        if self._plan[0] is not rs:
            self._plan = (rs, ContextPlan.for_reads(rs.reads))
        ctx = self._plan[1].build(req, acct, available, self._lists)
        if cause == "account" and "account" in ctx:
            # state unavailable: stand-in treats the card as active, unknown OTB
            ctx["account"].update(known=True, status="active")
        event = req.as_event()
        if event["customer_id"] is None and acct is not None:
            event["customer_id"] = acct.customer_id
        feats: Mapping[str, float] = {}
        pending: Any = None
        score: float | None = None
        if cause is None:
            try:
                feats, pending = self._read_features(event)
            except Exception:
                cause = "features"
        if cause is None:
            if self.model is None:
                cause = "model"
            else:
                try:
                    score = float(self.model.predict_one(feats))
                    if score != score:  # NaN
                        raise ValueError("model returned NaN")
                except Exception:
                    cause, score = "model", None
        cash = self._cashout_score(event, feats)
        spent_us = (time.perf_counter_ns() - t_budget) // 1000
        if cause is None and spent_us > self.config.latency_budget_us:
            cause, score = "latency", None
        ctx["cashout_score"] = cash
        v: Verdict | None = None
        if cause is None:
            ctx["fraud_score"] = score
            ctx["features"] = _rule_features(feats, rs.features)
            try:
                v = verdict(rs.evaluate(ctx))
            except RuleEvaluationError:
                cause = "rules"
        if v is None:
            ctx["fraud_score"], ctx["features"] = None, {}
            v = standin_verdict(rs, ctx, cause=cause or "rules")
        # the model's inputs as it saw them (they win over the rules' 0-filled copies), so that
        # explain_decision recomputes exactly the reasons of this score
        used = _logged_features(ctx["features"], feats, self._model_features)
        action, code, reasons = v.action, v.response_code, list(v.reasons)
        offer: CreditOffer | None = None
        over = acct is not None and available is not None and req.amount_fen > available
        if action == "APPROVE" and over:
            assert acct is not None
            offer = self.credit.decide(acct, amount_fen=req.amount_fen, now=now,
                                       fraud_score=score, cashout_score=cash,
                                       vetoed=v.no_temp_credit)
            if offer.granted:
                action = "APPROVE_WITH_TEMP_CREDIT"
                reasons += ["OVER_LIMIT", "TEMP_CREDIT_GRANTED"]
            else:
                action, code = "DECLINE", "51"
                reasons += ["OVER_LIMIT", *(v.credit_veto or (offer.reason,))]
                offer = None
        elif action == "CHALLENGE" and over:
            action, code = "DECLINE", "51"
            reasons += ["OVER_LIMIT", "TEMP_CREDIT_FRAUD_RISK"]
        factors: list[Reason] = []
        if action in ("CHALLENGE", "DECLINE") and score is not None and self.config.explain_top:
            factors = self._explain(feats, reasons)
        if action == "APPROVE" and not reasons:
            reasons.append("LOW_RISK")
        # state
        approved = action in ("APPROVE", "APPROVE_WITH_TEMP_CREDIT")
        if approved and acct is not None:
            self._debit(req.card_token, req.amount_fen, offer, now)
            if offer is not None:
                self.counters.temp_credit_grants += 1
                self.counters.temp_credit_fen += offer.amount_fen
        self._remember_purchase(req.auth_id, _Purchase(req.card_token, req.amount_fen, approved))
        event.update(approved=approved, response_code=code, available_credit_fen=available or 0,
                     temp_credit_fen=offer.amount_fen if offer else 0)
        self._update_features(event, "authorizations", pending)
        decision = _decision(
            auth_id=req.auth_id, action=action, response_code=code,
            temp_credit_fen=offer.amount_fen if offer else 0,
            temp_credit_expires_at=offer.expires_at if offer else None,
            fraud_score=score, cashout_score=cash,
            reasons=[reason(r) for r in dict.fromkeys(reasons)] + factors,
            model_version=self.model_version if score is not None else None,
            rules_version=rs.version, standin=cause is not None,
            standin_reason=_standin_text(cause, self.model_error) if cause else None,
            available_credit_fen=available,
            latency_us=(time.perf_counter_ns() - t0) // 1000,
            decided_at=self._stamp(),
        )
        return decision, used, offer

    def _unknown_card(self, req: AuthorizationRequest, t0: int) -> Decision:
        """A card the issuer does not know: declined (14) without scoring; nothing else changes."""
        self._remember_purchase(req.auth_id, _Purchase(req.card_token, req.amount_fen, False))
        return _decision(
            auth_id=req.auth_id, action="DECLINE", response_code="14", temp_credit_fen=0,
            temp_credit_expires_at=None, fraud_score=None, cashout_score=None,
            reasons=[reason("CARD_UNKNOWN")], model_version=None,
            rules_version=self._rules.version, standin=False, standin_reason=None,
            available_credit_fen=None, latency_us=(time.perf_counter_ns() - t0) // 1000,
            decided_at=self._stamp(),
        )

    def _explain(self, feats: Mapping[str, float], reasons: list[str]) -> list[Reason]:
        """The model's top risk-raising features as ``FACTOR_<feature>`` reasons (fraud only)."""
        if not any(r.startswith(("FRAUD_", "NIGHT_", "CROSS_", "CNP_", "VELOCITY")) for r in reasons):
            return []
        try:
            top = self.model.explain(feats, top=self.config.explain_top)
        except Exception:
            return []
        out = []
        for r in top:
            feature = getattr(r, "feature", None) or str(r)
            generic = reason(f"FACTOR_{feature}")
            out.append(Reason(code=generic.code, en=getattr(r, "en", None) or generic.en,
                              zh=getattr(r, "zh", None) or generic.zh))
        return out

    def _cashout_score(self, event: dict[str, Any], feats: Mapping[str, float]) -> float | None:
        """The cash-out hook: a ``cashout_score`` feature, else the ``cashout`` callable, else None."""
        value = feats.get(CASHOUT_SCORE)
        if value is None and self.cashout is not None:
            try:
                value = self.cashout(event, feats)
            except Exception:
                value = None
        return None if value is None or value != value else float(value)

    def _return(self, req: AuthorizationRequest, t0: int) -> Decision:
        orig = self._purchases.get(req.original_auth_id or "")
        acct = self.accounts.get(req.card_token)
        available = acct.available_fen(req.ts) if acct is not None else None
        action, code = "APPROVE", "00"
        if req.message_type == "reversal":
            if orig is None or not orig.approved or orig.reversed or orig.card_token != req.card_token:
                reasons = ["ORIGINAL_NOT_FOUND"]
            else:
                self._reverse(orig, req.card_token, req.amount_fen)
                reasons = ["REVERSAL_APPLIED"]
        elif acct is None:
            if self.config.unknown_card == "error":
                raise InvalidInput(f"unknown card token {req.card_token!r}")
            action, code, reasons = "DECLINE", "14", ["CARD_UNKNOWN"]
        else:
            self.accounts.credit(req.card_token, req.amount_fen)
            reasons = ["REFUND_APPLIED"]
        event = req.as_event()
        if event["customer_id"] is None and acct is not None:
            event["customer_id"] = acct.customer_id
        event.update(approved=action == "APPROVE", response_code=code,
                     available_credit_fen=available or 0, temp_credit_fen=0)
        self._update_features(event, "authorizations")
        return _decision(
            auth_id=req.auth_id, action=action, response_code=code, temp_credit_fen=0,
            temp_credit_expires_at=None, fraud_score=None, cashout_score=None,
            reasons=[reason(r) for r in reasons], model_version=None,
            rules_version=self._rules.version, standin=False, standin_reason=None,
            available_credit_fen=available, latency_us=(time.perf_counter_ns() - t0) // 1000,
            decided_at=self._stamp(),
        )

    # state changes of an outcome, shared by the live decision and the restore of a logged one
    def _debit(self, card: str, amount: int, offer: CreditOffer | None, now: datetime) -> None:
        """An approved purchase: its temporary credit first (counted against the portfolio's
        daily budget), then the debit."""
        if offer is not None:
            assert offer.expires_at is not None
            self.accounts.grant_temp(card, offer.amount_fen, offer.expires_at)
            self.credit.commit(offer, now)
        self.accounts.purchase(card, amount)

    def _reverse(self, original: _Purchase, card: str, amount: int) -> None:
        """An applied reversal: the original is marked reversed, at most its amount returns."""
        original.reversed = True
        self.accounts.credit(card, min(amount, original.amount_fen))

    def _read_features(self, event: dict[str, Any]) -> tuple[Mapping[str, float], Any]:
        """The features before this authorization, and what its update reuses (online engines
        with ``read``: time, keys, virtual columns computed once), else ``features_for``."""
        read = getattr(self.features, "read", None)
        if read is None:
            return self.features.features_for(event), None
        return read(event)

    def _update_features(self, event: dict[str, Any], table: str, pending: Any = None) -> None:
        try:
            if pending is None:
                self.features.update(event, table)
            else:
                self.features.update(event, table, pending=pending)
        except Exception:
            self.counters.feature_update_errors += 1

    # --- other state changes ---------------------------------------------------------------
    def repay(self, request: RepaymentRequest) -> RepaymentResult:
        """Apply one repayment: the card's balance goes down by its amount (its open-to-buy up;
        active temporary credit is left as it is), its ``repayments`` features are updated, and
        it is logged off the hot path like a decision (``repayment_log``; replayed by
        :func:`~cardmind.decisions.restore.restore` after a restart).

        Idempotent on ``repayment_id``: a repeat returns the first result and frees nothing
        twice (also after a restart: the ids logged in the last ``idempotency_days`` are loaded
        at start); the same id with another card or amount is refused. An unknown card is
        refused (nothing changes, nothing is logged). Both: :class:`InvalidInput`.
        """
        with self._lock:
            previous = self._previous_repayment(request.repayment_id)
            if previous is not None:
                if (previous.card_token, previous.amount_fen) != (request.card_token,
                                                                  request.amount_fen):
                    raise InvalidInput(
                        f"repayment_id {request.repayment_id!r} was already applied to another "
                        "card or amount; a new repayment needs a new repayment_id")
                self.counters.repayment_duplicates += 1
                return previous
            acct = self.accounts.get(request.card_token)
            if acct is None:
                raise InvalidInput(f"repayment: unknown card token {request.card_token!r}")
            event = repayment_event(request.as_event(), acct.customer_id)
            before = acct.available_fen(request.ts)
            self.accounts.credit(request.card_token, request.amount_fen)
            self._update_features(event, "repayments")
            received_at = self._stamp()
            result = RepaymentResult(
                repayment_id=request.repayment_id, card_token=request.card_token,
                amount_fen=request.amount_fen, balance_fen=acct.balance_fen,
                available_credit_before_fen=before,
                available_credit_fen=acct.available_fen(request.ts),
                temp_credit_fen=acct.temp_active(request.ts), received_at=received_at)
            self._remember_repayment(result)
            c = self.counters
            c.repayments += 1
            c.repaid_fen += request.amount_fen
        self._log.put("repayment_log", (event, result))
        return result

    def apply_repayment(self, row: Mapping[str, Any]) -> RepaymentResult:
        """:meth:`repay` of a ``repayments`` table row (``repayment_id``, ``card_token``, ``ts``,
        ``amount_fen``, ``channel``, ...; other columns ignored), validated like an HTTP body."""
        fields = {k: row[k] for k in RepaymentRequest.model_fields if row.get(k) is not None}
        return self.repay(RepaymentRequest.parse(fields))

    def _previous_repayment(self, repayment_id: str) -> RepaymentResult | None:
        r = self._repayments.get(repayment_id)
        if r is not None or repayment_id not in self._logged_repayments:
            return r
        self._log.flush()
        row = load_repayment(self._db, repayment_id)
        return None if row is None else repayment_result(row)

    def _remember_repayment(self, result: RepaymentResult) -> None:
        self._repayments[result.repayment_id] = result
        self._logged_repayments.add(result.repayment_id)
        if len(self._repayments) > self.config.idempotency_cache:
            self._repayments.popitem(last=False)

    def get_decision(self, auth_id: str) -> Decision | None:
        """The decision taken for ``auth_id`` (memory, else the decision log), or None."""
        with self._lock:
            return self._previous(auth_id)

    def explain_decision(self, auth_id: str, top: int = 3) -> list[Any] | None:
        """The fraud model's top risk-raising factors (``cardmind.models.explain.Reason``) of the
        logged decision ``auth_id``, or None when there is no such decision.

        Challenges and declines carry their factors in the answer; every other decision keeps
        what is needed to explain it: the model inputs (``feature_values``, or ``features_json`` of
        a row logged before migration 0004) and the model version.
        Tree SHAP is deterministic, so this recomputes exactly the factors the decision would
        have carried (~0.4 ms), on demand instead of on the hot path. A decision taken without
        the model (stand-in) has no factors: ``[]``.
        """
        self.flush()
        stored = load_decision_inputs(self._db, auth_id)
        if stored is None:
            return None
        row, version = stored
        if version is None:
            return []
        model = self.model
        if model is None or version != self.model_version:
            from cardmind.models.registry import load

            model = load(getattr(model, "name", None) or "fraud", version)
        return list(model.explain(row, top=top))

    def add_label(self, label: Label) -> None:
        """Record a fraud report / chargeback / genuine confirmation (unknown auth_id: InvalidInput)."""
        if self.get_decision(label.auth_id) is None:
            raise InvalidInput(f"label: no decision for auth_id {label.auth_id!r}")
        with self._db.begin() as conn:
            conn.execute(DecisionLabelRow.__table__.insert(), [{
                "auth_id": label.auth_id, "label": label.label, "reported_at": label.reported_at,
                "scenario": label.scenario, "received_at": datetime.now(TZ),
            }])
        with self._lock:
            self._update_features(label.model_dump(), "fraud_labels")

    @property
    def lists(self) -> ListStore:
        """Block/trust lists: ``add(ListEntry)``, ``remove(kind, value, list_type=None) -> bool``,
        ``entries(kind=None, list_type=None) -> list[ListEntry]``, ``lookup(kind, value)``."""
        return self._lists

    @property
    def rules(self) -> RuleManager:
        """Rules in force: ``info -> RulesInfo``, ``text``, ``validate(text) -> RulesInfo``,
        ``load(text) -> RulesInfo`` (bad text: InvalidInput, previous set stays), ``reload()``."""
        return self._rules

    def has_card(self, card_token: str) -> bool:
        """True when the engine knows the card's account."""
        return card_token in self.accounts

    def flush(self) -> None:
        """Wait until every decision taken so far is committed to the decision log."""
        self._log.flush()

    def health(self) -> dict[str, Any]:
        """Status for /healthz: model and rule versions, log queue depth, counters."""
        c = self.counters
        degraded = self.model is None or self._log.failures > 0
        return {
            "status": "degraded" if degraded else "ok",
            "model_version": self.model_version,
            "model_error": self.model_error,
            "rules_version": self._rules.version,
            "rules_error": self._rules.last_error,
            "accounts": len(self.accounts),
            "list_entries": len(self._lists),
            "decisions": c.decisions,
            "duplicates": c.duplicates,
            "standin": c.standin,
            "by_action": dict(c.by_action),
            "temp_credit_grants": c.temp_credit_grants,
            "temp_credit_fen": c.temp_credit_fen,
            "repayments": c.repayments,
            "repayment_duplicates": c.repayment_duplicates,
            "repaid_fen": c.repaid_fen,
            "log_depth": self._log.depth,
            "log_committed": self._log.committed,
            "log_failures": self._log.failures,
            "log_last_error": self._log.last_error,
            "restored": self.restored.to_dict() if self.restored is not None else None,
        }

    def close(self) -> None:
        """Flush and stop the decision-log writer and the list refresher."""
        self._lists.stop_refresh()
        self._log.close()

    def __enter__(self) -> AuthorizationEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_DECISION_FIELDS = frozenset(Decision.model_fields)
_TICK = timedelta(microseconds=1)  # the log's time resolution (SQLite and PostgreSQL)


def repayment_event(request: dict[str, Any], customer_id: str) -> dict[str, Any]:
    """The ``repayments`` feature event of a repayment request (``RepaymentRequest.as_event()``):
    the card's customer when the request names none. The live engine and restore feed this.

    >>> repayment_event({"card_token": "c1", "customer_id": None}, "u1")["customer_id"]
    'u1'
    """
    if request.get("customer_id") is None:
        request["customer_id"] = customer_id
    return request


def repayment_result(row: Mapping[str, Any]) -> RepaymentResult:
    """The :class:`RepaymentResult` of a ``repayment_log`` row (a dict of its columns)."""
    return RepaymentResult(
        repayment_id=row["repayment_id"], card_token=row["card_token"],
        amount_fen=int(row["amount_fen"]), balance_fen=int(row["balance_after_fen"]),
        available_credit_before_fen=int(row["available_before_fen"]),
        available_credit_fen=int(row["available_after_fen"]),
        temp_credit_fen=int(row["temp_credit_fen"]), received_at=to_shanghai(row["received_at"]))


def _decision(**values: Any) -> Decision:
    """Build a :class:`Decision` from trusted values without validation (hot path).

    Same result as ``Decision.model_construct`` with every field given, five times faster.
    """
    if values.keys() != _DECISION_FIELDS:
        raise ValueError(f"decision fields differ: {sorted(values.keys() ^ _DECISION_FIELDS)}")
    m = _new(Decision)
    _set(m, "__dict__", values)
    _set(m, "__pydantic_fields_set__", _DECISION_FIELDS)
    _set(m, "__pydantic_extra__", None)
    _set(m, "__pydantic_private__", None)
    return m


_new, _set = Decision.__new__, object.__setattr__  # bound once (hot path)


def _standin_text(cause: str | None, model_error: str | None) -> str:
    return {
        "model": f"fraud model unavailable ({model_error or 'prediction failed'})",
        "features": "online feature store failed",
        "latency": "latency budget exceeded",
        "rules": "rule evaluation failed",
        "account": "card-account state unavailable",
    }.get(cause or "", cause or "")


def _rule_features(feats: Mapping[str, float], names: tuple[str, ...]) -> dict[str, float]:
    """The rules' ``features`` context: each name's value, 0.0 when absent, null or zero (-0.0
    too); NaN stays NaN. A :class:`FeatureRow` gathers them at once.

    >>> _rule_features({"a": -0.0, "b": float("nan")}, ("a", "b", "c"))
    {'a': 0.0, 'b': nan, 'c': 0.0}
    """
    if isinstance(feats, FeatureRow):
        return dict(zip(names, [v or 0.0 for v in feats.take(names, 0.0).tolist()], strict=True))
    return {n: float(feats.get(n, 0.0) or 0.0) for n in names}


def _model_inputs(feats: Mapping[str, float], names: tuple[str, ...]) -> dict[str, float]:
    """``{name: value}`` of the model's features the source has (logged with the decision).

    >>> _model_inputs({"a": 1.0, "b": 2.0}, ("b", "z"))
    {'b': 2.0}
    """
    if isinstance(feats, FeatureRow):
        return feats.subset(names)
    return {n: feats[n] for n in names if n in feats}


def _features_json(used: dict[str, float]) -> str:
    """Feature values as strict JSON, sorted by name; NaN (undefined feature) becomes null.

    >>> _features_json({"b": float("nan"), "a": 1.5})
    '{"a":1.5,"b":null}'
    """
    if _orjson is not None:
        return _orjson.dumps(used, option=_orjson.OPT_SORT_KEYS).decode()
    clean = {k: (None if v != v else v) for k, v in used.items()}
    return json.dumps(clean, sort_keys=True, separators=(",", ":"))


_REQUEST_JSON = AuthorizationRequest.__pydantic_serializer__.to_json
_DECISION_JSON = Decision.__pydantic_serializer__.to_json


def _logged_features(rules: dict[str, float], feats: Mapping[str, float],
                     names: tuple[str, ...]) -> Any:
    """What the log keeps of the features a decision used: the rules' (0-filled) values and the
    model's inputs as it saw them (they win over the rules' copies), so that explain_decision
    recomputes exactly the reasons of the score. From a :class:`FeatureRow`, the model's part
    stays an array (``(rules, present names, values)``: the writer packs it, per batch, without a
    dict on the hot path); from another mapping, a dict copy.

    >>> _logged_features({"r": 0.0, "b": 0.0}, {"a": 1.0, "b": 2.0}, ("b", "z"))
    {'r': 0.0, 'b': 2.0}
    """
    if type(feats) is FeatureRow:
        present, values = feats.present(names)
        return rules, present, values
    return {**rules, **_model_inputs(feats, names)}


def _feature_columns(useds: list[Any]) -> list[tuple[str | None, Any, bytes | None]]:
    """``(features_json, feature_set, feature_values)`` of each decision's logged features
    (:func:`_logged_features`): a float64 vector and its names (ADR 0023), the rows of one
    source packed as one array; JSON when a value is not a number.

    >>> import numpy as np
    >>> cols = _feature_columns([({"r": 0.5}, ("a",), np.asarray([1.5])), {"x": None}, {"y": "s"}])
    >>> [(fj, names, np.frombuffer(fv or b"").tolist()) for fj, names, fv in cols]
    [(None, ('a', 'r'), [1.5, 0.5]), (None, ('x',), [nan]), ('{"y":"s"}', None, [])]
    """
    out: list[Any] = [None] * len(useds)
    groups: dict[tuple[int, tuple[str, ...]], list[int]] = {}
    for i, used in enumerate(useds):
        if type(used) is tuple:  # rules' values, the model's present names and their values
            groups.setdefault((id(used[1]), tuple(used[0])), []).append(i)
        else:
            packed = pack_features(used)
            out[i] = (None, *packed) if packed is not None else (_features_json(used), None, None)
    for (_, rule_names), idx in groups.items():
        present = useds[idx[0]][1]
        known = set(present)
        extra = tuple(n for n in rule_names if n not in known)
        matrix = np.stack([useds[i][2] for i in idx]).astype(FEATURE_DTYPE, copy=False)
        if extra:
            more = np.asarray([[useds[i][0][n] for n in extra] for i in idx], FEATURE_DTYPE)
            matrix = np.hstack([matrix, more])
        names, blob, width = present + extra, matrix.tobytes(), matrix.shape[1] * 8
        for k, i in enumerate(idx):
            out[i] = (None, names, blob[k * width : (k + 1) * width])
    return out


def _decision_rows(items: list[tuple[AuthorizationRequest, Decision, Any]]
                   ) -> list[tuple[Any, ...]]:
    """The ``decision_log`` rows of decisions, as tuples in the table's column order
    (``cardmind.storage.decision_log.COLUMNS``; tested)."""
    features = _feature_columns([item[2] for item in items])
    return [(
        d.auth_id, d.decided_at, req.card_token, req.merchant_id, req.message_type,
        req.amount_fen, d.action, d.response_code, d.fraud_score, d.cashout_score,
        d.temp_credit_fen, d.model_version, d.rules_version, d.standin, d.standin_reason,
        d.latency_us,
        # what model_dump_json() returns, without its wrapper
        _REQUEST_JSON(req).decode(), features_json, _DECISION_JSON(d).decode(),
        req.ts,  # request_ts
        feature_set, feature_values,
    ) for (req, d, _), (features_json, feature_set, feature_values) in zip(items, features,
                                                                         strict=True)]


def _each(prepare: Any) -> Any:
    """A writer's ``prepare_many`` that prepares the objects of a batch one by one.

    >>> _each(str.upper)(["a", "b"])
    ['A', 'B']
    """
    return lambda items: [prepare(item) for item in items]


def _repayment_row(item: tuple[dict[str, Any], RepaymentResult]) -> dict[str, Any]:
    """The ``repayment_log`` row of an applied repayment (its feature event and result)."""
    event, r = item
    return {
        "repayment_id": r.repayment_id, "received_at": r.received_at, "card_token": r.card_token,
        "customer_id": event["customer_id"], "amount_fen": r.amount_fen,
        "channel": event["channel"], "payer_is_cardholder": event["payer_is_cardholder"],
        "available_before_fen": r.available_credit_before_fen,
        "available_after_fen": r.available_credit_fen, "balance_after_fen": r.balance_fen,
        "temp_credit_fen": r.temp_credit_fen, "ts": event["ts"],
    }


def _grant_row(item: tuple[AuthorizationRequest, Decision, CreditOffer]) -> dict[str, Any]:
    req, d, offer = item
    return {
        "grant_id": f"tc-{d.auth_id}", "auth_id": d.auth_id, "card_token": req.card_token,
        "amount_fen": offer.amount_fen, "granted_at": req.ts,
        "expires_at": offer.expires_at or req.ts + timedelta(days=30),
        "behaviour_risk": offer.behaviour_risk, "fraud_score": d.fraud_score,
        "card_cap_fen": offer.card_cap_fen, "portfolio_used_fen": offer.portfolio_used_fen,
    }
