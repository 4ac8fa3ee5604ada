"""Batch features: the engine vs pandas by hand (and featuretools), point-in-time correct.

1. 200 windowed card features for N authorizations (synthetic table in the cardmind schema),
   written to Parquet in 1M-row slices (10M x 200 doubles would not fit in memory at once);
2. side by side on M authorizations: the same 20 features (count/sum/mean/max of the amount over
   1h, 24h, 7d, 30d, 90d before each authorization, per card) with the batch engine, with pandas
   groupby + rolling(closed="left") — alternated, ``--repeat`` times, medians quoted — and with
   featuretools DFS (cutoff time per row, training window) on a sample of rows, run by
   bench/featuretools_dfs.py in a subprocess (``--ft-python``: a virtualenv where featuretools,
   woodwork and pandas work together). Every value is checked equal to the engine's (pandas on
   all rows, featuretools on its sample); the bench exits non-zero when one differs.

Prints a table and writes bench/results/features_batch.json.

    python -m venv /tmp/ftenv && /tmp/ftenv/bin/pip install featuretools==1.31.0 \
        woodwork==0.31.0 "pandas>=2.2,<3" pyarrow         # once: featuretools fails on pandas 3
    python bench/features_batch.py --n 10000000 --m 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
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


def featuretools_run(table: pa.Table, sample: np.ndarray, python: str) -> dict:
    """featuretools DFS on the cutoff rows ``sample``, in a subprocess (bench/featuretools_dfs.py)
    run by ``python`` (a virtualenv where featuretools, woodwork and pandas work together)."""
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="cardmind-ft-") as tmp:
        d = Path(tmp)
        pq.write_table(table.select(["auth_id", "card_token", "ts", "amount_fen", "message_type"]),
                       d / "auths.parquet")
        cut = table.take(pa.array(sample)).select(["card_token", "ts"])
        pq.write_table(cut.append_column("row", pa.array(sample)), d / "cutoff.parquet")
        t = time.perf_counter()
        proc = subprocess.run([python, str(Path(__file__).parent / "featuretools_dfs.py"),
                               "--dir", str(d)], capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return {"error": f"{python}: {last}"[:300]}
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        info["wall_s"] = wall
        info["values"] = pq.read_table(d / "features.parquet")
        return info


def compare(res: pa.Table, other: dict[str, np.ndarray], rows: np.ndarray, names: list[str]
            ) -> tuple[int, float]:
    """(values not equal, max relative difference) of ``other`` against the engine on ``rows``;
    NaN equals NaN."""
    unequal, worst = 0, 0.0
    for name in names:
        a = np.asarray(res.column(name).to_numpy(zero_copy_only=False), float)[rows]
        b = np.asarray(other[name], float)
        both = np.isnan(a) & np.isnan(b)
        unequal += int((~both & (a != b)).sum())
        rel = np.abs(a - b) / np.maximum(np.abs(b), 1e-300)
        worst = max(worst, float(np.nanmax(np.where(both, 0.0, rel), initial=0.0)))
        if (np.isnan(a) != np.isnan(b)).any():
            worst = float("inf")
    return unequal, worst


def default_ft_python() -> str:
    env = os.environ.get("CARDMIND_FT_PYTHON")
    if env:
        return env
    venv = Path("/tmp/ftenv/bin/python")
    return str(venv) if venv.exists() else sys.executable


def main() -> None:
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000_000, help="rows for the 200-feature run")
    ap.add_argument("--m", type=int, default=1_000_000, help="rows for the side-by-side run")
    ap.add_argument("--repeat", type=int, default=3, help="side-by-side runs (medians quoted)")
    ap.add_argument("--ft-sample", type=int, default=300, help="featuretools cutoff rows")
    ap.add_argument("--ft-python", default=default_ft_python(),
                    help="interpreter with featuretools (default $CARDMIND_FT_PYTHON, "
                         "/tmp/ftenv/bin/python when present, else this one)")
    args = ap.parse_args()
    results: dict = {"load_before": os.getloadavg()}

    small = synth(args.m, seed=1)
    c20 = catalog20()
    names = c20.names()
    engine_run(synth(5_000, seed=9), c20)  # warm-up: load the compiled kernels
    engine_run(synth(5_000, seed=9), catalog200())
    t_eng, t_pd = [], []
    for _ in range(args.repeat):  # alternate, so that both see the same load
        t, res = engine_run(small, c20)
        t_eng.append(t)
        t, ref = pandas_run(small)
        t_pd.append(t)
    ref_cols = {n: ref[n].to_numpy() for n in names}
    for n in names:
        if n.startswith(("card_amount_sum", "card_count")):  # empty windows: pandas NaN, ours 0
            ref_cols[n] = np.where(np.isnan(ref_cols[n]), 0.0, ref_cols[n])
    unequal, worst = compare(res, ref_cols, np.arange(args.m), names)
    eng_med, pd_med = float(np.median(t_eng)), float(np.median(t_pd))
    results["side_by_side"] = {
        "rows": args.m, "features": len(c20), "runs": args.repeat,
        "engine_s": [round(x, 3) for x in t_eng], "pandas_s": [round(x, 3) for x in t_pd],
        "engine_median_s": round(eng_med, 3), "pandas_median_s": round(pd_med, 3),
        "pandas_over_engine": round(pd_med / eng_med, 1),
        "values_compared": args.m * len(names), "values_unequal": unequal,
        "max_rel_diff_engine_vs_pandas": worst,
    }
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(args.m, size=min(args.ft_sample, args.m), replace=False))
    ft = featuretools_run(small, sample, args.ft_python)
    s = results["side_by_side"]
    if "error" in ft:
        s["featuretools"] = ft["error"]
    else:
        vals = ft.pop("values")
        pos = {int(r): i for i, r in enumerate(vals.column("row").to_pylist())}
        order = np.asarray([pos[int(r)] for r in sample])
        ft_cols = {n: np.asarray(vals.column(n).to_numpy(zero_copy_only=False), float)[order]
                   for n in names}
        ft_unequal, ft_worst = compare(res, ft_cols, sample, names)
        per_row = ft["seconds"] / len(sample)
        s["featuretools"] = {
            "version": ft["featuretools"], "woodwork": ft["woodwork"], "pandas": ft["pandas"],
            "rows": len(sample), "dfs_s": round(ft["seconds"], 2),
            "s_per_1M_rows_extrapolated": round(per_row * 1e6),
            "over_engine_extrapolated": round(per_row * args.m / eng_med),
            "values_unequal": ft_unequal, "max_rel_diff": ft_worst,
        }

    if args.n:
        big = synth(args.n, seed=2)
        out = Path("/tmp") / f"cardmind_features_batch_bench_{os.getpid()}.parquet"
        t_big, _ = engine_run(big, catalog200(), out)  # 1M-row slices appended to Parquet
        out.unlink(missing_ok=True)
        results["batch_200"] = {"rows": args.n, "features": 200, "engine_s": round(t_big, 1),
                                "rows_per_s": round(args.n / t_big)}
    results["load_after"] = os.getloadavg()

    print(f"load average before {results['load_before'][0]:.2f}, after "
          f"{results['load_after'][0]:.2f} (1 min)")
    print(f"side by side, {s['rows']:,} authorizations, {s['features']} features (per card, "
          f"5 windows x count/sum/mean/max), median of {s['runs']}:")
    print(f"  {'engine (compiled)':<26}{s['engine_median_s']:>8.2f} s   runs {s['engine_s']}")
    print(f"  {'pandas groupby+rolling':<26}{s['pandas_median_s']:>8.2f} s   runs {s['pandas_s']}"
          f"   ratio {s['pandas_over_engine']:.1f}x")
    print(f"  engine vs pandas: {s['values_unequal']:,} of {s['values_compared']:,} values "
          f"differ, max relative difference {s['max_rel_diff_engine_vs_pandas']:.1e}")
    f = s["featuretools"]
    if isinstance(f, str):
        print(f"  featuretools: {f}")
    else:
        print(f"  {'featuretools ' + f['version'] + ' DFS':<26}{f['dfs_s']:>8.2f} s for "
              f"{f['rows']:,} cutoff rows -> ~{f['s_per_1M_rows_extrapolated']:,} s per 1M rows,"
              f" ratio ~{f['over_engine_extrapolated']:,}x (woodwork {f['woodwork']}, pandas "
              f"{f['pandas']}); {f['values_unequal']} of {f['rows'] * len(names):,} values "
              f"differ from the engine")
    if "batch_200" in results:
        b = results["batch_200"]
        print(f"200 windowed features for {b['rows']:,} authorizations: {b['engine_s']:.1f} s "
              f"({b['rows_per_s']:,} rows/s), written to Parquet in 1M-row slices")
    path = Path(__file__).parent / "results" / "features_batch.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    bad = s["values_unequal"] or (not isinstance(f, str) and f["values_unequal"])
    if bad:
        sys.stdout.flush()
        raise SystemExit("values differ from the engine: see above")


if __name__ == "__main__":
    main()
