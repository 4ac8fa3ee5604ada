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
>>> from cardmind.decisions.lists import ListStore
>>> from cardmind.decisions.types import ListEntry
>>> from cardmind.storage.base import create_all
>>> from cardmind.storage.decision_log import log_engine
>>> db = log_engine("sqlite://"); create_all(db); lists = ListStore(db)
>>> plan = ContextPlan.for_reads(frozenset({"hour", "lists.card", "account.available_fen"}))
>>> ctx = plan.build(req, acct, 8_000, lists)
>>> sorted(ctx), ctx["hour"], ctx["lists"], ctx["account"]
(['account', 'amount_fen', 'cashout_score', 'channel', 'features', 'fraud_score', 'hour', \
'lists'], 2, {'card': ''}, {'available_fen': 8000})
>>> _ = lists.add(ListEntry(kind="card", value="c1", list_type="trust"))
>>> plan.build(req, acct, 8_000, lists)["lists"]
{'card': 'trust'}
>>> full = ContextPlan.for_reads(None).build(req, None, None, lists)
>>> full["account"]["known"], full["weekday"], full["amount_yuan"], full["lists"]["merchant"]
(False, 6, 50.0, '')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

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


class Lists(Protocol):
    """What the context needs of the lists (:class:`~cardmind.decisions.lists.ListStore`)."""

    kinds_present: frozenset[str]

    def lookup_fields(self, fields: tuple[tuple[str, str], ...], record: Mapping[str, Any],
                      now: datetime | None = None) -> dict[str, str]: ...


@dataclass(frozen=True)
class ContextPlan:
    """Which parts of the context a rule set reads (``None`` account: no ``account`` key)."""

    request: tuple[str, ...]
    amount_yuan: bool
    hour: bool
    weekday: bool
    lists: tuple[tuple[str, str], ...] | None
    account: tuple[tuple[str, Callable[..., Any]], ...] | None
    extra: tuple[str, ...] = field(init=False)  # request fields beyond amount_fen and channel
    list_kinds: frozenset[str] = field(init=False)
    no_lists: dict[str, str] = field(init=False)  # the answer when no kind read has entries

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra", tuple(n for n in self.request if n not in _ALWAYS))
        object.__setattr__(self, "list_kinds", frozenset(k for k, _ in self.lists or ()))
        object.__setattr__(self, "no_lists", {k: "" for k, _ in self.lists or ()})

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
              available: int | None, lists: Lists) -> dict[str, Any]:
        """The context of purchase ``req`` (card account ``acct``, open-to-buy ``available``);
        ``fraud_score``, ``cashout_score`` and ``features`` are left empty for the engine."""
        fields = req.__dict__
        now = fields["ts"]
        ctx = {"amount_fen": fields["amount_fen"], "channel": fields["channel"],
               "fraud_score": None, "cashout_score": None, "features": {}}
        for name in self.extra:
            ctx[name] = fields[name]
        if self.amount_yuan:
            ctx["amount_yuan"] = req.amount_fen / 100
        if self.hour:
            ctx["hour"] = now.hour
        if self.weekday:
            ctx["weekday"] = now.weekday()
        if self.lists is not None:
            if lists.kinds_present.isdisjoint(self.list_kinds):  # on no list: no lookup
                ctx["lists"] = self.no_lists.copy()
            else:
                ctx["lists"] = lists.lookup_fields(self.lists, fields, now)
        if self.account is not None:
            account: dict[str, Any] = {}
            if acct is None:
                for name, _ in self.account:
                    account[name] = UNKNOWN_ACCOUNT[name]
            else:
                amount = fields["amount_fen"]
                for name, get in self.account:
                    account[name] = get(acct, amount, available, now)
            ctx["account"] = account
        return ctx
