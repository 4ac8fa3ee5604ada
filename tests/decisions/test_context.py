"""The rules' context built for what the rule set reads: same outcomes as the whole context,
names a reloaded rule set starts to read are there, list edits apply at once."""

from __future__ import annotations

import os
import random
import re
from datetime import date, timedelta

import pytest
from tests.decisions.conftest import T0, req

from cardmind.decisions.accounts import CardAccount
from cardmind.decisions.context import (
    _ACCOUNT,
    LIST_SOURCES,
    REQUEST_FIELDS,
    UNKNOWN_ACCOUNT,
    ContextPlan,
)
from cardmind.decisions.rules import (
    ACCOUNT_FIELDS,
    DEFAULT_RULES_PATH,
    LIST_FIELDS,
    SCALARS,
    RuleManager,
    parse_rules,
    reads_of,
)
from cardmind.decisions.types import LIST_TYPES, ListEntry

#: Reads every name a rule may use, so that each is checked against the whole context.
EVERY_NAME = """
version: "every-1"
rules:
  - name: scalars
    when: "amount_yuan > 1000 and mcc == '7995' and city == 'Macau' and message_type == 'purchase' and weekday == 6 and not cross_border"
    effect: DECLINE
    reason: FRAUD_HIGH
  - name: account_figures
    when: "account.limit_fen - account.available_fen > 1500000 and account.shortfall_fen > 0 and account.temp_credit_fen == 0 and account.product_tier == 'gold'"
    effect: CHALLENGE
    reason: FRAUD_ELEVATED
  - name: young_or_late
    when: "account.tenure_days < 60 or account.days_past_due > 30"
    effect: NO_TEMP_CREDIT
    reason: TEMP_CREDIT_TENURE
  - name: watched
    when: "lists.merchant == 'watch' or lists.device == '' and lists.category == 'trust'"
    effect: CHALLENGE
    reason: LIST_WATCH_NO_TEMP_CREDIT
  - name: trusted
    when: "lists.card == 'trust' or lists.terminal == 'trust'"
    effect: ALLOW
    reason: LIST_TRUST
"""


class Lists:
    """List entries ``{(kind, value): list type}`` as the context plan reads them."""

    def __init__(self, entries: dict[tuple[str, str], str]) -> None:
        self.entries = entries
        self.kinds_present = frozenset(k for k, _ in entries)

    def lookup_fields(self, fields, record, now=None):
        return {k: self.entries.get((k, record[f]), "") for k, f in fields}


def full_context(r, acct, available, lists):
    """The whole context, every name a rule may use (what the engine built before plans)."""
    now = r.ts
    if acct is None:
        account = dict(UNKNOWN_ACCOUNT)
    else:
        account = {k: get(acct, r.amount_fen, available, now) for k, get in _ACCOUNT.items()}
    fields = r.__dict__
    return {
        "amount_fen": r.amount_fen, "amount_yuan": r.amount_fen / 100, "mcc": r.mcc,
        "channel": r.channel, "city": r.city, "cross_border": r.cross_border,
        "message_type": r.message_type, "hour": now.hour, "weekday": now.weekday(),
        "fraud_score": None, "cashout_score": None,
        "lists": {k: lists.get((k, fields[f]), "") for k, f in LIST_SOURCES.items()},
        "account": account, "features": {},
    }


def test_the_plan_covers_every_name_a_rule_may_use():
    assert tuple(_ACCOUNT) == ACCOUNT_FIELDS == tuple(UNKNOWN_ACCOUNT)
    assert tuple(LIST_SOURCES) == LIST_FIELDS
    assert set(SCALARS) == {*REQUEST_FIELDS, "amount_yuan", "hour", "weekday", "fraud_score",
                            "cashout_score"}


def test_what_a_rule_set_reads():
    rs = RuleManager().current
    assert rs.reads == {
        "account.known", "account.status", "amount_fen", "cashout_score", "channel",
        "cross_border", "fraud_score", "hour", "lists.card", "lists.category", "lists.device",
        "lists.merchant", "lists.terminal"}
    assert parse_rules(EVERY_NAME).reads >= {f"account.{k}" for k in ACCOUNT_FIELDS} - {
        "account.known", "account.status"}
    # names inside string literals are not read; the root reference may read anything
    assert reads_of(["city == 'account.status'"]) == {"city"}
    assert reads_of(["$root.city == 'x'"]) is None
    assert reads_of(["`${city}` == 'x'"]) is None
    plan = ContextPlan.for_reads(None)
    assert plan.lists is not None and len(plan.lists) == len(LIST_FIELDS)
    assert plan.account is not None and len(plan.account) == len(ACCOUNT_FIELDS)


