"""Benchmark ``cardmind ingest``: rows per second on a generated bank export.

Generates a CSV of N authorizations (default 1,000,000; 50,000 cards with Luhn-valid numbers,
yuan amounts with decimals, naive Beijing times, a fraud flag, a free-text memo; 1 % of rows
bad: negative amounts, impossible dates, duplicate ids) and imports it into authorizations +
fraud_labels through a mapping, ``--repeat`` times. Prints a table and writes
``bench/results/ingest.json``.

    python bench/ingest.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import yaml

from cardmind.ingest import Mapping, ingest

MAPPING = {
    "version": 1,
    "tables": {
        "authorizations": {
            "source": "tx.csv",
            "card_number": "card_no",
            "drop_columns": ["cvn2"],
            "columns": {
                "auth_id": "txn_id",
                "ts": {"from": "txn_time", "format": "%Y-%m-%d %H:%M:%S"},
                "customer_id": "cust_no",
                "merchant_id": "mer_id",
                "amount_fen": {"from": "txn_amt", "unit": "yuan"},
                "channel": {
                    "from": "chnl",
                    "values": {"01": "pos_chip", "03": "online_cnp", "04": "qr"},
                },
                "city": "memo",
            },
        },
        "fraud_labels": {
            "source": "tx.csv",
            "drop_columns": ["cvn2"],
            "columns": {
                "auth_id": "txn_id",
                "label": {"from": "fraud_flag", "values": {"1": "fraud", "0": "genuine"}},
            },
        },
    },
}


def _luhn_pans(n: int, rng: np.random.Generator) -> np.ndarray:
    body = rng.integers(0, 10, size=(n, 15))
    body[:, 0] = 6
    body[:, 1] = 2
    digits = body[:, ::-1].copy()  # rightmost body digit gets doubled
    doubled = digits[:, 0::2] * 2
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    total = doubled.sum(axis=1) + digits[:, 1::2].sum(axis=1)
    check = (10 - total % 10) % 10
    full = np.concatenate([body, check[:, None]], axis=1)
    return np.array(["".join(map(str, r)) for r in full])


def generate(path: Path, rows: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    cards = _luhn_pans(50_000, rng)
    card_idx = rng.integers(0, len(cards), rows)
    fen = rng.lognormal(8, 1.2, rows).astype(np.int64) + 1
    amt = pa.array(fen // 100).cast(pa.string())
    cents = pa.array(np.char.zfill((fen % 100).astype(str), 2))
    import pyarrow.compute as pc

    amount = pc.binary_join_element_wise(amt, cents, ".")
    secs = np.sort(rng.integers(0, 180 * 86400, rows)) + 1_704_067_200  # from 2024-01-01
    ts = pc.strftime(pa.array(secs, pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S")
    ts = pc.utf8_slice_codeunits(ts, 0, 19)  # Arrow writes fractional seconds after %S
    ids = np.char.add("T", np.arange(rows).astype(str))
    bad = rng.random(rows) < 0.01
    kind = rng.integers(0, 3, rows)
    amount = pc.if_else(pa.array(bad & (kind == 0)), "-5.00", amount)
    ts = pc.if_else(pa.array(bad & (kind == 1)), "2024-02-30 10:00:00", ts)
    dup = bad & (kind == 2)
    ids = np.where(dup, np.char.add("T", np.maximum(np.arange(rows) - 1, 0).astype(str)), ids)
    table = pa.table(
        {
            "txn_id": ids,
            "card_no": cards[card_idx],
            "cust_no": np.char.add("C", card_idx.astype(str)),
            "mer_id": np.char.add("M", rng.integers(0, 20_000, rows).astype(str)),
            "txn_amt": amount,
            "txn_time": ts,
            "chnl": rng.choice(np.array(["01", "03", "04"]), rows),
            "fraud_flag": (rng.random(rows) < 0.002).astype(np.int8),
            "memo": rng.choice(np.array(["Shanghai", "Beijing", "Shenzhen", "order 12345"]), rows),
            "cvn2": rng.integers(100, 999, rows),
        }
    )
    pacsv.write_csv(table, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        generate(root / "tx.csv", args.rows)
        gen_s = time.perf_counter() - t0
        (root / "mapping.yaml").write_text(yaml.safe_dump(MAPPING))
        mapping = Mapping.load(root / "mapping.yaml")
        size_mb = (root / "tx.csv").stat().st_size / 1e6
        times, cpu = [], []
        report = None
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            report = ingest(mapping, root / "out")
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    assert report is not None
    med = statistics.median(times)
    auth = report.tables["authorizations"]
    result = {
        "rows": args.rows,
        "csv_mb": round(size_mb, 1),
        "tables": 2,
        "repeat": args.repeat,
        "seconds": [round(t, 3) for t in times],
        "median_seconds": round(med, 3),
        "median_cpu_seconds": round(statistics.median(cpu), 3),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "source_rows_per_second_median": round(args.rows / med),
        "loaded_authorizations": auth.loaded,
        "rejected_authorizations": auth.rejected,
        "generate_seconds": round(gen_s, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }
    print(f"{'measure':<40} {'value':>14}")
    print("-" * 55)
    for key in (
        "rows",
        "csv_mb",
        "median_seconds",
        "median_cpu_seconds",
        "load_average_1m",
        "source_rows_per_second_median",
        "loaded_authorizations",
        "rejected_authorizations",
        "peak_rss_mb",
    ):
        print(
            f"{key:<40} {result[key]:>14,}"
            if isinstance(result[key], int)
            else f"{key:<40} {result[key]:>14}"
        )
    print("(two tables, authorizations and fraud_labels, from one file read once per run)")
    out = Path(__file__).parent / "results" / "ingest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
