"""Card-not-present fraud after a merchant data breach (point of compromise).

An online merchant is breached during a month; card data of the cards that paid there is sold,
and a share of them is used days to weeks later for online purchases at other merchants, from
the fraudsters' devices, sometimes abroad. Reported when the holder reads the statement or
through a chargeback (weeks).
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
    [
        ref.CAT[c]
        for c in (
            "electronics",
            "digital_goods",
            "online_marketplace",
            "telecom",
            "misc_retail",
            "airlines",
        )
    ]
)
_CAT_P = np.array([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])


@dataclass(frozen=True, kw_only=True)
class CnpBreachParams(ScenarioParams):
    breach_rate: float = 0.002  # per online merchant-month
    use_rate: float = 0.3  # share of exposed cards that fraudsters use
    delay_days_min: float = 3.0
    delay_days_max: float = 40.0
    auths_min: int = 2
    auths_max: int = 6
    window_hours: float = 48.0
    median_yuan: float = 1200.0
    devices_per_breach: int = 3  # fraudsters reuse a few devices across stolen cards
    legacy_decline_rate: float = 0.15
    report_days_min: float = 5.0
    report_days_max: float = 40.0
    unreported_share: float = 0.1


class CnpBreach(Scenario):
    name = "cnp_breach"
    is_fraud = True
    params_type = CnpBreachParams

    def month(self, ctx: MonthContext):
        p, rng, w, g = self.params, ctx.rng, ctx.world, ctx.genuine
        online_m = np.flatnonzero(w.m_online)
        breached = online_m[rng.random(len(online_m)) < p.breach_rate]
        sel = np.isin(g["merchant"], breached) & (g["mtype"] == PURCHASE)
        if not sel.any():
            return self.events(0, episode=-1, legacy_rate=0, rng=rng)
        card, first = np.unique(g["card"][sel], return_index=True)
        src_merchant = g["merchant"][sel][first]
        exposed_ts = g["ts"][sel][first]
        use = (rng.random(len(card)) < p.use_rate) & ctx.alive[card]
        cards, src, t_exp = card[use], src_merchant[use], exposed_ts[use]
        e = len(cards)
        t0 = t_exp + (rng.uniform(p.delay_days_min, p.delay_days_max, e) * 86_400).astype(np.int64)
        k = rng.integers(p.auths_min, p.auths_max + 1, e)
        ep, ts = spread(rng, k, t0, np.full(e, int(p.window_hours * 3600)))
        n = len(ep)
        cat = rng.choice(_CATS, size=n, p=_CAT_P)
        merchant = w.picker.pick(rng, cat, np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool))
        pool = w.new_devices(max(1, p.devices_per_breach) * max(len(breached), 1))
        b_index = np.searchsorted(np.sort(breached), src)
        device = pool[
            (
                b_index[ep] * max(1, p.devices_per_breach)
                + rng.integers(0, max(1, p.devices_per_breach), n)
            )
            % len(pool)
        ]
        end = episode_ends(ep, ts, e)
        report = report_times(rng, end, p.report_days_min, p.report_days_max, p.unreported_share)
        ids = ctx.episodes.add_many(
            self.name,
            cards=cards,
            merchants=[[int(m)] for m in src],
            start_ts=t0,
            end_ts=end,
            report_ts=report,
            label="chargeback",
            params=[{"auths": int(x), "exposed_at": int(t)} for x, t in zip(k, t_exp, strict=True)],
        )
        return self.events(
            n,
            episode=ids[ep],
            legacy_rate=p.legacy_decline_rate,
            rng=rng,
            card=cards[ep],
            ts=ts,
            amount=lognormal_fen(rng, p.median_yuan, 0.9, n),
            merchant=merchant,
            terminal=w.terminal_of(rng, merchant),
            device=device,
            channel=ref.CH["online_cnp"],
            city=w.m_city[merchant],
        )
