"""Smart credit (AI 智慧授信): a transaction-level temporary raise when a purchase exceeds the
available credit.

The decision uses three things:

- **behaviour risk** of the card in [0, 1] (:func:`behaviour_risk`): overdue payments, how much
  of the last statement was repaid, utilisation, tenure;
- **value**: the card's usual monthly spend relative to its limit and its product tier set how
  large a raise it may get (``max_ratio`` of the limit at most);
- **exposure caps**: per card (active temporary credit <= its cap, and <= ``max_card_fen``) and
  for the whole portfolio per day (``portfolio_daily_fen``).

No temporary credit when the fraud score is above ``max_fraud_score``, when the cash-out score
(issue 8: the ``cashout_score`` hook; absent means unknown, not zero risk) is above
``max_cashout_score``, or when a rule vetoed it (``NO_TEMP_CREDIT``).

>>> from datetime import date, datetime
>>> from cardmind.decisions.accounts import CardAccount
>>> now = datetime(2026, 3, 1, 12, tzinfo=TZ)
>>> acct = CardAccount(card_token="c", customer_id="u", limit_fen=2_000_000,
...     balance_fen=1_990_000, opened_at=date(2022, 1, 1), avg_purchases_fen=800_000,
...     product_tier="gold")
>>> policy = SmartCredit()
>>> offer = policy.decide(acct, amount_fen=60_000, now=now, fraud_score=0.01, cashout_score=None)
>>> offer.granted, offer.amount_fen, offer.reason
(True, 50000, 'TEMP_CREDIT_GRANTED')
>>> policy.decide(acct, amount_fen=60_000, now=now, fraud_score=0.6, cashout_score=None).reason
'TEMP_CREDIT_FRAUD_RISK'
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from cardmind.decisions.accounts import CardAccount
from cardmind.units import TZ

_TIER_FACTOR = {"classic": 0.8, "gold": 1.0, "platinum": 1.2, "diamond": 1.4}


@dataclass(frozen=True, kw_only=True)
class SmartCreditConfig:
    """Limits of the temporary-credit policy (money in fen)."""

    max_ratio: float = 0.3
    max_card_fen: int = 5_000_000
    portfolio_daily_fen: int = 500_000_000
    min_tenure_days: int = 90
    max_fraud_score: float = 0.2
    max_cashout_score: float = 0.4
    max_behaviour_risk: float = 0.5
    expiry_days: int = 30
    round_fen: int = 10_000

    def __post_init__(self) -> None:
        if not 0 < self.max_ratio <= 1:
            raise ValueError(f"max_ratio must be in (0, 1], got {self.max_ratio}")
        for name in ("max_card_fen", "portfolio_daily_fen", "expiry_days", "round_fen"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("max_fraud_score", "max_cashout_score", "max_behaviour_risk"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


@dataclass(frozen=True, kw_only=True)
class CreditOffer:
    """The smart-credit answer: granted or not, how much, until when, why."""

    granted: bool
    amount_fen: int
    expires_at: datetime | None
    reason: str
    behaviour_risk: float
    card_cap_fen: int
    portfolio_used_fen: int


def behaviour_risk(acct: CardAccount, now: datetime) -> float:
    """Risk in [0, 1] from the account's own behaviour (higher is riskier).

    >>> from datetime import date
    >>> a = CardAccount(card_token="c", customer_id="u", limit_fen=100, balance_fen=50,
    ...                 opened_at=date(2020, 1, 1))
    >>> round(behaviour_risk(a, datetime(2026, 1, 1, tzinfo=TZ)), 3)
    0.15
    """
    if acct.days_past_due > 0:
        return 1.0
    util = min(max(acct.balance_fen / acct.limit_fen, 0.0), 1.5) if acct.limit_fen > 0 else 1.5
    tenure_years = acct.tenure_days(now) / 365.0
    risk = 0.3 * util + 0.5 * (1.0 - min(max(acct.repaid_ratio, 0.0), 1.0))
    risk += 0.2 * max(0.0, 1.0 - tenure_years / 2.0)
    return float(min(risk, 1.0))


class SmartCredit:
    """Decides temporary credit and tracks the portfolio's daily exposure."""

    def __init__(self, config: SmartCreditConfig | None = None) -> None:
        self.config = config or SmartCreditConfig()
        self._day: date | None = None
        self._used = 0
        self._lock = threading.Lock()

    def card_cap(self, acct: CardAccount) -> int:
        """Most temporary credit this card may hold: value- and tier-scaled share of the limit."""
        c = self.config
        value = acct.avg_purchases_fen / acct.limit_fen if acct.limit_fen > 0 else 0.0
        share = c.max_ratio * min(1.0, 0.4 + value) * _TIER_FACTOR.get(acct.product_tier, 1.0)
        return int(min(c.max_card_fen, min(share, c.max_ratio) * acct.limit_fen))

    def decide(self, acct: CardAccount, *, amount_fen: int, now: datetime,
               fraud_score: float | None, cashout_score: float | None,
               vetoed: bool = False) -> CreditOffer:
        """Offer for a purchase of ``amount_fen`` that exceeds the card's available credit.

        Does not change state; call :meth:`commit` when the grant is used.
        """
        c = self.config
        risk = behaviour_risk(acct, now)
        cap = self.card_cap(acct)
        used = self._used if self._day == now.date() else 0
        shortfall = amount_fen - acct.available_fen(now)
        need = -(-shortfall // c.round_fen) * c.round_fen  # round up

        def no(reason: str) -> CreditOffer:
            return CreditOffer(granted=False, amount_fen=0, expires_at=None, reason=reason,
                               behaviour_risk=risk, card_cap_fen=cap, portfolio_used_fen=used)

        if vetoed:
            return no("TEMP_CREDIT_NOT_ELIGIBLE")
        if cashout_score is not None and cashout_score > c.max_cashout_score:
            return no("CASHOUT_NO_TEMP_CREDIT")
        if fraud_score is None or fraud_score > c.max_fraud_score:
            return no("TEMP_CREDIT_FRAUD_RISK")
        if acct.status != "active":
            return no("TEMP_CREDIT_NOT_ELIGIBLE")
        if acct.days_past_due > 0:
            return no("TEMP_CREDIT_DELINQUENT")
        if acct.tenure_days(now) < c.min_tenure_days:
            return no("TEMP_CREDIT_TENURE")
        if risk > c.max_behaviour_risk:
            return no("TEMP_CREDIT_RISK")
        if shortfall <= 0:
            return no("TEMP_CREDIT_NOT_ELIGIBLE")
        if acct.temp_active(now) + need > cap:
            return no("TEMP_CREDIT_CARD_CAP")
        if used + need > c.portfolio_daily_fen:
            return no("TEMP_CREDIT_PORTFOLIO_CAP")
        expires = (now + timedelta(days=c.expiry_days)).astimezone(TZ)
        return CreditOffer(granted=True, amount_fen=need, expires_at=expires,
                           reason="TEMP_CREDIT_GRANTED", behaviour_risk=risk, card_cap_fen=cap,
                           portfolio_used_fen=used)

    def commit(self, offer: CreditOffer, now: datetime) -> None:
        """Count a used grant against the portfolio's daily cap."""
        with self._lock:
            if self._day != now.date():
                self._day, self._used = now.date(), 0
            self._used += offer.amount_fen

    def used_today(self, now: datetime) -> int:
        return self._used if self._day == now.date() else 0
