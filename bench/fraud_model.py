"""Benchmark the fraud model: training time, single-row latency, batch scoring throughput.

On a simulated dataset (default: simulate the ``demo`` preset, seed 0, ~10,000 cards, into a
temporary folder; or ``--data DIR``):

1. build the training table (point-in-time features of the fraud candidate catalog), train the
   model as of the protocol's cut-off (selection fit + refit + calibration), register it;
2. score one row at a time through ``ScoringModel.predict_one``: LightGBM's Python API
   (``Booster.predict`` on a 1 x N array) versus the numba-compiled tree walker
   (``ScoringModel.compile()``), and lleaves when it installs and compiles;
3. score the whole table in batch with both (rows per second).

Prints a table and writes ``bench/results/fraud_model.json``. Medians over ``--repeat`` runs.

    python bench/fraud_model.py [--data DIR] [--rounds 600] [--top 40] [--repeat 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def _latency(fn, rows, repeat: int) -> list[float]:
    for r in rows[:50]:
        fn(r)
    out = []
    for i in range(repeat):
        r = rows[i % len(rows)]
        t = time.perf_counter_ns()
        fn(r)
        out.append((time.perf_counter_ns() - t) / 1000)
    return out


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="dataset folder (default: simulate the demo preset)")
    ap.add_argument("--rounds", type=int, default=600)
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=2000, help="single-row calls per predictor")
    ap.add_argument("--threads", type=int, default=1, help="LightGBM threads for training")
    ap.add_argument(
        "--features",
        choices=("full", "compact"),
        default="compact",
        help="candidate feature set (full: ~500, compact: ~150)",
    )
    ap.add_argument(
        "--report", type=Path, help="also run the evaluation protocol, write this report"
    )
    ap.add_argument("--prequential", type=int, default=0, help="folds for --report (0: off)")
    args = ap.parse_args()

    from cardmind.dataset import Dataset
    from cardmind.models.evaluation import SplitSpec
    from cardmind.models.fraud import (
        FraudTrainConfig,
        build_training_table,
        evaluate_fraud,
        fraud_candidates,
        train_and_register,
    )
    from cardmind.models.registry import Registry

    tmp = tempfile.TemporaryDirectory()
    results: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m": os.getloadavg()[0],
        }
    }
    data = args.data
    if data is None:
        from cardmind.simulate import load_preset, simulate

        data = Path(tmp.name) / "demo"
        t = time.perf_counter()
        simulate(load_preset("demo", seed=0), data)
        results["simulate_demo_s"] = round(time.perf_counter() - t, 1)
    ds = Dataset(data)

    t = time.perf_counter()
    table = build_training_table(ds, fraud_candidates(size=args.features))
    results["features_s"] = round(time.perf_counter() - t, 1)
    results["feature_set"] = args.features
    results["rows"] = len(table)
    results["candidate_features"] = len(table.feature_names)

    reg = Registry(Path(tmp.name) / "models")
    config = FraudTrainConfig(
        num_boost_round=args.rounds, top_features=args.top, num_threads=args.threads
    )
    if args.report:
        from cardmind.models.report import write_report

        t = time.perf_counter()
        res = evaluate_fraud(table, SplitSpec(), config, prequential=args.prequential)
        results["evaluate_s"] = round(time.perf_counter() - t, 1)
        results["evaluation"] = {n: m.headline() for n, m in res.main.metrics.items()}
        results["by_scenario"] = res.main.metrics["lightgbm"].by_scenario
        if res.folds:
            results["prequential"] = res.prequential_summary()
        print(f"report: {write_report(res, args.report)}", flush=True)

    t = time.perf_counter()
    version, metrics = train_and_register(table, SplitSpec(), config, registry=reg)
    results["train_s"] = round(time.perf_counter() - t, 1)
    results["test_metrics"] = {k: metrics[k] for k in ("auc", "ap", "cp_at_k", "recall_at_fpr")}
    meta = reg.describe("fraud", version)
    results["selected_features"] = len(meta["feature_names"])
    results["trees"] = meta["best_iteration"]

    model = reg.load("fraud", version)
    cols = [table.feature_names.index(f) for f in model.feature_names]
    X = np.ascontiguousarray(table.X[:, cols])
    sample = X[np.random.default_rng(0).choice(len(X), min(len(X), 5000), replace=False)]
    rows = [dict(zip(model.feature_names, r, strict=True)) for r in sample]

    single: dict[str, dict[str, float]] = {}
    lat = _latency(model.predict_one, rows, args.repeat)
    single["lightgbm_python_api"] = {"p50_us": _pct(lat, 50), "p99_us": _pct(lat, 99)}
    lat = _latency(
        lambda r: model.booster.predict(r, num_threads=1), [s[None, :] for s in sample], args.repeat
    )
    single["lightgbm_booster_predict_only"] = {"p50_us": _pct(lat, 50), "p99_us": _pct(lat, 99)}
    t = time.perf_counter()
    batch_lgb = model.predict_many(X)
    results["batch_rows_per_s_lightgbm"] = round(len(X) / (time.perf_counter() - t))

    t = time.perf_counter()
    model.compile()
    results["compile_numba_s"] = round(time.perf_counter() - t, 2)
    lat = _latency(model.predict_one, rows, args.repeat)
    single["numba_compiled"] = {"p50_us": _pct(lat, 50), "p99_us": _pct(lat, 99)}
    t = time.perf_counter()
    raw_numba = model._compiled.predict(X)  # the walker itself, one thread
    results["batch_rows_per_s_numba"] = round(len(X) / (time.perf_counter() - t))
    raw_lgb = model.booster.predict(X)
    results["max_abs_diff_numba_vs_lightgbm"] = float(np.max(np.abs(raw_numba - raw_lgb)))
    del batch_lgb

    try:  # lleaves: an LLVM compiler for LightGBM trees, if it installs and works here
        import lleaves

        path = Path(tmp.name) / "model.txt"
        path.write_text(model.model_text)
        ll = lleaves.Model(model_file=str(path))
        ll.compile()
        lat = _latency(lambda r: ll.predict(r, n_jobs=1), [s[None, :] for s in sample], args.repeat)
        single["lleaves"] = {"p50_us": _pct(lat, 50), "p99_us": _pct(lat, 99)}
    except Exception as exc:
        results["lleaves"] = f"not measured: {type(exc).__name__}: {str(exc)[:120]}"

    results["single_row"] = single
    base = single["lightgbm_python_api"]["p50_us"]
    results["speedup_numba_p50"] = round(base / single["numba_compiled"]["p50_us"], 1)

    print(
        f"\nfraud model benchmark ({results['rows']:,} purchases, "
        f"{results['candidate_features']} candidate -> {results['selected_features']} features, "
        f"{results['trees']} trees)"
    )
    print(f"{'step':<44}{'value':>14}")
    for key in ("simulate_demo_s", "features_s", "evaluate_s", "train_s", "compile_numba_s"):
        if key in results:
            print(f"{key:<44}{results[key]:>14}")
    for name, v in single.items():
        print(f"{'single row p50 / p99 (us) ' + name:<60}{v['p50_us']:>8.1f} / {v['p99_us']:.1f}")
    for key in ("batch_rows_per_s_lightgbm", "batch_rows_per_s_numba"):
        print(f"{key:<44}{results[key]:>14,}")
    print(f"speed-up single row numba vs LightGBM API: {results['speedup_numba_p50']}x")
    print(f"test metrics: {results['test_metrics']}")
    if "lleaves" in results:
        print(f"lleaves: {results['lleaves']}")
    out = Path(__file__).parent / "results" / "fraud_model.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
