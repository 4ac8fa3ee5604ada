"""The card ledger: available credit, approvals, temporary credit, statements and repayments.

This is the only path-dependent part of the simulator, so it is one compiled (numba) pass per
month over the candidate events sorted by card and time. Per card it merges three streams in
time order: purchases/reversals/refunds, the repayment scheduled at the last statement, and this
month's statement cut. State (balances, plans, delinquency) persists across months in
:class:`Ledger`.

Rules (see docs/simulator.md for sources):

- available credit = limit + active temporary credit - (posted balance + unbilled installment
  principal), floored at 0; a purchase above it is declined ("51") unless the legacy rule grants a
  temporary credit for the excess (the grant is returned so it becomes a ``temp_credits`` row);
- a statement satisfies, exactly, ``new = previous - repayments + purchases + interest + fees -
  reversals`` where ``purchases`` = purchases posted in the cycle (purchases converted to an
  installment at the time of purchase are *not* posted) + installment principal billed this cycle
  - principal converted to a statement installment at this cut (a statement installment converts
  at most this cycle's posted purchases, so ``purchases`` stays >= 0); ``fees`` = late fee +
  installment fees + annual fee; unbilled installment principal is reported separately in
  ``installment_outstanding`` and is not part of the balance;
- interest: 0.05 %/day x days in cycle on the previous balance left unpaid when the previous
  statement was not paid in full by its due date (simplification of 全额计息);
- late fee: 5 % of the unpaid minimum; days past due count from the first missed due date;
  charge-off at ``charge_off_dpd``.

>>> led = Ledger(limit=np.array([10_000]), rep_type=np.array([0]), stop_pay_from=np.array([NEVER]))
>>> mi = led.month_inputs(cut_ts=np.array([20 * DAY]), due_days=np.array([20]))
>>> ev = make_events(2, card=np.array([0, 0]), ts=np.array([DAY, 2 * DAY]),
...                  amount=np.array([8_000, 5_000]))
>>> out = led.run_month(ev, mi, month_end_ts=31 * DAY)
>>> out.approved.tolist(), out.response.tolist(), out.avail.tolist()
([True, False], ['00', '51'], [10000, 2000])
>>> st = out.statements
>>> int(st["new_balance"][0]), int(st["minimum_due"][0])
(8000, 800)
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from cardmind.simulate.calendar import DAY
from cardmind.simulate.events import Events, make_events, take
from cardmind.simulate.population import NEVER

# --- per-card state columns (int64 matrix) ---------------------------------------------------
BAL, INST_OUT, LIMIT, TEMP_AMT, TEMP_EXP = 0, 1, 2, 3, 4
PREV_NEW, PREV_MIN, PREV_DUE_TS, PREV_DUE_DAY, PAID_BY_DUE, PAID_SINCE_CUT = 5, 6, 7, 8, 9, 10
FIRST_MISSED, PEND_AMT, PEND_TS, PEND_CHAN, PEND_THIRD = 11, 12, 13, 14, 15
CYC_PURCH, CYC_REP, CYC_REV, FILL_TARGET, STATUS = 16, 17, 18, 19, 20
STOP_PAY, REP_TYPE, DEFAULTED_DAY, HAD_CUT, CO_DAY = 21, 22, 23, 24, 25
BLOCK_FROM, BLOCK_UNTIL = 26, 27  # card blocked (reported lost/stolen) until reissued
NS = 28
SLOTS = 8  # concurrent installment plans per card
ST_OK, ST_CHARGED_OFF = 0, 1

# --- per-card month inputs -------------------------------------------------------------------
# int64 matrix
MI_CUT_TS, MI_CUT_DAY, MI_CYCLE_DAYS, MI_DUE_TS, MI_DUE_DAY, MI_ANNUAL_FEE = 0, 1, 2, 3, 4, 5
MI_REP_MODE, MI_REP_TS, MI_SI_PERIODS, MI_SI_FEE_BP, MI_OPEN_TS = 6, 7, 8, 9, 10
NMI = 11
# float64 matrix
MF_U_AMT, MF_U_KIND, MF_U_LATE, MF_U_TS, MF_U_CHAN = 0, 1, 2, 3, 4
MF_SI_OFFER_U, MF_SI_ACCEPT_U, MF_SI_PROB, MF_SI_FRAC, MF_U_HOUR = 5, 6, 7, 8, 9
NMF = 10

# --- parameters (float64 vector) -------------------------------------------------------------
P_TC_RATE, P_TC_MAX_SHARE, P_TC_SECONDS, P_INT_BP_DAY, P_LATE_BP, P_MIN_BP = 0, 1, 2, 3, 4, 5
P_CO_DPD, P_FULL_PROB, P_SI_MIN, P_SI_OFFER_RATE = 6, 7, 8, 9
NP_ = 10

# --- statement outputs (int64 matrix, one row per card) ----------------------------------------
S_WRITTEN, S_PREV, S_REP, S_PURCH, S_INT, S_FEES, S_REV, S_NEW, S_MIN, S_INST_OUT = range(10)
S_DPD, S_LIMIT, S_SI_OFFERED, S_SI_ACCEPTED, S_SI_PRINCIPAL, S_CO, S_CO_AMOUNT = range(10, 17)
S_CUT_DAY, S_DUE_DAY, S_CYCLE_START = 17, 18, 19
NSO = 20
STATEMENT_FIELDS = (
    "written",
    "previous_balance",
    "repayments",
    "purchases",
    "interest",
    "fees",
    "reversals",
    "new_balance",
    "minimum_due",
    "installment_outstanding",
    "days_past_due",
    "credit_limit",
    "si_offered",
    "si_accepted",
    "si_principal",
    "charged_off",
    "charge_off_amount",
    "statement_day",
    "due_day",
    "cycle_start_day",
)

# --- repayment outputs (int64 matrix) --------------------------------------------------------
R_CARD, R_TS, R_AMT, R_CHAN, R_THIRD = 0, 1, 2, 3, 4
NRO = 5

RESPONSES = ("00", "51", "05", "62", "41")
RESP_OK, RESP_NSF, RESP_DNH, RESP_RESTRICTED, RESP_LOST = 0, 1, 2, 3, 4
# repayment channels (order of schema.REPAYMENT_CHANNELS)
CH_AUTO, CH_MOBILE, CH_TRANSFER, CH_APP, CH_COUNTER = 0, 1, 2, 3, 4


@nb.njit(cache=True)
def _free_slot(plan, c):
    for s in range(plan.shape[1]):
        if plan[c, s, 1] <= 0:
            return s
    return -1


@nb.njit(cache=True)
def _repay(state, c, ts, month_end, rep_out, nrep):
    """Apply the pending repayment of card ``c``; returns the new repayment count."""
    amt = state[c, PEND_AMT]
    state[c, PEND_AMT] = 0
    if state[c, STATUS] != ST_OK:
        return nrep
    if amt > state[c, BAL]:
        amt = state[c, BAL]
    if amt <= 0:
        return nrep
    state[c, BAL] -= amt
    state[c, CYC_REP] += amt
    state[c, PAID_SINCE_CUT] += amt
    if ts <= state[c, PREV_DUE_TS]:
        state[c, PAID_BY_DUE] += amt
    rep_out[nrep, R_CARD] = c
    rep_out[nrep, R_TS] = ts
    rep_out[nrep, R_AMT] = amt
    rep_out[nrep, R_CHAN] = state[c, PEND_CHAN]
    rep_out[nrep, R_THIRD] = state[c, PEND_THIRD]
    return nrep + 1


@nb.njit(cache=True)
def _cut(state, plan, c, mi, mf, prm, st, plan_out):
    """Close the cycle of card ``c``: statement row, delinquency, charge-off, next repayment."""
    cut_ts = mi[c, MI_CUT_TS]
    cut_day = mi[c, MI_CUT_DAY]
    prev = state[c, PREV_NEW]
    # bill installments
    billed = 0
    ifees = 0
    for s in range(plan.shape[1]):
        left = plan[c, s, 1]
        if left > 0:
            rem = plan[c, s, 0]
            b = rem // left if left > 1 else rem
            plan[c, s, 0] = rem - b
            plan[c, s, 1] = left - 1
            billed += b
            ifees += plan[c, s, 2]
    state[c, INST_OUT] -= billed
    # delinquency of the previous statement
    prev_min = state[c, PREV_MIN]
    paid_by_due = state[c, PAID_BY_DUE]
    paid_since = state[c, PAID_SINCE_CUT]
    late_fee = 0
    past_due = 0
    if prev_min > 0:
        if paid_by_due < prev_min:
            late_fee = (prev_min - paid_by_due) * np.int64(prm[P_LATE_BP]) // 10000
        if paid_since >= prev_min:
            state[c, FIRST_MISSED] = -1
        elif paid_by_due < prev_min and state[c, FIRST_MISSED] < 0:
            state[c, FIRST_MISSED] = state[c, PREV_DUE_DAY]
        past_due = prev_min - paid_since
        if past_due < 0:
            past_due = 0
    interest = 0
    if prev > 0 and paid_by_due < prev:
        base = prev - paid_since
        if base > 0:
            interest = base * np.int64(prm[P_INT_BP_DAY]) * mi[c, MI_CYCLE_DAYS] // 10000
    annual = mi[c, MI_ANNUAL_FEE]
    fees = late_fee + ifees + annual
    purchases = state[c, CYC_PURCH] + billed
    new = prev - state[c, CYC_REP] + purchases + interest + fees - state[c, CYC_REV]
    state[c, BAL] += billed + interest + fees
    # statement installment (账单分期): converts at most this cycle's posted purchases
    si_offered = 0
    si_accepted = 0
    si_principal = 0
    if state[c, CYC_PURCH] >= prm[P_SI_MIN] and mf[c, MF_SI_OFFER_U] < prm[P_SI_OFFER_RATE]:
        si_offered = 1
        if mf[c, MF_SI_ACCEPT_U] < mf[c, MF_SI_PROB]:
            slot = _free_slot(plan, c)
            p = np.int64(state[c, CYC_PURCH] * mf[c, MF_SI_FRAC]) // 10000 * 10000
            if slot >= 0 and p > 0 and p <= new:
                si_accepted = 1
                si_principal = p
                purchases -= p
                new -= p
                state[c, BAL] -= p
                state[c, INST_OUT] += p
                plan[c, slot, 0] = p
                plan[c, slot, 1] = mi[c, MI_SI_PERIODS]
                plan[c, slot, 2] = p * mi[c, MI_SI_FEE_BP] // 10000
    dpd = 0
    if state[c, FIRST_MISSED] >= 0:
        dpd = cut_day - state[c, FIRST_MISSED]
    revolving = new - billed - ifees - interest - late_fee - annual
    if revolving < 0:
        revolving = 0
    min_due = revolving * np.int64(prm[P_MIN_BP]) // 10000 + billed + ifees + interest + late_fee
    min_due += annual + past_due
    if new <= 0:
        min_due = 0
    elif min_due > new:
        min_due = new
    active = (
        prev != 0
        or state[c, CYC_REP] != 0
        or state[c, CYC_PURCH] != 0
        or state[c, CYC_REV] != 0
        or state[c, INST_OUT] != 0
        or new != 0
    )
    if active:
        st[c, S_WRITTEN] = 1
        st[c, S_PREV] = prev
        st[c, S_REP] = state[c, CYC_REP]
        st[c, S_PURCH] = purchases
        st[c, S_INT] = interest
        st[c, S_FEES] = fees
        st[c, S_REV] = state[c, CYC_REV]
        st[c, S_NEW] = new
        st[c, S_MIN] = min_due
        st[c, S_INST_OUT] = state[c, INST_OUT]
        st[c, S_DPD] = dpd
        st[c, S_LIMIT] = state[c, LIMIT]
        st[c, S_SI_OFFERED] = si_offered
        st[c, S_SI_ACCEPTED] = si_accepted
        st[c, S_SI_PRINCIPAL] = si_principal
        st[c, S_CUT_DAY] = cut_day
        st[c, S_DUE_DAY] = mi[c, MI_DUE_DAY]
        st[c, S_CYCLE_START] = cut_day - mi[c, MI_CYCLE_DAYS] + 1
    # roll the cycle
    state[c, PREV_NEW] = new
    state[c, PREV_MIN] = min_due
    state[c, PREV_DUE_TS] = mi[c, MI_DUE_TS]
    state[c, PREV_DUE_DAY] = mi[c, MI_DUE_DAY]
    state[c, PAID_BY_DUE] = 0
    state[c, PAID_SINCE_CUT] = 0
    state[c, CYC_PURCH] = 0
    state[c, CYC_REP] = 0
    state[c, CYC_REV] = 0
    state[c, HAD_CUT] = 1
    if dpd >= 90 and state[c, DEFAULTED_DAY] < 0:
        state[c, DEFAULTED_DAY] = cut_day
    if dpd >= prm[P_CO_DPD]:
        st[c, S_CO] = 1
        st[c, S_CO_AMOUNT] = new + state[c, INST_OUT]
        state[c, STATUS] = ST_CHARGED_OFF
        state[c, CO_DAY] = cut_day
        state[c, PEND_AMT] = 0
        return
    # schedule the repayment of this statement
    if new <= 0:
        return
    due_ts = mi[c, MI_DUE_TS]
    u_amt = mf[c, MF_U_AMT]
    u_kind = mf[c, MF_U_KIND]
    hour = np.int64(8 * 3600 + mf[c, MF_U_HOUR] * 14 * 3600)
    ts = (
        cut_ts
        - 86399
        + np.int64(2 + mf[c, MF_U_TS] * (mi[c, MI_DUE_DAY] - cut_day - 2)) * 86400
        + hour
    )
    chan = CH_MOBILE
    third = 0
    u_chan = mf[c, MF_U_CHAN]
    if u_chan < 0.35:
        chan = CH_AUTO
    elif u_chan < 0.7:
        chan = CH_MOBILE
    elif u_chan < 0.92:
        chan = CH_APP  # Alipay / WeChat card repayment from the holder's own funds
    elif u_chan < 0.97:
        chan = CH_TRANSFER
    else:
        chan = CH_COUNTER
    rt = state[c, REP_TYPE]
    amt = 0
    if mi[c, MI_REP_MODE] == 1:
        amt = new
        ts = mi[c, MI_REP_TS]
        chan = CH_APP
        third = 1
    elif cut_ts >= state[c, STOP_PAY]:
        amt = 0
        if u_kind < 0.15:
            amt = np.int64(min_due * u_amt * 0.5)
    elif rt == 0:
        amt = new if u_kind < prm[P_FULL_PROB] else min_due
    elif rt == 2:
        amt = new if u_kind < 0.5 else min_due
        if mf[c, MF_U_LATE] < 0.5:
            ts = due_ts - 86399 + np.int64(1 + mf[c, MF_U_TS] * 10) * 86400 + hour
    else:
        amt = min_due + np.int64(u_amt * (new - min_due) * 0.8)
        amt = (amt + 99) // 100 * 100
    if chan == CH_AUTO and third == 0 and ts <= due_ts:
        ts = due_ts - 86399 + 6 * 3600
    latest = cut_ts + 27 * 86400
    if ts > latest:
        ts = latest
    if ts <= cut_ts:
        ts = cut_ts + 3600
    if amt > new:
        amt = new
    if amt > 0:
        state[c, PEND_AMT] = amt
        state[c, PEND_TS] = ts
        state[c, PEND_CHAN] = chan
        state[c, PEND_THIRD] = third


@nb.njit(cache=True)
def run_month_kernel(
    ev_card,
    ev_ts,
    ev_amount,
    ev_mtype,
    ev_ref,
    ev_fill,
    ev_fill_w,
    ev_unit,
    ev_keep,
    ev_legacy,
    ev_utc,
    ev_inst_acc,
    ev_inst_periods,
    ev_inst_fee_bp,
    card_start,
    mi,
    mf,
    prm,
    month_end,
    state,
    plan,
    o_approved,
    o_resp,
    o_avail,
    o_temp,
    o_amount,
    o_valid,
    o_converted,
    st,
    rep_out,
    plan_out,
):
    """One month for every card; returns the number of repayment rows written."""
    n_cards = state.shape[0]
    nrep = 0
    for c in range(n_cards):
        i = card_start[c]
        end = card_start[c + 1]
        cut_ts = mi[c, MI_CUT_TS]
        cut_pending = state[c, STATUS] == ST_OK and mi[c, MI_OPEN_TS] <= cut_ts
        while True:
            t_ev = ev_ts[i] if i < end else NEVER
            t_cut = cut_ts if cut_pending else NEVER
            t_rep = NEVER
            if state[c, PEND_AMT] > 0 and state[c, PEND_TS] < month_end:
                t_rep = state[c, PEND_TS]
            if t_ev == NEVER and t_cut == NEVER and t_rep == NEVER:
                break
            if t_rep <= t_ev and t_rep <= t_cut:
                nrep = _repay(state, c, t_rep, month_end, rep_out, nrep)
                continue
            if t_cut < t_ev:
                _cut(state, plan, c, mi, mf, prm, st, plan_out)
                cut_pending = False
                continue
            # --- an authorization message -----------------------------------------------
            ts = ev_ts[i]
            if state[c, TEMP_AMT] > 0 and ts >= state[c, TEMP_EXP]:
                state[c, TEMP_AMT] = 0
            avail = state[c, LIMIT] + state[c, TEMP_AMT] - state[c, BAL] - state[c, INST_OUT]
            if avail < 0:
                avail = 0
            o_avail[i] = avail
            mt = ev_mtype[i]
            if mt != 0:  # reversal or refund of an earlier purchase of this card
                r = ev_ref[i]
                amt = ev_amount[i]
                if (
                    r >= 0
                    and o_valid[r]
                    and o_approved[r]
                    and not o_converted[r]
                    and state[c, STATUS] == ST_OK
                    and amt > 0
                ):
                    if amt > o_amount[r]:
                        amt = o_amount[r]
                    o_amount[i] = amt
                    o_valid[i] = True
                    o_approved[i] = True
                    o_resp[i] = RESP_OK
                    state[c, BAL] -= amt
                    state[c, CYC_REV] += amt
                i += 1
                continue
            if ev_fill[i] == 1:
                target = avail - ev_keep[i]
                if target < 0:
                    target = 0
                state[c, FILL_TARGET] = target
            if ev_fill[i] > 0:
                unit = ev_unit[i]
                amt = np.int64(state[c, FILL_TARGET] * ev_fill_w[i]) // unit * unit
            else:
                amt = ev_amount[i]
            if amt <= 0:
                i += 1
                continue
            o_valid[i] = True
            o_amount[i] = amt
            if state[c, STATUS] != ST_OK:
                o_resp[i] = RESP_RESTRICTED
            elif state[c, BLOCK_FROM] <= ts < state[c, BLOCK_UNTIL]:
                o_resp[i] = RESP_LOST
            elif ev_legacy[i]:
                o_resp[i] = RESP_DNH
            elif amt <= avail:
                o_approved[i] = True
            else:
                over = amt - avail
                ok = (
                    state[c, FIRST_MISSED] < 0
                    and over <= prm[P_TC_MAX_SHARE] * state[c, LIMIT]
                    and ev_utc[i] < prm[P_TC_RATE]
                )
                if ok:
                    o_approved[i] = True
                    o_temp[i] = over
                    active = state[c, TEMP_AMT]
                    state[c, TEMP_AMT] = active + over
                    state[c, TEMP_EXP] = ts + np.int64(prm[P_TC_SECONDS])
                else:
                    o_resp[i] = RESP_NSF
            if o_approved[i]:
                o_resp[i] = RESP_OK
                slot = -1
                if ev_inst_acc[i]:
                    slot = _free_slot(plan, c)
                if slot >= 0:
                    o_converted[i] = True
                    state[c, INST_OUT] += amt
                    plan[c, slot, 0] = amt
                    plan[c, slot, 1] = ev_inst_periods[i]
                    plan[c, slot, 2] = amt * ev_inst_fee_bp[i] // 10000
                else:
                    state[c, BAL] += amt
                    state[c, CYC_PURCH] += amt
            i += 1
    return nrep


@dataclass
class MonthOutput:
    """What the ledger decided for one month (arrays aligned with the sorted events)."""

    approved: np.ndarray
    response: np.ndarray  # str codes
    response_index: np.ndarray  # index into RESPONSES
    avail: np.ndarray
    temp: np.ndarray
    amount: np.ndarray
    valid: np.ndarray
    converted: np.ndarray
    statements: dict[str, np.ndarray]
    repayments: np.ndarray  # (rows, NRO)


@dataclass(frozen=True, kw_only=True)
class LedgerParams:
    """Ledger rules (see :class:`cardmind.simulate.config.CreditConfig` for rationale)."""

    temp_credit_grant_rate: float = 0.3
    temp_credit_max_share: float = 0.3
    temp_credit_days: int = 30
    interest_bp_per_day: int = 5
    late_fee_bp: int = 500
    min_due_bp: int = 1000
    charge_off_dpd: int = 90
    full_pay_prob: float = 0.96
    statement_installment_min_fen: int = 300_000
    statement_offer_rate: float = 0.25

    def vector(self) -> np.ndarray:
        p = np.zeros(NP_, dtype=np.float64)
        p[P_TC_RATE] = self.temp_credit_grant_rate
        p[P_TC_MAX_SHARE] = self.temp_credit_max_share
        p[P_TC_SECONDS] = self.temp_credit_days * DAY
        p[P_INT_BP_DAY] = self.interest_bp_per_day
        p[P_LATE_BP] = self.late_fee_bp
        p[P_MIN_BP] = self.min_due_bp
        p[P_CO_DPD] = self.charge_off_dpd
        p[P_FULL_PROB] = self.full_pay_prob
        p[P_SI_MIN] = self.statement_installment_min_fen
        p[P_SI_OFFER_RATE] = self.statement_offer_rate
        return p


class Ledger:
    """Per-card account state across months; :meth:`run_month` decides one month of events."""

    def __init__(
        self,
        *,
        limit: np.ndarray,
        rep_type: np.ndarray,
        stop_pay_from: np.ndarray,
        init_balance: np.ndarray | None = None,
        init_delinquent_day: np.ndarray | None = None,
        params: LedgerParams | None = None,
    ) -> None:
        n = len(limit)
        self.params = params or LedgerParams()
        self.state = np.zeros((n, NS), dtype=np.int64)
        self.plan = np.zeros((n, SLOTS, 3), dtype=np.int64)
        s = self.state
        s[:, LIMIT] = limit
        s[:, REP_TYPE] = rep_type
        s[:, STOP_PAY] = stop_pay_from
        s[:, FIRST_MISSED] = -1
        s[:, DEFAULTED_DAY] = -1
        s[:, CO_DAY] = -1
        if init_balance is not None:
            s[:, BAL] = init_balance
            s[:, PREV_NEW] = init_balance
            s[:, HAD_CUT] = (init_balance != 0).astype(np.int64)
        if init_delinquent_day is not None:
            late = init_delinquent_day >= 0
            s[late, FIRST_MISSED] = init_delinquent_day[late]
            s[late, PREV_MIN] = s[late, BAL] // 10
            s[late, PREV_DUE_DAY] = init_delinquent_day[late]

    @property
    def n_cards(self) -> int:
        return self.state.shape[0]

    def month_inputs(
        self,
        *,
        cut_ts: np.ndarray,
        due_days: np.ndarray,
        open_ts: np.ndarray | None = None,
        rng: np.random.Generator | None = None,
        annual_fee: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Default month inputs: cut at ``cut_ts`` (23:59:59 of the billing day), due later."""
        n = self.n_cards
        mi = np.zeros((n, NMI), dtype=np.int64)
        mi[:, MI_CUT_TS] = cut_ts
        mi[:, MI_CUT_DAY] = cut_ts // DAY
        mi[:, MI_CYCLE_DAYS] = 30
        mi[:, MI_DUE_DAY] = cut_ts // DAY + due_days
        mi[:, MI_DUE_TS] = mi[:, MI_DUE_DAY] * DAY + DAY - 1
        mi[:, MI_SI_PERIODS] = 6
        mi[:, MI_SI_FEE_BP] = 70
        mi[:, MI_OPEN_TS] = open_ts if open_ts is not None else -NEVER
        if annual_fee is not None:
            mi[:, MI_ANNUAL_FEE] = annual_fee
        mf = rng.random((n, NMF)) if rng is not None else np.full((n, NMF), 0.5)
        if rng is None:
            mf[:, MF_U_CHAN] = 0.5
            mf[:, MF_SI_OFFER_U] = 1.0
        mf[:, MF_SI_PROB] = 0.0 if rng is None else mf[:, MF_SI_PROB]
        return mi, mf

    def run_month(
        self, events: Events, month_inputs: tuple[np.ndarray, np.ndarray], *, month_end_ts: int
    ) -> MonthOutput:
        """Decide the events (sorted by card then time, as :func:`sort_events` returns)."""
        mi, mf = month_inputs
        ev = events
        n_ev = len(ev["card"])
        n = self.n_cards
        if n_ev and (np.any(np.diff(ev["card"]) < 0)):
            raise ValueError("events must be sorted by card, then time")
        card_start = np.searchsorted(ev["card"], np.arange(n + 1)).astype(np.int64)
        o_approved = np.zeros(n_ev, dtype=np.bool_)
        o_resp = np.full(n_ev, RESP_OK, dtype=np.int8)
        o_avail = np.zeros(n_ev, dtype=np.int64)
        o_temp = np.zeros(n_ev, dtype=np.int64)
        o_amount = np.zeros(n_ev, dtype=np.int64)
        o_valid = np.zeros(n_ev, dtype=np.bool_)
        o_conv = np.zeros(n_ev, dtype=np.bool_)
        st = np.zeros((n, NSO), dtype=np.int64)
        rep = np.zeros((3 * n + 1, NRO), dtype=np.int64)
        plan_out = np.zeros((1, 1), dtype=np.int64)
        nrep = run_month_kernel(
            ev["card"].astype(np.int64),
            ev["ts"],
            ev["amount"],
            ev["mtype"],
            ev["ref"],
            ev["fill"],
            ev["fill_w"],
            ev["unit"],
            ev["keep"],
            ev["legacy_decline"],
            ev["u_tc"],
            ev["inst_accept"],
            ev["inst_periods"].astype(np.int64),
            ev["inst_fee_bp"].astype(np.int64),
            card_start,
            mi,
            mf,
            self.params.vector(),
            np.int64(month_end_ts),
            self.state,
            self.plan,
            o_approved,
            o_resp,
            o_avail,
            o_temp,
            o_amount,
            o_valid,
            o_conv,
            st,
            rep,
            plan_out,
        )
        codes = np.array(RESPONSES)
        return MonthOutput(
            approved=o_approved,
            response=codes[o_resp],
            response_index=o_resp,
            avail=o_avail,
            temp=o_temp,
            amount=o_amount,
            valid=o_valid,
            converted=o_conv,
            statements={name: st[:, k] for k, name in enumerate(STATEMENT_FIELDS)},
            repayments=rep[:nrep],
        )


def sort_order(ev: Events, idx: np.ndarray | None = None) -> np.ndarray:
    """Positions of ``ev`` (restricted to ``idx``) sorted by card, then time (stable)."""
    if idx is None:
        idx = np.arange(len(ev["card"]))
    if len(idx) == 0:
        return idx.astype(np.int64)
    ts = ev["ts"][idx]
    t0 = ts.min()
    span = int(ts.max() - t0) + 1
    key = ev["card"][idx].astype(np.int64) * span + (ts - t0)
    return idx[np.argsort(key, kind="stable")]


def sort_events(ev: Events) -> Events:
    """The events sorted by card, then time (``ref`` remapped), as :meth:`Ledger.run_month` wants."""
    return take(ev, sort_order(ev))


__all__ = ["Ledger", "LedgerParams", "MonthOutput", "make_events", "sort_events", "sort_order"]
