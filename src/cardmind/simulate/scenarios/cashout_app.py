"""代还 / "smart repayment" app cash-out.

Each cycle, a few days before the due date, the app repays the statement in full from its own
funds (a third-party payer: ``payer_is_cardholder=False``, channel ``third_party_app``), then
within days "cycles" the card's freed credit back through many small, non-round purchases at a
ring of colluding merchants, keeping 5-10 % of the line free, and charges the holder a fee of
about 0.6 % (60 yuan per 10,000: the figure in the 2019 press coverage of these apps). The apps
run the purchases from a small pool of their own devices. Participants stay in the scheme from
the month they join. Labelled ``is_fraud=False`` (cash-out, a policy breach, not a fraud loss).

``ring_categories`` sets the ring merchants' categories (names or MCCs from
:mod:`cardmind.simulate.reference`, comma-separated; each merchant draws one uniformly).
``fee_rate`` shapes the cycled total: the app spends the freed credit less the share kept free,
scaled by ``(1 + fee_rate) / (1 + 0.006)`` (the fee it keeps on top of the repayment), so the
default fee reproduces the same purchases as before the parameter took effect.

>>> CashoutAppParams(ring_categories="5944, dining").ring_category_codes().tolist()
[10, 1]
>>> CashoutAppParams(ring_categories="casino")
Traceback (most recent call last):
...
ValueError: unknown ring category 'casino'; known: supermarket (5411), ...
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

DEFAULT_RING_CATEGORIES = "misc_retail,department_store,supermarket,clothing,dining"
REFERENCE_FEE_RATE = 0.006  # the fee at which the cycled total is (available - kept share)


def _category_codes(text: str) -> np.ndarray:
    """Category indices for a comma-separated list of category names or MCCs."""
    by_mcc = {m: i for i, m in enumerate(ref.CATEGORY_MCC)}
    out = []
    for item in (t.strip().lower() for t in str(text).split(",")):
        if not item:
            continue
        code = ref.CAT.get(item, by_mcc.get(item))
        if code is None:
            known = ", ".join(
                f"{c} ({m})" for c, m in zip(ref.CATEGORIES, ref.CATEGORY_MCC, strict=True)
            )
            raise ValueError(f"unknown ring category {item!r}; known: {known}")
        out.append(code)
    if not out:
        raise ValueError("ring_categories: give at least one category name or MCC")
    return np.array(out, dtype=np.int64)


@dataclass(frozen=True, kw_only=True)
class CashoutAppParams(ScenarioParams):
    participant_share: float = 0.006  # share of cards that join an app during the period
    rings: int = 3  # independent apps, each with its own merchant ring
    ring_size: int = 12  # colluding merchants per ring
    purchases_min: int = 8
    purchases_max: int = 20
    cycle_days: float = 3.0  # the credit is cycled within this many days of the repayment
    repay_days_before_due_min: float = 1.0
    repay_days_before_due_max: float = 4.0
    keep_share_min: float = 0.05  # share of the line left free
    keep_share_max: float = 0.10
    fee_rate: float = REFERENCE_FEE_RATE  # fee charged to the holder (0.6 %)
    ring_categories: str = DEFAULT_RING_CATEGORIES  # names or MCCs, comma-separated
    devices_per_ring: int = 5
    qr_share: float = 0.5
    wallet_share: float = 0.2  # the rest is online card-not-present

    def __post_init__(self) -> None:
        super().__post_init__()
        _category_codes(self.ring_categories)

    def ring_category_codes(self) -> np.ndarray:
        """Indices (into ``reference.CATEGORIES``) of the ring merchants' categories."""
        return _category_codes(self.ring_categories)


