"""Benchmark: how fast a restarted authorization engine replays its decision log.

Streams the last ``--days`` of a simulated dataset (default: the ``tiny`` preset, generated into a
temporary folder) through an engine bootstrapped from the period before, closes it, then builds
the engine again from the same dataset and database ``--repeat`` times: each build replays every
logged decision (:mod:`cardmind.decisions.restore`). Two feature set-ups:

- ``basic``: the engine's built-in minimal catalog (12 features);
- ``model-service``: a served model's feature service of ``--n-features`` catalog features
  (``cardmind.features.OnlineEngine``), what production runs; the model is a hash of the
  feature vector (scoring is not part of a restore, only of the stream that fills the log).

Reports the restore time (median of the builds), decisions replayed per second, and the whole
start-up (bootstrap from the dataset + restore), with the load average.

    python bench/restore.py [--data DIR] [--days 40] [--repeat 3] [--n-features 60]

Prints a table and writes ``bench/results/restore.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import authorize as bench_authorize  # the same dataset and requests

RESULTS = Path(__file__).parent / "results" / "restore.json"


class HashModel:
    """A score from a hash of the features: mostly approvals (which change state), some declines."""

    version = "bench-hash"

    def __init__(self, names):
        self.feature_names = tuple(names)

    def predict_one(self, row):
        h = hashlib.blake2b(repr([row.get(n) for n in self.feature_names]).encode(),
                            digest_size=8).digest()
        u = int.from_bytes(h, "big") / 2**64
        return 0.01 + 0.05 * u if u < 0.95 else 0.8

    def explain(self, row, top=2):
        return []


def _run(name: str, data: Path, start, reqs, model, tmp: Path, repeat: int) -> dict:
    from cardmind.decisions.authorize import AuthorizationEngine, EngineConfig

    cfg = EngineConfig(db_url=f"sqlite:///{tmp / f'{name}.db'}", latency_budget_us=60_000_000)
    engine = AuthorizationEngine.from_dataset(data, until=start, config=cfg, model=model)
    t = time.perf_counter()
    for r in reqs:
        engine.decide(r)
    decide_s = time.perf_counter() - t
    engine.close()
    builds = []
    for _ in range(repeat):
        t = time.perf_counter()
        engine = AuthorizationEngine.from_dataset(data, until=start, config=cfg, model=model)
        total = time.perf_counter() - t
        rep = engine.restored
        builds.append((rep.seconds, total, rep))
        engine.close()
    seconds = statistics.median(b[0] for b in builds)
    rep = builds[0][2]
    return {
        "setup": name, "decisions": rep.decisions, "purchases": rep.purchases,
        "returns": rep.returns, "temp_credit_grants": rep.temp_credit_grants,
        "mismatches": rep.mismatches, "restore_s": seconds,
        "restore_s_all": [b[0] for b in builds],
        "decisions_per_s": rep.decisions / seconds if seconds > 0 else 0.0,
        "startup_s": statistics.median(b[1] for b in builds),
        "live_decisions_per_s": len(reqs) / decide_s if decide_s > 0 else 0.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="dataset folder (default: simulate the tiny preset)")
    ap.add_argument("--days", type=int, default=40, help="days decided before the restart")
    ap.add_argument("--repeat", type=int, default=3, help="restarts measured per set-up")
    ap.add_argument("--n-features", type=int, default=60, help="features of the model service")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cm-bench-restore-"))
    os.environ.setdefault("CARDMIND_HOME", str(tmp / "home"))
    from cardmind.decisions.online import BASIC_FEATURES
    from cardmind.features import default_catalog

    data = bench_authorize._dataset(args, tmp)
    start, reqs = bench_authorize._requests(data, args.days)
    names = default_catalog().names()
    chosen = names[:: max(1, len(names) // args.n_features)][: args.n_features]
    print(f"{len(reqs):,} authorizations decided before the restart", file=sys.stderr)
    rows = [_run("basic", data, start, reqs, HashModel(BASIC_FEATURES), tmp, args.repeat),
            _run("model-service", data, start, reqs, HashModel(chosen), tmp, args.repeat)]
    load = os.getloadavg()
    print(f"restore after a restart; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'setup':<15}{'replayed':>10}{'grants':>8}{'restore s':>11}{'replayed/s':>12}"
          f"{'start-up s':>12}{'live dec/s':>12}")
    for r in rows:
        print(f"{r['setup']:<15}{r['decisions']:>10,}{r['temp_credit_grants']:>8,}"
              f"{r['restore_s']:>11.2f}{r['decisions_per_s']:>12,.0f}{r['startup_s']:>12.1f}"
              f"{r['live_decisions_per_s']:>12,.0f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "bench": "restore", "cpu": platform.processor() or platform.machine(), "load_avg": load,
        "days": args.days, "results": rows,
    }, indent=2))
    print(f"wrote {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
