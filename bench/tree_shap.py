"""Benchmark one explanation: tree SHAP of one row, planned kernel vs general kernel vs LightGBM.

The served fraud model (the registry's production model under ``CARDMIND_HOME``, else one
trained on the simulated tiny preset as ``bench/authorize.py`` does) explains rows one at a
time, pinned to one core, the methods interleaved row by row in one process:

- ``general``: ``compiled._shap``, the depth-first quadrature kernel used before ADR 0022 (and
  still for models with paths of more than 16 distinct features);
- ``planned``: ``treeshap._shap_planned`` (ADR 0022);
- ``lightgbm``: ``Booster.predict(pred_contrib=True, num_threads=1)`` on a 1 x N array;
- ``explain general`` / ``explain planned``: ``ScoringModel.explain(row, top=2)`` from a feature
  dict, as the authorization engine calls it (row gather, SHAP, top-2, reason texts).

Each is timed with warm caches (the previous call explained another row) and cold (64 MB
touched before each call, as between two explained decisions in the engine). Rows: each
feature drawn from the model's own split thresholds (just below or above one) or missing, so
that every kind of branch is taken (but no value above 1e300: above LightGBM's largest
threshold its ``pred_contrib`` departs from the Shapley values, which both compiled kernels
match, checked by enumeration); tree SHAP visits every node whatever the row, so the time hardly
depends on the values. Every planned result is checked against LightGBM (1e-9).

    python bench/tree_shap.py [--rows 400]

Prints medians (µs) and writes ``bench/results/tree_shap.json``. ``--engine`` measures instead
the effect inside the authorization engine (see ``_engines``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from authorize import _dataset, _model, model_args, pinned_workdir

RESULTS = Path(__file__).parent / "results" / "tree_shap.json"


def _rows(model, n: int, rng: np.random.Generator) -> np.ndarray:
    """Rows whose values sit next to the model's split thresholds (or are missing)."""
    dump = model.booster.dump_model()
    cuts: dict[int, list[float]] = {}

    def walk(node):
        if "split_index" in node:
            cuts.setdefault(int(node["split_feature"]), []).append(float(node["threshold"]))
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in dump["tree_info"]:
        walk(tree["tree_structure"])
    p = len(model.feature_names)
    X = np.zeros((n, p))
    for j in range(p):
        c = np.array(cuts.get(j, [0.0]))
        pick = c[rng.integers(len(c), size=n)]
        step = np.where(rng.random(n) < 0.5, -1e-6, 1e-6) * np.maximum(1.0, abs(pick))
        X[:, j] = np.where(abs(pick) < 1e299, pick + step, pick * (1 - 1e-6))
        X[rng.random(n) < 0.1, j] = np.nan
    return X


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="dataset folder (default: simulate the tiny preset)")
    ap.add_argument("--rows", type=int, default=400)
    ap.add_argument("--engine", action="store_true",
                    help="instead: two engines, general vs planned, decisions interleaved")
    model_args(ap)
    args = ap.parse_args()
    tmp = pinned_workdir("cm-bench-shap-")
    data = _dataset(args, tmp) if args.engine or not _has_production() else tmp
    model, desc = _model(args, data)
    model.compile()
    if args.engine:
        _engines(model, desc, data, tmp)
        return
    from cardmind.models.compiled import _shap
    from cardmind.models.scoring import ScoringModel

    forest = model._compiled
    if forest._plan is None:
        raise SystemExit("this model has no plan (a path with more than 16 distinct features)")
    general = ScoringModel(model_text=model.model_text, metadata=model.metadata)
    general.compile()
    general._compiled._plan = None  # the same model explained by the general kernel
    X = _rows(model, args.rows, np.random.default_rng(0))
    dicts = [dict(zip(model.feature_names, r, strict=True)) for r in X]
    ref = model.booster.predict(X, pred_contrib=True, num_threads=1)
    n = forest.num_feature + 1

    def gen(i):
        phi = np.zeros(n)
        _shap(X[i], phi, *forest._shap_args)
        return phi

    def plan(i):
        phi = np.zeros(n)
        forest._plan.add_to(X[i], phi)
        return phi

    methods = {
        "general": gen,
        "planned": plan,
        "lightgbm": lambda i: model.booster.predict(X[i:i + 1], pred_contrib=True, num_threads=1),
        "explain general": lambda i: general.explain(dicts[i], top=2),
        "explain planned": lambda i: model.explain(dicts[i], top=2),
    }
    worst = max(float(np.max(np.abs(plan(i) - ref[i]))) for i in range(len(X)))
    assert worst < 1e-9, worst
    junk = np.ones(8_000_000)  # 64 MB
    times: dict[str, dict[str, list[float]]] = {k: {"warm": [], "cold": []} for k in methods}
    for i in range(len(X)):
        for state in ("warm", "cold"):
            for name, fn in methods.items():
                if state == "cold":
                    junk += 1.0
                else:
                    fn((i + 1) % len(X))
                t = time.perf_counter_ns()
                fn(i)
                times[name][state].append((time.perf_counter_ns() - t) / 1000)
    load = os.getloadavg()
    print(f"model: {desc}; {len(X)} rows; load average {load[0]:.2f}; "
          f"planned vs LightGBM max |diff| {worst:.1e}")
    print(f"{'method':<17}{'warm µs':>9}{'cold µs':>9}")
    out = {}
    for name in methods:
        w, c = (statistics.median(times[name][s]) for s in ("warm", "cold"))
        out[name] = {"warm_us": w, "cold_us": c}
        print(f"{name:<17}{w:>9.1f}{c:>9.1f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "bench": "tree_shap", "model": desc, "rows": len(X), "load_avg": load,
        "cpu": platform.processor() or platform.machine(), "max_abs_diff_lightgbm": worst,
        "median_us": out}, indent=2))


