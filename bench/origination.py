"""Benchmark origination: quick-quote and application-decision latency in process, and batch
pre-approval throughput over stored monthly aggregates.

1. Latency: a small simulated issuer (4,000 applications) trains the origination bundle; then
   ``--requests`` quick quotes and application decisions are timed one by one in process
   (validation + scoring + rules + line + reasons; decisions also with the idempotent SQLite log).
2. Throughput: a behaviour scorecard is trained on a simulated issuer; ``--customers`` customers'
   stored monthly aggregates (6 months x 10 aggregates, int32 Parquet, one row per customer,
   1 M per file) are synthesised by resampling the simulated cards' rows with noise. The timed part
   reads those files and, per 1 M chunk, builds the 12 behaviour characteristics, scores them,
   finds the top-3 reasons, applies line management (increase/hold/decrease, early warning),
   offers and tags, and writes the pre-approval Parquet: everything ``cardmind preapprove`` does
   after the one-off DuckDB monthly aggregation of statements (not included).

Prints a table and writes ``bench/results/origination.json``.

    python bench/origination.py [--customers 10000000] [--requests 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cardmind.decisions.line_management import LineManagementPolicy
from cardmind.decisions.origination import OriginationPolicy, calibrate_quote
from cardmind.decisions.preapproval import preapprove_chunk
from cardmind.models.credit.application import fit_origination_models
from cardmind.models.credit.behaviour import (
    AGGREGATES,
    BehaviourModel,
    behaviour_frame,
    features_from_matrices,
    monthly_aggregates,
    train_behaviour,
)
from cardmind.models.credit.outcomes import applications_with_observed_outcome
from cardmind.storage.applications import ApplicationLog
from cardmind.storage.base import create_all, make_engine

HISTORY = 6
CHUNK = 1_000_000


def simulated(root: Path) -> Path:
    from cardmind.simulate import load_preset, simulate

    out = root / "sim"
    cfg = load_preset(
        "tiny",
        seed=3,
        overrides={
            "population.cards": "3000",
            "population.new_card_share": "1",
            "population.default_scale": "4",
        },
    )
    simulate(cfg, out)
    return out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def latency(ds: Path, requests: int, root: Path) -> dict:
    apps, observed = applications_with_observed_outcome(ds)
    known = ~np.isnan(observed)
    models = fit_origination_models(apps[known].reset_index(drop=True), observed[known].astype(int))
    policy = OriginationPolicy(models)
    calibrate_quote(policy, apps)
    rows = apps.drop(
        columns=["gender", "applied_at", "decision", "credit_limit_fen", "customer_id"]
    )
    rows["city_tier"] = rows["city_tier"].astype(int)
    records = rows.sample(requests, replace=True, random_state=0).to_dict("records")
    quotes = [
        {k: r[k] for k in ("age", "monthly_income_fen", "occupation", "city", "housing")}
        for r in records
    ]
    for r in records[:50]:  # warm-up
        policy.decide({**r, "application_id": "warm"})
        policy.quote(
            {k: r[k] for k in ("age", "monthly_income_fen", "occupation", "city", "housing")}
        )
    q_ms, d_ms, l_ms = [], [], []
    for q in quotes:
        t0 = time.perf_counter()
        policy.quote(q)
        q_ms.append((time.perf_counter() - t0) * 1000)
    for i, r in enumerate(records):
        t0 = time.perf_counter()
        policy.decide({**r, "application_id": f"B{i}"})
        d_ms.append((time.perf_counter() - t0) * 1000)
    engine = make_engine(f"sqlite:///{root / 'bench.db'}")
    create_all(engine)
    log = ApplicationLog(engine)
    for i, r in enumerate(records):
        req = {**r, "application_id": f"L{i}"}
        t0 = time.perf_counter()
        log.decide_once(req["application_id"], req, lambda req=req: policy.decide(req))
        l_ms.append((time.perf_counter() - t0) * 1000)
    return {
        "requests": requests,
        "quote_ms": {"p50": pct(q_ms, 50), "p99": pct(q_ms, 99)},
        "decision_ms": {"p50": pct(d_ms, 50), "p99": pct(d_ms, 99)},
        "decision_logged_sqlite_ms": {"p50": pct(l_ms, 50), "p99": pct(l_ms, 99)},
    }


def synthesise(ds: Path, n: int, folder: Path) -> tuple[list[Path], dict]:
    """Stored monthly aggregates of ``n`` customers (resampled from the simulated cards)."""
    agg = monthly_aggregates(ds)
    as_of = pd.to_datetime(agg["statement_date"]).max().date()
    cards, _, mats = behaviour_frame(ds, as_of=as_of, history=HISTORY, agg=agg)
    base = {k: np.nan_to_num(v[:, -HISTORY:], nan=0.0) for k, v in mats.items()}
    rng = np.random.default_rng(0)
    files = []
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        pick = rng.integers(0, len(cards), m)
        noise = rng.lognormal(0.0, 0.1, (m, 1))
        cols: dict[str, pa.Array] = {
            "card_token": pa.array([f"{i:032x}" for i in range(start, start + m)]),
            "customer_id": pa.array([f"C{i:010d}" for i in range(start, start + m)]),
            "tenure_months": pa.array(rng.integers(1, 240, m).astype(np.int16)),
        }
        for name in AGGREGATES:
            scale = noise if name.endswith("_fen") else 1.0
            vals = np.clip(base[name][pick] * scale, -(2**31) + 1, 2**31 - 1).astype(np.int32)
            for k in range(HISTORY):
                cols[f"{name}_m{k}"] = pa.array(vals[:, k])
        path = folder / f"aggregates-{start // CHUNK:03d}.parquet"
        pq.write_table(pa.table(cols), path, compression="zstd")
        files.append(path)
    return files, {"resampled_from_cards": len(cards)}


def preapprove_file(path: Path, model_dir: Path, out: Path) -> tuple[int, float]:
    """One stored-aggregates file -> one pre-approval Parquet part; returns (rows, CPU seconds)."""
    c0 = time.process_time()
    model = BehaviourModel.load(model_dir)
    policy = LineManagementPolicy()
    t = pq.read_table(path)
    mats = {
        name: np.column_stack([t.column(f"{name}_m{k}").to_numpy() for k in range(HISTORY)]).astype(
            float
        )
        for name in AGGREGATES
    }
    feats = features_from_matrices(mats, t.column("tenure_months").to_numpy())
    res = preapprove_chunk(
        model,
        policy,
        t.select(["card_token", "customer_id"]),
        feats,
        mats["credit_limit_fen"][:, -1],
        mats["new_balance_fen"][:, -1],
    )
    pq.write_table(res, out, compression="zstd")
    return res.num_rows, time.process_time() - c0


def preapprove_files(
    files: list[Path], model_dir: Path, out: Path, workers: int
) -> tuple[int, float, float]:
    """All files with ``workers`` processes; returns (rows, wall seconds, CPU seconds)."""
    out.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    jobs = [(f, model_dir, out / f"part-{i:03d}.parquet") for i, f in enumerate(files)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(preapprove_file, *zip(*jobs, strict=True)))
    else:
        results = [preapprove_file(*j) for j in jobs]
    return sum(r[0] for r in results), time.perf_counter() - t0, sum(r[1] for r in results)


GERMAN_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "german_credit.csv"


def german_comparison(folds: int = 5) -> dict:
    """5-fold CV AUC/KS on German credit, same folds: cardmind scorecard and LightGBM vs
    optbinning's own ``Scorecard`` (BinningProcess + LogisticRegression, IV >= 0.02)."""
    from optbinning import BinningProcess
    from optbinning import Scorecard as OptbinningScorecard
    from sklearn.linear_model import LogisticRegression

    from cardmind.models.credit.challenger import LightGBMChallenger
    from cardmind.models.credit.evaluation import cross_validate
    from cardmind.models.credit.german import german_frame_from_csv
    from cardmind.models.credit.scorecard import Scorecard

    if not GERMAN_CSV.is_file():
        return {}
    X, y, _ = german_frame_from_csv(GERMAN_CSV)
    cat = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    Xo = X.astype({c: object for c in cat})

    class _Optbinning:
        def fit(self, X, y):
            bp = BinningProcess(
                list(X.columns), categorical_variables=cat, selection_criteria={"iv": {"min": 0.02}}
            )
            self.m = OptbinningScorecard(
                binning_process=bp, estimator=LogisticRegression(max_iter=1000)
            )
            self.m.fit(X, y)
            return self

        def predict_proba(self, X):
            return self.m.predict_proba(X)

    out = {}
    for name, make, data in (
        ("cardmind scorecard (monotonic, default)", Scorecard, X),
        ("cardmind scorecard (trend auto)", lambda: Scorecard(monotonic_trend="auto"), X),
        ("optbinning Scorecard", _Optbinning, Xo),
        ("cardmind LightGBM", LightGBMChallenger, X),
    ):
        t0 = time.perf_counter()
        r = cross_validate(make, data, y, n_splits=folds, seed=0)
        out[name] = {"auc": r.auc_mean, "ks": r.ks_mean, "seconds": time.perf_counter() - t0}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=10_000_000)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2, help="Processes for pre-approval (2 cores).")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cm-bench-orig-") as tmp:
        root = Path(tmp)
        os.environ.setdefault("CARDMIND_PAN_KEY", "bench-key-not-secret")
        german = german_comparison()
        ds = simulated(root)
        lat = latency(ds, args.requests, root)
        model = train_behaviour(ds, horizon=3, n_splits=3)
        t0 = time.perf_counter()
        files, info = synthesise(ds, args.customers, root)
        synth_s = time.perf_counter() - t0
        model.save(root / "behaviour")
        n, secs, cpu = preapprove_files(
            files, root / "behaviour", root / "preapproval", args.workers
        )
        out_mb = sum(p.stat().st_size for p in (root / "preapproval").glob("*.parquet")) / 1e6
        load = os.getloadavg()[0]
    result = {
        "german_credit_cv": german,
        "latency": lat,
        "preapproval": {
            "customers": n,
            "seconds": secs,
            "customers_per_second": n / secs,
            "workers": args.workers,
            "cpu_seconds": cpu,
            "cpu_seconds_per_million": cpu / n * 1e6,
            "load_average_1m_at_end": load,
            "output_mb": out_mb,
            "synthesis_seconds_not_timed": synth_s,
            "includes": "read stored monthly aggregates (Parquet) + 12 characteristics + scorecard "
            "+ top-3 reasons + line management + offers + tags + write Parquet",
            **info,
        },
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    print(f"{'measure':<44}{'value':>16}")
    for name, r in german.items():
        print(f"{'German AUC / KS, ' + name:<52}{r['auc']:>7.3f} / {r['ks']:.3f}")
    print(
        f"{'quote p50 / p99 (ms)':<44}{lat['quote_ms']['p50']:>7.3f} / {lat['quote_ms']['p99']:.3f}"
    )
    print(
        f"{'decision p50 / p99 (ms)':<44}{lat['decision_ms']['p50']:>7.3f} / {lat['decision_ms']['p99']:.3f}"
    )
    d = lat["decision_logged_sqlite_ms"]
    print(f"{'decision + SQLite log p50 / p99 (ms)':<44}{d['p50']:>7.3f} / {d['p99']:.3f}")
    print(f"{'pre-approval customers':<44}{n:>16,}")
    print(f"{'pre-approval seconds':<44}{secs:>16.1f}")
    print(f"{'pre-approval customers / s':<44}{n / secs:>16,.0f}")
    print(f"{'projected 10 M customers, wall (s)':<44}{1e7 / (n / secs):>16.1f}")
    print(f"{'CPU seconds per 1 M customers':<44}{cpu / n * 1e6:>16.1f}")
    print(f"{'projected 10 M on 2 idle cores (s)':<44}{cpu / n * 1e7 / 2:>16.1f}")
    print(f"{'load average (1 min) at the end':<44}{load:>16.1f}")
    out = Path(__file__).parent / "results" / "origination.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
