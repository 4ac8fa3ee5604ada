"""Customer value bench: profit formula, value scoring and tiering rows/s, and the offer API latency.

Population: a simulated dataset (``--population DIR``, e.g. the bench preset: 110,000 customers x
12 months; its monthly metrics are built by DuckDB and timed too) or, without it, a synthetic
monthly-metrics table of ``--customers`` x 6 months with realistic ranges (a million customers
cannot be simulated on the shared 2-core machine in reasonable time).

Offer API (``--data DIR``, a dataset with an offer log): index build, service start-up, and p50/p99
of ``POST /v1/installment-offers`` (in process, TestClient) and of the service alone, over
purchases and statements drawn at random. Prints tables and writes ``bench/results/value.json``.

    python bench/value.py --customers 1000000
    python bench/value.py --population /tmp/bench-pop --data /tmp/value-demo
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


def bench_offer_api(data: str, requests: int, workdir: Path) -> dict[str, float]:
    """Index build, start-up and offer latency: the service alone and through the HTTP app (TestClient)."""
    import os

    import duckdb
    from fastapi.testclient import TestClient

    from cardmind.api import create_app
    from cardmind.api.security import KeyStore, parse_env_keys
    from cardmind.decisions.installment_offer import InstallmentOfferService, build_offer_index
    from cardmind.models.installment import InstallmentModel, offer_table

    t = offer_table(data)
    model = InstallmentModel().fit(t, t["accepted"].astype(int))
    index = workdir / "installment-index.duckdb"
    t0 = time.perf_counter()
    build_offer_index(data, index)
    build_s = time.perf_counter() - t0
    with duckdb.connect(str(index), read_only=True) as con:
        ids = con.execute(f"SELECT kind, source_id FROM sources USING SAMPLE reservoir({int(requests)} ROWS) "
                          "REPEATABLE (0)").fetchall()
    t0 = time.perf_counter()
    service = InstallmentOfferService(model, index)
    startup_s = time.perf_counter() - t0
    svc = []
    for kind, sid in ids:
        t0 = time.perf_counter()
        service.offer(kind, sid)
        svc.append(time.perf_counter() - t0)
    os.environ.setdefault("CARDMIND_PAN_KEY", "bench-key")
    app = create_app(engine=None, build_engine=False, keys=KeyStore(env_keys=parse_env_keys("bench-key-0123456789abcdef:scoring")))
    service.close()
    app.state.installment_offers = service = InstallmentOfferService(model, index)  # cold card-profile cache again
    http = []
    offered = 0
    with TestClient(app) as c:
        for kind, sid in ids:
            t0 = time.perf_counter()
            r = c.post("/v1/installment-offers", json={"kind": kind, "source_id": sid},
                       headers={"X-API-Key": "bench-key-0123456789abcdef"})
            http.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
            offered += r.json()["offered"]
    return {"requests": len(ids), "offered_share": offered / max(len(ids), 1), "index_rows": service.metadata["sources"],
            "index_build_s": build_s, "startup_s": startup_s,
            "service_p50_ms": float(np.percentile(svc, 50) * 1e3), "service_p99_ms": float(np.percentile(svc, 99) * 1e3),
            "http_p50_ms": float(np.percentile(http, 50) * 1e3), "http_p99_ms": float(np.percentile(http, 99) * 1e3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=300_000, help="Synthetic population size (without --population).")
    ap.add_argument("--population", help="A simulated or imported dataset to tier and score instead of the synthetic one.")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data", help="A dataset with an offer log: also measure the offer API latency")
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    out = Path(__file__).parent / "results" / "value.json"
    out.parent.mkdir(exist_ok=True)
    offer_api = bench_offer_api(args.data, args.requests, out.parent) if args.data else None
    metrics_s = None
    if args.population:
        from cardmind.models.value.metrics import monthly_metrics

        t0 = time.perf_counter()
        m = monthly_metrics(args.population)
        metrics_s = time.perf_counter() - t0
        source = f"simulated population {args.population}"
    else:
        m = synthetic(args.customers)
        source = "synthetic population"
    cfg, rules = load_value_config(), load_tiers()
    first, second = split_months(m.months)
    results: dict[str, list[float]] = {"profit formula": [], "features": [], "value scoring": [],
                                       "tier context": [], "tier assignment": []}
    x = behaviour_features(m, first)
    y = realised_profit(m.table, m.cards, second, cfg).set_index("customer_id")["profit_fen"].reindex(x.index).fillna(0)
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
    n = len(x)
    table = {k: {"median_s": float(np.median(v)), "customers_per_s": n / float(np.median(v))} for k, v in results.items()}
    print(f"{source}: {n:,} customers x {len(m.months)} months ({len(m.table):,} customer-months); "
          f"medians of {args.repeats}")
    if metrics_s is not None:
        print(f"monthly metrics from events (DuckDB, once): {metrics_s:.1f} s")
    print(f"{'step':<18}{'median s':>10}{'customers/s':>14}{'rows/s':>14}")
    for k, r in table.items():
        print(f"{k:<18}{r['median_s']:>10.3f}{r['customers_per_s']:>14,.0f}{len(m.table) / r['median_s']:>14,.0f}")
    if offer_api:
        o = offer_api
        print(f"offer API on {args.data}: index of {o['index_rows']:,} purchases and statements built in "
              f"{o['index_build_s']:.1f} s (once); service start-up {o['startup_s'] * 1e3:.0f} ms")
        print(f"{'':<26}{'p50 ms':>8}{'p99 ms':>8}   ({o['requests']:,} requests, {o['offered_share']:.0%} offered)")
        print(f"{'POST (TestClient)':<26}{o['http_p50_ms']:>8.2f}{o['http_p99_ms']:>8.2f}")
        print(f"{'service alone':<26}{o['service_p50_ms']:>8.2f}{o['service_p99_ms']:>8.2f}")
    out.write_text(json.dumps({"source": source, "customers": n, "months": len(m.months), "customer_months": len(m.table),
                               "synthetic": not args.population, "monthly_metrics_s": metrics_s, "steps": table,
                               "offer_api": offer_api}, indent=2))


if __name__ == "__main__":
    main()
