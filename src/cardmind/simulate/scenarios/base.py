"""What every labelled scenario shares: its parameter base class, the month context and the log.

A scenario is one module with a ``Params`` dataclass (every field settable from the CLI as
``scenarios.<name>.<field>=value``) and a :class:`Scenario` subclass that, once per month,
returns candidate events (see :mod:`cardmind.simulate.events`) and records its episodes.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True, kw_only=True)
... class P(ScenarioParams):
...     rate: float = 0.1
...     auths_min: int = 2
...     auths_max: int = 1
>>> P()
Traceback (most recent call last):
ValueError: auths_min (2) must be <= auths_max (1)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from cardmind.simulate.events import Events, make_events

if TYPE_CHECKING:
    from cardmind.simulate.population import World

_PROBABILITY_SUFFIXES = ("_rate", "_share", "_prob")


@dataclass(frozen=True, kw_only=True)
class ScenarioParams:
    """Base of scenario parameters: non-negative numbers, probabilities <= 1, min <= max."""

    def __post_init__(self) -> None:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
            if (name == "rate" or name.endswith(_PROBABILITY_SUFFIXES)) and value > 1:
                raise ValueError(f"{name} is a probability and must be <= 1, got {value}")
        for name, value in values.items():
            if name.endswith("_min"):
                other = name[:-4] + "_max"
                if other in values and value > values[other]:
                    raise ValueError(f"{name} ({value}) must be <= {other} ({values[other]})")


@dataclass
class EpisodeLog:
    """Episodes of every scenario, accumulated over the run (written at the end)."""

    scenario: list[str] = field(default_factory=list)
    card: list[int] = field(default_factory=list)
    merchants: list[list[int]] = field(default_factory=list)
    start_ts: list[int] = field(default_factory=list)
    end_ts: list[int] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    report_ts: list[int] = field(default_factory=list)  # -1: never reported
    label: list[str] = field(default_factory=list)

    def add(
        self,
        scenario: str,
        *,
        card: int,
        merchants: list[int],
        start_ts: int,
        end_ts: int,
        report_ts: int = -1,
        label: str = "fraud",
        params: dict[str, Any] | None = None,
    ) -> int:
        """Record one episode and return its index."""
        self.scenario.append(scenario)
        self.card.append(int(card))
        self.merchants.append([int(m) for m in merchants])
        self.start_ts.append(int(start_ts))
        self.end_ts.append(int(end_ts))
        self.report_ts.append(int(report_ts))
        self.label.append(label)
        self.params.append(json.dumps(params or {}, sort_keys=True))
        return len(self.scenario) - 1

    def add_many(
        self,
        scenario: str,
        *,
        cards: np.ndarray,
        merchants: list[list[int]],
        start_ts: np.ndarray,
        end_ts: np.ndarray,
        report_ts: np.ndarray,
        label: str,
        params: list[dict[str, Any]],
    ) -> np.ndarray:
        """Record several episodes; returns their indices."""
        first = len(self.scenario)
        n = len(cards)
        self.scenario.extend([scenario] * n)
        self.card.extend(int(c) for c in cards)
        self.merchants.extend([[int(m) for m in ms] for ms in merchants])
        self.start_ts.extend(int(t) for t in start_ts)
        self.end_ts.extend(int(t) for t in end_ts)
        self.report_ts.extend(int(t) for t in report_ts)
        self.label.extend([label] * n)
        self.params.extend(json.dumps(p, sort_keys=True) for p in params)
        return np.arange(first, first + n, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.scenario)


@dataclass
class MonthContext:
    """What a scenario sees and may change for one calendar month."""

    rng: np.random.Generator
    month: int
    start_ts: int
    end_ts: int
    world: World
    alive: np.ndarray  # cards open by month end and not charged off
    cut_ts: np.ndarray  # statement cut this month, per card (local seconds)
    due_ts: np.ndarray  # payment due date of that statement
    rep_mode: np.ndarray  # 1: the statement is repaid in full by a third party (代还 app)
    rep_ts: np.ndarray  # time of that third-party repayment
    stop_pay_from: np.ndarray  # per card: the customer stops repaying from this time
    limit: np.ndarray  # current permanent credit limit per card (fen)
    block_from: np.ndarray  # per card: blocked (lost card, "41") from this time ...
    block_until: np.ndarray  # ... until the replacement card arrives
    genuine: Events  # the month's genuine candidate events (for points of compromise)
    episodes: EpisodeLog


class Scenario:
    """Base class: one labelled behaviour that injects events month by month."""

    name: ClassVar[str] = ""
    is_fraud: ClassVar[bool] = True
    params_type: ClassVar[type[ScenarioParams]] = ScenarioParams

    def __init__(self, params: ScenarioParams, code: int) -> None:
        self.params = params
        self.code = code

    def setup(self, world: World, rng: np.random.Generator) -> None:
        """Choose anything fixed for the whole run (participants, rings). Default: nothing."""

    def month(self, ctx: MonthContext) -> Events:  # pragma: no cover - abstract
        raise NotImplementedError

    # helpers ------------------------------------------------------------------------------
    def events(self, n: int, *, episode: np.ndarray, legacy_rate: float, rng, **cols) -> Events:
        """Events of this scenario with legacy-rule declines drawn at ``legacy_rate``."""
        return make_events(
            n,
            scenario=self.code,
            episode=episode,
            legacy_decline=rng.random(n) < legacy_rate,
            u_tc=rng.random(n),
            **cols,
        )


def pick_cards(ctx: MonthContext, rate: float, eligible: np.ndarray | None = None) -> np.ndarray:
    """Cards hit this month: each alive (and eligible) card with probability ``rate``."""
    ok = ctx.alive if eligible is None else ctx.alive & eligible
    hit = ok & (ctx.rng.random(len(ok)) < rate)
    return np.flatnonzero(hit)


def pick_victims(
    ctx: MonthContext, rate: float, *, min_card_age_s: int = 86_400
) -> tuple[np.ndarray, np.ndarray]:
    """Cards hit this month (open at least ``min_card_age_s`` before the month ends) and when
    each episode starts: uniform over the month, never within a day of the card's opening."""
    w = ctx.world
    cards = pick_cards(ctx, rate, w.open_ts < ctx.end_ts - min_card_age_s)
    start = ctx.start_ts + ctx.rng.integers(0, ctx.end_ts - ctx.start_ts, len(cards))
    return cards, np.maximum(start, w.open_ts[cards] + 86_400)


