"""Repayments: credit freed once per repayment_id, logged, features updated, refused precisely."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from tests.decisions.conftest import T0, make_book

from cardmind.decisions.authorize import AuthorizationEngine, EngineConfig
from cardmind.decisions.types import RepaymentRequest, RepaymentResult
from cardmind.errors import InvalidInput, SensitiveDataError
from cardmind.storage.decision_log import DecisionLogRow, RepaymentLogRow
from cardmind.units import TZ

PAN = "6222021234567894"  # Luhn-valid test card number


def repayment(rid: str = "r1", card: str = "good", amount: int = 100_000, **kw) -> RepaymentRequest:
    base = dict(repayment_id=rid, card_token=card, amount_fen=amount, ts=T0 + timedelta(hours=1),
                channel="mobile_banking")
    base.update(kw)
    return RepaymentRequest(**base)


def _rows(engine, table=RepaymentLogRow):
    engine.flush()
    with engine._db.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table.__table__))]


def test_a_repayment_frees_credit_and_says_how_much_is_available(engine_factory, make_req):
    e = engine_factory()
    declined = e.decide(make_req("a1", card="late", amount=20_000))  # 5,000 left, no temp credit
    assert (declined.action, declined.response_code) == ("DECLINE", "51")
    r = e.repay(repayment("r1", card="late", amount=300_000))
    assert isinstance(r, RepaymentResult) and r.status == "applied"
    assert (r.available_credit_before_fen, r.available_credit_fen, r.balance_fen) == (
        5_000, 305_000, 695_000)
    assert e.accounts.get("late").balance_fen == 695_000
    ok = e.decide(make_req("a2", card="late", amount=20_000, ts=T0 + timedelta(hours=2)))
    assert ok.action == "APPROVE" and ok.available_credit_fen == 305_000
    h = e.health()
    assert (h["repayments"], h["repayment_duplicates"], h["repaid_fen"]) == (1, 0, 300_000)


def test_a_repeated_repayment_id_frees_nothing_twice(engine_factory):
    e = engine_factory()
    first = e.repay(repayment("r1", amount=100_000))
    again = e.repay(repayment("r1", amount=100_000, ts=T0 + timedelta(hours=5)))
    assert again == first and e.accounts.get("good").balance_fen == 400_000
    with pytest.raises(InvalidInput, match="already applied to another card or amount"):
        e.repay(repayment("r1", amount=100_001))
    with pytest.raises(InvalidInput, match="already applied"):
        e.repay(repayment("r1", card="full"))
    assert e.accounts.get("good").balance_fen == 400_000
    assert e.accounts.get("full").balance_fen == 1_990_000
    assert len(_rows(e)) == 1 and e.health()["repayment_duplicates"] == 1


def test_idempotency_of_repayments_survives_a_restart(engine_factory, book):
    e1 = engine_factory(book=book)
    first = e1.repay(repayment("r1", amount=100_000))
    e1.close()
    e2 = engine_factory(book=book)  # the same book: a second repay would show in it
    again = e2.repay(repayment("r1", amount=100_000))
    assert again == first  # answered from the log, received_at included
    assert book.get("good").balance_fen == 400_000
    with pytest.raises(InvalidInput, match="already applied"):
        e2.repay(repayment("r1", amount=5))


def test_an_unknown_card_is_refused_and_nothing_is_logged(engine_factory):
    e = engine_factory()
    with pytest.raises(InvalidInput, match="unknown card token"):
        e.repay(repayment("r1", card="nobody"))
    assert _rows(e) == [] and e.health()["repayments"] == 0
    # the id was not used: the same repayment on a card the engine knows is applied
    assert e.repay(repayment("r1")).available_credit_fen == 1_600_000


def test_temporary_credit_is_kept_until_it_expires(engine_factory, make_req):
    e = engine_factory()
    d = e.decide(make_req("a1", card="full", amount=60_000))
    assert d.action == "APPROVE_WITH_TEMP_CREDIT" and d.temp_credit_fen == 50_000
    r = e.repay(repayment("r1", card="full", amount=100_000))
    assert (r.temp_credit_fen, r.available_credit_before_fen, r.available_credit_fen) == (
        50_000, 0, 100_000)
    acct = e.accounts.get("full")
    assert (acct.temp_credit_fen, acct.temp_expires_at) == (50_000, d.temp_credit_expires_at)
    later = d.temp_credit_expires_at + timedelta(seconds=1)
    assert acct.available_fen(later) == 50_000  # 2,000,000 - (1,990,000 + 60,000 - 100,000)


def test_the_log_holds_the_repayment_in_engine_order_and_no_card_number(engine_factory,
                                                                        make_req):
    e = engine_factory()
    e.decide(make_req("a1"))
    e.repay(repayment("r1", amount=1_000, customer_id=None, payer_is_cardholder=False,
                      channel="third_party_app"))
    e.decide(make_req("a2"))
    e.repay(repayment("r2", amount=2_000))
    (r1, r2) = sorted(_rows(e), key=lambda r: r["repayment_id"])
    assert (r1["card_token"], r1["customer_id"], r1["amount_fen"], r1["channel"],
            r1["payer_is_cardholder"]) == ("good", "u1", 1_000, "third_party_app", False)
    assert (r1["available_before_fen"], r1["available_after_fen"], r1["balance_after_fen"]) == (
        1_490_000, 1_491_000, 509_000)
    assert PAN not in repr(_rows(e))
    decided = {d["auth_id"]: d["decided_at"] for d in _rows(e, DecisionLogRow)}
    stamps = [decided["a1"], r1["received_at"], decided["a2"], r2["received_at"]]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4


def test_stamps_strictly_increase_when_the_clock_stands_still_or_goes_back(engine_factory,
                                                                           make_req, monkeypatch):
    import cardmind.decisions.authorize as authorize

    ticks = iter([datetime(2026, 3, 2, 12, tzinfo=TZ)] * 3 + [datetime(2026, 3, 2, 11, tzinfo=TZ)])

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return next(ticks)

    e = engine_factory()
    monkeypatch.setattr(authorize, "datetime", Clock)
    a1 = e.decide(make_req("a1"))
    r1 = e.repay(repayment("r1"))
    a2 = e.decide(make_req("a2"))
    r2 = e.repay(repayment("r2"))  # the clock went back an hour
    monkeypatch.undo()
    us = timedelta(microseconds=1)
    assert [r1.received_at - a1.decided_at, a2.decided_at - r1.received_at,
            r2.received_at - a2.decided_at] == [us, us, us]


def test_repayments_feed_the_repayment_features(db_url, make_req):
    from cardmind.features import FeatureService, OnlineEngine

    names = ["card_repayment_amount_sum_7d", "card_repayment_count_7d_other_payer",
             "customer_repayment_count_7d"]
    feats = OnlineEngine(FeatureService(name="t", features=names))
    e = AuthorizationEngine(EngineConfig(db_url=db_url, log_flush_ms=5), model=None,
                            accounts=make_book(), features=feats)
    e.repay(repayment("r1", amount=1_000))
    e.repay(repayment("r2", amount=2_000, payer_is_cardholder=False, ts=T0 + timedelta(hours=2)))
    e.repay(repayment("r2", amount=2_000))  # a repeat feeds nothing
    probe = make_req("p", ts=T0 + timedelta(hours=3)).as_event()
    probe["customer_id"] = "u1"
    got = feats.features_for(probe)
    assert [got[n] for n in names] == [3_000.0, 1.0, 2.0]
    assert e.counters.feature_update_errors == 0
    e.close()


def test_apply_repayment_takes_a_repayments_row(engine_factory):
    e = engine_factory()
    row = {"repayment_id": "R0001", "ts": T0, "card_token": "good", "customer_id": "u1",
           "amount_fen": 10_000, "channel": "auto_debit", "payer_is_cardholder": True,
           "extra_column": 1}
    assert e.apply_repayment(row).available_credit_fen == 1_510_000
    assert e.apply_repayment(row).available_credit_fen == 1_510_000  # idempotent
    assert e.accounts.get("good").balance_fen == 490_000
    with pytest.raises(InvalidInput, match="amount_fen"):
        e.apply_repayment({**row, "repayment_id": "R0002", "amount_fen": 0})


@pytest.mark.parametrize(("change", "match"), [
    ({"amount_fen": 0}, "amount_fen"),
    ({"amount_fen": -5}, "amount_fen"),
    ({"amount_fen": 500_000_001}, "amount_fen"),
    ({"amount_fen": 10.5}, "amount_fen"),
    ({"channel": "cash"}, "channel"),
    ({"repayment_id": "has space"}, "repayment_id"),
    ({"repayment_id": ""}, "repayment_id"),
    ({"ts": "yesterday"}, "ts"),
    ({"memo": "x"}, "memo"),
])
def test_a_bad_repayment_is_refused_naming_the_field(change, match):
    body = {**repayment().model_dump(), **change}
    with pytest.raises(InvalidInput, match=match):
        RepaymentRequest.parse(body)


@pytest.mark.parametrize("change", [
    {"card_token": PAN}, {"repayment_id": PAN}, {"customer_id": "6222 0212 3456 7894"},
    {"cvv2": "123"}, {"pin": "1234"},
])
def test_card_data_in_a_repayment_is_refused_without_echo(change):
    with pytest.raises(SensitiveDataError) as info:
        RepaymentRequest.parse({**repayment().model_dump(), **change})
    assert PAN not in str(info.value) and "6222 0212" not in str(info.value)
    with pytest.raises(ValidationError, match=r"card number|CVV"):  # construction checks too
        RepaymentRequest(**{**repayment().model_dump(), **change})


def test_naive_times_are_shanghai():
    r = repayment(ts="2026-03-02T13:00:00")
    assert r.ts == T0 + timedelta(hours=1) and r.ts.tzinfo is not None
    assert not math.isnan(r.ts.timestamp())
