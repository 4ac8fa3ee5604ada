"""Simulation parameters: small typed groups, three presets, dotted overrides from the CLI.

Every parameter carries its rationale in a comment; see docs/simulator.md for the sources.

>>> cfg = load_preset("tiny", seed=3, overrides={"scenarios.cashout_app.ring_size": "8"})
>>> cfg.seed, cfg.scenarios.cashout_app.ring_size, cfg.population.cards
(3, 8, 800)
>>> load_preset("tiny", overrides={"population.cards": "-5"})
Traceback (most recent call last):
cardmind.errors.InvalidInput: population.cards: cards must be >= 0, got -5
>>> load_preset("huge")
Traceback (most recent call last):
cardmind.errors.InvalidInput: unknown preset 'huge'; known: tiny, demo, bench
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field, fields
from typing import Any

from cardmind.errors import InvalidInput
from cardmind.simulate.scenarios.account_takeover import AccountTakeoverParams
from cardmind.simulate.scenarios.base import ScenarioParams
from cardmind.simulate.scenarios.bust_out import BustOutParams
from cardmind.simulate.scenarios.card_testing import CardTestingParams
from cardmind.simulate.scenarios.cashout_app import CashoutAppParams
from cardmind.simulate.scenarios.cnp_breach import CnpBreachParams
from cardmind.simulate.scenarios.lost_stolen import LostStolenParams
from cardmind.simulate.scenarios.pos_cashout import PosCashoutParams
from cardmind.simulate.scenarios.skimming import SkimmingParams

GENERATOR_VERSION = "1.0"


@dataclass(frozen=True, kw_only=True)
class _Group(ScenarioParams):
    """Same validation as scenario parameters (non-negative, probabilities <= 1)."""


@dataclass(frozen=True, kw_only=True)
class PeriodConfig(_Group):
    # 2025-11-01 + 6 months covers 11.11 and the 2026 Spring Festival (Feb 17).
    start: str = "2025-11-01"
    months: int = 6

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            d = dt.date.fromisoformat(self.start)
        except ValueError:
            raise ValueError(f"start must be an ISO date YYYY-MM-DD, got {self.start!r}") from None
        if d.day != 1:
            raise ValueError(f"start must be the first day of a month, got {self.start}")
        if self.months < 1 or self.months > 36:
            raise ValueError(f"months must be in 1..36, got {self.months}")


@dataclass(frozen=True, kw_only=True)
class PopulationConfig(_Group):
    cards: int = 10_000  # card accounts open at the start (one card per customer)
    # New accounts opened during the period (from approved applications), as a share of `cards`:
    # Chinese issuers grew card counts ~5-10 %/year net of attrition 2019-2023 (PBoC).
    new_card_share: float = 0.1
    # Legacy approval rate: typical 40-60 % for open-market applications.
    approval_rate: float = 0.5
    merchants_per_1000_cards: float = 50.0  # at least 300 merchants
    # Dormant cards (睡眠卡): PBoC counted a large dormant share; among active issuers ~10-20 %.
    dormant_share: float = 0.12
    # Repayment types (drawn from latent risk): defaulters scale the probability of default.
    default_scale: float = 1.4


@dataclass(frozen=True, kw_only=True)
class SpendingConfig(_Group):
    # Purchases per active card per month: Chinese active cards average 10-25 (PBoC 2023: ~190
    # bn card transactions/yr over ~770 M credit cards incl. dormant => ~20/active card/month).
    auths_per_card_month: float = 19.0
    activity_dispersion: float = 1.2  # gamma shape of card activity (lower = more unequal)
    payday_share: float = 0.2  # share of spending drawn into the 5 days after pay day
    travel_rate: float = 0.05  # trips per card-month (x2.5 in Spring Festival / Oct / summer)
    foreign_trip_share: float = 0.12
    reversal_rate: float = 0.006  # merchant reversals (void within minutes)
    refund_rate: float = 0.012  # returns credited days later (mostly online)
    legacy_decline_rate: float = 0.003  # legacy rules declining genuine purchases ("05")


@dataclass(frozen=True, kw_only=True)
class CreditConfig(_Group):
    # Legacy temporary-credit rule: grants a share of over-limit purchases of good customers.
    temp_credit_grant_rate: float = 0.3
    temp_credit_max_share: float = 0.3  # at most 30 % of the permanent line above it
    temp_credit_days: int = 30
    interest_bp_per_day: int = 5  # 0.05 %/day: the long-standing Chinese card rate (日息万分之五)
    late_fee_bp: int = 500  # 违约金 5 % of the unpaid minimum (common since the 2017 PBoC rules)
    min_due_bp: int = 1000  # minimum payment: 10 % of revolving + installments, fees, interest
    charge_off_dpd: int = 90  # write off at 90+ days past due (issue 2; many banks use 180)
    full_pay_prob: float = 0.96  # full payers occasionally pay the minimum
    # Periodic line increases (提额) for good customers who use the card: ~2 %/month of them.
    line_increase_rate: float = 0.02
    purchase_installment_min_yuan: int = 1500
    purchase_offer_rate: float = 0.3  # share of eligible purchases the issuer offers 分期 on
    self_installment_rate: float = 0.03  # customers converting without an offer
    statement_installment_min_yuan: int = 3000
    statement_offer_rate: float = 0.25
    # Randomised pricing experiment on installment offers (purchase and statement): a share of the
    # offers gets 10-50 % off the fee schedule (issuers run such 费率折扣 promotions), so an offer
    # log shows how acceptance responds to price. Drawn from its own random stream; 0 = no test.
    installment_price_test_share: float = 0.5
    installment_max_discount_pct: int = 50
    # Logit gain of a 100 % discount for a 10,000-yuan/month earner (x sqrt(10,000 / income),
    # clipped 0.5-2x): 50 % off lifts a 20 % taker to ~47 %. An assumption (no public elasticity).
    installment_price_sensitivity: float = 2.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 10 <= self.installment_max_discount_pct <= 90:
            raise ValueError(
                f"installment_max_discount_pct must be in 10..90, got {self.installment_max_discount_pct}"
            )


@dataclass(frozen=True, kw_only=True)
class ScenariosConfig:
    lost_stolen: LostStolenParams = field(default_factory=LostStolenParams)
    cnp_breach: CnpBreachParams = field(default_factory=CnpBreachParams)
    card_testing: CardTestingParams = field(default_factory=CardTestingParams)
    account_takeover: AccountTakeoverParams = field(default_factory=AccountTakeoverParams)
    skimming: SkimmingParams = field(default_factory=SkimmingParams)
    bust_out: BustOutParams = field(default_factory=BustOutParams)
    cashout_app: CashoutAppParams = field(default_factory=CashoutAppParams)
    pos_cashout: PosCashoutParams = field(default_factory=PosCashoutParams)


@dataclass(frozen=True, kw_only=True)
class SimulationConfig:
    """All parameters of one run (nested groups; see :func:`load_preset`)."""

    preset: str = "custom"
    seed: int = 0
    period: PeriodConfig = field(default_factory=PeriodConfig)
    population: PopulationConfig = field(default_factory=PopulationConfig)
    spending: SpendingConfig = field(default_factory=SpendingConfig)
    credit: CreditConfig = field(default_factory=CreditConfig)
    scenarios: ScenariosConfig = field(default_factory=ScenariosConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def flat(self) -> dict[str, Any]:
        """Every parameter by its dotted name (the names accepted as overrides)."""
        out: dict[str, Any] = {}

        def walk(obj: Any, prefix: str) -> None:
            for f in fields(obj):
                value = getattr(obj, f.name)
                if dataclasses.is_dataclass(value):
                    walk(value, f"{prefix}{f.name}.")
                else:
                    out[f"{prefix}{f.name}"] = value

        walk(self, "")
        return out


def _coerce(name: str, current: Any, raw: str | int | float | bool) -> Any:
    if isinstance(current, bool):
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise InvalidInput(f"{name}: expected true/false, got {raw!r}")
    try:
        if isinstance(current, int):
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError
            return int(str(raw).strip()) if not isinstance(raw, int | float) else int(raw)
        if isinstance(current, float):
            return float(raw)
    except (TypeError, ValueError):
        kind = type(current).__name__
        raise InvalidInput(f"{name}: expected {kind}, got {raw!r}") from None
    return str(raw)


def _replace(obj: Any, path: list[str], raw: Any, full: str) -> Any:
    names = {f.name for f in fields(obj)}
    head = path[0]
    if head not in names:
        if (
            full.startswith("scenarios.")
            and len(full.split(".")) >= 2
            and obj.__class__ is ScenariosConfig
        ):
            raise InvalidInput(f"unknown scenario {head!r}; known: {', '.join(sorted(names))}")
        raise InvalidInput(f"unknown parameter {full!r}; see `cardmind simulate --list-params`")
    current = getattr(obj, head)
    if len(path) == 1:
        if dataclasses.is_dataclass(current):
            raise InvalidInput(f"{full} is a group; set one of its fields, e.g. {full}.<field>")
        value = _coerce(full, current, raw)
    else:
        if not dataclasses.is_dataclass(current):
            raise InvalidInput(f"unknown parameter {full!r}")
        value = _replace(current, path[1:], raw, full)
    try:
        return dataclasses.replace(obj, **{head: value})
    except ValueError as exc:
        raise InvalidInput(f"{full}: {exc}") from None


def _tiny() -> SimulationConfig:
    # Small but every scenario appears: rates are raised far above real life on purpose.
    return SimulationConfig(
        preset="tiny",
        period=PeriodConfig(start="2025-11-01", months=6),
        population=PopulationConfig(cards=800, new_card_share=0.08, merchants_per_1000_cards=50),
        spending=SpendingConfig(auths_per_card_month=12.0),
        scenarios=ScenariosConfig(
            lost_stolen=LostStolenParams(rate=0.006),
            cnp_breach=CnpBreachParams(breach_rate=0.03),
            card_testing=CardTestingParams(rate=0.004),
            account_takeover=AccountTakeoverParams(rate=0.004),
            skimming=SkimmingParams(breach_rate=0.03),
            bust_out=BustOutParams(rate=0.003),
            cashout_app=CashoutAppParams(participant_share=0.03, rings=2),
            pos_cashout=PosCashoutParams(participant_share=0.02),
        ),
    )


PRESETS = {
    "tiny": _tiny,
    "demo": lambda: SimulationConfig(preset="demo"),
    "bench": lambda: SimulationConfig(
        preset="bench",
        period=PeriodConfig(start="2025-11-01", months=12),
        population=PopulationConfig(cards=100_000),
    ),
}


def load_preset(
    name: str, seed: int = 0, overrides: dict[str, str | int | float] | None = None
) -> SimulationConfig:
    """A preset with ``seed`` and dotted ``overrides`` applied; bad input raises ``InvalidInput``."""
    if name not in PRESETS:
        raise InvalidInput(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise InvalidInput(f"seed must be an integer >= 0, got {seed!r}")
    cfg = dataclasses.replace(PRESETS[name](), seed=seed)
    for key, raw in (overrides or {}).items():
        path = str(key).strip().split(".")
        if path[0] in ("preset", "seed"):
            raise InvalidInput(f"{key}: set it with --preset / --seed, not as an override")
        cfg = _replace(cfg, path, raw, str(key))
    return cfg


def parse_overrides(items: list[str] | None) -> dict[str, str]:
    """``["a.b=1", ...]`` -> ``{"a.b": "1"}`` (for the CLI's repeated ``--set``)."""
    out: dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise InvalidInput(f"--set expects NAME=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out
