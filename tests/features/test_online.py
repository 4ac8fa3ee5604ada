"""Online engine behaviour: read before update, late events, bad input, bootstrap, stores."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
from feature_helpers import assert_same, compact_catalog
from feature_synth import FakeDataset, make_tables, replay

from cardmind.errors import InvalidInput
from cardmind.features import Catalog, MemoryStore, OnlineEngine, WindowFeature, open_store
from cardmind.features.aggregates import WindowLog
from cardmind.units import TZ

T0 = datetime(2026, 3, 1, 12, tzinfo=TZ)


def auth(i: int, minutes: float, amount: int = 1000, **kw):
    base = dict(auth_id=f"a{i}", ts=T0 + timedelta(minutes=minutes), card_token="c1",
                customer_id="u1", merchant_id="m1", terminal_id="t1", device_id=None,
                amount_fen=amount, mcc="5812", channel="qr", city="sh", cross_border=False,
                message_type="purchase", approved=True)
    return {**base, **kw}


def engine(**kw):
    cat = Catalog([WindowFeature(entity="card", aggregation=a, column=c, window="1h")
                   for a, c in (("count", None), ("sum", "amount_fen"), ("max", "amount_fen"))])
    return OnlineEngine(cat, **kw)


def test_read_does_not_change_state_and_the_decided_authorization_is_not_in_its_history():
    e = engine()
    a = auth(1, 0, 500)
    assert e.features_for(a)["card_count_1h"] == 0
    assert e.features_for(a)["card_count_1h"] == 0
    e.update(a)
    assert e.features_for(a)["card_count_1h"] == 0  # same ts: strictly before t only
    assert e.features_for(auth(2, 1))["card_amount_sum_1h"] == 500
    assert e.features_for(auth(2, 60))["card_count_1h"] == 1  # [t - 1h, t): includes t - 1h
    assert e.features_for(auth(2, 60.01))["card_count_1h"] == 0


def test_late_event_within_lateness_is_inserted_in_place():
    e = engine(allowed_lateness="10m")
    e.update(auth(1, 0, 100))
    e.update(auth(2, 20, 300))
    e.update(auth(3, 15, 200))  # 5 minutes late: fine
    got = e.features_for(auth(4, 30))
    assert got["card_count_1h"] == 3 and got["card_amount_sum_1h"] == 600
    assert e.n_rejected == 0


def test_too_late_event_is_rejected_with_a_reason_not_silently_dropped():
    e = engine(allowed_lateness="10m")
    e.update(auth(1, 60, 100))
    e.update(auth(2, 30, 999))  # 30 minutes late
    assert e.n_rejected == 1 and "older than the allowed lateness" in e.rejected[-1]
    assert e.features_for(auth(3, 61))["card_amount_sum_1h"] == 100


def test_events_with_missing_keys_are_rejected_with_a_reason():
    e = engine()
    with pytest.raises(InvalidInput, match="missing key card_token"):
        e.update(auth(1, 0, card_token=None))
    with pytest.raises(InvalidInput, match="missing key card_token"):
        e.features_for(auth(1, 0, card_token=None))
    with pytest.raises(InvalidInput, match="no ts"):
        e.update(auth(1, 0, ts=None))
    with pytest.raises(InvalidInput, match="unknown event table"):
        e.update(auth(1, 0), table="tweets")
    assert len(e.store) == 0  # nothing half-applied


def test_device_is_optional_its_features_are_null_without_one():
    cat = Catalog([WindowFeature(entity="device", aggregation="count", window="1h")])
    e = OnlineEngine(cat)
    e.update(auth(1, 0, device_id=None))
    assert np.isnan(e.features_for(auth(2, 1))["device_count_1h"])
    e.update(auth(3, 2, device_id="d1"))
    assert e.features_for(auth(4, 3, device_id="d1"))["device_count_1h"] == 1


def test_bootstrap_equals_one_by_one_replay():
    tables = make_tables(11, n_auths=120, days=3)
    cat = compact_catalog()
    cut = tables["authorizations"].column("ts")[80].as_py()
    boot = OnlineEngine(cat)
    boot.bootstrap(FakeDataset(tables), until=cut)
    one = OnlineEngine(cat)
    replay(one, {k: v.filter(_before(k, v, cut)) for k, v in tables.items()})
    probe = [a for a in tables["authorizations"].to_pylist()[80:100]]
    assert_same(cat, [boot.features_for(a) for a in probe], [one.features_for(a) for a in probe])


def _before(name, table, cut):
    import pyarrow.compute as pc

    from cardmind.features.plan import event_time

    if name == "fraud_labels":
        return pc.less(table["reported_at"], cut)
    times = [event_time(name, e) for e in table.to_pylist()]
    from cardmind.features import vocab

    return [t < vocab.to_epoch_us(cut) for t in times]


def test_state_round_trips_through_bytes_and_merge_equals_single_stream():
    rng = np.random.default_rng(0)
    ts = np.sort(rng.integers(0, 10_000, 50))
    whole, a, b = (WindowLog(integer=True, n_codes=1) for _ in range(3))
    for i, t in enumerate(ts):
        ev = (int(t), int(rng.integers(1, 1000)), int(rng.integers(1, 4)), (int(i % 5 + 1),))
        whole.update(*ev)
        (a if i % 2 else b).update(*ev)
    a.merge(b)
    wins = np.asarray([100, 1000, 20_000])
    np.testing.assert_array_equal(whole.get(10_001, wins, 2), a.get(10_001, wins, 2))
    again = WindowLog.from_bytes(whole.to_bytes())
    np.testing.assert_array_equal(whole.get(10_001, wins, 2), again.get(10_001, wins, 2))
    specs = np.asarray([[0, -1], [0, 1]])
    np.testing.assert_array_equal(whole.get_distinct(10_001, wins, specs),
                                  again.get_distinct(10_001, wins, specs))
    with pytest.raises(ValueError, match="not a serialised"):
        WindowLog.from_bytes(b"junk" * 10)


def test_stores():
    s = MemoryStore()
    e = engine(store=s)
    e.update(auth(1, 0))
    assert any(k.startswith("g:card:") for k in s.keys(""))
    assert isinstance(open_store("memory://"), MemoryStore)  # Redis: test_stores.py


def test_label_delayed_features_and_the_bounded_label_index():
    from cardmind.features import LabelFeature

    cat = Catalog([LabelFeature(entity="merchant", window="1h", measure="count"),
                   LabelFeature(entity="merchant", window="1h", measure="rate", delay="10m")])
    e = OnlineEngine(cat, allowed_lateness="5m")
    e.update(auth(1, 0))
    e.update(auth(2, 1))
    e.update({"auth_id": "a1", "label": "fraud", "reported_at": T0 + timedelta(minutes=5)},
             "fraud_labels")
    e.update({"auth_id": "a1", "label": "fraud", "reported_at": T0 + timedelta(minutes=6)},
             "fraud_labels")  # a second report of the same purchase counts once
    got = e.features_for(auth(3, 10))
    assert got["merchant_fraud_count_1h"] == 1
    assert got["merchant_fraud_rate_1h_delay10m"] == 0  # reported 5 min ago: not yet loaded
    assert e.features_for(auth(3, 16))["merchant_fraud_rate_1h_delay10m"] == 0.5
    assert e.store.get("auth:a2") is not None
    e.update(auth(4, 200))  # > 1h + lateness later: the old purchases leave the label index
    assert e.store.get("auth:a2") is None
    e.update({"auth_id": "a2", "label": "fraud", "reported_at": T0 + timedelta(minutes=201)},
             "fraud_labels")
    assert "authorization unknown" in e.rejected[-1]
    with pytest.raises(InvalidInput, match="missing auth_id"):
        e.update(auth(5, 201, auth_id=None))


def test_chargeback_labels_count_as_fraud_and_genuine_ones_do_not():
    from cardmind.features import LabelFeature

    cat = Catalog([LabelFeature(entity="merchant", window="1h", measure="count")])
    e = OnlineEngine(cat)
    for i in range(3):
        e.update(auth(i, i))
    for i, label in enumerate(["chargeback", "fraud", "genuine"]):
        e.update({"auth_id": f"a{i}", "label": label,
                  "reported_at": T0 + timedelta(minutes=5)}, "fraud_labels")
    assert e.features_for(auth(9, 10))["merchant_fraud_count_1h"] == 2


def test_read_then_update_with_pending_equals_features_for_then_update():
    """``read`` + ``update(pending=...)`` (time, keys, virtual columns computed once) leaves the
    same state and reads the same values as ``features_for`` + ``update``, late events too."""
    from cardmind.features import default_catalog

    tables = make_tables(7, n_auths=150, days=3)
    cat = default_catalog()
    plain, paired = OnlineEngine(cat, allowed_lateness="2h"), OnlineEngine(cat,
                                                                           allowed_lateness="2h")
    auths = sorted(tables["authorizations"].to_pylist(), key=lambda a: a["ts"])
    rng = np.random.default_rng(3)
    for i, a in enumerate(auths):
        if i % 9 == 4:  # late by up to 3h: some inserted in place, some refused
            a = {**a, "ts": a["ts"] - timedelta(minutes=int(rng.integers(1, 180)))}
        outcome = {"approved": bool(rng.random() < 0.9), "response_code": "00",
                   "available_credit_fen": 5_000, "temp_credit_fen": 0}
        first = {k: v for k, v in a.items() if k not in outcome}
        want = plain.features_for(dict(first))
        plain.update({**first, **outcome})
        event = dict(first)
        got, pending = paired.read(event)
        event.update(outcome)
        paired.update(event, pending=pending)
        assert_same(cat, [got], [want], f"authorization {i}")
    assert plain.n_rejected == paired.n_rejected > 0
    probe = {**auths[-1], "auth_id": "probe", "ts": auths[-1]["ts"] + timedelta(minutes=1)}
    assert_same(cat, [paired.features_for(probe)], [plain.features_for(probe)], "final state")


def test_pending_of_another_event_is_not_reused():
    e = engine()
    a, b = auth(1, 0, 500), auth(2, 5, 700, card_token="c2")
    _, pending = e.read(a)
    e.update(b, pending=pending)  # b's own time and keys, not a's
    assert e.features_for(auth(3, 10, card_token="c2"))["card_amount_sum_1h"] == 700
    assert e.features_for(auth(3, 10))["card_count_1h"] == 0
