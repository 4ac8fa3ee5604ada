"""Parity, the gate: batch == online == a plain reference implementation."""

from __future__ import annotations

import pyarrow as pa
import pytest
from feature_helpers import assert_same, compact_catalog
from feature_reference import compute as reference
from feature_synth import T0, connect, make_tables, replay
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardmind import schema
from cardmind.features import BatchEngine, OnlineEngine, default_catalog


def test_default_catalog_batch_equals_online_on_synthetic_data():
    tables = make_tables(3, n_auths=90, days=40)
    catalog = default_catalog()
    batch = BatchEngine(connect(tables)).compute(catalog, tables["authorizations"],
                                                 strategy="compiled")
    online = replay(OnlineEngine(catalog), tables)
    assert_same(catalog, batch, online, "default catalog: batch(compiled) vs online")


@pytest.mark.parametrize("strategy", ["join", "window", "compiled"])
def test_compact_catalog_matches_reference(strategy):
    tables = make_tables(5, n_auths=90, days=2, n_cards=3, n_merchants=3)
    catalog = compact_catalog()
    rows = tables["authorizations"]
    batch = BatchEngine(connect(tables)).compute(catalog, rows, strategy=strategy)
    online = replay(OnlineEngine(catalog), tables)
    ref = reference(catalog, {k: v.to_pylist() for k, v in tables.items()}, rows.to_pylist())
    assert_same(catalog, batch, ref, f"batch({strategy}) vs reference")
    assert_same(catalog, online, ref, "online vs reference")


# --- property tests on random event streams -------------------------------------------------

_AMOUNTS = st.one_of(st.sampled_from([1, 9_999, 10_000, 10_000, 123_456, 1_000_000]),
                     st.integers(1, 3_000_000_000))
_auth = st.fixed_dictionaries({
    "tick": st.integers(0, 3 * 24 * 12),  # 5-minute grid over 3 days: many ties
    "card": st.integers(0, 2),
    "merchant": st.integers(0, 2),
    "amount": _AMOUNTS,
    "channel": st.sampled_from(schema.CHANNELS),
    "approved": st.booleans(),
    "message_type": st.sampled_from(("purchase", "purchase", "purchase", "reversal", "refund")),
    "mcc": st.sampled_from(("5812", "5411", "6011", "x")),
    "device": st.sampled_from((None, "d0", "d1")),
    "label_after": st.one_of(st.none(), st.integers(0, 24 * 12)),
})
_repayment = st.fixed_dictionaries({
    "tick": st.integers(0, 3 * 24 * 12), "card": st.integers(0, 2),
    "amount": st.integers(1, 2_000_000),
    "channel": st.sampled_from(("third_party_app", "auto_debit")),
})


def _tables(auths: list[dict], reps: list[dict]) -> dict[str, pa.Table]:
    tick = 300_000_000
    ts = pa.timestamp("us", tz="UTC")
    a = pa.table({
        "auth_id": [f"a{i}" for i in range(len(auths))],
        "ts": pa.array([T0 + x["tick"] * tick for x in auths], ts),
        "card_token": [f"c{x['card']}" for x in auths],
        "customer_id": [f"u{x['card'] % 2}" for x in auths],
        "merchant_id": [f"m{x['merchant']}" for x in auths],
        "terminal_id": [f"m{x['merchant']}t" for x in auths],
        "device_id": [x["device"] for x in auths],
        "amount_fen": [x["amount"] for x in auths],
        "mcc": [x["mcc"] for x in auths],
        "channel": [x["channel"] for x in auths],
        "city": ["sh"] * len(auths),
        "cross_border": [x["tick"] % 7 == 0 for x in auths],
        "message_type": [x["message_type"] for x in auths],
        "available_credit_fen": [0] * len(auths),
        "response_code": ["00"] * len(auths),
        "approved": [x["approved"] for x in auths],
        "temp_credit_fen": [0] * len(auths),
    })
    labelled = [(i, x) for i, x in enumerate(auths) if x["label_after"] is not None]
    labels = pa.table({
        "auth_id": [f"a{i}" for i, _ in labelled],
        "card_token": [f"c{x['card']}" for _, x in labelled],
        "label": ["fraud" if x["label_after"] % 5 else "genuine" for _, x in labelled],
        "reported_at": pa.array([T0 + (x["tick"] + x["label_after"]) * tick
                                 for _, x in labelled], ts),
    })
    r = pa.table({
        "repayment_id": [f"r{i}" for i in range(len(reps))],
        "ts": pa.array([T0 + x["tick"] * tick for x in reps], ts),
        "card_token": [f"c{x['card']}" for x in reps],
        "customer_id": [f"u{x['card'] % 2}" for x in reps],
        "amount_fen": [x["amount"] for x in reps],
        "channel": [x["channel"] for x in reps],
        "payer_is_cardholder": [True] * len(reps),
    })
    out = {"authorizations": a, "fraud_labels": labels, "repayments": r}
    return {k: schema.conform(v, k) for k, v in out.items()}


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(auths=st.lists(_auth, min_size=1, max_size=40), reps=st.lists(_repayment, max_size=6),
       strategy=st.sampled_from(["join", "window", "compiled"]))
def test_random_streams_batch_online_reference_agree(auths, reps, strategy):
    tables = _tables(auths, reps)
    catalog = compact_catalog()
    rows = tables["authorizations"]
    batch = BatchEngine(connect(tables)).compute(catalog, rows, strategy=strategy)
    online = replay(OnlineEngine(catalog), tables)
    ref = reference(catalog, {k: v.to_pylist() for k, v in tables.items()}, rows.to_pylist())
    assert_same(catalog, batch, online, f"batch({strategy}) vs online")
    assert_same(catalog, online, ref, "online vs reference")
