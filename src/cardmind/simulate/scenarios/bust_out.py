"""First-party bust-out: the holder maxes out the card in a few days and never repays.

Large purchases of resaleable goods (electronics, jewellery, appliances) whose total aims at
100-120 % of the available credit (the excess is declined unless a temporary credit is
granted), after which the customer stops paying; the account reaches 90+ DPD and is charged
off. Labelled ``is_fraud=False`` (first-party credit loss, not third-party fraud).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cardmind.simulate import reference as ref
from cardmind.simulate.scenarios.base import (
    MonthContext,
    Scenario,
    ScenarioParams,
    episode_ends,
    first_flags,
    pick_cards,
    spread,
)

_CATS = np.array(
    [ref.CAT[c] for c in ("electronics", "jewellery", "appliances", "department_store")]
)


@dataclass(frozen=True, kw_only=True)
class BustOutParams(ScenarioParams):
    rate: float = 0.0003  # per card-month
    auths_min: int = 4
    auths_max: int = 12
    days_max: float = 4.0
    total_share_min: float = 1.0  # total attempted as a share of available credit
    total_share_max: float = 1.2
    online_share: float = 0.4


class BustOut(Scenario):
    name = "bust_out"
    is_fraud = False
    params_type = BustOutParams

    def month(self, ctx: MonthContext):
        p, rng, w = self.params, ctx.rng, ctx.world
        eligible = (ctx.stop_pay_from > ctx.end_ts) & (w.open_ts < ctx.start_ts - 60 * 86_400)
        cards = pick_cards(ctx, p.rate, eligible)
        e = len(cards)
        t0 = ctx.start_ts + rng.integers(0, ctx.end_ts - ctx.start_ts, e)
        k = rng.integers(p.auths_min, p.auths_max + 1, e)
        ep, ts = spread(rng, k, t0, np.full(e, int(p.days_max * 86_400)))
        n = len(ep)
        total = rng.uniform(p.total_share_min, p.total_share_max, e)
        raw = rng.gamma(2.0, 1.0, n)
        sums = np.bincount(ep, weights=raw, minlength=e)
        weight = raw / sums[ep] * total[ep]
        online = rng.random(n) < p.online_share
        cat = rng.choice(_CATS, size=n)
        merchant = w.picker.pick(rng, cat, w.people["city"][cards[ep]].astype(np.int64), online)
        channel = np.where(online, ref.CH["online_cnp"], ref.CH["pos_chip"])
        ctx.stop_pay_from[cards] = np.minimum(ctx.stop_pay_from[cards], t0)
        end = episode_ends(ep, ts, e)
        ids = ctx.episodes.add_many(
            self.name,
            cards=cards,
            merchants=[[] for _ in range(e)],
            start_ts=t0,
            end_ts=end,
            report_ts=np.full(e, -1),
            label="bust_out",
            params=[
                {"auths": int(x), "total_share": round(float(s), 3)}
                for x, s in zip(k, total, strict=True)
            ],
        )
        device = np.where(online, cards[ep].astype(np.int64) * 4, -1)
        return self.events(
            n,
            episode=ids[ep],
            legacy_rate=0.0,
            rng=rng,
            card=cards[ep],
            ts=ts,
            merchant=merchant,
            terminal=w.terminal_of(rng, merchant),
            device=device,
            channel=channel,
            city=w.m_city[merchant],
            fill=first_flags(ep),
            fill_w=weight,
            unit=100,
        )