@pytest.mark.parametrize("text", [DEFAULT_RULES_PATH.read_text(), EVERY_NAME])
def test_a_planned_context_gives_the_outcomes_of_the_whole_context(text):
    rs = parse_rules(text)
    plan = ContextPlan.for_reads(rs.reads)
    rng = random.Random(7)
    hits = 0
    for i in range(600):
        r = req(f"a{i}", card=rng.choice(["c1", "c2"]), amount=rng.choice([5_000, 600_000, 3_000_000]),
                merchant_id=rng.choice(["m1", "m2"]), terminal_id=rng.choice(["t1", "t2"]),
                device_id=rng.choice([None, "d1"]), mcc=rng.choice(["5411", "7995"]),
                city=rng.choice(["Shanghai", "Macau"]), cross_border=rng.random() < 0.3,
                channel=rng.choice(["pos_chip", "online_cnp"]),
                ts=T0 + timedelta(hours=rng.randrange(0, 24 * 7)))
        lists = {(k, v): rng.choice(LIST_TYPES) for k, v in (
            ("card", "c1"), ("merchant", "m2"), ("device", "d1"), ("terminal", "t2"),
            ("category", "7995")) if rng.random() < 0.5}
        acct = None if rng.random() < 0.1 else CardAccount(
            card_token=r.card_token, customer_id="u", limit_fen=2_000_000,
            balance_fen=rng.choice([0, 1_900_000]), opened_at=rng.choice([date(2020, 1, 1), date(2026, 2, 20)]),
            product_tier=rng.choice(["gold", "classic"]), status=rng.choice(["active", "active", "frozen"]),
            days_past_due=rng.choice([0, 40]), temp_credit_fen=rng.choice([0, 50_000]),
            temp_expires_at=T0 + timedelta(days=3))
        available = acct.available_fen(r.ts) if acct is not None else None

        whole = full_context(r, acct, available, lists)
        planned = plan.build(r, acct, available, Lists(lists))
        assert set(planned) <= set(whole)
        for score, cash in ((0.01, None), (0.5, 0.95), (0.1, 0.5)):
            whole.update(fraud_score=score, cashout_score=cash)
            planned.update(fraud_score=score, cashout_score=cash)
            expected = [x.name for x in rs.evaluate(whole)]
            assert [x.name for x in rs.evaluate(planned)] == expected
            hits += bool(expected)
        for ctx in (whole, planned):
            ctx.update(fraud_score=None)
        assert rs.evaluate_standin(planned) == rs.evaluate_standin(whole)
    assert hits > 100  # the rules matched often enough for the comparison to mean something


def _touch_later(path, text):
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def test_a_reloaded_rule_set_sees_the_names_it_starts_to_read(tmp_path, engine_factory, make_req):
    path = tmp_path / "rules.yaml"
    path.write_text(DEFAULT_RULES_PATH.read_text())
    e = engine_factory(rules_path=path, watch_rules_s=0.0)
    assert e.decide(make_req("a1", card="young", amount=1_000)).action == "APPROVE"
    # the default rules read neither the account's tenure nor the weekday nor the city
    text = re.sub(r'version: "[^"]+"', 'version: "tenure"', DEFAULT_RULES_PATH.read_text(), count=1)
    text = text.replace("\nrules:\n", '\nrules:\n  - name: young\n'
                        '    when: "account.tenure_days < 60 and weekday == 0 and city == \'Shanghai\'"\n'
                        "    effect: DECLINE\n    reason: TEMP_CREDIT_TENURE\n", 1)
    _touch_later(path, text)
    d = e.decide(make_req("a2", card="young", amount=1_000))  # T0 is a Monday
    assert (d.action, d.rules_version, d.reason_codes) == ("DECLINE", "tenure", ["TEMP_CREDIT_TENURE"])
    assert e.decide(make_req("a3", card="good", amount=1_000)).action == "APPROVE"
    e.rules.load(DEFAULT_RULES_PATH.read_text())
    assert e.decide(make_req("a4", card="young", amount=1_000)).action == "APPROVE"


@pytest.mark.parametrize(("kind", "field", "value", "code"), [
    ("card", "card_token", "young", "62"), ("merchant", "merchant_id", "m9", "57"),
    ("device", "device_id", "d9", "59"), ("terminal", "terminal_id", "t9", "57"),
    ("category", "mcc", "7995", "57"),
])
def test_a_list_of_a_kind_first_used_after_start_applies_at_once(engine_factory, make_req,
                                                                 kind, field, value, code):
    e = engine_factory()
    assert len(e.lists) == 0
    assert e.decide(make_req("a1", amount=1_000, **{field: value})).action == "APPROVE"
    e.lists.add(ListEntry(kind=kind, value=value, list_type="block"))
    d = e.decide(make_req("a2", amount=1_000, **{field: value}))
    assert (d.action, d.response_code) == ("DECLINE", code)
    assert e.decide(make_req("a3", amount=1_000)).action == "APPROVE"  # another value of the kind
    assert e.lists.remove(kind, value)
    assert e.decide(make_req("a4", amount=1_000, **{field: value})).action == "APPROVE"