def _engines(model, desc: str, data: Path, tmp: Path) -> None:
    """Two authorization engines serving the same model, one explaining with the general kernel
    and one with the planned kernel, fed the same requests (the tiny preset's last 20 days, as
    ``bench/authorize.py``, model's feature service), alternately first: deciding-thread CPU
    per decision (``time.thread_time``: not counting time the process is preempted, which at a
    high load average sets the wall-clock figures) and the latency of explained purchases."""
    import gc

    from authorize import WARMUP, _requests

    from cardmind.decisions.authorize import AuthorizationEngine, EngineConfig
    from cardmind.decisions.online import bootstrap_features, serving_features
    from cardmind.models.scoring import ScoringModel

    start, reqs = _requests(data, 20)
    engines = {}
    for name in ("general", "planned"):
        m = ScoringModel(model_text=model.model_text, metadata=model.metadata)
        m.compile()
        if name == "general":
            m._compiled._plan = None
        feats = serving_features(m)
        cfg = EngineConfig(db_url=f"sqlite:///{tmp / (name + '.db')}")
        engines[name] = AuthorizationEngine.from_dataset(data, until=start, config=cfg, model=m,
                                                         features=feats)
        bootstrap_features(feats, data, start)
    for r in reqs[:WARMUP]:
        for e in engines.values():
            e.decide(r)
    cpu: dict[str, list[float]] = {k: [] for k in engines}
    explained: dict[str, list[float]] = {k: [] for k in engines}
    names = list(engines)
    gc.collect()
    gc.freeze()
    for i, r in enumerate(reqs[WARMUP:]):
        for name in names if i % 2 == 0 else names[::-1]:
            c, t = time.thread_time_ns(), time.perf_counter_ns()
            d = engines[name].decide(r)
            us = (time.perf_counter_ns() - t) / 1000
            cpu[name].append((time.thread_time_ns() - c) / 1000)
            if any(x.code.startswith("FACTOR_") for x in d.reasons):
                explained[name].append(us)
    gc.unfreeze()
    for e in engines.values():
        e.close()
    load = os.getloadavg()
    print(f"model: {desc}; {len(cpu['planned'])} decisions per engine; load average {load[0]:.2f}")
    print(f"{'engine':<9}{'CPU µs/decision':>16}{'explained':>10}{'their p50 µs':>13}")
    for name in names:
        print(f"{name:<9}{statistics.fmean(cpu[name]):>16.1f}{len(explained[name]):>10}"
              f"{statistics.median(explained[name]):>13.0f}")


def _has_production() -> bool:
    try:
        from cardmind.models.registry import load

        load("fraud", "production")
        return True
    except Exception:
        return False


if __name__ == "__main__":
    main()
