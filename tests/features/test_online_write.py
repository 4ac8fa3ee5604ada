"""The online write (``OnlineEngine.update``) equals a plain reference write, log by log.

The engine's write runs a precomputed per-source recipe (lane masks memoised, codes in scratch
arrays, a MemoryStore read directly and its live logs not put back). The reference here takes
every group of the plan and, event by event, computes the entity key, value, lane mask and codes
with the plain functions of :mod:`cardmind.features.plan` and admits the event into its own
:class:`WindowLog` (the general path). Random streams hold late, too-late (refused),
equal-timestamp, missing-key, unhashable-value and ratio-column events, and bursts then quiet
spells (storage growth, compaction and shrinking); the stored logs (events, flags) and the reads
must be the same, in memory and on Redis.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from cardmind.errors import InvalidInput
from cardmind.features import Catalog, MemoryStore, OnlineEngine, WindowFeature
from cardmind.features.aggregates import WindowLog
from cardmind.features.definitions import ENTITIES
from cardmind.features.plan import (
    LaneMasker,
    MaskSet,
    Plan,
    code,
    codes,
    entity_key,
    event_time,
    event_value,
    lane_mask,
    virtual,
)
from cardmind.features.stores import RedisStore
from cardmind.features.writekernel import admit_all
from cardmind.units import TZ

T0 = datetime(2026, 3, 1, 9, tzinfo=TZ)
LATENESS = "5m"
LATE_US = 5 * 60 * 1_000_000
CHANNELS = ("pos_chip", "contactless", "online_cnp", "wallet", "qr")
MCCS = ("5812", "5411", "4511", "5732", "6011")


def _catalog() -> Catalog:
    """Short windows (expiry, compaction, shrinking), filters, distinct counts, every source."""
    defs: list[Any] = []
    for w in ("10m", "1h"):
        for f in (None, "online", "declined", "returns", "night", "band_xlarge", "cat_dining"):
            defs.append(WindowFeature(entity="card", aggregation="sum", column="amount_fen",
                                      window=w, filter=f))
        for col in ("merchant_id", "device_id", "channel"):
            defs.append(WindowFeature(entity="card", aggregation="distinct_count", column=col,
                                      window=w))
        defs.append(WindowFeature(entity="customer", aggregation="std", column="amount_fen",
                                  window=w, filter="approved"))
        defs.append(WindowFeature(entity="customer", aggregation="distinct_count",
                                  column="card_token", window=w, filter="online"))
        for ent in ("merchant", "terminal", "device", "card_merchant", "category"):
            defs.append(WindowFeature(entity=ent, aggregation="mean", column="amount_fen",
                                      window=w))
        defs.append(WindowFeature(entity="card", source="repayments", aggregation="sum",
                                  column="amount_fen", window=w, filter="third_party"))
    for w in ("7d", "30d"):
        defs += [
            WindowFeature(entity="card", source="statements", aggregation="mean",
                          column="utilisation", window=w),
            WindowFeature(entity="customer", source="statements", aggregation="max",
                          column="repayment_ratio", window=w),
            WindowFeature(entity="card", source="statements", aggregation="count", window=w,
                          filter="past_due"),
            WindowFeature(entity="customer", source="statements", aggregation="sum",
                          column="new_balance_fen", window=w),
            WindowFeature(entity="card", source="installment_plans", aggregation="sum",
                          column="principal_fen", window=w, filter="offered"),
            WindowFeature(entity="customer", source="installment_plans", aggregation="mean",
                          column="periods", window=w),
        ]
    return Catalog(defs)


def _stream(seed: int, n: int = 700) -> list[tuple[str, dict[str, Any]]]:
    """Events in arrival order: bursts and quiet spells, ties, late and too-late ones, holes."""
    rng = np.random.default_rng(seed)
    out: list[tuple[str, dict[str, Any]]] = []
    t = T0
    for i in range(n):
        phase = (i // 150) % 3  # burst (seconds apart), steady, quiet (hours apart)
        gap = (rng.integers(0, 3), rng.integers(0, 120), rng.integers(0, 4 * 3600))[phase]
        t += timedelta(seconds=int(gap))
        ts = t
        r = rng.random()
        if r < 0.08:
            ts = t - timedelta(seconds=int(rng.integers(0, 290)))  # late, within lateness
        elif r < 0.12:
            ts = t - timedelta(minutes=int(rng.integers(6, 90)))  # too late: refused
        card = int(rng.integers(0, 4))
        kind = rng.random()
        if kind < 0.8:
            channel: Any = str(rng.choice(CHANNELS))
            if rng.random() < 0.02:
                channel = [channel]  # unhashable: in no filtered lane, a code of its text
            merchant = int(rng.integers(0, 5))
            e = {"auth_id": f"a{i}", "ts": ts, "card_token": f"c{card}",
                 "customer_id": f"u{card % 2}", "merchant_id": f"m{merchant}",
                 "terminal_id": f"m{merchant}t{rng.integers(0, 2)}",
                 "device_id": f"d{rng.integers(0, 3)}" if rng.random() < 0.6 else None,
                 "amount_fen": int(rng.choice([10_000, 999, 2_000_000, int(rng.integers(1, 9e5))])),
                 "mcc": str(rng.choice(MCCS)), "channel": channel,
                 "city": "sh", "cross_border": bool(rng.random() < 0.1),
                 "message_type": str(rng.choice(["purchase", "purchase", "refund", "reversal"])),
                 "approved": bool(rng.random() < 0.85)}
            hole = rng.random()
            if hole < 0.03:
                e["merchant_id"] = None  # a missing required key: refused with InvalidInput
            elif hole < 0.05:
                e["amount_fen"] = None  # no value: enters no group
            out.append(("authorizations", e))
        elif kind < 0.88:
            out.append(("repayments", {
                "repayment_id": f"r{i}", "ts": ts, "card_token": f"c{card}",
                "customer_id": f"u{card % 2}", "amount_fen": int(rng.integers(1, 10**6)),
                "channel": str(rng.choice(["third_party_app", "auto_debit", "mobile_banking"])),
                "payer_is_cardholder": bool(rng.random() < 0.8)}))
        elif kind < 0.95:
            limit = [5_000_000, 0, None][int(rng.choice(3, p=[0.8, 0.1, 0.1]))]
            day = ts.date() - timedelta(days=int(rng.integers(1, 3)))
            out.append(("statements", {
                "statement_id": f"s{i}", "card_token": f"c{card}", "customer_id": f"u{card % 2}",
                "statement_date": day if rng.random() < 0.9 else None,
                "credit_limit_fen": limit, "previous_balance_fen": int(rng.integers(0, 3)) * 1000,
                "repayments_fen": int(rng.integers(0, 5000)), "purchases_fen": 9000,
                "interest_fen": 0, "fees_fen": 0, "reversals_fen": 0,
                "new_balance_fen": int(rng.integers(0, 10**6)), "minimum_due_fen": 900,
                "installment_outstanding_fen": 0, "days_past_due": int(rng.integers(0, 3))}))
        else:
            out.append(("installment_plans", {
                "plan_id": f"p{i}", "created_at": ts, "card_token": f"c{card}",
                "customer_id": f"u{card % 2}", "kind": str(rng.choice(["statement", "purchase"])),
                "offered": bool(rng.random() < 0.5), "principal_fen": int(rng.integers(1, 10**6)),
                "periods": int(rng.choice([3, 6, 12])), "fee_total_fen": int(rng.integers(0, 10**4))}))
    return out


class _Reference:
    """The write done plainly: every group of the plan, one general ``WindowLog.admit`` each."""

    def __init__(self, catalog: Catalog, engine: OnlineEngine) -> None:
        self.plan = Plan(catalog)
        self.prefix = {r.group.key: r.prefix for r in engine._groups}
        self.logs: dict[str, WindowLog] = {}
        self.n_rejected = 0

    def update(self, event: dict[str, Any], table: str) -> None:
        t = event_time(table, event)
        attrs = virtual(table, event, t)
        groups = [g for g in self.plan.groups if g.source == table]
        for g in groups:  # every required key first, as the engine does
            if entity_key(g.entity, attrs) is None and not ENTITIES[g.entity].optional:
                raise InvalidInput(f"missing key of {g.entity}")
        for g in groups:
            key = entity_key(g.entity, attrs)
            value = event_value(table, g.column, attrs)
            mask = lane_mask(table, g.lanes, attrs)
            if key is None or value is None or mask == 0:
                continue
            cols = g.distinct_columns
            skey = self.prefix[g.key] + key
            log = self.logs.get(skey)
            if log is None:
                specs = np.asarray([(cols.index(c), lane) for c, lane in g.distinct],
                                   np.int64).reshape(-1, 2)
                log = WindowLog(integer=g.integer, n_codes=len(cols), specs=specs)
            codes = np.asarray([code(attrs.get(c)) for c in cols], np.int64)
            if log.admit(t, value, mask, codes, g.retention_us, LATE_US):
                self.logs[skey] = log
            else:
                self.n_rejected += 1


def _feed(engine: OnlineEngine, ref: _Reference, events: list) -> int:
    """Both take every event; returns how many the engine refused with InvalidInput."""
    invalid = 0
    for table, e in events:
        try:
            ref.update(e, table)
        except (InvalidInput, ValueError):
            with pytest.raises(InvalidInput):
                engine.update(dict(e), table)
            invalid += 1
            continue
        if table == "authorizations" and isinstance(e["channel"], str):
            _feats, pending = engine.read(e)  # the decision path: read, then update with pending
            engine.update(e, pending=pending)
        else:
            engine.update(dict(e), table)
    return invalid


def _assert_same_state(store: Any, ref: _Reference) -> None:
    keys = sorted(k for k in store.keys("") if k.startswith("g:"))
    assert keys == sorted(ref.logs)
    for k in keys:
        got, want = store.get(k), ref.logs[k]
        assert got.integer == want.integer, k
        np.testing.assert_array_equal(got.buf[:, got.lo : got.hi], want.buf[:, want.lo : want.hi],
                                      err_msg=k)
        np.testing.assert_array_equal(got.specs, want.specs, err_msg=k)


def _probes(events: list) -> list[dict[str, Any]]:
    auths = [e for table, e in events if table == "authorizations"
             and e["merchant_id"] is not None and isinstance(e["channel"], str)]
    last = max(e["ts"] for e in auths)
    return [{**a, "auth_id": f"probe{i}", "ts": last + timedelta(seconds=30 * i)}
            for i, a in enumerate(auths[-40:])]


@pytest.mark.parametrize("seed", range(3))
def test_update_equals_the_plain_reference_write_in_memory(seed):
    cat = _catalog()
    engine = OnlineEngine(cat, store=MemoryStore(), allowed_lateness=LATENESS)
    ref = _Reference(cat, engine)
    events = _stream(seed)
    invalid = _feed(engine, ref, events)
    _assert_same_state(engine.store, ref)
    assert engine.n_rejected == ref.n_rejected > 0
    assert invalid > 0
    widths = {engine.store.get(k).buf.shape[1] for k in engine.store.keys("g:")}
    assert max(widths) > 16  # some log grew past its first storage
    # the reads of an engine fed the plain reference's logs are the engine's reads
    twin = OnlineEngine(cat, store=MemoryStore(), allowed_lateness=LATENESS)
    for k, log in ref.logs.items():
        twin.store.put(k, log)
    for p in _probes(events):
        np.testing.assert_array_equal(engine.vector(p), twin.vector(p))


def test_update_on_redis_equals_the_plain_reference_write(redis_url):
    import redis

    ns = f"cmtest:{uuid.uuid4().hex}:"
    cat = _catalog()
    store = RedisStore(redis_url, namespace=ns, flush_every=5, flush_seconds=3600, max_items=6)
    try:  # a tiny working set: logs are evicted, reloaded from bytes and changed again
        engine = OnlineEngine(cat, store=store, allowed_lateness=LATENESS)
        ref = _Reference(cat, engine)
        _feed(engine, ref, _stream(7, n=400))
        assert engine.n_rejected == ref.n_rejected
        store.flush()
        _assert_same_state(RedisStore(redis_url, namespace=ns), ref)  # every change written
        assert store.n_loads > 0
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=ns + "*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_mask_set_equals_each_masker_and_memoises_by_the_constrained_values():
    maskers = [LaneMasker("authorizations", lanes) for lanes in
               ([None, "online", "night"], [None, "declined", "returns"], [None])]
    ms = MaskSet(maskers, limit=4)
    rng = np.random.default_rng(3)
    for _ in range(300):
        attrs = {"channel": str(rng.choice(CHANNELS)), "night": bool(rng.random() < 0.3),
                 "approved": bool(rng.random() < 0.8), "card_token": f"c{rng.integers(0, 99)}",
                 "message_type": str(rng.choice(["purchase", "refund", "reversal"]))}
        if rng.random() < 0.1:
            attrs["channel"] = ["qr"]  # unhashable: not memoised, same answer
        assert ms(attrs) == tuple(m(attrs) for m in maskers)
        assert len(ms._memo) <= 4
    assert set(ms.columns) == {"channel", "night", "approved", "message_type"}


def test_a_missing_required_key_leaves_every_group_untouched():
    cat = _catalog()
    engine = OnlineEngine(cat, store=MemoryStore(), allowed_lateness=LATENESS)
    a = {"auth_id": "a1", "ts": T0, "card_token": "c1", "customer_id": "u1", "merchant_id": None,
         "terminal_id": "t1", "device_id": "d1", "amount_fen": 100, "mcc": "5812",
         "channel": "qr", "message_type": "purchase", "approved": True}
    with pytest.raises(InvalidInput, match="missing key merchant_id"):
        engine.update(a)
    assert list(engine.store.keys("")) == []
    st = {"statement_id": "s1", "card_token": "c1", "customer_id": None,
          "statement_date": date(2026, 3, 1), "credit_limit_fen": 100, "new_balance_fen": 50}
    with pytest.raises(InvalidInput, match="missing key customer_id"):
        engine.update(st, "statements")
    assert list(engine.store.keys("")) == []


class _Shout(str):
    """A str whose text (``str()``) is not its value: its code is that of its text."""

    def __str__(self) -> str:
        return self.upper()


@pytest.mark.parametrize("values", [
    ["m1", "m1", None, 42, True, "42", 4.5, "", "\u00e9"],
    [_Shout("qr"), "qr", None],  # equal to "qr" (and the same hash), another text
    [["qr"], "qr", None, {"a": 1}],  # unhashable values
])
def test_codes_equal_code_of_each_value(values):
    assert codes(list(values)) == [code(v) for v in values]
    assert codes(list(values)) == [code(v) for v in values]  # once they are all known too
    assert code(_Shout("qr")) != code("qr")


def test_one_call_admits_into_every_log_of_the_source_and_refuses_per_log():
    """``admit_all`` equals ``WindowLog.admit`` log by log: integer and float values, a log
    skipped (no lanes), a too-late event refused in one log while another takes it, the
    event's codes picked per log."""
    specs = np.asarray([[1, 0], [0, 1]], np.int64)
    make = [lambda: WindowLog(integer=True, n_codes=2, specs=specs),
            lambda: WindowLog(integer=False, n_codes=0),
            lambda: WindowLog(integer=True, n_codes=1, specs=np.asarray([[0, 0]], np.int64))]
    picked = [(2, 0), (), (1,)]  # the event code columns each log keeps, in its order
    rng = np.random.default_rng(5)
    one = [m() for m in make]
    each = [m() for m in make]
    retention = [400, 300, 200]
    # 3 logs, 2 values, 3 codes; per log: float, retention, first and end code index, first
    # and end spec, value; then the code indices
    recipe = np.asarray([3, 2, 3, 0, 400, 24, 26, 0, 2, 0, 1, 300, 26, 26, 2, 2, 1,
                         0, 200, 26, 27, 2, 3, 0, 2, 0, 1], np.int64)
    all_specs = np.concatenate([specs, np.zeros((0, 2), np.int64), [[0, 0]]]).astype(np.int64)
    refused = 0
    t = 1_000
    for i in range(600):
        t += int(rng.integers(0, 30))
        ts = t - int(rng.integers(0, 120)) if rng.random() < 0.2 else t  # some beyond lateness
        ecodes = rng.integers(0, 4, size=3).astype(np.int64)
        lanes = [int(rng.integers(0, 4)), int(rng.integers(1, 4)), 0 if i % 7 == 0 else 1]
        ival, fval = int(rng.integers(-9, 1_000)), float(rng.normal())
        ev = np.zeros(10, np.int64)  # 2 values, as floats, 3 codes, 3 outputs
        ev[0] = ival
        ev.view(np.float64)[3] = fval
        ev[4:7] = ecodes
        bounds = []
        for g, log in enumerate(one):
            if log.hi == log.buf.shape[1]:
                log._grow()
            bounds += [log.lo, log.hi, lanes[g]]
        if i % 11 == 0:
            bounds[4] = -1  # a skipped log (no key)
        admit_all(tuple(log.buf for log in one), tuple(bounds), ev, recipe, all_specs, ts, 60)
        for g, (a, b) in enumerate(zip(one, each, strict=True)):
            if lanes[g] == 0 or bounds[3 * g + 1] < 0:
                continue  # skipped: the log is compared unchanged below
            want = b.admit(ts, fval if g == 1 else ival, lanes[g],
                           ecodes[list(picked[g])].astype(np.int64), retention[g], 60)
            assert (ev[7 + g] >= 0) == want
            refused += not want
            if want:
                a.lo, a.hi = int(ev[7 + g]), a.hi + 1
    assert refused > 0
    for a, b in zip(one, each, strict=True):
        np.testing.assert_array_equal(a.buf[:, a.lo:a.hi], b.buf[:, b.lo:b.hi])


def test_keys_equal_entity_key_of_every_entity():
    from cardmind.features.online import _keys

    columns = [(e, ENTITIES[e].keys) for e in ENTITIES]
    assert any(len(cols) == 2 for _, cols in columns)
    rng = np.random.default_rng(2)
    pool = [None, "c1", "m\x1f2", 7, 7.5, True, "", "\u00e9"]
    for _ in range(300):
        attrs = {c: pool[rng.integers(0, len(pool))] for _, cols in columns for c in cols}
        assert _keys(columns, attrs) == {e: entity_key(e, attrs) for e, _ in columns}
