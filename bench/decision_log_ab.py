"""Benchmark: the decision log's path before ADR 0023 vs now, alternated in one process.

The old path is swapped in and out of the same process (same data, model and requests), so that
the load of a shared machine falls on both alike: a ``{name: value}`` dict of the model's inputs
built on the deciding thread, the features as sorted JSON in ``features_json``, the driver's
parameters built row by row. The schema is the current one for both. Reports the CPU per
decision of the process, the deciding thread and the writer thread (medians, and the median of
the paired differences), model-service set-up as in ``bench/decision_log.py``.

    python bench/decision_log_ab.py [--data DIR] [--reps 6]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import authorize as bench_authorize  # the same data, model and requests
import decision_log as bench_log


def _old_paths():
    """The engine's log hand-off, row preparation and parameters as they were before ADR 0023."""
    from cardmind.decisions import authorize as engine

    def logged_features(rules, feats, names):
        return {**rules, **engine._model_inputs(feats, names)}

    def decision_rows(items):
        return [(d.auth_id, d.decided_at, req.card_token, req.merchant_id, req.message_type,
                 req.amount_fen, d.action, d.response_code, d.fraud_score, d.cashout_score,
                 d.temp_credit_fen, d.model_version, d.rules_version, d.standin,
                 d.standin_reason, d.latency_us, engine._REQUEST_JSON(req).decode(),
                 engine._features_json(used), engine._DECISION_JSON(d).decode(), req.ts,
                 None, None) for req, d, used in items]

    def params(self, rows, ids=None):
        names, procs = self.names, [(i, p) for i, p, _ in self.procs]
        out = []
        for r in rows:
            values = list(r) if type(r) is tuple else list(map(r.get, names))
            for i, p in procs:
                values[i] = p(values[i])
            out.append(values)
        return out

    return logged_features, decision_rows, params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench_authorize.replay_args(ap)
    ap.add_argument("--reps", type=int, default=6, help="runs of each path")
    args = ap.parse_args()
    tmp, data, model, model_desc, start, reqs = bench_authorize.replay_setup(args, "cm-bench-log-ab-")
    from cardmind.decisions import authorize as engine
    from cardmind.storage import decision_log as log

    paths = {"now": (engine._logged_features, engine._decision_rows, log._RawInsert.params),
             "before": _old_paths()}
    runs: dict[str, list[dict]] = {"before": [], "now": []}
    for k in range(args.reps):
        for which in (("before", "now") if k % 2 == 0 else ("now", "before")):
            engine._logged_features, engine._decision_rows, log._RawInsert.params = paths[which]
            r = bench_log._run(data, start, reqs, model, tmp, drop=False)
            runs[which].append({x: r[x] for x in ("process_us", "deciding_us", "writer_us")})
    engine._logged_features, engine._decision_rows, log._RawInsert.params = paths["now"]
    print(f"model: {model_desc}; {len(reqs) - bench_authorize.WARMUP:,} decisions per run, "
          f"{args.reps} runs of each path (medians); load average {os.getloadavg()[0]:.2f}")
    print(f"{'log path':<22}{'process µs':>12}{'deciding µs':>13}{'writer µs':>11}")
    diff = {x: [n[x] - b[x] for b, n in zip(runs["before"], runs["now"], strict=True)]
            for x in runs["now"][0]}
    rows = {w: {x: statistics.median(r[x] for r in rs) for x in rs[0]} for w, rs in runs.items()}
    rows["paired difference"] = {x: statistics.median(v) for x, v in diff.items()}
    for w, v in rows.items():
        print(f"{w:<22}{v['process_us']:>12.1f}{v['deciding_us']:>13.1f}{v['writer_us']:>11.1f}")


if __name__ == "__main__":
    main()
