"""End-to-end steps the CLI and the benchmark call: train, detect, rings, export.

Kept out of the CLI so that it stays thin. Missing repayment data never fails silently: the
result carries a notice and every row says ``reduced_features``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cardmind.dataset import Dataset
from cardmind.errors import InvalidInput
from cardmind.models.cashout.detector import CashoutDetector, DetectorParams
from cardmind.models.cashout.evaluation import row_labels, summarize, truth_cycles
from cardmind.models.cashout.features import (
    REPAYMENT_FEATURES,
    FeatureConfig,
    blind_spots,
    card_cycle_features,
    missing_inputs,
)
from cardmind.models.cashout.rings import RingConfig, RingReport, find_rings
from cardmind.models.cashout.risk import CashoutRiskTable

REDUCED_NOTICE = (
    "notice: the dataset has no repayments table, so the detector cannot see repayments "
    f"({', '.join(REPAYMENT_FEATURES)}): scores come from the reduced model and repayment rules "
    "are off; rows are flagged reduced_features=true. / 提示：缺少还款数据，检测使用精简特征集。"
)


def default_model_dir() -> Path:
    """``$CARDMIND_HOME/cashout/detector``."""
    from cardmind.settings import get_settings

    return get_settings().home / "cashout" / "detector"


def train(
    ds: Dataset,
    *,
    params: DetectorParams | None = None,
    config: FeatureConfig | None = None,
    as_of: datetime | None = None,
) -> CashoutDetector:
    """Fit a detector on every card-cycle of a simulated dataset (labels from its truth), using
    only events up to ``as_of`` when given."""
    features = card_cycle_features(ds, config=config, as_of=as_of)
    det = CashoutDetector(params=params)
    det.fit(features, row_labels(features, truth_cycles(ds)))
    return det


@dataclass(frozen=True, kw_only=True)
class Detection:
    """Per card-cycle results, the per-card risk table, and notices to show the user."""

    cycles: pa.Table
    risk: CashoutRiskTable
    rows_scored: int
    notices: tuple[str, ...] = field(default_factory=tuple)

    @property
    def alerts(self) -> pa.Table:
        return self.cycles.filter(self.cycles.column("alert"))


def detect(
    ds: Dataset,
    detector: CashoutDetector,
    *,
    config: FeatureConfig | None = None,
    as_of: datetime | None = None,
) -> Detection:
    """Score every scoring point of ``ds`` (up to ``as_of`` when given) and summarise per
    card-cycle, with reasons on alerts."""
    notices = [REDUCED_NOTICE] if missing_inputs(ds) else []
    notices += [f"notice: {b}" for b in blind_spots(ds) if not b.startswith("no repayments")]
    features = card_cycle_features(ds, config=config, as_of=as_of)
    scored = detector.score_many(features)
    cycles = summarize(scored, detector.threshold_)
    # reasons: model contributions at each alerted card-cycle's highest-scoring row
    rows = scored.append_column("i", pa.array(range(scored.num_rows), pa.int64()))
    best = (
        rows.filter(rows.column("alert"))
        .group_by(["card_token", "cycle_end"])
        .aggregate([("score", "max")])
    )
    picks: dict[tuple[str, Any], int] = {}
    if best.num_rows:
        top = {(r["card_token"], r["cycle_end"]): r["score_max"] for r in best.to_pylist()}
        for r in (
            rows.filter(rows.column("alert"))
            .select(["card_token", "cycle_end", "score", "i"])
            .to_pylist()
        ):
            key = (r["card_token"], r["cycle_end"])
            if key not in picks and r["score"] == top[key]:
                picks[key] = r["i"]
    reasons_en: list[str | None] = []
    reasons_zh: list[str | None] = []
    explained: dict[tuple[str, Any], list[dict[str, str]]] = {}
    if picks:
        keys = list(picks)
        expl = detector.reasons(features.take(pa.array([picks[k] for k in keys])))
        explained = dict(zip(keys, expl, strict=True))
    text = {r.name: (r.reason_en, r.reason_zh) for r in detector.rules_}
    for c in cycles.select(["card_token", "cycle_end", "rules"]).to_pylist():
        key = (c["card_token"], c["cycle_end"])
        if key not in explained and not c["rules"]:
            reasons_en.append(None)
            reasons_zh.append(None)
            continue
        en = [text[n][0] for n in c["rules"] if n in text]
        zh = [text[n][1] for n in c["rules"] if n in text]
        en += [f"{x['en']} = {x['value']}" for x in explained.get(key, [])]
        zh += [f"{x['zh']}：{x['value']}" for x in explained.get(key, [])]
        reasons_en.append("; ".join(en))
        reasons_zh.append("；".join(zh))
    cycles = cycles.append_column("reasons_en", pa.array(reasons_en, pa.string()))
    cycles = cycles.append_column("reasons_zh", pa.array(reasons_zh, pa.string()))
    risk = CashoutRiskTable.from_rows(
        cycles.select(["card_token", "cycle_end", "score", "alert", "rules"]).to_pylist(),
        threshold=detector.threshold_,
        rules=detector.rules_,
    )
    return Detection(
        cycles=cycles, risk=risk, rows_scored=features.num_rows, notices=tuple(notices)
    )


def rings(
    ds: Dataset,
    detection: Detection,
    *,
    config: RingConfig | None = None,
    as_of: datetime | None = None,
) -> RingReport:
    """Merchant rings from the alerted card-cycles of ``detection`` (purchases up to ``as_of``)."""
    return find_rings(
        ds, detection.alerts.select(["card_token", "cycle_end"]), config=config, as_of=as_of
    )


def write_table(table: pa.Table, path: str | Path) -> None:
    """Write ``table`` as Parquet, CSV or JSON lines, chosen by the file extension."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv", ".json", ".jsonl"):
        raise InvalidInput(f"{path}: output must end in .parquet, .csv, .json or .jsonl")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".parquet":
            pq.write_table(table, path)
            return
        flat = table
        for i, f in enumerate(table.schema):
            if pa.types.is_list(f.type):
                joined = pc.binary_join(table.column(i), ",")
                flat = flat.set_column(i, f.name, joined)
        if suffix == ".csv":
            pacsv.write_csv(flat, path)
        else:
            with path.open("w", encoding="utf-8") as fh:
                for row in table.to_pylist():
                    fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot write ({exc.strerror})") from exc
