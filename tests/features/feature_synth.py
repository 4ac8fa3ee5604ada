"""Synthetic event tables in the cardmind schema (for feature tests before/without the simulator)."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import numpy as np
import pyarrow as pa

from cardmind import schema
from cardmind.features import vocab

T0 = 1_767_225_600_000_000  # 2026-01-01T00:00Z in epoch µs
MCCS = ("5812", "5411", "4511", "5732", "6011", "5944", "7995", "5999", "8062", "0000")


def _ts(us: np.ndarray) -> pa.Array:
    return pa.array(us.astype(np.int64), pa.timestamp("us", tz="UTC"))


def make_tables(seed: int = 0, *, n_auths: int = 400, n_cards: int = 6, days: float = 20.0,
                n_merchants: int = 8, tick_s: int = 60) -> dict[str, pa.Table]:
    """Small, collision-rich tables: few cards and merchants, timestamps on a coarse grid."""
    rng = np.random.default_rng(seed)
    span = int(days * 86_400 / tick_s)
    t = np.sort(T0 + rng.integers(0, span, n_auths) * tick_s * 1_000_000)
    cards = rng.integers(0, n_cards, n_auths)
    customer_of = rng.integers(0, max(1, n_cards // 2 + 1), n_cards)
    merchant = rng.integers(0, n_merchants, n_auths)
    msg = rng.choice(np.array(schema.MESSAGE_TYPES), n_auths, p=[0.85, 0.1, 0.05])
    amount = np.where(rng.random(n_auths) < 0.1, rng.integers(1, 3, n_auths) * 1_000_000,
                      rng.integers(1, 200_000, n_auths))
    amount = np.where(rng.random(n_auths) < 0.2, 10_000, amount)  # ties in value
    channel = rng.choice(np.array(schema.CHANNELS), n_auths)
    device = [None if c in ("pos_chip", "contactless") else f"d{rng.integers(0, 4)}"
              for c in channel]
    approved = rng.random(n_auths) < 0.85
    auth_ids = [f"a{i:05d}" for i in range(n_auths)]
    auths = pa.table({
        "auth_id": auth_ids,
        "ts": _ts(t),
        "card_token": [f"c{c}" for c in cards],
        "customer_id": [f"u{customer_of[c]}" for c in cards],
        "merchant_id": [f"m{m}" for m in merchant],
        "terminal_id": [f"m{m}t{rng.integers(0, 2)}" for m in merchant],
        "device_id": device,
        "amount_fen": amount,
        "mcc": [MCCS[m % len(MCCS)] for m in merchant],
        "channel": channel,
        "city": rng.choice(np.array(["shanghai", "beijing", "shenzhen"]), n_auths),
        "cross_border": rng.random(n_auths) < 0.1,
        "message_type": msg,
        "original_auth_id": [None] * n_auths,
        "available_credit_fen": rng.integers(0, 5_000_000, n_auths),
        "response_code": np.where(approved, "00", "51"),
        "approved": approved,
        "temp_credit_fen": np.zeros(n_auths, np.int64),
    })
    n_rep = max(2, n_auths // 10)
    rt = np.sort(T0 + rng.integers(0, span, n_rep) * tick_s * 1_000_000)
    rc = rng.integers(0, n_cards, n_rep)
    repayments = pa.table({
        "repayment_id": [f"r{i}" for i in range(n_rep)],
        "ts": _ts(rt),
        "card_token": [f"c{c}" for c in rc],
        "customer_id": [f"u{customer_of[c]}" for c in rc],
        "amount_fen": rng.integers(1, 500_000, n_rep),
        "channel": rng.choice(np.array(schema.REPAYMENT_CHANNELS), n_rep),
        "payer_is_cardholder": rng.random(n_rep) < 0.8,
    })
    rows = []
    d0 = date(2025, 12, 1)
    for c in range(n_cards):
        for k in range(int(days // 28) + 2):
            sd = d0 + timedelta(days=28 * k + c)
            rows.append({
                "statement_id": f"s{c}_{k}", "card_token": f"c{c}", "customer_id":
                f"u{customer_of[c]}", "cycle_start": sd - timedelta(days=27), "statement_date": sd,
                "due_date": sd + timedelta(days=20),
                "credit_limit_fen": int(rng.choice([0, 5_000_000, 10_000_000])),
                "previous_balance_fen": int(rng.integers(-1000, 3_000_000)),
                "repayments_fen": int(rng.integers(0, 3_000_000)),
                "purchases_fen": int(rng.integers(0, 3_000_000)),
                "interest_fen": int(rng.integers(0, 30_000)), "fees_fen": int(rng.integers(0, 5000)),
                "reversals_fen": 0, "new_balance_fen": int(rng.integers(0, 4_000_000)),
                "minimum_due_fen": int(rng.integers(0, 400_000)),
                "installment_outstanding_fen": int(rng.integers(0, 100_000)),
                "days_past_due": int(rng.choice([0, 0, 0, 15, 40])),
            })
    statements = pa.Table.from_pylist(rows)
    n_inst = max(2, n_auths // 40)
    it = np.sort(T0 + rng.integers(0, span, n_inst) * tick_s * 1_000_000)
    ic = rng.integers(0, n_cards, n_inst)
    plans = pa.table({
        "plan_id": [f"p{i}" for i in range(n_inst)], "card_token": [f"c{c}" for c in ic],
        "customer_id": [f"u{customer_of[c]}" for c in ic],
        "kind": rng.choice(np.array(schema.INSTALLMENT_KINDS), n_inst),
        "source_id": ["x"] * n_inst, "created_at": _ts(it),
        "principal_fen": rng.integers(100_000, 2_000_000, n_inst),
        "periods": rng.choice(np.array(schema.INSTALLMENT_PERIODS), n_inst).astype(np.int16),
        "fee_rate_bp": np.full(n_inst, 60, np.int32),
        "fee_total_fen": rng.integers(1000, 50_000, n_inst), "offered": rng.random(n_inst) < 0.5,
    })
    lab = rng.random(n_auths) < 0.15
    idx = np.flatnonzero(lab)
    delay = rng.integers(0, 3 * 86_400 // tick_s, idx.size) * tick_s * 1_000_000
    labels = pa.table({
        "auth_id": [auth_ids[i] for i in idx],
        "card_token": [f"c{cards[i]}" for i in idx],
        "label": rng.choice(np.array(["fraud", "fraud", "chargeback", "genuine"]), idx.size),
        "reported_at": _ts(t[idx] + delay),
        "scenario": [None] * idx.size,
    })
    out = {"authorizations": auths, "repayments": repayments, "statements": statements,
           "installment_plans": plans, "fraud_labels": labels}
    return {name: schema.conform(tbl, name) for name, tbl in out.items()}


def connect(tables: dict[str, pa.Table]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name, tbl in tables.items():
        con.register(name, tbl)
    return con


class FakeDataset:
    """The part of :class:`cardmind.dataset.Dataset` the engines use, over in-memory tables."""

    def __init__(self, tables: dict[str, pa.Table]) -> None:
        self._tables = tables

    def tables(self) -> list[str]:
        return [t for t in schema.TABLES if t in self._tables]

    def has(self, table: str) -> bool:
        return table in self._tables

    def read(self, table: str, columns=None) -> pa.Table:
        tbl = self._tables[table]
        return tbl.select(list(columns)) if columns is not None else tbl

    def connect(self, con=None):
        return connect(self._tables)


def replay(engine, tables: dict[str, pa.Table], rows: list[int] | None = None) -> list[dict]:
    """Online read-then-update over every authorization in time order, other events interleaved.

    Non-authorization events known at or before an authorization's time are applied before it is
    read (the batch engine's semantics: labels reported at t count at t; events at t are excluded
    by the window itself). Returns the feature dicts of the authorizations (all, or ``rows``).
    """
    from cardmind.features.plan import event_time

    events: list[tuple[int, int, str, dict]] = []
    for name, tbl in tables.items():
        if name == "authorizations":
            continue
        for e in tbl.to_pylist():
            t = vocab.to_epoch_us(e["reported_at"]) if name == "fraud_labels" \
                else event_time(name, e)
            events.append((t, 0 if name != "fraud_labels" else 1, name, e))
    events.sort(key=lambda x: (x[0], x[1]))
    auths = tables["authorizations"].to_pylist()
    order = sorted(range(len(auths)), key=lambda i: vocab.to_epoch_us(auths[i]["ts"]))
    out: dict[int, dict] = {}
    want = set(range(len(auths))) if rows is None else set(rows)
    j = 0
    for i in order:
        a = auths[i]
        t = vocab.to_epoch_us(a["ts"])
        while j < len(events) and events[j][0] <= t:
            engine.update(events[j][3], events[j][2])
            j += 1
        if i in want:
            out[i] = engine.features_for(a)
        engine.update(a)
    return [out[i] for i in sorted(want)]
