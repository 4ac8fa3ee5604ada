"""Genuine spending of one month: counts, categories, days, hours, places, amounts, channels.

Vectorised over all events of the month. Personal rhythms: each card has its own activity level
and category preferences; part of its spending follows its pay day; days are weighted by
weekday and holidays (see :mod:`cardmind.simulate.calendar`); trips move offline spending to
another city (or abroad) and add a transport and a hotel booking. Merchants reverse a few
purchases within minutes and refund some days later.

>>> p = np.array([[0.2, 0.7, 1.0]], dtype=np.float32)
>>> row_choice(p, np.array([0, 0, 0]), np.array([0.1, 0.5, 0.99], dtype=np.float32)).tolist()
[0, 1, 2]
"""

from __future__ import annotations

import numba as nb
import numpy as np

from cardmind.simulate import reference as ref
from cardmind.simulate.calendar import (
    DAY,
    OFFLINE_HOUR_P,
    ONLINE_HOUR_P,
    day_to_date,
    offline_day_weights,
    online_day_weights,
    spring_festival_in,
)
from cardmind.simulate.events import INST_OFFERED, INST_SELF, REFUND, REVERSAL, Events, make_events
from cardmind.simulate.population import World

INSTALLMENT_PERIODS = np.array([3, 6, 12, 24], dtype=np.int16)
INSTALLMENT_PERIOD_P = np.array([0.35, 0.3, 0.25, 0.1])
# Fee per period (bp of principal): typical Chinese issuer 分期 fees 0.6-0.75 %/month.
INSTALLMENT_FEE_BP = {3: 75, 6: 70, 12: 66, 24: 65}


