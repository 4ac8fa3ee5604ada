"""Application outcomes: what the issuer observes, and (evaluation only) the simulator's truth.

Training data for origination is the **approved** applications with a known outcome (the
"known good/bad" sample); rejected applicants have none. Two sources:

- an imported dataset: ``application_outcomes`` (the bank's own performance data);
- a simulated dataset: the simulated period (months) is shorter than the 12-month outcome window
  of applications made during it, so the issuer's observed outcome of a booked account is taken
  from ``truth_applications.bad_12m`` **for approved applications only** (standing in for the
  performance data a bank would have a year later). Rejected applicants' outcomes are read only
  by :func:`through_the_door_truth`, which evaluation code calls and models never see.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cardmind.dataset import Dataset
from cardmind.errors import InvalidInput


def _dataset(ds: Dataset | str) -> Dataset:
    return ds if isinstance(ds, Dataset) else Dataset(ds)


def applications_with_observed_outcome(dataset: Dataset | str) -> tuple[pd.DataFrame, np.ndarray]:
    """All applications (through the door) and the observed outcome: 0/1 for approved
    applications with an outcome, NaN for the rest (rejected, or no outcome yet)."""
    ds = _dataset(dataset)
    if not ds.has("applications"):
        raise InvalidInput(f"{ds.path}: dataset has no applications table")
    apps = ds.read("applications").to_pandas()
    if ds.has("application_outcomes"):
        out = ds.read("application_outcomes", columns=["application_id", "bad"]).to_pandas()
    elif ds.has("truth_applications"):
        out = ds.read("truth_applications", columns=["application_id", "bad_12m"]).to_pandas()
        out = out.rename(columns={"bad_12m": "bad"})
        approved_ids = set(apps.loc[apps["decision"] == "approved", "application_id"])
        out = out[out["application_id"].isin(approved_ids)]
    else:
        raise InvalidInput(
            f"{ds.path}: no outcomes (application_outcomes for imported data, or a simulated dataset)"
        )
    merged = apps[["application_id"]].merge(out, on="application_id", how="left")
    observed = merged["bad"].astype("float").to_numpy().copy()
    observed[(apps["decision"] != "approved").to_numpy()] = np.nan
    return apps, observed


def through_the_door_truth(dataset: Dataset | str, application_ids: pd.Series) -> np.ndarray:
    """True 12-month outcome of every application (simulated data; evaluation only)."""
    ds = _dataset(dataset)
    if not ds.has("truth_applications"):
        raise InvalidInput(f"{ds.path}: no truth_applications (only simulated data has the truth)")
    truth = ds.read("truth_applications", columns=["application_id", "bad_12m"]).to_pandas()
    m = pd.DataFrame({"application_id": application_ids}).merge(
        truth, on="application_id", how="left"
    )
    if m["bad_12m"].isna().any():
        raise InvalidInput(
            f"{ds.path}: truth missing for {int(m['bad_12m'].isna().sum())} applications"
        )
    return m["bad_12m"].astype(int).to_numpy()
