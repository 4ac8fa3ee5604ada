"""Lost or stolen card: a thief spends fast at nearby shops until the customer reports it.

Pattern: 3-10 card-present purchases within ~1 day of the theft in the holder's city, mostly
contactless below the 1,000-yuan no-PIN limit (UnionPay QuickPass 免密免签 limit), at shops
selling resaleable goods. Reported within hours to days (most customers notice quickly).
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
    lognormal_fen,
    pick_victims,
    report_times,
    spread,
)

_CATS = np.array(
    [
        ref.CAT[c]
        for c in ("supermarket", "jewellery", "electronics", "fuel", "department_store", "dining")
    ]
)
_CAT_P = np.array([0.3, 0.15, 0.2, 0.1, 0.15, 0.1])


@dataclass(frozen=True, kw_only=True)
class LostStolenParams(ScenarioParams):
    rate: float = 0.0004  # per card-month (~0.5 %/yr of cards reported lost or stolen)
    auths_min: int = 3
    auths_max: int = 10
    hours_max: float = 30.0  # spending window after the theft
    contactless_share: float = 0.6
    contactless_cap_yuan: float = 1000.0  # no-PIN limit
    median_yuan: float = 900.0
    legacy_decline_rate: float = 0.1
    report_days_min: float = 0.2  # from the theft
    report_days_max: float = 2.0
    unreported_share: float = 0.05
    reissue_days: float = 7.0  # the card is blocked until the replacement arrives


class LostStolen(Scenario):
    name = "lost_stolen"
    is_fraud = True
    params_type = LostStolenParams

    def month(self, ctx: MonthContext):
        p, rng, w = self.params, ctx.rng, ctx.world
        cards, t0 = pick_victims(ctx, p.rate, min_card_age_s=2 * 86_400)
        e = len(cards)
        k = rng.integers(p.auths_min, p.auths_max + 1, e)
        ep, ts = spread(rng, k, t0 + 1800, np.full(e, int(p.hours_max * 3600)))
        n = len(ep)
        card = cards[ep]
        cat = rng.choice(_CATS, size=n, p=_CAT_P)
        city = w.people["city"][card].astype(np.int64)
        merchant = w.picker.pick(rng, cat, city, np.zeros(n, dtype=bool))
        contactless = rng.random(n) < p.contactless_share
        amount = lognormal_fen(rng, p.median_yuan, 0.8, n)
        cap = int(p.contactless_cap_yuan * 100)
        amount = np.where(contactless, np.minimum(amount, cap - rng.integers(0, 5000, n)), amount)
        amount = np.maximum(amount, 100)
        end = episode_ends(ep, ts, e)
        # the holder notices and reports from the theft on: later attempts are declined ("41")
        report = report_times(rng, t0, p.report_days_min, p.report_days_max, p.unreported_share)
        blocked = report >= 0
        ctx.block_from[cards[blocked]] = report[blocked]
        ctx.block_until[cards[blocked]] = report[blocked] + int(p.reissue_days * 86_400)
        ids = ctx.episodes.add_many(
            self.name,
            cards=cards,
            merchants=[[] for _ in range(e)],
            start_ts=t0,
            end_ts=end,
            report_ts=report,
            label="fraud",
            params=[{"auths": int(x), "hours_max": p.hours_max} for x in k],
        )
        return self.events(
            n,
            episode=ids[ep],
            legacy_rate=p.legacy_decline_rate,
            rng=rng,
            card=card,
            ts=ts,
            amount=amount,
            merchant=merchant,
            terminal=w.terminal_of(rng, merchant),
            channel=np.where(contactless, ref.CH["contactless"], ref.CH["pos_chip"]),
            city=w.m_city[merchant],
        )
