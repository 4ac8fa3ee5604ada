"""Online feature latency: read (features_for) + update of the whole default catalog, one card.

Builds a realistic per-card history (180 days, ~4 purchases a day, monthly statements and
repayments, a busy merchant and terminal), then times read-then-update for new authorizations.
Wall-clock and CPU (thread) time are both reported: on a shared machine the wall-clock tail holds
time slices given to other processes. ``--features N`` serves N features spread over the catalog
(the way bench/authorize.py picks a model's feature service) instead of the whole catalog;
``--store redis://127.0.0.1:6379/15`` keeps the state in a RedisStore (working set in process,
write-behind; a namespace of its own, removed at the end).
Prints a table and writes bench/results/features_online[_...].json.

    python bench/features_online.py [--n 2000] [--per-day 4] [--entity card] [--features 60]
                                    [--store redis://127.0.0.1:6379/15]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from cardmind import schema
from cardmind.features import FeatureService, MemoryStore, OnlineEngine, default_catalog, open_store
from cardmind.units import TZ

MCCS = ("5812", "5411", "4511", "5732", "5999", "5541", "7832", "8062")


def _auth(rng: np.random.Generator, i: int, ts: datetime, merchant: int) -> dict:
    channel = str(rng.choice(schema.CHANNELS))
    return {
        "auth_id": f"a{i}", "ts": ts, "card_token": "card-0", "customer_id": "cust-0",
        "merchant_id": f"m{merchant}", "terminal_id": f"m{merchant}-t{i % 3}",
        "device_id": "dev-0" if channel in ("online_cnp", "wallet", "qr") else None,
        "amount_fen": int(rng.lognormal(9.5, 1.2)), "mcc": MCCS[merchant % len(MCCS)],
        "channel": channel, "city": "shanghai", "cross_border": bool(rng.random() < 0.03),
        "message_type": "purchase" if rng.random() > 0.05 else "refund",
        "approved": bool(rng.random() > 0.05),
    }


def build(per_day: float, seed: int = 0, entity: str | None = None, n_features: int = 0,
          store: str | None = None) -> tuple[OnlineEngine, datetime, np.random.Generator]:
    rng = np.random.default_rng(seed)
    catalog = default_catalog()
    if entity is not None:
        catalog = catalog.filter(lambda d: d.entity == entity)
    if n_features:
        names = catalog.names()
        chosen = names[:: max(1, len(names) // n_features)][:n_features]
        catalog = FeatureService(name="bench", features=chosen).catalog()
    state = (open_store(store, namespace=f"cardmind:bench:{os.getpid()}:") if store
             else MemoryStore())
    engine = OnlineEngine(catalog, store=state)
    start = datetime(2026, 1, 1, tzinfo=TZ)
    n = int(180 * per_day)
    times = sorted(start + timedelta(seconds=float(s)) for s in rng.uniform(0, 180 * 86400, n))
    for k in range(6):  # monthly statement and repayment
        sd = date(2026, 1, 25) + timedelta(days=30 * k)
        engine.update({"statement_id": f"s{k}", "card_token": "card-0", "customer_id": "cust-0",
                       "statement_date": sd, "credit_limit_fen": 5_000_000,
                       "previous_balance_fen": 800_000, "repayments_fen": 800_000,
                       "purchases_fen": 900_000, "interest_fen": 0, "fees_fen": 0,
                       "reversals_fen": 0, "new_balance_fen": 900_000, "minimum_due_fen": 90_000,
                       "installment_outstanding_fen": 0, "days_past_due": 0}, "statements")
    reps = [start + timedelta(days=30 * k + 40) for k in range(6)]
    events = sorted([(t, "a") for t in times] + [(t, "r") for t in reps])
    for i, (t, kind) in enumerate(events):
        if kind == "a":
            engine.update(_auth(rng, i, t, int(rng.integers(0, 30))))
        else:
            engine.update({"repayment_id": f"r{i}", "ts": t, "card_token": "card-0",
                           "customer_id": "cust-0", "amount_fen": 900_000,
                           "channel": "mobile_banking", "payer_is_cardholder": True},
                          "repayments")
    return engine, times[-1], rng


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--per-day", type=float, default=4.0)
    ap.add_argument("--entity", default=None, help="only this entity's features (e.g. card)")
    ap.add_argument("--features", type=int, default=0,
                    help="serve this many features spread over the catalog (0: all)")
    ap.add_argument("--store", default=None, help="state store URL (default: in memory)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    engine, last, rng = build(args.per_day, entity=args.entity, n_features=args.features,
                              store=args.store)
    build_s = time.perf_counter() - t0
    n_out = len(engine._out_names)
    gap = 86_400 / args.per_day  # new authorizations arrive at the history's own pace
    auths = [_auth(rng, 10**6 + i, last + timedelta(seconds=gap * (i + 1)),
                   int(rng.integers(0, 30))) for i in range(args.n)]
    for a in auths[:50]:  # warm-up (numba kernels, caches)
        engine.features_for(a)
    read, upd, both, cpu, cpu_read, cpu_upd, vec = [], [], [], [], [], [], []
    for a in auths:
        c1 = time.thread_time()
        t1 = time.perf_counter()
        engine.features_for(a)
        t2 = time.perf_counter()
        c2 = time.thread_time()
        engine.update(a)
        t3 = time.perf_counter()
        c3 = time.thread_time()
        cpu.append(c3 - c1)
        cpu_read.append(c2 - c1)
        cpu_upd.append(c3 - c2)
        read.append(t2 - t1)
        upd.append(t3 - t2)
        both.append(t3 - t1)
    probe = _auth(rng, 2 * 10**6, last + timedelta(seconds=gap * (args.n + 1)), 3)
    for _ in range(args.n):  # the read without building the name -> value dict
        c1 = time.thread_time()
        engine.vector(probe)
        vec.append(time.thread_time() - c1)

    def ms(xs: list[float], q: float) -> float:
        return round(float(np.percentile(xs, q)) * 1e3, 4)

    rows = {name: {"p50_ms": ms(xs, 50), "p99_ms": ms(xs, 99)}
            for name, xs in (("read (features_for)", read), ("update", upd),
                             ("read + update", both),
                             ("read, CPU", cpu_read), ("update, CPU", cpu_upd),
                             ("read + update, CPU", cpu),
                             ("vector() read, CPU", vec))}
    history = int(180 * args.per_day)
    load = os.getloadavg()
    what = f" ({args.entity} only)" if args.entity else ""
    what += f", a {args.features}-feature service" if args.features else ""
    what += f", state in {type(engine.store).__name__}" if args.store else ""
    print(f"default catalog{what}: {n_out} features; card history {history} authorizations over "
          f"180 days (+ statements, repayments); built in {build_s:.1f} s; load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'operation':<26}{'p50 ms':>10}{'p99 ms':>10}")
    for name, r in rows.items():
        print(f"{name:<26}{r['p50_ms']:>10.3f}{r['p99_ms']:>10.3f}")
    suffix = (f"_{args.entity}" if args.entity else "") + (f"_{args.features}" if args.features
                                                           else "")
    suffix += "_redis" if args.store else ""
    if args.store:
        engine.store.clear()
    out = Path(__file__).parent / "results" / f"features_online{suffix}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"features": n_out, "history_auths": history, "n": args.n,
                               "load_average": load, "latency": rows}, indent=2))


if __name__ == "__main__":
    main()