class CashoutApp(Scenario):
    name = "cashout_app"
    is_fraud = False
    params_type = CashoutAppParams

    def setup(self, world, rng: np.random.Generator) -> None:
        p = self.params
        rings = max(p.rings, 1)
        size = max(p.ring_size, 1)
        m = rings * size
        city = np.repeat(rng.choice(ref.N_DOMESTIC, size=rings, p=ref.CITY_P), size)
        self.ring_merchants = world.add_merchants(
            category=rng.choice(p.ring_category_codes(), size=m),
            city=city,
            online=np.zeros(m, dtype=bool),
            onboarded=world.start_day - rng.integers(20, 400, m),
            terminals=np.ones(m, dtype=np.int32),
        ).reshape(rings, size)
        self.devices = world.new_devices(rings * max(p.devices_per_ring, 1)).reshape(rings, -1)
        n = world.n_cards
        weight = world.people["risk"] + 0.05
        k = min(n, round(n * p.participant_share))
        self.cards = (
            rng.choice(n, size=k, replace=False, p=weight / weight.sum())
            if k
            else np.zeros(0, np.int64)
        )
        self.ring = rng.integers(0, rings, k)
        months = max(1, (world.end_day - world.start_day) // 30)
        self.join_month = rng.integers(0, months, k)

    def month(self, ctx: MonthContext):
        p, rng, w = self.params, ctx.rng, ctx.world
        act = (self.join_month <= ctx.month) & ctx.alive[self.cards]
        act &= ctx.cut_ts[self.cards] >= w.open_ts[self.cards]
        act &= ctx.stop_pay_from[self.cards] > ctx.cut_ts[self.cards]
        cards, ring = self.cards[act], self.ring[act]
        e = len(cards)
        before = rng.uniform(p.repay_days_before_due_min, p.repay_days_before_due_max, e)
        rep_ts = ctx.due_ts[cards] - 86_399 + 10 * 3600 - (before * DAY).astype(np.int64)
        rep_ts = np.maximum(rep_ts, ctx.cut_ts[cards] + 3600)
        inside = rep_ts < w.end_day * DAY  # the run ends before a later repayment
        cards, ring, rep_ts = cards[inside], ring[inside], rep_ts[inside]
        e = len(cards)
        ctx.rep_mode[cards] = 1
        ctx.rep_ts[cards] = rep_ts
        k = rng.integers(p.purchases_min, p.purchases_max + 1, e)
        ep, ts = spread(rng, k, rep_ts + 1800, np.full(e, int(p.cycle_days * DAY)))
        n = len(ep)
        raw = rng.uniform(0.6, 1.4, n)
        weight = raw / np.bincount(ep, weights=raw, minlength=e)[ep]
        scale = (1.0 + p.fee_rate) / (1.0 + REFERENCE_FEE_RATE)
        if scale != 1.0:  # the default fee leaves the weights (and the output) unchanged
            weight = weight * scale
        keep = (rng.uniform(p.keep_share_min, p.keep_share_max, e) * ctx.limit[cards]).astype(
            np.int64
        )
        ring_size = self.ring_merchants.shape[1]
        merchant = self.ring_merchants[ring[ep], rng.integers(0, ring_size, n)]
        dpr = self.devices.shape[1]
        device = self.devices[ring[ep], rng.integers(0, dpr, n)]
        u = rng.random(n)
        channel = np.where(
            u < p.qr_share,
            ref.CH["qr"],
            np.where(u < p.qr_share + p.wallet_share, ref.CH["wallet"], ref.CH["online_cnp"]),
        )
        end = episode_ends(ep, ts, e)
        ids = ctx.episodes.add_many(
            self.name,
            cards=cards,
            merchants=[self.ring_merchants[r].tolist() for r in ring],
            start_ts=rep_ts,
            end_ts=end,
            report_ts=np.full(e, -1),
            label="cashout",
            params=[
                {"ring": int(r), "purchases": int(x), "keep_fen": int(kf), "fee_rate": p.fee_rate}
                for r, x, kf in zip(ring, k, keep, strict=True)
            ],
        )
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
            unit=1,
            keep=keep[ep],
        )
