"""The month loop: world -> candidate events -> ledger -> typed tables, one month at a time.

Memory stays bounded: only one month of events is held, each table gets one Parquet part per
month, and the dataset is written atomically by :class:`cardmind.dataset.DatasetWriter`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cardmind import schema
from cardmind.dataset import DatasetWriter
from cardmind.errors import InvalidInput
from cardmind.settings import get_settings
from cardmind.simulate import reference as ref
from cardmind.simulate.calendar import DAY, month_start_day, to_arrow_date, to_arrow_ts
from cardmind.simulate.config import GENERATOR_VERSION, SimulationConfig
from cardmind.simulate.events import INST_OFFERED, concat_events, make_events, take
from cardmind.simulate.ledger import (
    BAL,
    BLOCK_FROM,
    BLOCK_UNTIL,
    DEFAULTED_DAY,
    FIRST_MISSED,
    INST_OUT,
    LIMIT,
    MF_SI_FRAC,
    MF_SI_PROB,
    MI_ANNUAL_FEE,
    MI_CUT_DAY,
    MI_CUT_TS,
    MI_CYCLE_DAYS,
    MI_DUE_DAY,
    MI_DUE_TS,
    MI_OPEN_TS,
    MI_REP_MODE,
    MI_REP_TS,
    MI_SI_FEE_BP,
    MI_SI_PERIODS,
    NMF,
    NMI,
    PREV_NEW,
    R_AMT,
    R_CARD,
    R_CHAN,
    R_THIRD,
    R_TS,
    RESPONSES,
    ST_CHARGED_OFF,
    ST_OK,
    STATUS,
    STOP_PAY,
    Ledger,
    LedgerParams,
    sort_order,
)
from cardmind.simulate.population import REPAYMENT_TYPES, World, build_world
from cardmind.simulate.scenarios import SCENARIO_TYPES
from cardmind.simulate.scenarios.base import EpisodeLog, MonthContext, Scenario
from cardmind.simulate.spending import (
    INSTALLMENT_PERIOD_P,
    INSTALLMENT_PERIODS,
    discounted_fee_bp,
    draw_discounts,
    genuine_month,
    installment_fee_bp,
    price_sensitivity,
    priced_probability,
    purchase_accept_probability,
)

Progress = Callable[[int, int, str], None]

# Every table the simulator writes (the schema also has import-only tables).
SIMULATED_TABLES = (
    "customers",
    "cards",
    "merchants",
    "authorizations",
    "temp_credits",
    "statements",
    "repayments",
    "installment_plans",
    "applications",
    "fraud_labels",
    "charge_offs",
    "truth_customers",
    "truth_authorizations",
    "truth_episodes",
    "truth_applications",
    "truth_installment_offers",
)


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(
        prefix, pc.cast(pa.array(numbers, pa.int64()), pa.string()), ""
    )


_DEVICE_PRIME = 99_999_999_977  # device numbers are a bijection of [0, P): (a x + b) mod P


def device_label(device: np.ndarray) -> np.ndarray:
    """Scramble device numbers so customers' and fraudsters' devices look alike.

    >>> labels = device_label(np.array([0, 1, 2, 10**10]))
    >>> len(set(labels.tolist())), bool(labels.max() < _DEVICE_PRIME)
    (4, True)
    """
    d = np.asarray(device, dtype=np.int64) % _DEVICE_PRIME
    return ((d * 48_271) % _DEVICE_PRIME + 1_000_003) % _DEVICE_PRIME


def _strings(values: list[str] | tuple[str, ...]) -> pa.Array:
    return pa.array(list(values), pa.string())


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


@dataclasses.dataclass
class _Lookups:
    card_token: pa.Array
    customer_id: pa.Array
    merchant_id: pa.Array
    terminal_id: pa.Array
    mcc: pa.Array
    city: pa.Array
    channel: pa.Array
    message_type: pa.Array
    response: pa.Array

    @classmethod
    def build(cls, world: World, rng: np.random.Generator) -> _Lookups:
        nm = world.n_merchants
        # Merchant numbers are shuffled so that scenario merchants (appended last, e.g. a
        # colluding ring) are not recognisable by their id.
        label = rng.permutation(nm)
        merchant_ids = [f"M{label[i]:07d}" for i in range(nm)]
        terms = [
            f"{merchant_ids[m]}-{k + 1}"
            for m in range(nm)
            for k in range(int(world.m_terminals[m]))
        ]
        return cls(
            card_token=_strings(world.card_token),
            customer_id=_strings([f"C{i:08d}" for i in range(world.n_cards)]),
            merchant_id=_strings(merchant_ids),
            terminal_id=_strings(terms),
            mcc=_strings(ref.CATEGORY_MCC),
            city=_strings(ref.CITY_NAMES),
            channel=_strings(schema.CHANNELS),
            message_type=_strings(schema.MESSAGE_TYPES),
            response=_strings(RESPONSES),
        )


class _Run:
    """State of one simulation run (kept small: one month of events at a time)."""

    def __init__(self, cfg: SimulationConfig, writer: DatasetWriter, progress: Progress | None):
        self.cfg = cfg
        self.w = writer
        self.progress = progress
        self.counts: dict[str, int] = {}
        self.auth_seq = 0
        self.rep_seq = 0
        self.offer_seq = 0
        settings = get_settings()
        self.world = build_world(_rng(cfg.seed, 0), cfg, pan_key=settings.pan_key_bytes())
        self.scenarios: list[Scenario] = []
        for code, (name, cls) in enumerate(SCENARIO_TYPES.items(), start=1):
            s = cls(getattr(cfg.scenarios, name), code)
            s.setup(self.world, _rng(cfg.seed, 1, code))
            self.scenarios.append(s)
        self.world.build_picker()
        self.lk = _Lookups.build(self.world, _rng(cfg.seed, 5))
        # Writing month k (Arrow + Parquet, which release the GIL) overlaps generating month k+1.
        self.pool = ThreadPoolExecutor(max_workers=1)
        self._pending: Future | None = None
        self.writer_cpu = 0.0  # CPU seconds spent in the writer threads
        self.writer2_cpu = 0.0
        self.pool2 = ThreadPoolExecutor(max_workers=1)
        self._pending_others: Future | None = None
        cr = cfg.credit
        self.ledger = Ledger(
            limit=self.world.limit,
            rep_type=self.world.rep_type,
            stop_pay_from=self.world.stop_pay_from,
            init_balance=self.world.init_balance,
            init_delinquent_day=self.world.init_delinquent_day,
            params=LedgerParams(
                temp_credit_grant_rate=cr.temp_credit_grant_rate,
                temp_credit_max_share=cr.temp_credit_max_share,
                temp_credit_days=cr.temp_credit_days,
                interest_bp_per_day=cr.interest_bp_per_day,
                late_fee_bp=cr.late_fee_bp,
                min_due_bp=cr.min_due_bp,
                charge_off_dpd=cr.charge_off_dpd,
                full_pay_prob=cr.full_pay_prob,
                statement_installment_min_fen=cr.statement_installment_min_yuan * 100,
                statement_offer_rate=cr.statement_offer_rate,
            ),
        )
        self.episodes = EpisodeLog()
        self.scenario_names = ["genuine", *SCENARIO_TYPES]
        self.scenario_fraud = np.array([False] + [c.is_fraud for c in SCENARIO_TYPES.values()])
        self.prev_cut_day = np.zeros(self.world.n_cards, dtype=np.int64)

    # --- writing ------------------------------------------------------------------------
    def flush(self) -> None:
        """Wait for the month being written (re-raising its error, if any)."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            try:
                pending.result()
            finally:
                others, self._pending_others = self._pending_others, None
                if others is not None:
                    others.result()

    def write(self, table: str, data: dict[str, Any]) -> None:
        t = pa.table(data)
        if t.num_rows == 0 and self.counts.get(table, 0) > 0:
            return
        self.w.write(table, t)
        self.counts[table] = self.counts.get(table, 0) + t.num_rows

    def write_static(self) -> None:
        wd, lk = self.world, self.lk
        p = wd.people
        n = wd.n_cards
        rng = _rng(self.cfg.seed, 2)
        birth = (
            wd.start_day
            - (p["age"].astype(np.int64) * 365.25).astype(np.int64)
            - rng.integers(0, 365, n)
        )
        self.write(
            "customers",
            {
                "customer_id": lk.customer_id,
                "birth_date": to_arrow_date(birth),
                "gender": np.where(p["gender"], "F", "M"),
                "monthly_income_fen": p["income_fen"],
                "occupation": np.array(ref.OCCUPATIONS)[p["occupation"]],
                "city": np.array(ref.CITY_NAMES)[p["city"]],
                "city_tier": p["city_tier"],
                "education": np.array(ref.EDUCATIONS)[p["education"]],
                "housing": np.array(ref.HOUSING)[p["housing"]],
                "customer_since": to_arrow_date(wd.customer_since),
                "acquisition_channel": np.array(schema.ACQUISITION_CHANNELS)[p["acq"]],
                "referrer_customer_id": pc.if_else(
                    pa.array(wd.referrer >= 0),
                    lk.customer_id.take(pa.array(np.maximum(wd.referrer, 0))),
                    pa.scalar(None, pa.string()),
                ),
            },
        )
        self.merchants_table()
        self.applications_tables()

    def merchants_table(self) -> None:
        wd, lk = self.world, self.lk
        self.write(
            "merchants",
            {
                "merchant_id": lk.merchant_id,
                "mcc": np.array(ref.CATEGORY_MCC)[wd.m_category],
                "category": np.array(ref.CATEGORIES)[wd.m_category],
                "city": np.array(ref.CITY_NAMES)[wd.m_city],
                "onboarded_at": to_arrow_date(wd.m_onboarded),
                "online": wd.m_online,
            },
        )

    def applications_tables(self) -> None:
        a = self.world.applications
        n = len(a["risk"])
        ids = _ids("AP", np.arange(n))
        approved = a["approved"]
        n0 = self.cfg.population.cards
        cust_idx = np.full(n, -1, dtype=np.int64)
        cust_idx[approved] = n0 + np.arange(int(approved.sum()))
        cust = self.lk.customer_id.take(pa.array(np.maximum(cust_idx, 0)))
        cust = pc.if_else(pa.array(approved), cust, pa.scalar(None, pa.string()))
        self.write(
            "applications",
            {
                "application_id": ids,
                "applied_at": to_arrow_ts(a["applied_ts"]),
                "age": a["age"],
                "gender": np.where(a["gender"], "F", "M"),
                "monthly_income_fen": a["income_fen"],
                "occupation": np.array(ref.OCCUPATIONS)[a["occupation"]],
                "city": np.array(ref.CITY_NAMES)[a["city"]],
                "city_tier": a["city_tier"],
                "education": np.array(ref.EDUCATIONS)[a["education"]],
                "housing": np.array(ref.HOUSING)[a["housing"]],
                "employment_years": a["employment_years"],
                "existing_debt_fen": a["existing_debt_fen"],
                "bureau_inquiries_6m": a["bureau_inquiries_6m"],
                "bureau_delinquencies": a["bureau_delinquencies"],
                "channel": np.array(schema.ACQUISITION_CHANNELS)[a["acq"]],
                "decision": np.where(approved, "approved", "rejected"),
                "credit_limit_fen": pa.array(a["app_limit"], mask=~approved),
                "customer_id": cust,
            },
        )
        self.write(
            "truth_applications",
            {
                "application_id": ids,
                "risk": a["risk"],
                "bad_12m": a["bad_12m"],
            },
        )

    # --- months -------------------------------------------------------------------------
    def month_inputs(self, k: int, first: int, n_days: int, rng: np.random.Generator):
        wd = self.world
        n = wd.n_cards
        bd = np.minimum(wd.billing_day.astype(np.int64), n_days)
        cut_day = first + bd - 1
        mi = np.zeros((n, NMI), dtype=np.int64)
        mi[:, MI_CUT_DAY] = cut_day
        mi[:, MI_CUT_TS] = cut_day * DAY + DAY - 1
        prev = np.where(self.prev_cut_day > 0, self.prev_cut_day, cut_day - 30)
        mi[:, MI_CYCLE_DAYS] = cut_day - prev
        self.prev_cut_day = cut_day
        mi[:, MI_DUE_DAY] = cut_day + wd.due_days
        mi[:, MI_DUE_TS] = mi[:, MI_DUE_DAY] * DAY + DAY - 1
        open_month = wd.open_day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        this_month = np.datetime64(int(first), "D").astype("datetime64[M]").astype(np.int64)
        anniversary = (open_month % 12 == this_month % 12) & (open_month < this_month)
        mi[:, MI_ANNUAL_FEE] = np.where(anniversary, wd.annual_fee, 0)
        periods = rng.choice(INSTALLMENT_PERIODS, size=n, p=INSTALLMENT_PERIOD_P).astype(np.int64)
        mi[:, MI_SI_PERIODS] = periods
        mi[:, MI_SI_FEE_BP] = installment_fee_bp(periods)
        mi[:, MI_OPEN_TS] = wd.open_ts
        mf = rng.random((n, NMF))
        p = wd.people
        mf[:, MF_SI_PROB] = 1 / (
            1
            + np.exp(
                -(
                    -3.2
                    + 4.0 * p["installment_propensity"]
                    + 2.5 * p["offer_responsiveness"]
                    + 2.0 * p["risk"]
                )
            )
        )
        mf[:, MF_SI_FRAC] = rng.uniform(0.3, 1.0, n)
        # statement offers of the pricing experiment (own stream: the draws above are unchanged)
        cr = self.cfg.credit
        list_prob = mf[:, MF_SI_PROB].copy()
        pct = draw_discounts(_rng(self.cfg.seed, 7, k), n, cr)
        mi[:, MI_SI_FEE_BP] = discounted_fee_bp(mi[:, MI_SI_FEE_BP], pct)
        sens = price_sensitivity(wd, np.arange(n), cr.installment_price_sensitivity)
        mf[:, MF_SI_PROB] = priced_probability(list_prob, sens, pct)
        self._si_list_prob = list_prob
        return mi, mf

    def raise_lines(self, rng: np.random.Generator, first_day: int, alive: np.ndarray) -> None:
        """Permanent line increases (提额) for customers in good standing who use their card.

        Eligible: open at least 6 months, never past due now, last statement used >= 30 % of the
        line; each month a share ``credit.line_increase_rate`` of them gets +20-50 % (rounded to
        1,000 yuan, at most 300,000 yuan), as issuers' periodic reviews do.
        """
        rate = self.cfg.credit.line_increase_rate
        if rate <= 0:
            return
        st = self.ledger.state
        used = (st[:, PREV_NEW] + st[:, INST_OUT]) / np.maximum(st[:, LIMIT], 1)
        ok = (
            alive
            & (self.world.open_day <= first_day - 182)
            & (st[:, FIRST_MISSED] < 0)
            & (used >= 0.3)
            & (st[:, STOP_PAY] > first_day * DAY)
        )
        hit = ok & (rng.random(len(ok)) < rate)
        new = st[hit, LIMIT] * rng.uniform(1.2, 1.5, int(hit.sum()))
        st[hit, LIMIT] = np.minimum((new // 100_000) * 100_000, 30_000_000).astype(np.int64)

    def run_month(self, k: int, carry) -> Any:
        cfg, wd = self.cfg, self.world
        first = month_start_day(cfg.period.start, k)
        nxt = month_start_day(cfg.period.start, k + 1)
        n_days = nxt - first
        start_ts, end_ts = first * DAY, nxt * DAY
        rng = _rng(cfg.seed, 3, k)
        status = self.ledger.state[:, STATUS]
        alive = (wd.open_day < nxt) & (status == ST_OK)
        mi, mf = self.month_inputs(k, first, n_days, rng)
        st = self.ledger.state
        self.raise_lines(_rng(cfg.seed, 6, k), first, alive)
        headroom = (st[:, LIMIT] - st[:, BAL] - st[:, INST_OUT]) / np.maximum(st[:, LIMIT], 1)
        genuine = genuine_month(
            rng, wd, cfg, first, n_days, alive, headroom, offer_rng=_rng(cfg.seed, 8, k)
        )
        ctx = MonthContext(
            rng=rng,
            month=k,
            start_ts=start_ts,
            end_ts=end_ts,
            world=wd,
            alive=alive,
            cut_ts=mi[:, MI_CUT_TS].copy(),
            due_ts=mi[:, MI_DUE_TS].copy(),
            rep_mode=np.zeros(wd.n_cards, dtype=np.int64),
            rep_ts=np.zeros(wd.n_cards, dtype=np.int64),
            stop_pay_from=self.ledger.state[:, STOP_PAY],
            limit=self.ledger.state[:, LIMIT],
            block_from=self.ledger.state[:, BLOCK_FROM],
            block_until=self.ledger.state[:, BLOCK_UNTIL],
            genuine=genuine,
            episodes=self.episodes,
        )
        parts = [genuine]
        for s in self.scenarios:
            ctx.rng = _rng(cfg.seed, 4, k, s.code)
            parts.append(s.month(ctx))
        parts.append(carry)
        ev = concat_events(parts)
        mi[:, MI_REP_MODE] = ctx.rep_mode
        mi[:, MI_REP_TS] = ctx.rep_ts
        now = ev["ts"] < end_ts
        carry = take(ev, np.flatnonzero(~now))
        carry["ref"][:] = -1
        ev = take(ev, sort_order(ev, np.flatnonzero(now)))  # this month, by card then time
        out = self.ledger.run_month(ev, (mi, mf), month_end_ts=end_ts)
        self.flush()  # one month in flight: bounded memory, parts written in month order
        si_prob = np.column_stack([mf[:, MF_SI_PROB], self._si_list_prob])  # offered, list price
        # the episode log keeps growing on this thread while the month is written, so the
        # writers get a copy taken here, between two months (a copy taken on a writer thread
        # raced with the appends of the next month)
        episodes = _episode_snapshot(self.episodes)
        self._pending = self.pool.submit(self.write_month, k, ev, out, mi, si_prob, episodes)
        return carry

    def write_month(self, k: int, ev, out, mi, si_prob, episodes) -> None:
        t0 = time.thread_time()
        try:
            self._write_month(k, ev, out, mi, si_prob, episodes)
        finally:
            self.writer_cpu += time.thread_time() - t0

    def _write_month(self, k: int, ev, out, mi, si_prob, episodes) -> None:
        lk, wd = self.lk, self.world
        valid = np.flatnonzero(out.valid)
        ts_valid = ev["ts"][valid]
        key = (ts_valid - ts_valid.min(initial=0)) * (wd.n_cards + 1) + ev["card"][valid]
        order = valid[np.argsort(key, kind="stable")]  # by time, then card
        n = len(order)
        seq = self.auth_seq + np.arange(n)
        self.auth_seq += n
        auth_no = np.full(len(ev["card"]), -1, dtype=np.int64)
        auth_no[order] = seq
        auth_id = _ids("A", seq)
        card = ev["card"][order]
        merchant = ev["merchant"][order]
        ts = ev["ts"][order]
        ref_no = np.where(ev["ref"][order] >= 0, auth_no[np.maximum(ev["ref"][order], 0)], -1)
        device = ev["device"][order]
        dev = pc.binary_join_element_wise(
            "D", pc.cast(pa.array(device_label(device), mask=device < 0), pa.string()), ""
        )
        orig = pc.binary_join_element_wise(
            "A", pc.cast(pa.array(ref_no, mask=ref_no < 0), pa.string()), ""
        )
        card_pa = pa.array(card.astype(np.int64))
        approved = out.approved[order]
        temp = out.temp[order]
        amount = out.amount[order]
        city = ev["city"][order]
        # the other tables of the month go to a second writer thread
        self._pending_others = self.pool2.submit(
            self.write_others,
            episodes,
            k,
            ev,
            out,
            mi,
            si_prob,
            order,
            seq,
            auth_id,
            card,
            ts,
            approved,
            temp,
            amount,
        )
        self.write(
            "authorizations",
            {
                "auth_id": auth_id,
                "ts": to_arrow_ts(ts),
                "card_token": lk.card_token.take(card_pa),
                "customer_id": lk.customer_id.take(card_pa),
                "merchant_id": lk.merchant_id.take(pa.array(merchant.astype(np.int64))),
                "terminal_id": lk.terminal_id.take(
                    pa.array(ev["terminal"][order].astype(np.int64))
                ),
                "device_id": dev,
                "amount_fen": amount,
                "mcc": lk.mcc.take(pa.array(wd.m_category[merchant].astype(np.int64))),
                "channel": lk.channel.take(pa.array(ev["channel"][order].astype(np.int64))),
                "city": lk.city.take(pa.array(city.astype(np.int64))),
                "cross_border": city >= ref.N_DOMESTIC,
                "message_type": lk.message_type.take(pa.array(ev["mtype"][order].astype(np.int64))),
                "original_auth_id": orig,
                "available_credit_fen": out.avail[order],
                "response_code": lk.response.take(
                    pa.array(out.response_index[order].astype(np.int64))
                ),
                "approved": approved,
                "temp_credit_fen": temp,
            },
        )

    def write_others(
        self, episodes, k, ev, out, mi, si_prob, order, seq, auth_id, card, ts, approved, temp, amount
    ) -> None:
        """Every table of the month but ``authorizations`` (runs in the second writer thread)."""
        t0 = time.thread_time()
        try:
            self._write_others(
                episodes, k, ev, out, mi, si_prob, order, seq, auth_id, card, ts, approved, temp,
                amount,
            )
        finally:
            self.writer2_cpu += time.thread_time() - t0

    def _write_others(
        self, episodes, k, ev, out, mi, si_prob, order, seq, auth_id, card, ts, approved, temp, amount
    ) -> None:
        lk = self.lk
        # temporary credits
        g = np.flatnonzero(temp > 0)
        self.write(
            "temp_credits",
            {
                "grant_id": _ids("G", seq[g]),
                "auth_id": auth_id.take(pa.array(g)),
                "card_token": lk.card_token.take(pa.array(card[g].astype(np.int64))),
                "amount_fen": temp[g],
                "granted_at": to_arrow_ts(ts[g]),
                "expires_at": to_arrow_ts(ts[g] + self.cfg.credit.temp_credit_days * DAY),
            },
        )
        # ground truth and fraud labels
        scen = ev["scenario"][order]
        s = np.flatnonzero(scen > 0)
        epi = ev["episode"][order]
        self.write(
            "truth_authorizations",
            {
                "auth_id": auth_id.take(pa.array(s)),
                "scenario": np.array(self.scenario_names)[scen[s]],
                "episode_id": _ids("E", epi[s]),
                "is_fraud": self.scenario_fraud[scen[s]],
            },
        )
        report, labels = episodes
        f = s[self.scenario_fraud[scen[s]] & approved[s] & (ev["mtype"][order][s] == 0)]
        f = f[report[epi[f]] >= 0]
        rep_ts = np.maximum(report[epi[f]], ts[f] + 3600)
        self.write(
            "fraud_labels",
            {
                "auth_id": auth_id.take(pa.array(f)),
                "card_token": lk.card_token.take(pa.array(card[f].astype(np.int64))),
                "label": labels[epi[f]],
                "reported_at": to_arrow_ts(rep_ts),
                "scenario": np.array(self.scenario_names)[scen[f]],
            },
        )
        # installment plans on purchases, and the offers behind them
        conv = np.flatnonzero(out.converted[order])
        inst = ev["inst"][order]
        periods = ev["inst_periods"][order]
        fee_bp = ev["inst_fee_bp"][order]
        st = out.statements
        wst = np.flatnonzero(st["written"] == 1)
        stmt_no = k * 10**9 + wst
        stmt_id = _ids("S", stmt_no)
        si = np.flatnonzero(st["si_accepted"][wst] == 1)
        si_cards = wst[si]
        si_principal = st["si_principal"][si_cards]
        si_periods = mi[si_cards, MI_SI_PERIODS]
        si_fee = mi[si_cards, MI_SI_FEE_BP]
        self.write(
            "installment_plans",
            {
                "plan_id": pa.concat_arrays([_ids("PP", seq[conv]), _ids("PS", stmt_no[si])]),
                "card_token": lk.card_token.take(
                    pa.array(np.concatenate([card[conv], si_cards]).astype(np.int64))
                ),
                "customer_id": lk.customer_id.take(
                    pa.array(np.concatenate([card[conv], si_cards]).astype(np.int64))
                ),
                "kind": ["purchase"] * len(conv) + ["statement"] * len(si),
                "source_id": pa.concat_arrays(
                    [auth_id.take(pa.array(conv)), stmt_id.take(pa.array(si))]
                ),
                "created_at": to_arrow_ts(
                    np.concatenate([ts[conv] + 600, mi[si_cards, MI_CUT_TS]])
                ),
                "principal_fen": np.concatenate([amount[conv], si_principal]),
                "periods": np.concatenate([periods[conv], si_periods]).astype(np.int16),
                "fee_rate_bp": np.concatenate([fee_bp[conv], si_fee]).astype(np.int32),
                "fee_total_fen": np.concatenate(
                    [
                        amount[conv] * fee_bp[conv] // 10000 * periods[conv],
                        si_principal * si_fee // 10000 * si_periods,
                    ]
                ),
                "offered": np.concatenate(
                    [inst[conv] == INST_OFFERED, np.ones(len(si), dtype=bool)]
                ),
            },
        )
        off = np.flatnonzero((inst == INST_OFFERED) & approved & (ev["mtype"][order] == 0))
        so = np.flatnonzero(st["si_offered"][wst] == 1)
        so_cards = wst[so]
        n_off = len(off) + len(so)
        mf_prob = si_prob[so_cards, 0] if len(so) else np.zeros(0)
        off_card = card[off]
        cr = self.cfg.credit
        offer_cards = np.concatenate([off_card, so_cards]).astype(np.int64)
        list_fee = np.concatenate(
            [installment_fee_bp(periods[off]), installment_fee_bp(mi[so_cards, MI_SI_PERIODS])]
        )
        list_prob = np.concatenate(
            [
                purchase_accept_probability(self.world, off_card, ev["amount"][order][off]),
                si_prob[so_cards, 1] if len(so) else np.zeros(0),
            ]
        )
        self.write(
            "truth_installment_offers",
            {
                "offer_id": _ids("O", self.offer_seq + np.arange(n_off)),
                "card_token": lk.card_token.take(
                    pa.array(np.concatenate([card[off], so_cards]).astype(np.int64))
                ),
                "kind": ["purchase"] * len(off) + ["statement"] * len(so),
                "source_id": pa.concat_arrays(
                    [auth_id.take(pa.array(off)), stmt_id.take(pa.array(so))]
                ),
                "offered_at": to_arrow_ts(
                    np.concatenate([ts[off] + 300, mi[so_cards, MI_CUT_TS] + 7200])
                ),
                "periods": np.concatenate([periods[off], mi[so_cards, MI_SI_PERIODS]]).astype(
                    np.int16
                ),
                "fee_rate_bp": np.concatenate([fee_bp[off], mi[so_cards, MI_SI_FEE_BP]]).astype(
                    np.int32
                ),
                "list_fee_rate_bp": list_fee.astype(np.int32),
                "list_accept_probability": list_prob,
                "price_sensitivity": price_sensitivity(
                    self.world, offer_cards, cr.installment_price_sensitivity
                ),
                "accept_probability": np.concatenate([ev["inst_prob"][order][off], mf_prob]),
                "accepted": np.concatenate(
                    [out.converted[order][off], st["si_accepted"][so_cards] == 1]
                ),
            },
        )
        self.offer_seq += n_off
        # statements
        wc = wst.astype(np.int64)
        self.write(
            "statements",
            {
                "statement_id": stmt_id,
                "card_token": lk.card_token.take(pa.array(wc)),
                "customer_id": lk.customer_id.take(pa.array(wc)),
                "cycle_start": to_arrow_date(st["cycle_start_day"][wst]),
                "statement_date": to_arrow_date(st["statement_day"][wst]),
                "due_date": to_arrow_date(st["due_day"][wst]),
                "credit_limit_fen": st["credit_limit"][wst],
                "previous_balance_fen": st["previous_balance"][wst],
                "repayments_fen": st["repayments"][wst],
                "purchases_fen": st["purchases"][wst],
                "interest_fen": st["interest"][wst],
                "fees_fen": st["fees"][wst],
                "reversals_fen": st["reversals"][wst],
                "new_balance_fen": st["new_balance"][wst],
                "minimum_due_fen": st["minimum_due"][wst],
                "installment_outstanding_fen": st["installment_outstanding"][wst],
                "days_past_due": st["days_past_due"][wst].astype(np.int16),
            },
        )
        co = np.flatnonzero(st["charged_off"] == 1)
        self.write(
            "charge_offs",
            {
                "card_token": lk.card_token.take(pa.array(co.astype(np.int64))),
                "customer_id": lk.customer_id.take(pa.array(co.astype(np.int64))),
                "charged_off_at": to_arrow_date(st["statement_day"][co]),
                "amount_fen": st["charge_off_amount"][co],
            },
        )
        # repayments
        r = out.repayments
        r = r[np.lexsort((r[:, R_CARD], r[:, R_TS]))]
        nr = len(r)
        rc = r[:, R_CARD]
        self.write(
            "repayments",
            {
                "repayment_id": _ids("R", self.rep_seq + np.arange(nr)),
                "ts": to_arrow_ts(r[:, R_TS]),
                "card_token": lk.card_token.take(pa.array(rc)),
                "customer_id": lk.customer_id.take(pa.array(rc)),
                "amount_fen": r[:, R_AMT],
                "channel": np.array(schema.REPAYMENT_CHANNELS)[r[:, R_CHAN]],
                "payer_is_cardholder": r[:, R_THIRD] == 0,
            },
        )
        self.rep_seq += nr

    def write_final(self) -> None:
        wd, lk = self.world, self.lk
        state = self.ledger.state
        status = np.full(wd.n_cards, "active", dtype=object)
        status[state[:, BLOCK_UNTIL] > wd.end_day * DAY] = "frozen"  # reissue still pending
        status[state[:, STATUS] == ST_CHARGED_OFF] = "charged_off"
        self.write(
            "cards",
            {
                "card_token": lk.card_token,
                "pan_last4": _strings(wd.pan_last4),
                "customer_id": lk.customer_id,
                "product_tier": np.array(schema.PRODUCT_TIERS)[wd.tier],
                "credit_limit_fen": wd.limit,
                "opened_at": to_arrow_date(wd.open_day),
                "billing_day": wd.billing_day,
                "due_days": wd.due_days,
                "annual_fee_fen": wd.annual_fee,
                "status": status.astype(str),
            },
        )
        p = wd.people
        dd = state[:, DEFAULTED_DAY]
        self.write(
            "truth_customers",
            {
                "customer_id": lk.customer_id,
                "risk": p["risk"],
                "value": p["value"],
                "installment_propensity": p["installment_propensity"],
                "offer_responsiveness": p["offer_responsiveness"],
                "repayment_type": np.array(REPAYMENT_TYPES)[wd.rep_type],
                "defaulted_at": pa.array(dd.astype(np.int32), type=pa.date32(), mask=dd < 0),
            },
        )
        e = self.episodes
        ne = len(e)
        mid = lk.merchant_id.to_pylist()
        card = np.array(e.card, dtype=np.int64) if ne else np.zeros(0, np.int64)
        has = card >= 0
        self.write(
            "truth_episodes",
            {
                "episode_id": _ids("E", np.arange(ne)),
                "scenario": pa.array(e.scenario, pa.string()),
                "card_token": pc.if_else(
                    pa.array(has),
                    lk.card_token.take(pa.array(np.maximum(card, 0))),
                    pa.scalar(None, pa.string()),
                ),
                "customer_id": pc.if_else(
                    pa.array(has),
                    lk.customer_id.take(pa.array(np.maximum(card, 0))),
                    pa.scalar(None, pa.string()),
                ),
                "merchant_ids": pa.array(
                    [[mid[m] for m in ms] for ms in e.merchants], pa.list_(pa.string())
                ),
                "start_at": to_arrow_ts(np.array(e.start_ts, dtype=np.int64)),
                "end_at": to_arrow_ts(np.array(e.end_ts, dtype=np.int64)),
                "params": pa.array(e.params, pa.string()),
            },
        )


def run(
    cfg: SimulationConfig, out_dir: str | Path, progress: Progress | None = None
) -> dict[str, Any]:
    """Simulate ``cfg`` into ``out_dir``; returns the manifest (row counts, timings)."""
    t0 = time.perf_counter()
    main0 = time.thread_time()
    manifest: dict[str, Any] = {
        "source": "cardmind.simulate",
        "generator_version": GENERATOR_VERSION,
        "preset": cfg.preset,
        "seed": cfg.seed,
        "parameters": cfg.flat(),
        "period_start": cfg.period.start,
        "period_end": str(np.datetime64(month_start_day(cfg.period.start, cfg.period.months), "D")),
        "months": cfg.period.months,
    }
    out = Path(out_dir)
    with DatasetWriter(out, manifest=manifest) as w:
        r = _Run(cfg, w, progress)
        r.write_static()
        carry = make_events(0)
        try:
            for k in range(cfg.period.months):
                carry = r.run_month(k, carry)
                if progress:
                    progress(k + 1, cfg.period.months, f"month {k + 1}/{cfg.period.months}")
            r.flush()
        finally:
            r.pool.shutdown(wait=True, cancel_futures=True)
            r.pool2.shutdown(wait=True, cancel_futures=True)
        r.write_final()
        for name in SIMULATED_TABLES:
            if name not in r.counts:
                raise InvalidInput(f"internal: table {name} was not written")
        w.manifest["row_counts"] = dict(sorted(r.counts.items()))
        w.manifest["cards"] = r.world.n_cards
        w.manifest["merchants"] = r.world.n_merchants
    return {
        "row_counts": r.counts,
        "seconds": time.perf_counter() - t0,
        "main_thread_cpu_s": time.thread_time() - main0,
        "writer_thread_cpu_s": r.writer_cpu,
        "writer2_thread_cpu_s": r.writer2_cpu,
    }


def _episode_snapshot(episodes: EpisodeLog) -> tuple[np.ndarray, np.ndarray]:
    """Report times and labels of every episode so far, copied for the writer threads.

    >>> log = EpisodeLog(); _ = log.add("ato", card=1, merchants=[], start_ts=0, end_ts=1,
    ...                                 report_ts=5, label="chargeback")
    >>> [a.tolist() for a in _episode_snapshot(log)]
    [[5], ['chargeback']]
    """
    if not len(episodes):
        return np.zeros(1, np.int64), np.array(["fraud"])
    return np.array(episodes.report_ts, dtype=np.int64), np.array(episodes.label)
