"""German credit (UCI, 1,000 applicants): the real-data check of the origination models.

The data reaches the models through the import path (``cardmind ingest`` with the
``german_credit.yaml`` mapping) as any bank file would; :func:`german_frame` turns the imported
dataset, or for development the raw CSV, into characteristics ``X``, target ``y`` (1 = bad) and
the protected attributes kept apart for the fairness table.

Published figures to compare with: logistic regression about 0.75 accuracy (10-fold), random
forest about 0.76; cost matrix: a bad applicant accepted costs 5, a good one rejected costs 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cardmind.dataset import Dataset
from cardmind.errors import InvalidInput
from cardmind.models.credit.scorecard import PROTECTED_ATTRIBUTES

TARGET = "creditability"
PROTECTED = ("personal_status_and_sex", "foreign_worker")
PUBLISHED_ACCURACY = {"logistic_regression": 0.75, "random_forest": 0.76}


#: Columns of ``applications`` that are identifiers or the legacy outcome, never characteristics.
NON_CHARACTERISTICS = (
    "application_id",
    "applied_at",
    "decision",
    "credit_limit_fen",
    "customer_id",
)


def frame_from_dataset(
    dataset: Dataset | str | Path,
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """``(X, y, protected)`` from an imported dataset: ``applications`` joined to
    ``application_outcomes`` (the bank's own outcome, ``bad``).

    Schema columns the bank's file did not have (the manifest's ``columns_absent``) are dropped;
    columns the manifest flags as protected, and every name in ``PROTECTED_ATTRIBUTES``, go to
    ``protected`` and never into ``X``. This is the import path the German credit data takes
    (``cardmind ingest -m src/cardmind/ingest/mappings/german_credit.yaml``), as any bank file.
    """
    ds = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    for table in ("applications", "application_outcomes"):
        if not ds.has(table):
            raise InvalidInput(
                f"{ds.path}: dataset has no {table!r} table (import outcomes with the mapping)"
            )
    apps = ds.read("applications").to_pandas()
    outcomes = ds.read("application_outcomes", columns=["application_id", "bad"]).to_pandas()
    df = apps.merge(outcomes, on="application_id", how="inner", validate="one_to_one")
    if df.empty:
        raise InvalidInput(f"{ds.path}: no application has an outcome")
    absent = set(ds.manifest.get("columns_absent", {}).get("applications", []))
    flagged = set(ds.manifest.get("protected_columns", {}).get("applications", []))
    protected_cols = [
        c for c in df.columns if c in flagged | PROTECTED_ATTRIBUTES and not df[c].isna().all()
    ]
    drop = [c for c in df.columns if c in absent or c in NON_CHARACTERISTICS]
    all_null = [
        c for c in df.columns if c not in protected_cols and c != "bad" and df[c].isna().all()
    ]
    leaked = [c for c in df.columns if c in PROTECTED_ATTRIBUTES]
    X = df.drop(columns=sorted({*drop, *all_null, *protected_cols, *leaked, "bad"}))
    return (
        X.reset_index(drop=True),
        df["bad"].astype(int).to_numpy(),
        df[protected_cols].reset_index(drop=True),
    )


def german_frame_from_csv(path: str | Path) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """``(X, y, protected)`` from the raw CSV (development only; the pipeline imports it)."""
    try:
        df = pd.read_csv(path)
    except (OSError, pd.errors.ParserError) as exc:
        raise InvalidInput(f"{path}: cannot read German credit CSV ({exc})") from exc
    return split_frame(df, target=TARGET)


def split_frame(
    df: pd.DataFrame, *, target: str, bad_value: str = "bad"
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Split a frame into characteristics, target (1 = bad) and protected attributes."""
    if target not in df.columns:
        raise InvalidInput(f"target column {target!r} not found; columns: {list(df.columns)}")
    t = df[target]
    if pd.api.types.is_bool_dtype(t) or pd.api.types.is_numeric_dtype(t):
        y = t.astype(int).to_numpy()
    else:
        values = set(t.dropna().astype(str).unique())
        if not values <= {"good", "bad"}:
            raise InvalidInput(f"target {target!r} must be good/bad or 0/1, got {sorted(values)}")
        y = (t.astype(str) == bad_value).astype(int).to_numpy()
    protected_cols = [c for c in df.columns if c in PROTECTED_ATTRIBUTES]
    X = df.drop(columns=[target, *protected_cols]).reset_index(drop=True)
    return X, y, df[protected_cols].reset_index(drop=True)
