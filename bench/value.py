"""Customer value bench: profit formula, value scoring and tiering rows/s on a synthetic population.

The bench simulation is too slow on the shared 2-core machine for a million customers, so this
bench generates a synthetic monthly-metrics table (customers x 6 months) with realistic ranges and
says so. Prints a table and writes ``bench/results/value.json``.

    python bench/value.py --customers 1000000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cardmind.models.value.config import load_value_config
from cardmind.models.value.metrics import METRIC_COLUMNS, MonthlyMetrics
from cardmind.models.value.model import ValueModel, behaviour_features, split_months
from cardmind.models.value.profit import realised_profit
from cardmind.models.value.tiers import load_tiers, tier_context


def synthetic(n: int, seed: int = 0) -> MonthlyMetrics:
    rng = np.random.default_rng(seed)
    months = list(pd.date_range("2025-11-01", periods=6, freq="MS"))
    ids = np.array([f"c{i:08d}" for i in range(n)])
    rows = n * len(months)
    base = rng.lognormal(2.0, 1.0, n)
    purchases = rng.poisson(np.repeat(base, len(months)))
    ticket = np.repeat(rng.lognormal(5.5, 0.8, n), len(months))
    t = pd.DataFrame({"customer_id": np.repeat(ids, len(months)), "month": np.tile(months, n)})
    spend = (purchases * ticket * 100).astype("int64")
    t["purchases"] = purchases
    t["spend_fen"] = spend
    t["active_days"] = np.minimum(purchases, 28)
    t["category_breadth"] = np.minimum(purchases, rng.integers(1, 12, rows))
    t["spend_standard_fen"] = (spend * 0.7).astype("int64")
    t["spend_discounted_fen"] = (spend * 0.25).astype("int64")
    t["spend_public_fen"] = spend - t["spend_standard_fen"] - t["spend_discounted_fen"]
    revolve = rng.random(rows) < 0.3
    t["revolving_fen"] = np.where(revolve, spend // 2, 0)
    t["balance_fen"] = spend + t["revolving_fen"]
    t["interest_fen"] = (t["revolving_fen"] * 0.015).astype("int64")
    t["fees_fen"] = 0
    t["statements"] = 1
    t["max_dpd"] = np.where(rng.random(rows) < 0.02, rng.integers(1, 120, rows), 0)
    t["on_time"] = (t["max_dpd"] == 0).astype(int)
    t["installment_plans"] = (rng.random(rows) < 0.05).astype(int)
    t["installment_fee_fen"] = t["installment_plans"] * (spend * 0.03).astype("int64")
    for c in METRIC_COLUMNS:
        t[c] = t[c].astype("int64")
    cards = pd.DataFrame({"customer_id": ids, "product_tier": rng.choice(["classic", "gold", "platinum"], n),
                          "annual_fee_fen": 0, "status": "active"})
    return MonthlyMetrics(table=t, cards=cards, months=months)


def bench_offer_api(data: str, requests: int) -> dict[str, float]:
    """Offer latency in process: the service alone and through the HTTP app (TestClient)."""
    import os

    from fastapi.testclient import TestClient

    from cardmind.api import create_app
    from cardmind.api.security import KeyStore, parse_env_keys
    from cardmind.decisions.installment_offer import InstallmentOfferService
    from cardmind.models.installment import InstallmentModel, offer_table

    t = offer_table(data)
    service = InstallmentOfferService(InstallmentModel().fit(t, t["accepted"].astype(int)), data)
    ids = [k for k in list(service._sources)[:: max(1, len(service._sources) // requests)]][:requests]
    svc = []
    for kind, sid in ids:
        t0 = time.perf_counter()
        service.offer(kind, sid)
        svc.append(time.perf_counter() - t0)
    os.environ.setdefault("CARDMIND_PAN_KEY", "bench-key")
    app = create_app(engine=None, build_engine=False, keys=KeyStore(env_keys=parse_env_keys("bench-key-0123456789abcdef:scoring")))
    app.state.installment_offers = service
    http = []
    with TestClient(app) as c:
        for kind, sid in ids:
            t0 = time.perf_counter()
            r = c.post("/v1/installment-offers", json={"kind": kind, "source_id": sid},
                       headers={"X-API-Key": "bench-key-0123456789abcdef"})
            http.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
    return {"requests": len(ids), "service_p50_ms": float(np.percentile(svc, 50) * 1e3),
            "service_p99_ms": float(np.percentile(svc, 99) * 1e3), "http_p50_ms": float(np.percentile(http, 50) * 1e3),
            "http_p99_ms": float(np.percentile(http, 99) * 1e3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=300_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data", help="A dataset with an offer log: also measure the offer API latency")
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    offer_api = bench_offer_api(args.data, args.requests) if args.data else None
    m = synthetic(args.customers)
    cfg, rules = load_value_config(), load_tiers()
    first, second = split_months(m.months)
    results: dict[str, list[float]] = {"profit formula": [], "features": [], "value scoring": [],
                                       "tier context": [], "tier assignment": []}
    x = behaviour_features(m, first)
    y = realised_profit(m.table, m.cards, second, cfg).set_index("customer_id")["profit_fen"].reindex(x.index)
    model = ValueModel(n_estimators=200).fit(x.iloc[:50_000], y.iloc[:50_000])
    value = y
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        realised_profit(m.table, m.cards, m.months, cfg)
        t1 = time.perf_counter()
        behaviour_features(m, first)
        t2 = time.perf_counter()
        model.predict(x)
        t3 = time.perf_counter()
        ctx = tier_context(m, m.months, value)
        t4 = time.perf_counter()
        rules.assign(ctx)
        t5 = time.perf_counter()
        for k, dt in zip(results, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            results[k].append(dt)
    n = args.customers
    table = {k: {"median_s": float(np.median(v)), "customers_per_s": n / float(np.median(v))} for k, v in results.items()}
    print(f"synthetic population: {n:,} customers x {len(m.months)} months (bench simulation too slow on 2 cores)")
    print(f"{'step':<18}{'median s':>10}{'customers/s':>14}")
    for k, r in table.items():
        print(f"{k:<18}{r['median_s']:>10.3f}{r['customers_per_s']:>14,.0f}")
    out = Path(__file__).parent / "results" / "value.json"
    out.parent.mkdir(exist_ok=True)
    if offer_api:
        print(f"offer API ({offer_api['requests']:,} in-process requests, TestClient): p50 {offer_api['http_p50_ms']:.2f} ms, "
              f"p99 {offer_api['http_p99_ms']:.2f} ms; service alone p50 {offer_api['service_p50_ms']:.3f} ms, "
              f"p99 {offer_api['service_p99_ms']:.3f} ms")
    out.write_text(json.dumps({"customers": n, "months": len(m.months), "synthetic": True, "steps": table,
                               "offer_api": offer_api}, indent=2))


if __name__ == "__main__":
    main()
