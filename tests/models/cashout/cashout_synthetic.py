"""A small hand-made dataset in the cardmind.schema shape for the cash-out unit tests.

Not a simulator: a few dozen cards with ordinary spending and repayments, a handful of cards that a
代还 app repays and cycles through a ring of young merchants, and two plain POS cash-outs in round
amounts. Ground truth goes to ``truth_authorizations`` / ``truth_episodes`` like the simulator's.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from cardmind.dataset import DatasetWriter
from cardmind.units import TZ

START = date(2026, 1, 1)
DAYS = 120
NORMAL_CATEGORIES = ("dining", "grocery", "fuel", "travel", "apparel", "digital")


def _statement_dates(billing_day: int) -> list[date]:
    out = []
    y, m = 2025, 12
    for _ in range(6):
        out.append(date(y, m, billing_day))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def build(
    path: Path,
    *,
    seed: int = 0,
    n_cards: int = 60,
    n_cycling: int = 8,
    n_pos: int = 2,
    ring_size: int = 5,
    with_repayments: bool = True,
) -> Path:
    rng = np.random.default_rng(seed)
    n_normal_m = 30
    merchants = {
        "merchant_id": [f"m{i:03d}" for i in range(n_normal_m)]
        + [f"ring{i:02d}" for i in range(ring_size)],
        "mcc": ["5812"] * n_normal_m + ["5999"] * ring_size,
        "category": [NORMAL_CATEGORIES[i % len(NORMAL_CATEGORIES)] for i in range(n_normal_m)]
        + ["wholesale"] * ring_size,
        "city": ["Shanghai"] * (n_normal_m + ring_size),
        "onboarded_at": [date(2018, 1, 1)] * n_normal_m + [date(2025, 11, 1)] * ring_size,
        "online": [False] * (n_normal_m + ring_size),
    }
    ring = merchants["merchant_id"][n_normal_m:]
    cards = {
        "card_token": [f"{i:032x}" for i in range(n_cards)],
        "pan_last4": [f"{i:04d}" for i in range(n_cards)],
        "customer_id": [f"c{i}" for i in range(n_cards)],
        "product_tier": ["gold"] * n_cards,
        "credit_limit_fen": [int(rng.integers(20, 100)) * 1_000_00 for _ in range(n_cards)],
        "opened_at": [date(2020, 1, 1)] * n_cards,
        "billing_day": [int(rng.integers(1, 29)) for _ in range(n_cards)],
        "due_days": [20] * n_cards,
        "annual_fee_fen": [0] * n_cards,
        "status": ["active"] * n_cards,
    }
    auths: dict[str, list] = {
        k: []
        for k in (
            "auth_id",
            "ts",
            "card_token",
            "merchant_id",
            "amount_fen",
            "available_credit_fen",
        )
    }
    reps: dict[str, list] = {
        k: []
        for k in (
            "repayment_id",
            "ts",
            "card_token",
            "amount_fen",
            "channel",
            "payer_is_cardholder",
        )
    }
    truth_a: dict[str, list] = {"auth_id": [], "scenario": [], "episode_id": [], "is_fraud": []}
    episodes: dict[str, list] = {
        k: []
        for k in (
            "episode_id",
            "scenario",
            "card_token",
            "merchant_ids",
            "start_at",
            "end_at",
            "params",
        )
    }
    cycling = set(range(n_cycling))
    pos = set(range(n_cycling, n_cycling + n_pos))
    t0 = datetime(START.year, START.month, START.day, tzinfo=TZ)
    for ci in range(n_cards):
        token, lim, bday = (
            cards["card_token"][ci],
            cards["credit_limit_fen"][ci],
            cards["billing_day"][ci],
        )
        events: list[tuple] = []  # (ts, kind, merchant, amount, scenario, episode)
        for day in range(DAYS):
            for _ in range(rng.poisson(0.8)):
                ts = t0 + timedelta(days=day, hours=float(rng.uniform(8, 22)))
                m = merchants["merchant_id"][int(rng.integers(n_normal_m))]
                amt = int(rng.lognormal(np.log(150_00), 0.8))
                events.append((ts, "p", m, amt, None, None))
        stmts = [
            s for s in _statement_dates(bday) if START <= s < START + timedelta(days=DAYS - 10)
        ]
        # ordinary repayments by the cardholder ~15 days after each statement
        for s in stmts:
            ts = datetime(s.year, s.month, s.day, tzinfo=TZ) + timedelta(days=15, hours=9)
            events.append((ts, "r_own", None, int(lim * rng.uniform(0.05, 0.2)), None, None))
        if ci in cycling and stmts:
            s = stmts[ci % len(stmts)]  # episodes spread over the period
            ep = f"ep{ci}"
            start = datetime(s.year, s.month, s.day, tzinfo=TZ) + timedelta(days=3, hours=10)
            repay = int(lim * rng.uniform(0.6, 0.85))
            events.append((start, "r_tp", None, repay, "cashout_app", ep))
            fee = 0.006
            target = int(repay * (1 + fee))
            ts = start + timedelta(hours=2)
            spent = 0
            unit = int(rng.integers(8, 20)) * 100_00
            while spent < target:
                amt = min(unit + int(rng.integers(-3, 4)) * 100, target - spent)
                m = ring[int(rng.integers(ring_size))]
                events.append((ts, "p", m, amt, "cashout_app", ep))
                spent += amt
                ts += timedelta(minutes=float(rng.uniform(20, 90)))
            episodes["episode_id"].append(ep)
            episodes["scenario"].append("cashout_app")
            episodes["card_token"].append(token)
            episodes["merchant_ids"].append(list(ring))
            episodes["start_at"].append(start)
            episodes["end_at"].append(ts)
            episodes["params"].append(json.dumps({"fee": fee, "ring_size": ring_size}))
        if ci in pos and stmts:
            s = stmts[ci % len(stmts)]
            ep = f"ep{ci}"
            start = datetime(s.year, s.month, s.day, tzinfo=TZ) + timedelta(days=1, hours=1)
            for k in range(4):
                events.append(
                    (
                        start + timedelta(hours=k),
                        "p",
                        ring[0],
                        int(lim * 0.2) // 10_000_00 * 10_000_00 or 10_000_00,
                        "pos_cashout",
                        ep,
                    )
                )
            episodes["episode_id"].append(ep)
            episodes["scenario"].append("pos_cashout")
            episodes["card_token"].append(token)
            episodes["merchant_ids"].append([ring[0]])
            episodes["start_at"].append(start)
            episodes["end_at"].append(start + timedelta(hours=4))
            episodes["params"].append("{}")
        events.sort(key=lambda e: e[0])
        balance = int(lim * 0.1)
        for k, (ts, kind, m, amt, scen, ep) in enumerate(events):
            if kind == "p":
                avail = lim - balance
                if amt > avail:
                    continue
                aid = f"a{ci}_{k}"
                auths["auth_id"].append(aid)
                auths["ts"].append(ts)
                auths["card_token"].append(token)
                auths["merchant_id"].append(m)
                auths["amount_fen"].append(amt)
                auths["available_credit_fen"].append(avail)
                balance += amt
                if scen:
                    truth_a["auth_id"].append(aid)
                    truth_a["scenario"].append(scen)
                    truth_a["episode_id"].append(ep)
                    truth_a["is_fraud"].append(False)
            else:
                balance = max(balance - amt, 0)
                reps["repayment_id"].append(f"r{ci}_{k}")
                reps["ts"].append(ts)
                reps["card_token"].append(token)
                reps["amount_fen"].append(amt)
                reps["channel"].append("third_party_app" if kind == "r_tp" else "auto_debit")
                reps["payer_is_cardholder"].append(kind != "r_tp")
    n = len(auths["auth_id"])
    owner = dict(zip(cards["card_token"], cards["customer_id"], strict=True))
    mcc = dict(zip(merchants["merchant_id"], merchants["mcc"], strict=True))
    authorizations = pa.table(
        {
            **auths,
            "customer_id": [owner[t] for t in auths["card_token"]],
            "terminal_id": [f"t-{m}" for m in auths["merchant_id"]],
            "mcc": [mcc[m] for m in auths["merchant_id"]],
            "channel": ["pos_chip"] * n,
            "city": ["Shanghai"] * n,
            "cross_border": [False] * n,
            "message_type": ["purchase"] * n,
            "response_code": ["00"] * n,
            "approved": [True] * n,
            "temp_credit_fen": [0] * n,
        }
    )
    with DatasetWriter(path, manifest={"source": "cashout-test-fixture", "seed": seed}) as w:
        w.write("cards", pa.table(cards))
        w.write("merchants", pa.table(merchants))
        w.write("authorizations", authorizations)
        if with_repayments:
            w.write(
                "repayments",
                pa.table({**reps, "customer_id": [owner[t] for t in reps["card_token"]]}),
            )
        w.write("truth_authorizations", pa.table(truth_a))
        w.write(
            "truth_episodes",
            pa.table(
                {**episodes, "customer_id": [owner[t] for t in episodes["card_token"]]},
            ),
        )
    return path