def episode_ends(ep: np.ndarray, ts: np.ndarray, episodes: int) -> np.ndarray:
    """Time of the last event of each of ``episodes`` episodes (0 for an episode without events)."""
    end = np.zeros(episodes, dtype=np.int64)
    np.maximum.at(end, ep, ts)
    return end


def report_times(
    rng: np.random.Generator,
    end_ts: np.ndarray,
    days_min: float,
    days_max: float,
    unreported_share: float,
) -> np.ndarray:
    """When the customer or a chargeback reports each episode (-1 when never)."""
    n = len(end_ts)
    t = end_ts + (rng.uniform(days_min, days_max, n) * 86_400).astype(np.int64)
    return np.where(rng.random(n) < unreported_share, -1, t).astype(np.int64)


def spread(
    rng: np.random.Generator, counts: np.ndarray, start: np.ndarray, seconds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Episode index per event and sorted event times within ``[start, start + seconds)``."""
    ep = np.repeat(np.arange(len(counts)), counts)
    off = rng.random(len(ep)) * seconds[ep]
    ts = start[ep] + off.astype(np.int64)
    order = np.lexsort((ts, ep))
    return ep[order], ts[order]


def first_flags(ep: np.ndarray) -> np.ndarray:
    """1 for the first event of each episode (``ep`` sorted), 2 for the others."""
    first = np.ones(len(ep), dtype=bool)
    first[1:] = ep[1:] != ep[:-1]
    return np.where(first, 1, 2).astype(np.int8)


def lognormal_fen(
    rng: np.random.Generator, median_yuan: float | np.ndarray, sigma: float, n: int
) -> np.ndarray:
    yuan = rng.lognormal(np.log(median_yuan), sigma, n)
    return np.maximum(np.round(yuan * 100), 100).astype(np.int64)
