"""Plain point-of-sale cash-out (套现): round amounts at a colluding shop right after the statement.

Right after the statement date (the longest interest-free period), the holder "buys" round
amounts (multiples of 1,000 yuan) for 60-90 % of the available credit at a colluding merchant
that pays out cash minus a fee. The holder then repays normally (or revolves). Labelled
``is_fraud=False``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cardmind.simulate import reference as ref
from cardmind.simulate.calendar import DAY
from cardmind.simulate.scenarios.base import (
    MonthContext,
    Scenario,
    ScenarioParams,
    episode_ends,
    first_flags,
    spread,
)

_CATS = np.array(
    [ref.CAT[c] for c in ("department_store", "jewellery", "misc_retail", "supermarket")]
)


@dataclass(frozen=True, kw_only=True)
class PosCashoutParams(ScenarioParams):
    participant_share: float = 0.004
    merchants: int = 10  # colluding shops
    auths_min: int = 1
    auths_max: int = 3
    days_after_statement_max: float = 3.0
    share_min: float = 0.6  # share of available credit taken out
    share_max: float = 0.9
    round_yuan: int = 1000
    monthly_prob: float = 0.8  # a participant cashes out in a given cycle with this probability


class PosCashout(Scenario):
    name = "pos_cashout"
    is_fraud = False
    params_type = PosCashoutParams

    def setup(self, world, rng: np.random.Generator) -> None:
        p = self.params
        m = max(p.merchants, 1)
        self.shops = world.add_merchants(
            category=rng.choice(_CATS, size=m),
            city=rng.choice(ref.N_DOMESTIC, size=m, p=ref.CITY_P),
            online=np.zeros(m, dtype=bool),
            onboarded=world.start_day - rng.integers(30, 900, m),
            terminals=np.ones(m, dtype=np.int32),
        )
        n = world.n_cards
        k = min(n, round(n * p.participant_share))
        weight = world.people["risk"] + 0.05
        self.cards = (
            rng.choice(n, size=k, replace=False, p=weight / weight.sum())
            if k
            else np.zeros(0, np.int64)
        )
        self.shop = self.shops[rng.integers(0, m, k)]

    def month(self, ctx: MonthContext):
        p, rng, w = self.params, ctx.rng, ctx.world
        act = ctx.alive[self.cards] & (ctx.cut_ts[self.cards] >= w.open_ts[self.cards])
        act &= ctx.stop_pay_from[self.cards] > ctx.cut_ts[self.cards]
        act &= rng.random(len(self.cards)) < p.monthly_prob
        cards, shop = self.cards[act], self.shop[act]
        e = len(cards)
        t0 = (
            ctx.cut_ts[cards]
            + 1
            + (rng.uniform(0.3, max(p.days_after_statement_max, 0.3), e) * DAY).astype(np.int64)
        )
        k = rng.integers(p.auths_min, p.auths_max + 1, e)
        ep, ts = spread(rng, k, t0, np.full(e, 3 * 3600))
        n = len(ep)
        share = rng.uniform(p.share_min, p.share_max, e)
        weight = share[ep] / k[ep]
        end = episode_ends(ep, ts, e)
        ids = ctx.episodes.add_many(
            self.name,
            cards=cards,
            merchants=[[int(s)] for s in shop],
            start_ts=t0,
            end_ts=end,
            report_ts=np.full(e, -1),
            label="cashout",
            params=[
                {"auths": int(x), "share": round(float(s), 3)}
                for x, s in zip(k, share, strict=True)
            ],
        )
        merchant = shop[ep]
        return self.events(
            n,
            episode=ids[ep],
            legacy_rate=0.0,
            rng=rng,
            card=cards[ep],
            ts=ts,
            merchant=merchant,
            terminal=w.terminal_of(rng, merchant),
            channel=ref.CH["pos_chip"],
            city=w.m_city[merchant],
            fill=first_flags(ep),
            fill_w=weight,
            unit=max(p.round_yuan, 1) * 100,
        )
