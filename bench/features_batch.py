"""Batch features: the engine vs pandas by hand (and featuretools), point-in-time correct.

1. 200 windowed card features for N authorizations (synthetic table in the cardmind schema),
   written to Parquet in 1M-row slices (10M x 200 doubles would not fit in memory at once);
2. side by side on M authorizations: the same 20 features (count/sum/mean/max of the amount over
   1h, 24h, 7d, 30d, 90d before each authorization, per card) with the batch engine, with pandas
   groupby + rolling(closed="left"), and with featuretools DFS (cutoff time per row, training
   window) on a sample of rows when it is installed. Results are checked equal on a sample.

Prints a table and writes bench/results/features_batch.json.

    python bench/features_batch.py --n 10000000 --m 1000000
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from cardmind import schema
from cardmind.features import BatchEngine, Catalog, WindowFeature

WINDOWS20 = ("1h", "24h", "7d", "30d", "90d")
AGGS20 = ("count", "sum", "mean", "max")


def synth(n: int, seed: int = 0) -> pa.Table:
    """n authorizations over 180 days, ~1 card per 100 authorizations (vectorised)."""
    rng = np.random.default_rng(seed)
    n_cards = max(1, n // 100)
    t0 = 1_767_225_600_000_000
    ts = np.sort(t0 + rng.integers(0, 180 * 86_400, n) * 1_000_000)
    channel = rng.choice(np.array(schema.CHANNELS), n)
    return pa.table({
        "auth_id": pa.array(np.arange(n).astype(str)),
        "ts": pa.array(ts, pa.timestamp("us", tz="Asia/Shanghai")),
        "card_token": pa.array(rng.integers(0, n_cards, n).astype(str)),
        "customer_id": pa.array(rng.integers(0, n_cards, n).astype(str)),
        "merchant_id": pa.array(rng.integers(0, max(1, n // 500), n).astype(str)),
        "amount_fen": rng.lognormal(9.5, 1.2, n).astype(np.int64) + 1,
        "mcc": pa.array(rng.choice(np.array(["5812", "5411", "4511", "5732", "6011"]), n)),
        "channel": pa.array(channel),
        "cross_border": rng.random(n) < 0.03,
        "message_type": pa.array(np.where(rng.random(n) < 0.95, "purchase", "refund")),
        "approved": rng.random(n) < 0.95,
    })


def catalog200() -> Catalog:
    defs = []
    for w in ("10m", "1h", "24h", "7d", "30d", "90d", "180d"):
        for f in (None, "online", "night", "declined", "approved", "cross_border", "band_xlarge"):
            defs.append(WindowFeature(entity="card", aggregation="count", window=w, filter=f))
            for a in ("sum", "mean", "max"):
                defs.append(WindowFeature(entity="card", aggregation=a, column="amount_fen",
                                          window=w, filter=f))
    for w in ("1h", "24h", "7d", "30d"):
        defs.append(WindowFeature(entity="card", aggregation="distinct_count",
                                  column="merchant_id", window=w))
    return Catalog(defs)


def catalog20() -> Catalog:
    return Catalog([WindowFeature(entity="card", aggregation=a, window=w,
                                  column=None if a == "count" else "amount_fen")
                    for w in WINDOWS20 for a in AGGS20])


def engine_run(table: pa.Table, cat: Catalog, out: Path | None = None) -> tuple[float, pa.Table]:
    con = duckdb.connect()
    con.register("authorizations", table)
    eng = BatchEngine(con)
    rows = table.select(["card_token", "ts"])
    t = time.perf_counter()
    if out is not None:
        eng.to_parquet(cat, rows, out, strategy="compiled")
        res = None
    else:
        res = eng.compute(cat, rows, strategy="compiled")
    return time.perf_counter() - t, res


def pandas_run(table: pa.Table) -> tuple[float, pd.DataFrame]:
    """What a data scientist writes: purchases only, per card, time-based rolling, left-closed."""
    t = time.perf_counter()
    df = table.select(["card_token", "ts", "amount_fen", "message_type"]).to_pandas()
    df["row"] = np.arange(len(df))
    df["amt"] = df["amount_fen"].astype(float).where(df["message_type"] == "purchase")
    df = df.sort_values(["card_token", "ts"], kind="stable")
    out = {}
    g = df.set_index("ts").groupby("card_token", sort=False)["amt"]
    for w in WINDOWS20:
        r = g.rolling(pd.Timedelta(w), closed="left")
        out[f"card_count_{w}"] = r.count().to_numpy()
        out[f"card_amount_sum_{w}"] = r.sum().to_numpy()
        out[f"card_amount_mean_{w}"] = r.mean().to_numpy()
        out[f"card_amount_max_{w}"] = r.max().to_numpy()
    res = pd.DataFrame(out, index=df["row"].to_numpy()).sort_index()
    return time.perf_counter() - t, res


def featuretools_run(table: pa.Table, sample: np.ndarray) -> tuple[float, pd.DataFrame] | str:
    try:
        import featuretools as ft
    except ImportError:
        return "featuretools is not installed"
    df = table.select(["auth_id", "card_token", "ts", "amount_fen", "message_type"]).to_pandas()
    df = df[df["message_type"] == "purchase"].drop(columns="message_type")
    df["ts"] = df["ts"].dt.tz_localize(None)
    cut = table.take(pa.array(sample)).select(["card_token", "ts"]).to_pandas()
    cut["ts"] = cut["ts"].dt.tz_localize(None) - pd.Timedelta(microseconds=1)  # strictly before
    cut = cut.rename(columns={"ts": "time"})
    t = time.perf_counter()
    frames = []
    try:
        for w in WINDOWS20:
            es = ft.EntitySet("bank")
            frame = df.copy()
            frame.ww.init(name="auths", index="auth_id", time_index="ts")
            es.add_dataframe(frame, dataframe_name="auths")
            es.normalize_dataframe("auths", "cards", "card_token")
            fm, _ = ft.dfs(entityset=es, target_dataframe_name="cards", cutoff_time=cut,
                           agg_primitives=["count", "sum", "mean", "max"],
                           trans_primitives=[], training_window=w, max_depth=1,
                           cutoff_time_in_index=False, verbose=False)
            frames.append(fm.add_suffix(f"_{w}"))
    except Exception as exc:
        return f"featuretools failed: {type(exc).__name__}: {exc}"[:300]
    return time.perf_counter() - t, pd.concat(frames, axis=1)


def main() -> None:
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000_000, help="rows for the 200-feature run")
    ap.add_argument("--m", type=int, default=1_000_000, help="rows for the side-by-side run")
    ap.add_argument("--ft-sample", type=int, default=2_000, help="featuretools cutoff rows")
    args = ap.parse_args()
    results: dict = {}

    small = synth(args.m, seed=1)
    c20 = catalog20()
    engine_run(synth(5_000, seed=9), c20)  # warm-up: load the compiled kernels
    engine_run(synth(5_000, seed=9), catalog200())
    t_engine, res = engine_run(small, c20)
    t_pandas, ref = pandas_run(small)
    rng = np.random.default_rng(0)
    check = rng.choice(args.m, size=min(2000, args.m), replace=False)
    worst = 0.0
    for name in c20.names():
        a = np.asarray(res.column(name).to_numpy(zero_copy_only=False), float)[check]
        b = ref[name].to_numpy()[check]
        if name.startswith("card_amount_sum"):
            b = np.where(np.isnan(b), 0.0, b)  # pandas sums of empty windows are 0 here too
        both = np.isnan(a) & np.isnan(b)
        rel = np.abs(a - b) / np.maximum(np.abs(b), 1e-300)
        worst = max(worst, float(np.nanmax(np.where(both, 0.0, rel))))
    ft = featuretools_run(small, check[: args.ft_sample])
    results["side_by_side"] = {
        "rows": args.m, "features": len(c20), "engine_s": round(t_engine, 2),
        "pandas_s": round(t_pandas, 2), "pandas_over_engine": round(t_pandas / t_engine, 2),
        "max_rel_diff_engine_vs_pandas": worst,
    }
    if isinstance(ft, str):
        results["side_by_side"]["featuretools"] = ft
    else:
        per_row = ft[0] / min(args.ft_sample, len(check))
        results["side_by_side"].update({
            "featuretools_rows": min(args.ft_sample, len(check)),
            "featuretools_s": round(ft[0], 2),
            "featuretools_s_per_1M_rows_extrapolated": round(per_row * 1e6, 1),
            "featuretools_over_engine_extrapolated": round(per_row * args.m / t_engine, 1),
        })

    if args.n:
        big = synth(args.n, seed=2)
        out = Path("/tmp") / "cardmind_features_batch_bench.parquet"
        t_big, _ = engine_run(big, catalog200(), out)  # 1M-row slices appended to Parquet
        out.unlink(missing_ok=True)
        results["batch_200"] = {"rows": args.n, "features": 200, "engine_s": round(t_big, 1),
                                "rows_per_s": round(args.n / t_big)}

    s = results["side_by_side"]
    print(f"side by side, {s['rows']:,} authorizations, {s['features']} features (per card, "
          f"5 windows x count/sum/mean/max):")
    print(f"  {'engine (DuckDB)':<28}{s['engine_s']:>8.2f} s")
    print(f"  {'pandas groupby+rolling':<28}{s['pandas_s']:>8.2f} s   "
          f"ratio {s['pandas_over_engine']:.1f}x")
    if "featuretools_s" in s:
        print(f"  {'featuretools (sample)':<28}{s['featuretools_s']:>8.2f} s for "
              f"{s['featuretools_rows']:,} rows -> ~{s['featuretools_s_per_1M_rows_extrapolated']:,.0f}"
              f" s per 1M rows, ratio ~{s['featuretools_over_engine_extrapolated']:.0f}x")
    else:
        print(f"  featuretools: {s['featuretools']}")
    print(f"  max relative difference engine vs pandas on 2,000 rows: "
          f"{s['max_rel_diff_engine_vs_pandas']:.2e}")
    if "batch_200" in results:
        b = results["batch_200"]
        print(f"200 windowed features for {b['rows']:,} authorizations: {b['engine_s']:.1f} s "
              f"({b['rows_per_s']:,} rows/s), written to Parquet in 1M-row slices")
    path = Path(__file__).parent / "results" / "features_batch.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
