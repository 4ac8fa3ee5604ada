"""Batch pre-approval (智能预审) of every existing customer: behaviour score with reasons, line
action, pre-approved line increase, product offers and profile tags, written as Parquet.

The work is chunked (default 1,000,000 cards per chunk) and vectorised end to end: features from
the monthly aggregate matrices, scorecard points by binary search per characteristic, top-3
adverse factors by a row-wise sort of the (cards x characteristics) points, policy by array
masks. :func:`preapprove_chunk` is the unit the CLI and the benchmark call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cardmind.dataset import Dataset
from cardmind.decisions.line_management import LineManagementPolicy
from cardmind.errors import InvalidInput
from cardmind.models.credit.behaviour import BehaviourModel, behaviour_frame, monthly_aggregates

N_REASONS = 3


@dataclass
class PreapprovalSummary:
    """Counts accumulated over chunks (the closing summary of ``cardmind preapprove``)."""

    n: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    grades: dict[str, int] = field(default_factory=dict)
    increase_total_fen: int = 0
    early_warning: int = 0
    offers: dict[str, int] = field(default_factory=dict)
    tags: dict[str, int] = field(default_factory=dict)
    pd_sum: float = 0.0

    def add(self, t: pa.Table) -> None:
        self.n += t.num_rows
        for col, acc in (("line_action", self.actions), ("behaviour_grade", self.grades)):
            vc = t.column(col).to_pandas().value_counts()
            for k, v in vc.items():
                acc[str(k)] = acc.get(str(k), 0) + int(v)
        change = t.column("line_change_fen").to_numpy()
        self.increase_total_fen += int(change[change > 0].sum())
        self.early_warning += int(t.column("early_warning").to_numpy().sum())
        self.pd_sum += float(t.column("behaviour_pd").to_numpy().sum())
        for name in t.column_names:
            if name.startswith("offer_"):
                self.offers[name[6:]] = self.offers.get(name[6:], 0) + int(
                    t.column(name).to_numpy().sum()
                )
            elif name.startswith("tag_"):
                self.tags[name[4:]] = self.tags.get(name[4:], 0) + int(
                    t.column(name).to_numpy().sum()
                )

    def as_dict(self) -> dict[str, Any]:
        return {
            "customers": self.n,
            "mean_behaviour_pd": self.pd_sum / self.n if self.n else None,
            "line_actions": self.actions,
            "grades": dict(sorted(self.grades.items())),
            "pre_approved_increase_total_fen": self.increase_total_fen,
            "early_warning": self.early_warning,
            "offers": self.offers,
            "tags": self.tags,
        }


def _dictionary(values: np.ndarray, labels: list[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(
        pa.array(values, pa.int16()), pa.array(labels, pa.string())
    )


def preapprove_chunk(
    model: BehaviourModel,
    policy: LineManagementPolicy,
    ids: pd.DataFrame | pa.Table,
    features: pd.DataFrame,
    limit_fen: np.ndarray,
    balance_fen: np.ndarray,
) -> pa.Table:
    """Score, explain and decide one chunk of cards; one output row per card."""
    sc = model.scorecard
    points = sc.points(features)
    score = points.sum(axis=1)
    pd_bad = sc.scaling_.pd_from_score(score)
    idx, lost = sc.adverse_factors(points, top=N_REASONS)
    decided = policy.apply(pd_bad, features, limit_fen, balance_fen)
    codes = [f"FACTOR_{n}" for n in sc.feature_names_]
    limit = np.asarray(limit_fen).astype(np.int64)
    cols: dict[str, Any] = {
        "card_token": _ids(ids, "card_token"),
        "customer_id": _ids(ids, "customer_id"),
        "behaviour_score": pa.array(score.astype(np.int32)),
        "behaviour_pd": pa.array(pd_bad.astype(np.float32)),
        "behaviour_grade": pa.array(decided["behaviour_grade"]).dictionary_encode(),
        "line_action": pa.array(decided["line_action"]).dictionary_encode(),
        "current_limit_fen": pa.array(limit),
        "new_limit_fen": pa.array(decided["new_limit_fen"]),
        "line_change_fen": pa.array(decided["new_limit_fen"] - limit),
        "early_warning": pa.array(decided["early_warning"]),
    }
    labels = [*codes, ""]
    for r in range(idx.shape[1]):
        j = np.where(idx[:, r] >= 0, idx[:, r], len(codes))
        cols[f"reason_{r + 1}"] = _dictionary(j, labels)
        cols[f"reason_{r + 1}_points"] = pa.array(lost[:, r].astype(np.int16))
    for k, v in decided.items():
        if k.startswith(("offer_", "tag_")):
            cols[k] = pa.array(v)
    return pa.table(cols)


def _ids(ids: pd.DataFrame | pa.Table, name: str) -> Any:
    if isinstance(ids, pa.Table):
        return ids.column(name)
    return pa.array(ids[name].to_numpy(), pa.string())


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def preapprove_dataset(
    dataset: Dataset | str,
    model: BehaviourModel,
    out: str | Path,
    *,
    policy: LineManagementPolicy | None = None,
    as_of: date | None = None,
    chunk_rows: int = 1_000_000,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Pre-approve every card with a statement in the month of ``as_of`` (default: the last
    statement date); write ``out`` (Parquet); return the summary."""
    if chunk_rows < 1:
        raise InvalidInput(f"chunk_rows must be >= 1, got {chunk_rows}")
    out = Path(out)
    if out.suffix != ".parquet":
        raise InvalidInput(f"--out must be a .parquet file, got {out.name}")
    ds = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    policy = policy or LineManagementPolicy()
    agg = monthly_aggregates(ds)
    if agg.empty:
        raise InvalidInput(f"{ds.path}: no statements to pre-approve from")
    as_of = as_of or pd.to_datetime(agg["statement_date"]).max().date()
    cards, X, mats = behaviour_frame(ds, as_of=as_of, agg=agg)
    limit = mats["credit_limit_fen"][:, -1]
    balance = mats["new_balance_fen"][:, -1]
    summary = PreapprovalSummary()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    writer = None
    try:
        for sl in _chunks(len(cards), chunk_rows):
            t = preapprove_chunk(model, policy, cards.iloc[sl], X.iloc[sl], limit[sl], balance[sl])
            t = t.append_column("as_of", pa.array([as_of] * t.num_rows, pa.date32()))
            if writer is None:
                writer = pq.ParquetWriter(tmp, t.schema, compression="zstd")
            writer.write_table(t)
            summary.add(t)
            if progress is not None:
                progress(sl.stop, len(cards))
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise InvalidInput(f"{ds.path}: no card has a statement in the month of {as_of}")
    tmp.replace(out)
    result = summary.as_dict()
    result.update(
        as_of=as_of.isoformat(), model=model.metadata.get("target"), policy=policy.version
    )
    return result
