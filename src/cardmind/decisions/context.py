"""The rules' context of one purchase, built with only the names the rule set in force reads.

The rule evaluator copies every value of the context it is given (about a quarter of a
microsecond each), and a list lookup or an account figure costs Python work too, so the engine
builds per rule set a :class:`ContextPlan` from :attr:`RuleSet.reads
<cardmind.decisions.rules.RuleSet.reads>` and fills in only those names. A name the rules do not
read cannot change their outcome; a rule set that may read the whole context (``$root``) gets
the whole context. ``amount_fen``, ``channel``, ``fraud_score``, ``cashout_score`` and
``features`` are always there (the stand-in's last resort and the engine use them).

>>> from datetime import datetime
>>> from cardmind.decisions.accounts import CardAccount
>>> from cardmind.decisions.types import AuthorizationRequest
>>> from cardmind.units import TZ
>>> req = AuthorizationRequest(auth_id="a1", card_token="c1", merchant_id="m1",
...     terminal_id="t1", ts="2026-03-01T02:00:00", amount_fen=5_000, mcc="5411",
...     channel="online_cnp", city="Shanghai")
>>> acct = CardAccount(card_token="c1", customer_id="u1", limit_fen=10_000, balance_fen=2_000)
>>> plan = ContextPlan.for_reads(frozenset({"hour", "lists.card", "account.available_fen"}))
>>> ctx = plan.build(req, acct, 8_000, lambda fields, record, now: {k: "" for k, _ in fields})
>>> sorted(ctx), ctx["hour"], ctx["lists"], ctx["account"]
(['account', 'amount_fen', 'cashout_score', 'channel', 'features', 'fraud_score', 'hour', \
'lists'], 2, {'card': ''}, {'available_fen': 8000})
>>> full = ContextPlan.for_reads(None).build(req, None, None, lambda f, r, n: {})
>>> full["account"]["known"], full["weekday"], full["amount_yuan"]
(False, 6, 50.0)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cardmind.decisions.accounts import CardAccount
from cardmind.decisions.types import AuthorizationRequest

#: The request field each list kind is looked up with.
LIST_SOURCES: dict[str, str] = {
    "card": "card_token", "merchant": "merchant_id", "device": "device_id",
    "terminal": "terminal_id", "category": "mcc",
}
#: Request fields a rule may read as they are; the first two are always in the context.
REQUEST_FIELDS = ("amount_fen", "channel", "mcc", "city", "cross_border", "message_type")
_ALWAYS = ("amount_fen", "channel")

#: ``account.<name>`` of a known card: (account, amount, available, now) -> value.
_ACCOUNT: dict[str, Callable[[CardAccount, int, int | None, datetime], Any]] = {
    "known": lambda a, amount, available, now: True,
    "status": lambda a, amount, available, now: a.status,
    "product_tier": lambda a, amount, available, now: a.product_tier,
    "limit_fen": lambda a, amount, available, now: a.limit_fen,
    "available_fen": lambda a, amount, available, now: available,
    "shortfall_fen": lambda a, amount, available, now: max(0, amount - (available or 0)),
    "temp_credit_fen": lambda a, amount, available, now: a.temp_active(now),
    "tenure_days": lambda a, amount, available, now: a.tenure_days(now),
    "days_past_due": lambda a, amount, available, now: a.days_past_due,
}
#: ``account`` of a card the issuer does not know.
UNKNOWN_ACCOUNT: dict[str, Any] = {
    "known": False, "status": "unknown", "product_tier": "", "limit_fen": 0, "available_fen": 0,
    "shortfall_fen": 0, "temp_credit_fen": 0, "tenure_days": 0, "days_past_due": 0,
}
#: Looks up list kinds by request field: ``ListStore.lookup_fields``.
ListLookup = Callable[[tuple[tuple[str, str], ...], Mapping[str, Any], datetime], dict[str, str]]


@dataclass(frozen=True)
class ContextPlan:
    """Which parts of the context a rule set reads (``None`` account: no ``account`` key)."""

    request: tuple[str, ...]
    amount_yuan: bool
    hour: bool
    weekday: bool
    lists: tuple[tuple[str, str], ...] | None
    account: tuple[tuple[str, Callable[..., Any]], ...] | None

    @classmethod
    def for_reads(cls, reads: frozenset[str] | None) -> ContextPlan:
        """The plan for a rule set reading ``reads`` (None: everything)."""
        def wanted(name: str) -> bool:
            return reads is None or name in reads

        lists = tuple((k, f) for k, f in LIST_SOURCES.items() if wanted(f"lists.{k}"))
        account = tuple((k, g) for k, g in _ACCOUNT.items() if wanted(f"account.{k}"))
        return cls(
            request=tuple(n for n in REQUEST_FIELDS if n in _ALWAYS or wanted(n)),
            amount_yuan=wanted("amount_yuan"), hour=wanted("hour"), weekday=wanted("weekday"),
            lists=lists or None, account=account or None,
        )

    def build(self, req: AuthorizationRequest, acct: CardAccount | None,
              available: int | None, lists: ListLookup) -> dict[str, Any]:
        """The context of purchase ``req`` (card account ``acct``, open-to-buy ``available``);
        ``fraud_score``, ``cashout_score`` and ``features`` are left empty for the engine."""
        fields = req.__dict__
        now = req.ts
        ctx = {name: fields[name] for name in self.request}
        if self.amount_yuan:
            ctx["amount_yuan"] = req.amount_fen / 100
        if self.hour:
            ctx["hour"] = now.hour
        if self.weekday:
            ctx["weekday"] = now.weekday()
        ctx["fraud_score"] = None
        ctx["cashout_score"] = None
        if self.lists is not None:
            ctx["lists"] = lists(self.lists, fields, now)
        if self.account is not None:
            if acct is None:
                ctx["account"] = {k: UNKNOWN_ACCOUNT[k] for k, _ in self.account}
            else:
                amount = req.amount_fen
                ctx["account"] = {k: get(acct, amount, available, now) for k, get in self.account}
        ctx["features"] = {}
        return ctx
