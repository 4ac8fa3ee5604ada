"""Account takeover from a new device.

A fraudster obtains the holder's app credentials (phishing, SIM swap), binds the card to a new
device and spends through wallet, QR and online payments within a few days.
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
        for c in ("electronics", "digital_goods", "online_marketplace", "jewellery", "telecom")
    ]
)
_CAT_P = np.array([0.3, 0.25, 0.25, 0.1, 0.1])


@dataclass(frozen=True, kw_only=True)
class AccountTakeoverParams(ScenarioParams):
    rate: float = 0.0004  # per card-month
    auths_min: int = 3
    auths_max: int = 8
    days_max: float = 3.0
    median_yuan: float = 2500.0
    legacy_decline_rate: float = 0.1
    report_days_min: float = 1.0
    report_days_max: float = 20.0
    unreported_share: float = 0.08


class AccountTakeover(Scenario):
    name = "account_takeover"
    is_fraud = True
    params_type = AccountTakeoverParams

    def month(self, ctx: MonthContext):
        p, rng, w = self.params, ctx.rng, ctx.world
        cards, t0 = pick_victims(ctx, p.rate)
        e = len(cards)
        k = rng.integers(p.auths_min, p.auths_max + 1, e)
        ep, ts = spread(rng, k, t0, np.full(e, int(p.days_max * 86_400)))
        n = len(ep)
        dev = w.new_devices(e)
        cat = rng.choice(_CATS, size=n, p=_CAT_P)
        merchant = w.picker.pick(rng, cat, np.zeros(n, np.int64), np.ones(n, dtype=bool))
        channel = rng.choice(
            np.array([ref.CH["wallet"], ref.CH["online_cnp"], ref.CH["qr"]]),
            size=n,
            p=[0.45, 0.35, 0.2],
        )
        end = episode_ends(ep, ts, e)
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
                {"auths": int(x), "new_device": f"D{int(d)}"} for x, d in zip(k, dev, strict=True)
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
            device=dev[ep],
            channel=channel,
            city=w.m_city[merchant],
        )
