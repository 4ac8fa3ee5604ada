"""Benchmark: in-process authorization decisions per second and latency percentiles.

Streams the last ``--days`` of a simulated dataset (default: the ``tiny`` preset, generated into a
temporary folder) through ``AuthorizationEngine.decide`` after bootstrapping state from the
period before, pinned to one CPU core. Four feature set-ups are measured:

- ``basic``: the engine's built-in minimal catalog (12 features);
- ``model-service``: the served model's feature service from the online catalog
  (``cardmind.features.OnlineEngine``) — what production runs;
- ``full-catalog``: every feature of the default online catalog computed per decision (3,000+);
- ``full, model read`` (*full-catalog maintained, model's features read*): the state of the whole
  default catalog is kept (every group updated per event, as ``full-catalog``), but each decision
  reads only the served model's and the rules' features (``OnlineEngine(serve=...)``: their
  groups, lanes and windows); the features column gives the number read.

The model is the registry's production fraud model when there is one; otherwise a fraud model is
trained on the simulated data before the replayed window (``train_and_register``, as
``cardmind train fraud`` does) and promoted in the bench's own registry, so that the share of
challenges and declines (which carry model reasons, computed by tree SHAP) is what production
sees. ``--model synthetic`` serves instead a LightGBM model of realistic size (``--trees`` trees,
31 leaves, ``--n-features`` catalog features) trained on random data: fed real features it
challenges or declines nearly everything (the worst case for explanations).
The first 200 decisions of each set-up are replayed untimed (compiled kernels load from numba's
cache on first use). Time per decision is measured around ``decide`` (request already parsed, log write enqueued);
decisions per CPU-second (process time, both threads) is also reported, because on a shared
machine wall-clock figures include time stolen by other processes. The table also gives the share
of purchases challenged or declined, and of those explained with model reasons.

    python bench/authorize.py [--data DIR] [--days 20] [--full-limit 1500] [--model trained]

Prints a table and writes ``bench/results/authorize.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results" / "authorize.json"
WARMUP = 200  # decisions replayed before timing starts


def _dataset(args: argparse.Namespace, tmp: Path) -> Path:
    if args.data:
        return Path(args.data)
    os.environ.setdefault("CARDMIND_PAN_KEY", "bench-key-not-secret")
    from cardmind.simulate import load_preset, simulate

    out = tmp / "data"
    simulate(load_preset("tiny", seed=0), out)
    return out


def model_args(ap: argparse.ArgumentParser) -> None:
    """The options :func:`_model` reads (``--model``, ``--rounds``, ``--trees``, ``--n-features``)."""
    ap.add_argument("--model", choices=("trained", "synthetic"), default="trained",
                    help="without a production model in the registry: train one on the data "
                         "(default) or serve a synthetic one")
    ap.add_argument("--rounds", type=int, default=600, help="boosting rounds (trained model)")
    ap.add_argument("--trees", type=int, default=300, help="trees (synthetic model)")
    ap.add_argument("--n-features", type=int, default=60, help="features (synthetic model)")


def _model(args: argparse.Namespace, data: Path):
    from cardmind.models.registry import load

    if args.model != "synthetic":
        try:
            model = load("fraud", "production")
            return model, f"registry production {model.version} ({len(model.feature_names)} features)"
        except Exception:
            pass
    if args.model == "trained":
        return _trained(args, data)
    return _synthetic(args)


def _trained(args: argparse.Namespace, data: Path):
    """A fraud model trained on ``data`` as ``cardmind train fraud --promote`` would."""
    from cardmind.dataset import Dataset
    from cardmind.models.fraud import (
        FraudTrainConfig,
        build_training_table,
        fraud_candidates,
        train_and_register,
    )
    from cardmind.models.registry import load

    t = time.perf_counter()
    table = build_training_table(Dataset(data), fraud_candidates(size="full"))
    version, metrics = train_and_register(
        table, config=FraudTrainConfig(num_boost_round=args.rounds, num_threads=1), promote=True)
    model = load("fraud", "production")
    print(f"trained fraud {version} in {time.perf_counter() - t:.0f} s: "
          f"AUC {metrics.get('auc', float('nan')):.3f}, AP {metrics.get('ap', float('nan')):.3f}",
          file=sys.stderr)
    return model, (f"trained on the data ({version}, {model.booster.num_trees()} trees, "
                   f"{len(model.feature_names)} features)")


def _synthetic(args: argparse.Namespace):
    import lightgbm as lgb

    from cardmind.features import default_catalog
    from cardmind.models.scoring import ScoringModel

    names = default_catalog().names()
    step = max(1, len(names) // args.n_features)
    chosen = names[::step][: args.n_features]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, len(chosen)))
    y = (X[:, 0] + X[:, 1] + rng.normal(size=5000) > 2.5).astype(int)
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 31,
                         "min_data_in_leaf": 5}, lgb.Dataset(X, y), num_boost_round=args.trees)
    model = ScoringModel(model_text=booster.model_to_string(),
                         metadata={"feature_names": chosen, "version": "bench-synthetic"})
    return model, f"synthetic ({args.trees} trees, {len(chosen)} features)"


def _requests(data: Path, days: int):
    from cardmind.decisions._data import connect
    from cardmind.decisions.replay import _REQUEST_FIELDS
    from cardmind.decisions.types import AuthorizationRequest

    _, con = connect(data)
    end = con.execute("SELECT max(ts) FROM authorizations").fetchone()[0]
    start = end - timedelta(days=days)
    rows = con.execute(f"SELECT {', '.join(_REQUEST_FIELDS)} FROM authorizations "
                       "WHERE ts >= $1 ORDER BY ts, auth_id", [start]).fetchall()
    reqs = [AuthorizationRequest(**dict(zip(_REQUEST_FIELDS, r, strict=True))) for r in rows]
    return start, reqs


def _run(name: str, data: Path, start, reqs, model, features, tmp: Path, limit: int | None):
    from cardmind.decisions.authorize import AuthorizationEngine, EngineConfig

    cfg = EngineConfig(db_url=f"sqlite:///{tmp / f'{name}.db'}")
    t = time.perf_counter()
    engine = AuthorizationEngine.from_dataset(data, until=start, config=cfg, model=model,
                                              features=features)
    if features is not None:
        from cardmind.decisions.online import bootstrap_features

        bootstrap_features(features, data, start)
    setup_s = time.perf_counter() - t
    warm, todo = reqs[:WARMUP], reqs[WARMUP:]
    todo = todo[:limit] if limit else todo
    for r in warm:  # untimed: loads the compiled kernels (numba cache) and warms the caches
        engine.decide(r)
    lat = np.empty(len(todo))
    standin = 0
    actions: dict[str, int] = {}
    purchases = explained = 0
    gc.collect()
    gc.freeze()
    c0 = time.process_time()
    t0 = time.perf_counter()
    for i, r in enumerate(todo):
        a = time.perf_counter_ns()
        d = engine.decide(r)
        lat[i] = (time.perf_counter_ns() - a) / 1000
        standin += d.standin
        if r.message_type == "purchase":
            purchases += 1
            actions[d.action] = actions.get(d.action, 0) + 1
            explained += any(x.code.startswith("FACTOR_") for x in d.reasons)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    gc.unfreeze()
    t = time.perf_counter()
    engine.close()
    drain_s = time.perf_counter() - t
    p50, p99, p999 = np.percentile(lat, [50, 99, 99.9])
    return {
        "setup": name, "decisions": len(todo), "decisions_per_s": len(todo) / wall,
        "decisions_per_cpu_s": len(todo) / cpu if cpu > 0 else 0.0,
        "p50_us": float(p50), "p99_us": float(p99), "p999_us": float(p999),
        "mean_us": float(lat.mean()), "standin": int(standin), "bootstrap_s": setup_s,
        "log_drain_s": drain_s,
        "n_features": len(getattr(features, "feature_names", None) or
                          getattr(features, "_out_names", None) or
                          getattr(engine.features, "feature_names", ()) or ()),
        "purchases": purchases, "actions": actions,
        "challenge_decline_share": (actions.get("CHALLENGE", 0) + actions.get("DECLINE", 0))
        / max(purchases, 1),
        "explained_share": explained / max(purchases, 1),
    }


def pinned_workdir(prefix: str) -> Path:
    """Pin this process to one CPU core and return a new temporary folder, which is also the
    model registry's home unless ``CARDMIND_HOME`` is set (the set-up of the one-core benches)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ.setdefault("CARDMIND_HOME", str(tmp / "home"))
    return tmp


