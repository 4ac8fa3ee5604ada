"""The ledger on random event streams: statement identity, chaining, over-limit rule."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cardmind.simulate.calendar import DAY
from cardmind.simulate.events import REFUND, make_events
from cardmind.simulate.ledger import Ledger, LedgerParams, sort_events
from cardmind.simulate.population import NEVER

N_CARDS = 3


@st.composite
def streams(draw):
    n = draw(st.integers(0, 40))
    card = np.array(
        draw(st.lists(st.integers(0, N_CARDS - 1), min_size=n, max_size=n)), dtype=np.int32
    )
    ts = np.array(draw(st.lists(st.integers(0, 89 * DAY), min_size=n, max_size=n)), dtype=np.int64)
    amount = np.array(
        draw(st.lists(st.integers(1, 3_000_000), min_size=n, max_size=n)), dtype=np.int64
    )
    inst = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    u_tc = np.array(draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    ev = make_events(
        n,
        card=card,
        ts=ts,
        amount=amount,
        u_tc=u_tc,
        inst_accept=inst,
        inst_periods=np.where(inst, 3, 0),
        inst_fee_bp=np.where(inst, 75, 0),
    )
    # a refund for some purchases, a day later
    k = draw(st.integers(0, min(n, 5)))
    idx = np.arange(k)
    refunds = make_events(
        k,
        card=card[idx],
        ts=ts[idx] + DAY,
        amount=amount[idx] // 2,
        mtype=REFUND,
        ref=idx.astype(np.int64),
    )
    ev = {name: np.concatenate([ev[name], refunds[name]]) for name in ev}
    limits = np.array(
        draw(st.lists(st.integers(100_000, 5_000_000), min_size=N_CARDS, max_size=N_CARDS)),
        dtype=np.int64,
    )
    rep_type = np.array(draw(st.lists(st.integers(0, 3), min_size=N_CARDS, max_size=N_CARDS)))
    seed = draw(st.integers(0, 2**16))
    return ev, limits, rep_type, seed


@settings(max_examples=60, deadline=None)
@given(streams())
def test_statement_identity_chain_and_over_limit_rule(data):
    ev, limits, rep_type, seed = data
    rng = np.random.default_rng(seed)
    stop = np.where(rep_type == 3, 40 * DAY, NEVER)
    led = Ledger(
        limit=limits,
        rep_type=rep_type,
        stop_pay_from=stop,
        init_balance=(limits * rng.uniform(0, 0.9, N_CARDS)).astype(np.int64),
        params=LedgerParams(
            temp_credit_grant_rate=0.5, statement_offer_rate=0.5, statement_installment_min_fen=1000
        ),
    )
    last_new = led.state[:, 5].copy()  # PREV_NEW
    billing = rng.integers(1, 28, N_CARDS)
    for month in range(3):
        lo, hi = month * 30 * DAY, (month + 1) * 30 * DAY
        sel = np.flatnonzero((ev["ts"] >= lo) & (ev["ts"] < hi))
        keep = np.full(len(ev["card"]), -1)
        keep[sel] = np.arange(len(sel))
        part = {k: v[sel] for k, v in ev.items()}
        part["ref"] = np.where(part["ref"] >= 0, keep[np.maximum(part["ref"], 0)], -1)
        part = sort_events(part)
        cut = (month * 30 + billing) * DAY + DAY - 1
        mi = led.month_inputs(cut_ts=cut, due_days=np.full(N_CARDS, 20), rng=rng)
        out = led.run_month(part, mi, month_end_ts=hi)
        s = out.statements
        w = s["written"] == 1
        ident = (
            s["previous_balance"]
            - s["repayments"]
            + s["purchases"]
            + s["interest"]
            + s["fees"]
            - s["reversals"]
        )
        assert np.array_equal(ident[w], s["new_balance"][w])
        assert np.all(s["purchases"][w] >= 0)
        assert np.all(s["minimum_due"][w] <= np.maximum(s["new_balance"][w], 0))
        assert np.array_equal(s["previous_balance"][w], last_new[w])
        last_new = np.where(w, s["new_balance"], last_new)
        purchase = (part["mtype"] == 0) & out.approved
        over = purchase & (out.amount > out.avail)
        assert np.array_equal(over, purchase & (out.temp > 0))
        assert np.all(out.temp[over] == out.amount[over] - out.avail[over])
        declined = (part["mtype"] == 0) & out.valid & ~out.approved
        assert np.all(out.response[declined] != "00")
        assert np.all(out.repayments[:, 2] > 0)
        # repayments credited this month are the sum over statements (cut after them) + pending
        assert np.all(led.state[:, 1] >= 0)  # unbilled installment principal never negative


def test_installment_principal_is_billed_exactly_over_its_periods():
    led = Ledger(
        limit=np.array([1_000_000]), rep_type=np.array([0]), stop_pay_from=np.array([NEVER])
    )
    ev = make_events(
        1,
        card=np.array([0]),
        ts=np.array([DAY]),
        amount=np.array([100_001]),
        inst_accept=True,
        inst_periods=3,
        inst_fee_bp=75,
    )
    billed = []
    for month in range(4):
        cut = (month * 30 + 20) * DAY
        mi = led.month_inputs(cut_ts=np.array([cut]), due_days=np.array([20]))
        part = ev if month == 0 else make_events(0)
        out = led.run_month(part, mi, month_end_ts=(month + 1) * 30 * DAY)
        billed.append(int(out.statements["purchases"][0]))
        outstanding = int(out.statements["installment_outstanding"][0])
        if month == 0:
            assert out.converted.tolist() == [True]
    # the first period is billed on the statement of the purchase's cycle (as issuers do)
    assert billed == [33_333, 33_334, 33_334, 0]
    assert sum(billed) == 100_001 and outstanding == 0
