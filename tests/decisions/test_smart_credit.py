"""Smart credit: eligibility, value-scaled card cap, daily portfolio cap, cash-out veto."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from cardmind.decisions.accounts import CardAccount
from cardmind.decisions.smart_credit import SmartCredit, SmartCreditConfig, behaviour_risk
from cardmind.units import TZ

NOW = datetime(2026, 3, 1, 12, tzinfo=TZ)


def acct(**kw) -> CardAccount:
    base = dict(card_token="c", customer_id="u", limit_fen=2_000_000, balance_fen=1_990_000,
                opened_at=date(2022, 1, 1), avg_purchases_fen=800_000, product_tier="gold")
    base.update(kw)
    return CardAccount(**base)


def offer(a=None, amount=60_000, policy=None, **kw):
    kw.setdefault("fraud_score", 0.01)
    kw.setdefault("cashout_score", None)
    return (policy or SmartCredit()).decide(a or acct(), amount_fen=amount, now=NOW, **kw)


def test_grant_covers_the_shortfall_rounded_up_and_expires():
    o = offer(amount=60_001)
    assert o.granted and o.amount_fen == 60_000 and o.expires_at == NOW + timedelta(days=30)


@pytest.mark.parametrize(("kw", "reason"), [
    ({"cashout_score": 0.6}, "CASHOUT_NO_TEMP_CREDIT"),
    ({"fraud_score": 0.5}, "TEMP_CREDIT_FRAUD_RISK"),
    ({"fraud_score": None}, "TEMP_CREDIT_FRAUD_RISK"),
    ({"vetoed": True}, "TEMP_CREDIT_NOT_ELIGIBLE"),
])
def test_risk_vetoes(kw, reason):
    o = offer(**kw)
    assert not o.granted and o.amount_fen == 0 and o.reason == reason


@pytest.mark.parametrize(("change", "reason"), [
    ({"days_past_due": 5}, "TEMP_CREDIT_DELINQUENT"),
    ({"opened_at": date(2026, 2, 1)}, "TEMP_CREDIT_TENURE"),
    ({"repaid_ratio": 0.0, "opened_at": date(2025, 6, 1)}, "TEMP_CREDIT_RISK"),
    ({"status": "frozen"}, "TEMP_CREDIT_NOT_ELIGIBLE"),
])
def test_account_behaviour_vetoes(change, reason):
    assert offer(acct(**change)).reason == reason


def test_card_cap_scales_with_value_and_tier_and_bounds_the_grant():
    policy = SmartCredit()
    low = acct(avg_purchases_fen=0, product_tier="classic")
    high = acct(avg_purchases_fen=2_000_000, product_tier="diamond")
    assert policy.card_cap(low) < policy.card_cap(acct()) < policy.card_cap(high)
    assert policy.card_cap(high) <= 0.3 * high.limit_fen
    assert offer(low, amount=10_000 + policy.card_cap(low) + 10_000).reason == "TEMP_CREDIT_CARD_CAP"


def test_portfolio_daily_cap_and_reset_next_day():
    policy = SmartCredit(SmartCreditConfig(portfolio_daily_fen=60_000))
    first = offer(policy=policy)
    policy.commit(first, NOW)
    assert offer(policy=policy).reason == "TEMP_CREDIT_PORTFOLIO_CAP"
    tomorrow = policy.decide(acct(), amount_fen=60_000, now=NOW + timedelta(days=1),
                             fraud_score=0.01, cashout_score=None)
    assert tomorrow.granted and policy.used_today(NOW + timedelta(days=1)) == 0


def test_behaviour_risk_is_bounded_and_monotone_in_repayment():
    good = behaviour_risk(acct(repaid_ratio=1.0), NOW)
    bad = behaviour_risk(acct(repaid_ratio=0.1), NOW)
    assert 0 <= good < bad <= 1 and behaviour_risk(acct(days_past_due=1), NOW) == 1.0


def test_config_is_validated():
    with pytest.raises(ValueError, match="max_ratio"):
        SmartCreditConfig(max_ratio=2)
    with pytest.raises(ValueError, match="max_fraud_score"):
        SmartCreditConfig(max_fraud_score=-0.1)
