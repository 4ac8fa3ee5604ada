"""Skimming at a compromised terminal.

A card-present terminal is fitted with a skimmer for part of a month; cards read there are
counterfeited and used 3-30 days later at shops in another city (often abroad).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cardmind.simulate import reference as ref
from cardmind.simulate.events import PURCHASE
from cardmind.simulate.scenarios.base import (
    MonthContext,
    Scenario,
    ScenarioParams,
    episode_ends,
    lognormal_fen,
    report_times,
    spread,
)

_CATS = np.array(
    [ref.CAT[c] for c in ("jewellery", "electronics", "department_store", "supermarket")]
)
_CAT_P = np.array([0.3, 0.3, 0.2, 0.2])


@dataclass(frozen=True, kw_only=True)
class SkimmingParams(ScenarioParams):
    breach_rate: float = 0.002  # per card-present merchant-month
    use_rate: float = 0.5
    delay_days_min: float = 3.0
    delay_days_max: float = 30.0
    auths_min: int = 2
    auths_max: int = 6
    window_hours: float = 24.0
    foreign_share: float = 0.25
    median_yuan: float = 2000.0
    legacy_decline_rate: float = 0.15
    report_days_min: float = 3.0
    report_days_max: float = 30.0
    unreported_share: float = 0.1


class Skimming(Scenario):
    name = "skimming"
    is_fraud = True
    params_type = SkimmingParams

    def month(self, ctx: MonthContext):
        p, rng, w, g = self.params, ctx.rng, ctx.world, ctx.genuine
        off_m = np.flatnonzero(~w.m_online)
        breached = off_m[rng.random(len(off_m)) < p.breach_rate]
        sel = (
            np.isin(g["merchant"], breached)
            & (g["mtype"] == PURCHASE)
            & (g["channel"] == ref.CH["pos_chip"])
        )
        if not sel.any():
            return self.events(0, episode=-1, legacy_rate=0, rng=rng)
        card, first = np.unique(g["card"][sel], return_index=True)
        src = g["merchant"][sel][first]
        term = g["terminal"][sel][first]
        t_exp = g["ts"][sel][first]
        use = (rng.random(len(card)) < p.use_rate) & ctx.alive[card]
        cards, src, term, t_exp = card[use], src[use], term[use], t_exp[use]
        e = len(cards)
        t0 = t_exp + (rng.uniform(p.delay_days_min, p.delay_days_max, e) * 86_400).astype(np.int64)
        k = rng.integers(p.auths_min, p.auths_max + 1, e)
        ep, ts = spread(rng, k, t0, np.full(e, int(p.window_hours * 3600)))
        n = len(ep)
        home = w.people["city"][cards]
        where = np.where(
            rng.random(e) < p.foreign_share,
            rng.integers(ref.N_DOMESTIC, len(ref.CITY_NAMES), e),
            rng.choice(ref.N_DOMESTIC, size=e, p=ref.CITY_P),
        )
        where = np.where(where == home, (where + 1) % ref.N_DOMESTIC, where)
        cat = rng.choice(_CATS, size=n, p=_CAT_P)
        merchant = w.picker.pick(rng, cat, where[ep].astype(np.int64), np.zeros(n, dtype=bool))
        end = episode_ends(ep, ts, e)
        report = report_times(rng, end, p.report_days_min, p.report_days_max, p.unreported_share)
        ids = ctx.episodes.add_many(
            self.name,
            cards=cards,
            merchants=[[int(m)] for m in src],
            start_ts=t0,
            end_ts=end,
            report_ts=report,
            label="fraud",
            params=[
                {"auths": int(x), "terminal_index": int(t), "exposed_at": int(s)}
                for x, t, s in zip(k, term, t_exp, strict=True)
            ],
        )
        return self.events(
            n,
            episode=ids[ep],
            legacy_rate=p.legacy_decline_rate,
            rng=rng,
            card=cards[ep],
            ts=ts,
            amount=lognormal_fen(rng, p.median_yuan, 0.8, n),
            merchant=merchant,
            terminal=w.terminal_of(rng, merchant),
            channel=ref.CH["pos_chip"],
            city=w.m_city[merchant],
        )
