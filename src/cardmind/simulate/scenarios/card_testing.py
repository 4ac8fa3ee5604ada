"""Card testing followed by large purchases.

Fraudsters check that stolen card data works with a burst of tiny online authorizations
(1-10 yuan) within minutes, several declined, then come back within days for large purchases
from the same device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cardmind.simulate import reference as ref
from cardmind.simulate.events import concat_events
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


@dataclass(frozen=True, kw_only=True)
class CardTestingParams(ScenarioParams):
    rate: float = 0.0004  # per card-month
    test_auths_min: int = 3
    test_auths_max: int = 10
    test_minutes: float = 30.0
    test_amount_max_yuan: float = 10.0
    big_auths_min: int = 1
    big_auths_max: int = 4
    delay_days_min: float = 0.5
    delay_days_max: float = 3.0
    median_yuan: float = 3000.0
    test_legacy_decline_rate: float = 0.25
    legacy_decline_rate: float = 0.15
    report_days_min: float = 3.0
    report_days_max: float = 30.0
    unreported_share: float = 0.1


class CardTesting(Scenario):
    name = "card_testing"
    is_fraud = True
    params_type = CardTestingParams

    def month(self, ctx: MonthContext):
        p, rng, w = self.params, ctx.rng, ctx.world
        cards, t0 = pick_victims(ctx, p.rate)
        e = len(cards)
        dev = w.new_devices(e)
        kt = rng.integers(p.test_auths_min, p.test_auths_max + 1, e)
        ep1, ts1 = spread(rng, kt, t0, np.full(e, int(p.test_minutes * 60)))
        t_big = t0 + (rng.uniform(p.delay_days_min, p.delay_days_max, e) * 86_400).astype(np.int64)
        kb = rng.integers(p.big_auths_min, p.big_auths_max + 1, e)
        ep2, ts2 = spread(rng, kb, t_big, np.full(e, 6 * 3600))
        end = episode_ends(ep2, ts2, e)
        report = report_times(rng, end, p.report_days_min, p.report_days_max, p.unreported_share)
        ids = ctx.episodes.add_many(
            self.name,
            cards=cards,
            merchants=[[] for _ in range(e)],
            start_ts=t0,
            end_ts=end,
            report_ts=report,
            label="fraud",
            params=[
                {"test_auths": int(a), "big_auths": int(b)} for a, b in zip(kt, kb, strict=True)
            ],
        )
        n1, n2 = len(ep1), len(ep2)
        test_cat = np.where(rng.random(n1) < 0.6, ref.CAT["digital_goods"], ref.CAT["misc_retail"])
        m1 = w.picker.pick(rng, test_cat, np.zeros(n1, np.int64), np.ones(n1, dtype=bool))
        big_cat = np.where(
            rng.random(n2) < 0.6, ref.CAT["electronics"], ref.CAT["online_marketplace"]
        )
        m2 = w.picker.pick(rng, big_cat, np.zeros(n2, np.int64), np.ones(n2, dtype=bool))
        test = self.events(
            n1,
            episode=ids[ep1],
            legacy_rate=p.test_legacy_decline_rate,
            rng=rng,
            card=cards[ep1],
            ts=ts1,
            amount=rng.integers(100, int(p.test_amount_max_yuan * 100) + 1, n1),
            merchant=m1,
            terminal=w.terminal_of(rng, m1),
            device=dev[ep1],
            channel=ref.CH["online_cnp"],
            city=w.m_city[m1],
        )
        big = self.events(
            n2,
            episode=ids[ep2],
            legacy_rate=p.legacy_decline_rate,
            rng=rng,
            card=cards[ep2],
            ts=ts2,
            amount=lognormal_fen(rng, p.median_yuan, 0.7, n2),
            merchant=m2,
            terminal=w.terminal_of(rng, m2),
            device=dev[ep2],
            channel=ref.CH["online_cnp"],
            city=w.m_city[m2],
        )
        return concat_events([test, big])
