"""featuretools DFS for the side-by-side bench, run as a subprocess by features_batch.py.

It runs in its own interpreter so that it can use a virtualenv whose pandas / woodwork /
featuretools versions work together (featuretools 1.31 with woodwork 0.31 fail under pandas 3 with
``WoodworkNotInitError``). Inputs: ``auths.parquet`` (auth_id, card_token, ts, amount_fen,
message_type) and ``cutoff.parquet`` (row, card_token, ts) in ``--dir``; output: ``features.parquet``
(row + one column per feature, named like the engine's) and the seconds on stdout as JSON.

The same 20 features as the engine: count/sum/mean/max of the purchase amount per card over
1h, 24h, 7d, 30d, 90d strictly before each row: cutoff time = row time - 1 µs (featuretools keeps
events at or before the cutoff) and ``training_window`` = the window, one DFS per window.

    /tmp/ftenv/bin/python bench/featuretools_dfs.py --dir /tmp/ft
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import pandas as pd

WINDOWS = ("1h", "24h", "7d", "30d", "90d")
NAMES = {"COUNT": "card_count_{w}", "SUM": "card_amount_sum_{w}", "MEAN": "card_amount_mean_{w}",
         "MAX": "card_amount_max_{w}"}


def main() -> None:
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path, required=True)
    args = ap.parse_args()
    import featuretools as ft

    auths = pd.read_parquet(args.dir / "auths.parquet")
    auths = auths[auths["message_type"] == "purchase"].drop(columns="message_type")
    auths["ts"] = auths["ts"].dt.tz_convert("UTC").dt.tz_localize(None)
    cut = pd.read_parquet(args.dir / "cutoff.parquet")
    cut["card_token"] = cut["card_token"].astype(str)
    cut["time"] = cut.pop("ts").dt.tz_convert("UTC").dt.tz_localize(None) - pd.Timedelta(
        microseconds=1)
    t = time.perf_counter()
    es = ft.EntitySet("bank")
    es.add_dataframe(auths, dataframe_name="auths", index="auth_id", time_index="ts",
                     logical_types={"auth_id": "Unknown", "card_token": "Categorical",
                                    "amount_fen": "Integer"})
    es.normalize_dataframe("auths", "cards", "card_token")
    es.add_last_time_indexes()  # else training_window drops cards first seen before the window
    out = pd.DataFrame({"row": cut["row"].to_numpy()})
    for w in WINDOWS:
        fm = ft.dfs(entityset=es, target_dataframe_name="cards",
                    cutoff_time=cut[["card_token", "time"]],
                    agg_primitives=["count", "sum", "mean", "max"], trans_primitives=[],
                    training_window=w, max_depth=1, cutoff_time_in_index=True,
                    features_only=False, verbose=False)[0]
        fm = fm.reset_index().drop_duplicates(["card_token", "time"])
        fm["card_token"] = fm["card_token"].astype(str)
        fm = cut.merge(fm, on=["card_token", "time"], how="left")
        for col in fm.columns:
            for prim, name in NAMES.items():
                if col.startswith(prim + "("):
                    out[name.format(w=w)] = fm[col].astype(float).to_numpy()
    seconds = time.perf_counter() - t
    out.to_parquet(args.dir / "features.parquet")
    import woodwork

    print(json.dumps({"seconds": seconds, "rows": len(cut), "featuretools": ft.__version__,
                      "woodwork": woodwork.__version__, "pandas": pd.__version__}))


if __name__ == "__main__":
    main()
