"""Shared helpers of the feature tests: a compact catalog covering every kind, and comparison."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from cardmind.features.definitions import (
    Catalog,
    DerivedFeature,
    LabelFeature,
    RepaymentFeature,
    RequestFeature,
    WindowFeature,
)

EXACT_AGGS = {"count", "distinct_count"}


def compact_catalog(windows=("10m", "1h", "24h")) -> Catalog:
    """Every aggregation, entity, source kind and filter kind, on a few windows."""
    defs = [RequestFeature(what=w) for w in ("amount", "hour", "is_night", "is_online",
                                             "is_cross_border", "channel_qr", "category_dining",
                                             "band_small")]
    for w in windows:
        for f in (None, "online", "declined", "returns", "night", "band_xlarge", "cat_grocery"):
            defs.append(WindowFeature(entity="card", aggregation="count", window=w, filter=f))
            for agg in ("sum", "mean", "min", "max", "std", "last"):
                defs.append(WindowFeature(entity="card", aggregation=agg, column="amount_fen",
                                          window=w, filter=f))
            defs.append(WindowFeature(entity="card", aggregation="time_since_last", window=w,
                                      filter=f))
            if f not in (None, "returns"):
                defs.append(WindowFeature(entity="card", aggregation="share", window=w, filter=f))
        for col in ("merchant_id", "device_id", "mcc"):
            defs.append(WindowFeature(entity="card", aggregation="distinct_count", column=col,
                                      window=w))
        defs.append(WindowFeature(entity="customer", aggregation="sum", column="amount_fen",
                                  window=w, filter="approved"))
        defs.append(WindowFeature(entity="customer", aggregation="distinct_count",
                                  column="card_token", window=w))
        for ent in ("merchant", "terminal", "device", "card_merchant", "category"):
            defs.append(WindowFeature(entity=ent, aggregation="count", window=w))
            defs.append(WindowFeature(entity=ent, aggregation="mean", column="amount_fen",
                                      window=w))
        defs.append(WindowFeature(entity="card", source="repayments", aggregation="sum",
                                  column="amount_fen", window=w, filter="third_party"))
        defs.append(WindowFeature(entity="card", source="repayments", aggregation="last",
                                  column="amount_fen", window=w))
    defs += [
        WindowFeature(entity="merchant", aggregation="share", window="24h", filter="declined"),
        LabelFeature(entity="merchant", window="24h", measure="count"),
        LabelFeature(entity="merchant", window="24h", measure="rate"),
        LabelFeature(entity="terminal", window="7d", measure="count", delay="1h"),
        *[RepaymentFeature(entity=e, measure=m, lookback="24h") for e in ("card", "customer")
          for m in ("time_to_next_purchase", "spend_since", "count_since", "spend_ratio")],
        DerivedFeature(op="ratio", inputs=("req_amount", "card_amount_mean_24h")),
        DerivedFeature(op="zscore", inputs=("req_amount", "card_amount_mean_24h",
                                            "card_amount_std_24h")),
        DerivedFeature(op="is_zero", inputs=("card_merchant_count_24h",)),
    ]
    return Catalog(defs)


def is_exact(catalog: Catalog, name: str) -> bool:
    d = catalog.get(name)
    return (getattr(d, "aggregation", None) in EXACT_AGGS or d.kind == "request"
            or getattr(d, "measure", None) in ("count", "count_since"))


def as_matrix(result, names: list[str]) -> np.ndarray:
    """Rows x features as float (NaN for null) from an Arrow table or a list of dicts."""
    if isinstance(result, pa.Table):
        return np.column_stack([np.asarray(result.column(n).to_pylist(), dtype=float)
                                for n in names])
    return np.asarray([[r[n] for n in names] for r in result], dtype=float)


def assert_same(catalog: Catalog, a, b, label: str = "") -> None:
    """Equal feature by feature: exact for counts, 1e-9 relative for floats, NaN == null."""
    names = catalog.names()
    x, y = as_matrix(a, names), as_matrix(b, names)
    assert x.shape == y.shape, (x.shape, y.shape)
    problems = []
    for j, n in enumerate(names):
        xa, ya = x[:, j], y[:, j]
        both_nan = np.isnan(xa) & np.isnan(ya)
        if is_exact(catalog, n):
            ok = both_nan | (xa == ya)
        else:
            ok = both_nan | np.isclose(xa, ya, rtol=1e-9, atol=0.0)
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            problems.append(f"{n}: {int((~ok).sum())} rows differ, e.g. row {i}: {xa[i]!r} vs "
                            f"{ya[i]!r}")
    assert not problems, f"{label}\n" + "\n".join(problems[:20])


def nan_to_none(x: float) -> float | None:
    return None if isinstance(x, float) and math.isnan(x) else x