@nb.njit(cache=True)
def row_choice(cum: np.ndarray, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """For each i, the first column k with ``cum[rows[i], k] >= u[i]`` (row-wise categorical)."""
    n = len(rows)
    k_max = cum.shape[1] - 1
    out = np.empty(n, dtype=np.int16)
    for i in range(n):
        r = rows[i]
        lo, hi = 0, k_max
        while lo < hi:
            mid = (lo + hi) // 2
            if cum[r, mid] >= u[i]:
                hi = mid
            else:
                lo = mid + 1
        out[i] = lo
    return out


def _choice_by_group(
    rng: np.random.Generator, flag: np.ndarray, p_true: np.ndarray, p_false: np.ndarray
) -> np.ndarray:
    """A categorical draw per row from ``p_true`` where ``flag`` else from ``p_false``."""
    u = rng.random(len(flag))
    c_true = np.cumsum(p_true / p_true.sum())
    c_false = np.cumsum(p_false / p_false.sum())
    out = np.where(
        flag, np.searchsorted(c_true, u, side="right"), np.searchsorted(c_false, u, side="right")
    )
    return np.minimum(out, len(p_true) - 1)


def installment_fee_bp(periods: np.ndarray) -> np.ndarray:
    lut = np.zeros(25, dtype=np.int32)
    for k, v in INSTALLMENT_FEE_BP.items():
        lut[k] = v
    return lut[periods]


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def purchase_accept_probability(world: World, card: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """True probability that a customer accepts an installment offer on a purchase at list price."""
    p = world.people
    return _sigmoid(
        -3.0
        + 5.0 * p["installment_propensity"][card]
        + 2.5 * p["offer_responsiveness"][card]
        + 0.5 * np.log(np.maximum(amount, 1) / 500_000)
    )


def price_sensitivity(world: World, card: np.ndarray, scale: float) -> np.ndarray:
    """Logit gain of a 100 % fee discount for each card's holder (the pricing experiment).

    ``scale`` x sqrt(10,000 yuan / monthly income), clipped to 0.5-2 x ``scale``: lower incomes
    respond more to price.
    """
    income = world.people["income_fen"][card].astype(np.float64)
    return scale * np.clip(np.sqrt(1_000_000 / np.maximum(income, 1.0)), 0.5, 2.0)


def draw_discounts(rng: np.random.Generator, n: int, cr) -> np.ndarray:
    """Fee discount (percent off the schedule) of ``n`` offers of the randomised pricing test.

    A share ``cr.installment_price_test_share`` of the offers gets a discount drawn uniformly from
    10, 20, ... ``cr.installment_max_discount_pct`` %; the others are at the schedule (0). The draws
    come from the experiment's own random stream, so the rest of the simulation draws as before.

    >>> from types import SimpleNamespace
    >>> cr = SimpleNamespace(installment_price_test_share=1.0, installment_max_discount_pct=30)
    >>> sorted(set(draw_discounts(np.random.default_rng(0), 1000, cr).tolist()))
    [10, 20, 30]
    """
    test = rng.random(n) < cr.installment_price_test_share
    steps = max(cr.installment_max_discount_pct // 10, 1)
    pct = rng.integers(1, steps + 1, n) * 10
    return np.where(test, pct, 0).astype(np.int32)


def discounted_fee_bp(fee_bp: np.ndarray, pct: np.ndarray) -> np.ndarray:
    """Schedule fee less ``pct`` percent, rounded half up to whole basis points.

    >>> discounted_fee_bp(np.array([75, 70, 66]), np.array([0, 50, 30])).tolist()
    [75, 35, 46]
    """
    return (np.asarray(fee_bp, np.int64) * (100 - np.asarray(pct, np.int64)) + 50) // 100


def priced_probability(p_list: np.ndarray, sensitivity: np.ndarray, pct: np.ndarray) -> np.ndarray:
    """Acceptance probability at a discount: logit(p at list price) + sensitivity x discount.

    Offers at the schedule keep ``p_list`` exactly (so a run without discounts is unchanged).

    >>> priced_probability(np.array([0.2, 0.2]), np.array([3.0, 3.0]), np.array([0, 50])).round(3).tolist()
    [0.2, 0.528]
    """
    p = np.clip(p_list, 1e-12, 1 - 1e-12)
    gained = _sigmoid(np.log(p / (1 - p)) + sensitivity * np.asarray(pct) / 100)
    return np.where(np.asarray(pct) > 0, gained, p_list)


def genuine_month(
    rng: np.random.Generator,
    world: World,
    cfg,
    start_day: int,
    n_days: int,
    alive: np.ndarray,
    headroom: np.ndarray | None = None,
    offer_rng: np.random.Generator | None = None,
) -> Events:
    """Candidate genuine events of the month starting at ``start_day``.

    ``headroom`` (available credit / limit at the start of the month) damps the activity of
    cards near their limit: people whose card is maxed out use it less (and other cards more).
    ``offer_rng`` draws the installment pricing experiment's discounts (none without it).
    """
    sp = cfg.spending
    n = world.n_cards
    end_ts = (start_day + n_days) * DAY
    lam = world.activity * (n_days / 30.4) * alive
    if headroom is not None:
        lam = lam * np.clip(0.1 + 1.5 * headroom, 0.1, 1.0)
    counts = rng.poisson(lam)
    card = np.repeat(np.arange(n, dtype=np.int32), counts)
    m = len(card)
    cat = row_choice(world.cat_cum, card, rng.random(m).astype(np.float32))
    online = rng.random(m) < ref.CATEGORY_ONLINE[cat]

    # day of month: pay-day mixture, else weighted by weekday / holidays per channel group
    day = np.empty(m, dtype=np.int64)
    w_off = offline_day_weights(start_day, n_days)
    w_on = online_day_weights(start_day, n_days)
    day[~online] = rng.choice(n_days, size=int((~online).sum()), p=w_off / w_off.sum())
    day[online] = rng.choice(n_days, size=int(online.sum()), p=w_on / w_on.sum())
    pay = rng.random(m) < sp.payday_share
    pd = world.payday[card[pay]].astype(np.int64) - 1 + rng.integers(0, 5, int(pay.sum()))
    day[pay] = np.minimum(pd, n_days - 1)
    hour = _choice_by_group(rng, online, ONLINE_HOUR_P, OFFLINE_HOUR_P)
    # personal rhythm: early birds and night owls shift the common profile by a few hours
    hour = (hour + world.hour_shift[card]) % 24
    ts = (start_day + day) * DAY + hour * 3600 + rng.integers(0, 3600, m)

    # trips: offline spending in another city during the trip
    month = day_to_date(start_day).month
    factor = 2.5 if (spring_festival_in(start_day, n_days) or month in (7, 8, 10)) else 1.0
    trip = alive & (rng.random(n) < min(1.0, sp.travel_rate * factor))
    trip_start = (start_day + rng.integers(0, max(n_days - 2, 1), n)) * DAY
    trip_end = trip_start + rng.integers(2, 8, n) * DAY
    foreign = rng.random(n) < sp.foreign_trip_share
    home = world.people["city"]
    dest = np.where(
        foreign,
        rng.integers(ref.N_DOMESTIC, len(ref.CITY_NAMES), n),
        rng.choice(ref.N_DOMESTIC, size=n, p=ref.CITY_P),
    )
    dest = np.where(dest == home, (dest + 1) % ref.N_DOMESTIC, dest)
    city = home[card].astype(np.int64)
    away = trip[card] & ~online & (ts >= trip_start[card]) & (ts < trip_end[card])
    city[away] = dest[card[away]]

    # bookings: transport and hotel before the trip
    tc = np.flatnonzero(trip)
    tb = np.concatenate([tc, tc])
    tcat = np.concatenate(
        [
            np.where(
                foreign[tc] | (rng.random(len(tc)) < 0.4), ref.CAT["airlines"], ref.CAT["railway"]
            ),
            np.full(len(tc), ref.CAT["hotels"]),
        ]
    )
    tts = np.maximum(trip_start[tb] - rng.integers(1, 10, len(tb)) * DAY, start_day * DAY)
    tts = tts + rng.integers(9 * 3600, 23 * 3600, len(tb))
    card = np.concatenate([card, tb.astype(np.int32)])
    cat = np.concatenate([cat, tcat.astype(np.int16)])
    online = np.concatenate([online, np.ones(len(tb), dtype=bool)])
    ts = np.concatenate([ts, tts])
    city = np.concatenate([city, home[tb].astype(np.int64)])
    m = len(card)

    keep = ts >= world.open_ts[card] + 3600
    card, cat, online, ts, city = card[keep], cat[keep], online[keep], ts[keep], city[keep]
    m = len(card)

    merchant = world.picker.pick(rng, cat, city, online)
    city = world.m_city[merchant]
    income = world.people["income_fen"][card] / 1_000_000
    median = ref.CATEGORY_MEDIAN_YUAN[cat] * income**0.35
    yuan = rng.lognormal(np.log(median), ref.CATEGORY_SIGMA[cat])
    amount = np.clip(np.round(yuan * 100), 100, 20_000_000).astype(np.int64)
    whole = rng.random(m) < 0.55
    amount[whole] = np.maximum(amount[whole] // 100 * 100, 100)
    channel = _choice_by_group(rng, online, ref.ONLINE_CHANNEL_P, ref.OFFLINE_CHANNEL_P).astype(
        np.int8
    )
    has_device = (
        (channel == ref.CH["online_cnp"])
        | (channel == ref.CH["qr"])
        | (channel == ref.CH["wallet"])
    )
    device = np.where(has_device, card.astype(np.int64) * 4 + (rng.random(m) < 0.1), -1)

    # installment offers and self-initiated conversions
    cr = cfg.credit
    eligible = amount >= cr.purchase_installment_min_yuan * 100
    offered = eligible & (rng.random(m) < cr.purchase_offer_rate)
    prob = np.where(offered, purchase_accept_probability(world, card, amount), 0.0)
    pct = np.zeros(m, dtype=np.int32)
    if offer_rng is not None:  # the pricing experiment: own stream, discounts on offered purchases
        pct = np.where(offered, draw_discounts(offer_rng, m, cr), 0)
        sens = price_sensitivity(world, card, cr.installment_price_sensitivity)
        prob = np.where(offered, priced_probability(prob, sens, pct), 0.0)
    accept = offered & (rng.random(m) < prob)
    prop = world.people["installment_propensity"][card]
    self_conv = eligible & ~offered & (rng.random(m) < cr.self_installment_rate * (1 + 3 * prop))
    periods = rng.choice(INSTALLMENT_PERIODS, size=m, p=INSTALLMENT_PERIOD_P)
    inst = np.where(offered, INST_OFFERED, np.where(self_conv, INST_SELF, 0)).astype(np.int8)
    fee_bp = np.where(offered, discounted_fee_bp(installment_fee_bp(periods), pct), installment_fee_bp(periods))

    ev = make_events(
        m,
        card=card,
        ts=ts,
        amount=amount,
        merchant=merchant,
        terminal=world.terminal_of(rng, merchant),
        device=device,
        channel=channel,
        city=city,
        legacy_decline=rng.random(m) < sp.legacy_decline_rate,
        u_tc=rng.random(m),
        inst=inst,
        inst_accept=accept | self_conv,
        inst_periods=np.where(inst > 0, periods, 0),
        inst_fee_bp=np.where(inst > 0, fee_bp, 0),
        inst_prob=prob,
    )

    # reversals (minutes later, same amount) and refunds (days later, part or all)
    rev = np.flatnonzero(rng.random(m) < sp.reversal_rate)
    rts = ts[rev] + rng.integers(60, 1800, len(rev))
    refund_p = np.where(online, 2.0, 0.5) * sp.refund_rate
    rf = np.flatnonzero(rng.random(m) < refund_p)
    fts = ts[rf] + rng.integers(1, 15, len(rf)) * DAY + rng.integers(0, 36_000, len(rf))
    share = np.where(rng.random(len(rf)) < 0.7, 1.0, rng.uniform(0.2, 0.9, len(rf)))
    parts = [ev]
    for idx, t, amt, mt in (
        (rev, rts, amount[rev], REVERSAL),
        (rf, fts, np.maximum((amount[rf] * share).astype(np.int64), 1), REFUND),
    ):
        ok = t < end_ts
        idx, t, amt = idx[ok], t[ok], amt[ok]
        parts.append(
            make_events(
                len(idx),
                card=card[idx],
                ts=t,
                amount=amt,
                merchant=merchant[idx],
                terminal=ev["terminal"][idx],
                device=device[idx],
                channel=channel[idx],
                city=city[idx],
                mtype=mt,
                ref=idx.astype(np.int64),
            )
        )
    out = {k: np.concatenate([p[k] for p in parts]) for k in ev}
    return out
