"""Benchmark: the simulator's bench preset (about 100,000 cards over 12 months).

Reports authorizations generated per second of wall time (world + months + writing, without
the summary), per CPU-second (all threads: independent of other load on the machine), the CPU
time of the main (generation) thread and the two writer threads (authorizations; other tables) —
on two free cores the run needs at least the busiest thread's CPU and half the total — and peak
memory (max RSS of the process), and writes
``bench/results/simulate.json``. Target (issue 2): >= 500,000 authorizations/s on 2 cores,
peak RSS < 4 GB.

    python bench/simulate.py                 # the bench preset
    python bench/simulate.py --set period.months=2   # a quicker look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

import psutil

from cardmind.simulate import describe, load_preset, parse_overrides
from cardmind.simulate.engine import run

TARGET_AUTHS_PER_S = 500_000
TARGET_RSS_GB = 4.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="bench")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], help="NAME=VALUE override")
    parser.add_argument("--keep", help="keep the dataset in this folder")
    args = parser.parse_args()
    os.environ.setdefault("CARDMIND_PAN_KEY", "bench-key-not-secret")

    cfg = load_preset(args.preset, seed=args.seed, overrides=parse_overrides(args.set))
    tmp = Path(tempfile.mkdtemp(prefix="cardmind-bench-"))
    out = Path(args.keep) if args.keep else tmp / "data"
    load_before = os.getloadavg()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    result = run(cfg, out)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    t1 = time.perf_counter()
    summary = describe(out)
    describe_s = time.perf_counter() - t1
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    auths = result["row_counts"]["authorizations"]
    main_cpu = result["main_thread_cpu_s"]
    writer_cpu = result["writer_thread_cpu_s"]
    writer2_cpu = result["writer2_thread_cpu_s"]
    critical = max(main_cpu, writer_cpu, writer2_cpu, cpu / 2)  # two cores: >= half the CPU
    size_gb = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 1024**3
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)

    rows = [
        ("preset", f"{cfg.preset} ({cfg.population.cards:,} cards, {cfg.period.months} months)"),
        ("cards incl. new accounts", f"{summary.cards:,}"),
        ("authorizations", f"{auths:,}"),
        ("statements", f"{result['row_counts']['statements']:,}"),
        ("wall time (s)", f"{wall:.1f}"),
        ("CPU time (s)", f"{cpu:.1f}"),
        ("authorizations / s (wall)", f"{auths / wall:,.0f}  (target >= {TARGET_AUTHS_PER_S:,})"),
        ("authorizations / CPU-second (all threads)", f"{auths / cpu:,.0f}"),
        (
            "CPU of the main / authorizations / other-tables thread (s)",
            f"{main_cpu:.1f} / {writer_cpu:.1f} / {writer2_cpu:.1f}",
        ),
        (
            "critical path = max(busiest thread, CPU / 2) (s)",
            f"{critical:.1f}  -> {auths / critical:,.0f} authorizations/s with 2 free cores",
        ),
        ("peak RSS (GB)", f"{rss_gb:.2f}  (target < {TARGET_RSS_GB})"),
        ("dataset size on disk (GB)", f"{size_gb:.2f}"),
        ("summary (describe) time (s)", f"{describe_s:.1f}"),
        ("load average before (1/5/15 min)", " / ".join(f"{x:.1f}" for x in load_before)),
        ("cores", str(psutil.cpu_count())),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"{'metric':<{width}}  value")
    print(f"{'-' * width}  -----")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print()
    print(summary)

    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "simulate.json").write_text(
        json.dumps(
            {
                "preset": cfg.preset,
                "overrides": args.set,
                "cards": summary.cards,
                "months": cfg.period.months,
                "authorizations": auths,
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "authorizations_per_s": round(auths / wall),
                "authorizations_per_cpu_s": round(auths / cpu),
                "main_thread_cpu_s": round(main_cpu, 2),
                "writer_thread_cpu_s": round(writer_cpu, 2),
                "writer2_thread_cpu_s": round(writer2_cpu, 2),
                "authorizations_per_s_two_free_cores": round(auths / critical),
                "peak_rss_gb": round(rss_gb, 3),
                "dataset_gb": round(size_gb, 3),
                "describe_s": round(describe_s, 2),
                "load_average_before": load_before,
                "cores": psutil.cpu_count(),
                "python": platform.python_version(),
                "summary": summary.to_dict(),
            },
            indent=2,
            default=str,
        )
    )


if __name__ == "__main__":
    main()
