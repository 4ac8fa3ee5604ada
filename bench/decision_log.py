"""Benchmark: CPU the decision log costs per authorization decision (model-service set-up).

Replays the same requests as ``bench/authorize.py`` (model-service set-up: the served model's
catalog features) through ``AuthorizationEngine.decide``, pinned to one core, and reports per
decision:

- the CPU of the whole process, of the deciding thread and of the log writer thread (read from
  ``/proc/self/task/<tid>/schedstat``, so that time other processes take from the core does not
  count), with the real writer and with ``put`` dropping the rows (``--reps`` runs of each,
  alternated, medians);
- the writer's own work on the rows of one run, single-threaded: ``prepare`` (JSON of request,
  decision and features) and ``write`` (parameters and the database's ``executemany``, batches of
  512 rows), into a fresh SQLite file and, with ``--prefill N``, also into one that already
  holds ``N`` logged decisions of random cards (a log in service: an index on a random key,
  such as the card, then dirties one index page per row).

    python bench/decision_log.py [--data DIR] [--days 20] [--reps 3] [--prefill 300000]

Prints a table and writes ``bench/results/decision_log.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import authorize as bench_authorize  # the same data, model and requests

RESULTS = Path(__file__).parent / "results" / "decision_log.json"


def _thread_cpu_ns(native_id: int) -> int:
    with open(f"/proc/self/task/{native_id}/schedstat") as f:
        return int(f.read().split()[0])


def _run(data: Path, start, reqs, model, tmp: Path, *, drop: bool) -> dict:
    from cardmind.decisions.authorize import AuthorizationEngine, EngineConfig
    from cardmind.decisions.online import bootstrap_features, serving_features

    features = serving_features(model)
    cfg = EngineConfig(db_url=f"sqlite:///{tmp / f'log-{time.time_ns()}.db'}")
    engine = AuthorizationEngine.from_dataset(data, until=start, config=cfg, model=model,
                                              features=features)
    bootstrap_features(features, data, start)
    warm, todo = reqs[: bench_authorize.WARMUP], reqs[bench_authorize.WARMUP :]
    for r in warm:
        engine.decide(r)
    engine.flush()
    captured: list = []
    real_put = engine._log.put
    if drop:
        engine._log.put = lambda table, row: None
    else:
        def put(table, row):
            captured.append((table, row))
            real_put(table, row)
        engine._log.put = put
    writer, main = engine._log._thread.native_id, threading.get_native_id()
    gc.collect()
    gc.freeze()
    w0, m0, c0 = _thread_cpu_ns(writer), _thread_cpu_ns(main), time.process_time()
    for r in todo:
        engine.decide(r)
    engine.flush()  # the writer's remaining work counts too
    n = len(todo)
    out = {"process_us": (time.process_time() - c0) / n * 1e6,
           "writer_us": (_thread_cpu_ns(writer) - w0) / n / 1e3,
           "deciding_us": (_thread_cpu_ns(main) - m0) / n / 1e3}
    gc.unfreeze()
    engine._log.put = real_put
    prepare = dict(engine._log.prepare_many)
    engine.close()
    return {**out, "rows": captured, "prepare": prepare}


def _prefill(db, n: int) -> None:
    """``n`` small decision-log rows of random cards (the indexes of a log in service)."""
    import random

    from sqlalchemy import insert

    from cardmind.storage.decision_log import DecisionLogRow

    rnd, at = random.Random(0), datetime(2020, 1, 1, tzinfo=timezone(timedelta(hours=8)))
    base = {"decided_at": at, "merchant_id": "m", "message_type": "purchase", "amount_fen": 1,
            "action": "APPROVE", "response_code": "00", "temp_credit_fen": 0,
            "rules_version": "r", "standin": False, "latency_us": 1, "request_json": "{}",
            "features_json": "{}", "decision_json": "{}", "request_ts": at}
    columns = {c.name for c in DecisionLogRow.__table__.columns}
    base = {k: v for k, v in base.items() if k in columns}  # the same bench on older schemas
    with db.begin() as conn:
        for j in range(0, n, 50_000):
            conn.execute(insert(DecisionLogRow.__table__), [
                {**base, "auth_id": f"P{i:09d}", "card_token": f"{rnd.getrandbits(128):032x}"}
                for i in range(j, min(n, j + 50_000))])
    with db.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _writer_alone(rows: list, prepare: dict, tmp: Path, reps: int, prefill: int = 0) -> dict:
    from cardmind.storage.base import create_all
    from cardmind.storage.decision_log import DecisionLogWriter, log_engine

    prep_us, write_us = [], []
    for k in range(reps):
        db = log_engine(f"sqlite:///{tmp / f'alone-{prefill}-{k}.db'}")
        create_all(db)
        if prefill:
            _prefill(db, prefill)
        w = DecisionLogWriter(db, flush_ms=10**6, batch=10**9)
        c = time.process_time()
        batches = []  # as the writer prepares them: per table, 32 rows per call
        for j in range(0, len(rows), 512):
            objs: dict[str, list] = {}
            for t, obj in rows[j : j + 512]:
                objs.setdefault(t, []).append(obj)
            batches.append({t: [r for k in range(0, len(o), 32) for r in prepare[t](o[k : k + 32])]
                            for t, o in objs.items()})
        prep_us.append((time.process_time() - c) / len(rows) * 1e6)
        c = time.process_time()
        for grouped in batches:
            w._write(grouped)
        write_us.append((time.process_time() - c) / len(rows) * 1e6)
        w.close()
        db.dispose()
    return {"prepare_us": statistics.median(prep_us), "write_us": statistics.median(write_us)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench_authorize.replay_args(ap)
    ap.add_argument("--reps", type=int, default=3, help="runs with and without the writer")
    ap.add_argument("--prefill", type=int, default=0,
                    help="also write the rows alone into a log already holding this many")
    args = ap.parse_args()
    tmp, data, model, model_desc, start, reqs = bench_authorize.replay_setup(args, "cm-bench-log-")
    runs: dict[str, list[dict]] = {"writer": [], "dropped": []}
    rows, prepare = [], {}
    for k in range(args.reps):
        for mode in (("writer", "dropped") if k % 2 == 0 else ("dropped", "writer")):
            r = _run(data, start, reqs, model, tmp, drop=mode == "dropped")
            if r["rows"]:
                rows, prepare = r["rows"], r["prepare"]
            runs[mode].append({k: v for k, v in r.items() if k.endswith("_us")})
    alone = _writer_alone(rows, prepare, tmp, args.reps)
    if args.prefill:
        alone["prefilled"] = {"rows": args.prefill,
                              **_writer_alone(rows, prepare, tmp, args.reps, args.prefill)}
    med = {m: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for m, rs in runs.items()}
    load = os.getloadavg()[0]
    print(f"model: {model_desc}; {len(reqs) - bench_authorize.WARMUP:,} decisions per run, "
          f"{args.reps} runs each (medians); load average {load:.2f}")
    print(f"{'log rows':<10}{'process µs':>12}{'deciding µs':>13}{'writer µs':>11}")
    for m, v in med.items():
        print(f"{m:<10}{v['process_us']:>12.1f}{v['deciding_us']:>13.1f}{v['writer_us']:>11.1f}")
    print(f"writer alone on the same rows: prepare {alone['prepare_us']:.1f} µs, "
          f"write {alone['write_us']:.1f} µs per row")
    if args.prefill:
        pre = alone["prefilled"]
        print(f"  into a log of {args.prefill:,} decisions: prepare {pre['prepare_us']:.1f} µs, "
              f"write {pre['write_us']:.1f} µs per row")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"bench": "decision_log", "model": model_desc, "load_avg": load,
                                   "medians": med, "runs": runs, "writer_alone": alone},
                                  indent=2))
    print(f"wrote {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