def replay_args(ap: argparse.ArgumentParser) -> None:
    """The dataset, replay window and model options of the one-core benches."""
    ap.add_argument("--data", help="dataset folder (default: simulate the tiny preset)")
    ap.add_argument("--days", type=int, default=20, help="replay window (days)")
    model_args(ap)


def replay_setup(args: argparse.Namespace, prefix: str) -> tuple[Path, Path, Any, str, Any, list]:
    """Pin to one core and build what a one-core bench replays: ``(workdir, dataset, compiled
    model, its description, window start, requests)``."""
    tmp = pinned_workdir(prefix)
    data = _dataset(args, tmp)
    model, model_desc = _model(args, data)
    model.compile()
    start, reqs = _requests(data, args.days)
    return tmp, data, model, model_desc, start, reqs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    replay_args(ap)
    ap.add_argument("--full-limit", type=int, default=1500,
                    help="decisions measured with the full catalog (it is slow)")
    ap.add_argument("--skip-full", action="store_true")
    ap.add_argument("--skip-demand", action="store_true",
                    help="skip the 'full, model read' set-up")
    args = ap.parse_args()
    tmp = pinned_workdir("cm-bench-auth-")
    from cardmind.decisions.online import BasicOnlineFeatures, serving_features
    from cardmind.features import OnlineEngine, default_catalog

    data = _dataset(args, tmp)
    model, model_desc = _model(args, data)
    compiled = False
    try:
        model.compile()
        compiled = getattr(model, "_compiled", None) is not None
    except Exception:
        compiled = False
    start, reqs = _requests(data, args.days)
    print(f"{len(reqs):,} authorizations, model: {model_desc}, compiled trees: {compiled}",
          file=sys.stderr)
    rows = []

    class BasicModel:  # the same trees, fed the basic features by position
        feature_names = BasicOnlineFeatures.feature_names
        version = getattr(model, "version", None)

        def predict_one(self, row):
            vals = list(row.values())
            return model.predict_one({n: vals[i % len(vals)] for i, n in enumerate(model.feature_names)})

    rows.append(_run("basic", data, start, reqs, BasicModel(), None, tmp, None))
    rows.append(_run("model-service", data, start, reqs, model, serving_features(model), tmp, None))
    if not args.skip_full:
        rows.append(_run("full-catalog", data, start, reqs, model, OnlineEngine(default_catalog()),
                         tmp, args.full_limit))
    if not args.skip_demand:  # the whole catalog maintained, only what is used read
        from cardmind.decisions.rules import DEFAULT_RULES_PATH, parse_rules

        served = [*model.feature_names, *parse_rules(DEFAULT_RULES_PATH.read_text()).features]
        rows.append(_run("full, model read", data, start, reqs, model,
                         OnlineEngine(default_catalog(), serve=served), tmp, None))
    header = (f"{'setup':<17}{'features':>9}{'decisions':>11}{'dec/s':>10}{'dec/cpu-s':>11}"
              f"{'p50 µs':>9}{'p99 µs':>9}{'p99.9 µs':>10}{'stand-in':>9}{'chal+decl':>10}"
              f"{'explained':>10}")
    print(f"model: {model_desc}; load average {os.getloadavg()[0]:.2f}")
    print(header)
    for r in rows:
        print(f"{r['setup']:<17}{r['n_features']:>9}{r['decisions']:>11,}{r['decisions_per_s']:>10,.0f}"
              f"{r['decisions_per_cpu_s']:>11,.0f}"
              f"{r['p50_us']:>9.0f}{r['p99_us']:>9.0f}{r['p999_us']:>10.0f}{r['standin']:>9}"
              f"{r['challenge_decline_share']:>10.1%}{r['explained_share']:>10.1%}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "bench": "authorize", "model": model_desc, "compiled_trees": compiled,
        "cpu": platform.processor() or platform.machine(), "pinned_cores": 1,
        "load_avg": os.getloadavg(), "median_p50_us": statistics.median(r["p50_us"] for r in rows),
        "results": rows,
    }, indent=2))
    print(f"wrote {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
