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

from cardmind.errors import InvalidInput
from cardmind.models.credit.scorecard import PROTECTED_ATTRIBUTES

TARGET = "creditability"
PROTECTED = ("personal_status_and_sex", "foreign_worker")
PUBLISHED_ACCURACY = {"logistic_regression": 0.75, "random_forest": 0.76}


def german_frame_from_csv(path: str | Path) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """``(X, y, protected)`` from the raw CSV (development and tests only)."""
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
