"""Benchmark: cash-out detector scoring per card-cycle, and community detection on the ring graph.

Simulates a dataset (preset ``demo`` by default: 10,000 cards over 6 months), evaluates the
detector with a time split (train on early statement cycles, test on later ones), then times on
the whole population: the point-in-time feature SQL, LightGBM + rule scoring, and the per
card-cycle summary (scoring points/s and card-cycles/s, median of ``--repeat`` runs), and the
merchant-ring search (graph build + Louvain / label propagation). Writes
``bench/results/cashout.json``.

    python bench/cashout.py                       # demo preset
    python bench/cashout.py --preset tiny         # a quick look
    python bench/cashout.py --data DIR            # reuse an existing simulated dataset
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from cardmind.dataset import Dataset
from cardmind.models.cashout import pipeline
from cardmind.models.cashout.evaluation import evaluate, ring_metrics, summarize
from cardmind.models.cashout.features import card_cycle_features
from cardmind.models.cashout.rings import RingConfig, find_rings


def _median_time(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _full_projection(ds: Dataset, repeat: int) -> dict:
    """Stress figure: the merchant projection of *all* purchases (not only suspects), Louvain."""
    import networkx as nx

    from cardmind.models.cashout.features import connect

    con = connect(ds)
    t0 = time.perf_counter()
    edges = con.sql(
        """
        WITH cm AS (SELECT DISTINCT card_token, merchant_id FROM authorizations
                    WHERE message_type = 'purchase' AND approved)
        SELECT a.merchant_id, b.merchant_id, count(*) AS w
        FROM cm a JOIN cm b ON a.card_token = b.card_token AND a.merchant_id < b.merchant_id
        GROUP BY ALL HAVING count(*) >= 2
        """
    ).fetchall()
    sql_s = time.perf_counter() - t0
    g = nx.Graph()
    g.add_weighted_edges_from(edges)
    louvain_s, comms = _median_time(
        lambda: nx.community.louvain_communities(g, weight="weight", seed=0), repeat
    )
    return {
        "nodes": g.number_of_nodes(),
        "edges": g.number_of_edges(),
        "sql_s": round(sql_s, 3),
        "louvain_s": round(louvain_s, 4),
        "communities": len(comms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], help="NAME=VALUE override")
    parser.add_argument("--data", help="use this simulated dataset instead of simulating")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("CARDMIND_PAN_KEY", "bench-key-not-secret")
    load_before = os.getloadavg()

    tmp = None
    sim_s = None
    if args.data:
        path = Path(args.data)
    else:
        from cardmind.simulate import load_preset, parse_overrides
        from cardmind.simulate.engine import run

        tmp = Path(tempfile.mkdtemp(prefix="cardmind-bench-cashout-"))
        path = tmp / "data"
        cfg = load_preset(args.preset, seed=args.seed, overrides=parse_overrides(args.set))
        t0 = time.perf_counter()
        run(cfg, path)
        sim_s = time.perf_counter() - t0
    ds = Dataset(path)
    n_auth = ds.read("authorizations", columns=["auth_id"]).num_rows

    # quality: time split on this dataset
    t0 = time.perf_counter()
    report, det = evaluate(ds)
    eval_s = time.perf_counter() - t0

    # speed: whole population
    feat_s, features = _median_time(lambda: card_cycle_features(ds), args.repeat)
    score_s, scored = _median_time(lambda: det.score_many(features), args.repeat)
    summ_s, cycles = _median_time(lambda: summarize(scored, det.threshold_), args.repeat)
    detect_s, detection = _median_time(lambda: pipeline.detect(ds, det), 1)
    rows, n_cycles = features.num_rows, cycles.num_rows
    suspects = detection.alerts.select(["card_token", "cycle_end"])

    ring_runs = {}
    for method in ("louvain", "label_propagation"):
        reports = []
        for _ in range(max(args.repeat, 3)):
            t0 = time.perf_counter()
            rep = find_rings(ds, suspects, config=RingConfig(method=method))
            reports.append((time.perf_counter() - t0, rep))
        total = statistics.median(t for t, _ in reports)
        comm = statistics.median(r.graph["community_seconds"] for _, r in reports)
        rep = reports[-1][1]
        ring_runs[method] = {
            "total_s": round(total, 4),
            "community_s": round(comm, 6),
            "rings": len(rep.rings),
            "graph": rep.graph,
            "merchants": ring_metrics(ds, [e["value"] for e in rep.suspect_list()]),
        }
    full = _full_projection(ds, args.repeat)
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)

    m = report.metrics
    table = [
        ("dataset", f"{args.data or args.preset} (seed {args.seed}), {n_auth:,} authorizations"),
        ("simulate (s)", "-" if sim_s is None else f"{sim_s:.1f}"),
        ("evaluate: features + train + test (s)", f"{eval_s:.1f}"),
        ("test precision / recall per card-cycle",
         f"{m['combined']['precision']:.3f} / {m['combined']['recall']:.3f} "
         f"(model {m['model']['precision']:.3f} / {m['model']['recall']:.3f}, "
         f"rules {m['rules']['precision']:.3f} / {m['rules']['recall']:.3f})"),
        ("test recall cashout_app / pos_cashout",
         " / ".join(f"{v['recall']:.3f}" for v in m["recall_by_scenario"].values())),
        ("time to detection median / p90 (h)",
         f"{m['time_to_detection_hours']['median']} / {m['time_to_detection_hours']['p90']}"),
        ("scoring points (purchases + repayments)", f"{rows:,}"),
        ("card-cycles", f"{n_cycles:,}"),
        ("features (s, median)", f"{feat_s:.2f}  ({rows / feat_s:,.0f} rows/s)"),
        ("LightGBM + rules scoring (s, median)", f"{score_s:.2f}  ({rows / score_s:,.0f} rows/s)"),
        ("per card-cycle summary (s, median)", f"{summ_s:.2f}"),
        ("detect end to end (s)",
         f"{detect_s:.2f}  ({rows / detect_s:,.0f} rows/s, {n_cycles / detect_s:,.0f} card-cycles/s)"),
    ]  # fmt: skip
    for method, r in ring_runs.items():
        table.append((f"rings {method}: community detection (s, median)",
                      f"{r['community_s']:.4f} on {r['graph']['candidate_merchants']} merchants / "
                      f"{r['graph']['edges']} edges"))  # fmt: skip
        table.append((f"rings {method}: graph + communities + evidence (s)",
                      f"{r['total_s']:.2f}; merchant precision {r['merchants']['precision']:.3f}, "
                      f"recall {r['merchants']['recall']:.3f}"))  # fmt: skip
    table.append(("stress: Louvain on all traffic (s, median)",
                  f"{full['louvain_s']:.2f} on {full['nodes']:,} merchants / {full['edges']:,} "
                  f"edges ({full['communities']} communities; projection SQL {full['sql_s']:.1f} s)"))  # fmt: skip
    table += [
        ("load average before (1/5/15 min)", " / ".join(f"{x:.1f}" for x in load_before)),
        ("cores", str(psutil.cpu_count())),
    ]
    width = max(len(k) for k, _ in table)
    print(f"{'metric':<{width}}  value")
    print(f"{'-' * width}  -----")
    for k, v in table:
        print(f"{k:<{width}}  {v}")

    out = Path(__file__).parent / "results" / "cashout.json"
    out.parent.mkdir(exist_ok=True)
    payload = {
        "dataset": args.data or args.preset,
        "seed": args.seed,
        "overrides": args.set,
        "authorizations": n_auth,
        "simulate_s": sim_s,
        "evaluate_s": eval_s,
        "evaluation": report.to_dict(),
        "scoring_points": rows,
        "card_cycles": n_cycles,
        "features_s": feat_s,
        "score_s": score_s,
        "summary_s": summ_s,
        "detect_s": detect_s,
        "rows_per_s_score": rows / score_s,
        "rows_per_s_detect": rows / detect_s,
        "rings": ring_runs,
        "full_projection": full,
        "repeat": args.repeat,
        "load_before": load_before,
        "cores": psutil.cpu_count(),
        "python": platform.python_version(),
    }
    out.write_text(json.dumps(payload, indent=2, default=str))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
