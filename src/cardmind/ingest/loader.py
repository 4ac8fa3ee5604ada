"""The import itself: check every source against the mapping, then load table by table.

Order of work, so that a bad mapping or a forbidden column fails before anything is read:

1. *preflight* (:mod:`~cardmind.ingest.preflight`): every source file exists, its header has
   every mapped column, no CVV/PIN-like column is present unless listed under ``drop_columns``,
   constants parse, the table's minimum columns are mapped;
2. per table (:mod:`~cardmind.ingest.table`): read only the needed columns (each file once),
   parse them vectorised, tokenise the card number, check vocabularies and amounts, look for card
   numbers in text; documented defaults, duplicate keys (first kept), labels whose authorization
   was not loaded; every problem becomes a quarantine record with file, line, column and reason;
3. write through :class:`~cardmind.dataset.DatasetWriter`: all tables, the quarantine files and
   the report appear together or not at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from cardmind import schema
from cardmind.dataset import MANIFEST, DatasetWriter
from cardmind.errors import InvalidInput
from cardmind.ingest.mapping import Mapping, TableMapping
from cardmind.ingest.preflight import preflight
from cardmind.ingest.quarantine import Quarantine
from cardmind.ingest.report import IngestReport, TableReport
from cardmind.ingest.table import SourceCache, load_table

QUARANTINE_DIR = "_quarantine"
REPORT_FILE = "ingest_report.json"

__all__ = ["QUARANTINE_DIR", "REPORT_FILE", "IngestReport", "TableReport", "ingest", "preflight"]


# --- the whole import ----------------------------------------------------------------------


def ingest(
    mapping: Mapping,
    out: str | Path,
    *,
    max_reject_rate: float | None = None,
    quarantine_format: str = "csv",
    progress: Callable[[str], None] | None = None,
) -> IngestReport:
    """Import the tables of ``mapping`` into the dataset folder ``out`` (atomically).

    Rejected rows never stop the import (they go to ``out/_quarantine/<table>.csv``), unless a
    table's share of rejected rows exceeds ``max_reject_rate``: then nothing is written.
    """
    if quarantine_format not in ("csv", "parquet"):
        raise InvalidInput(f"quarantine format must be csv or parquet, got {quarantine_format!r}")
    if max_reject_rate is not None and not 0 <= max_reject_rate <= 1:
        raise InvalidInput(f"--max-reject-rate must be between 0 and 1, got {max_reject_rate}")
    headers = preflight(mapping)
    say = progress or (lambda _msg: None)
    order = [t for t in schema.TABLES if t in mapping.tables]
    reports: dict[str, TableReport] = {}
    present: dict[str, list[str]] = {}
    absent: dict[str, list[str]] = {}
    defaulted: dict[str, dict[str, str]] = {}
    extras: dict[str, list[str]] = {}
    protected: dict[str, list[str]] = {}
    manifest: dict[str, Any] = {
        "source": "ingest",
        "mapping": str(mapping.path.resolve()) if mapping.path else None,
        "mapping_sha256": hashlib.sha256(mapping.path.read_bytes()).hexdigest()
        if mapping.path and mapping.path.is_file()
        else None,
        "timezone_naive": mapping.timezone,
    }
    out = Path(out)
    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / MANIFEST).is_file())
    ):
        raise InvalidInput(
            f"{out}: exists and is not a cardmind dataset; refusing to replace it (choose a new "
            "folder or an earlier import's folder)"
        )
    with DatasetWriter(out, manifest=manifest) as writer:
        auth_cards = None
        reader = SourceCache(mapping, headers)
        for name in order:
            tm = mapping.tables[name]
            say(f"loading {name}")
            q = Quarantine(name)
            rep = TableReport(table=name)
            loaded = load_table(tm, mapping, headers, q, auth_cards, rep, reader)
            if name == "authorizations":
                auth_cards = loaded.data.select(["auth_id", "card_token", "ts"])
            _write_table(writer, name, loaded.data, keep_extra=tm.extra_columns == "keep")
            spec = schema.TABLES[name]
            present[name] = loaded.present
            absent[name] = [c for c in spec.column_names if c not in loaded.present]
            defaulted[name] = loaded.defaulted
            if loaded.extras:
                extras[name] = loaded.extras
            prot = [_output_name(tm, p) for p in tm.protected]
            if "gender" in loaded.present and "gender" not in prot:
                prot.append("gender")
            if prot:
                protected[name] = prot
            reports[name] = rep
            if loaded.outcomes is not None:
                _write_table(writer, "application_outcomes", loaded.outcomes, keep_extra=False)
                present["application_outcomes"] = ["application_id", "bad"] + (
                    ["observed_at"] if tm.outcome and tm.outcome.observed_at else []
                )
                absent["application_outcomes"] = [
                    c
                    for c in schema.APPLICATION_OUTCOMES.column_names
                    if c not in present["application_outcomes"]
                ]
                reports["application_outcomes"] = TableReport(
                    table="application_outcomes",
                    source_rows=loaded.data.num_rows,
                    loaded=loaded.outcomes.num_rows,
                )
            rep.loaded = loaded.data.num_rows
            rep.rejected = q.rows_rejected()
            rep.issues = q.issues()
            rep.top_reasons = q.top_reasons()
            path = q.write(writer.staging / QUARANTINE_DIR, quarantine_format)
            if path is not None:
                rep.quarantine = str(out / QUARANTINE_DIR / path.name)
            if max_reject_rate is not None and rep.reject_rate > max_reject_rate:
                top = "; ".join(f"{c}: {r} ({n})" for c, r, n in rep.top_reasons[:3])
                raise InvalidInput(
                    f"{name}: {rep.rejected} of {rep.source_rows} rows rejected "
                    f"({rep.reject_rate:.1%} > --max-reject-rate {max_reject_rate:.1%}); nothing "
                    f"written. Most frequent: {top}"
                )
        report = IngestReport(out, reports, present, absent, defaulted, extras, protected)
        summary = report.to_dict()
        writer.manifest.update(
            {
                "tables": {k: v["loaded"] for k, v in summary["tables"].items()},
                "columns_present": present,
                "columns_absent": absent,
                "columns_defaulted": defaulted,
                "extra_columns": extras,
                "protected_columns": protected,
                "card_key": _card_keys(mapping),
                "outcomes": {
                    n: {"table": "application_outcomes", "source_column": t.outcome.source}
                    for n, t in mapping.tables.items()
                    if t.outcome is not None
                },
                "rejected_rows": report.rejected,
            }
        )
        (writer.staging / REPORT_FILE).write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    return report


def _write_table(writer: DatasetWriter, name: str, data: pa.Table, *, keep_extra: bool) -> None:
    writer.write(name, data, partial=True, extra_columns=keep_extra)


def _output_name(tm: TableMapping, name: str) -> str:
    for c in tm.columns:
        if c.source == name:
            return c.target
    return name


def _card_keys(mapping: Mapping) -> dict[str, str]:
    out = {}
    for name, tm in mapping.tables.items():
        if "card_token" not in schema.TABLES[name].column_names:
            continue
        if tm.card_number:
            out[name] = f"card number column {tm.card_number!r}, tokenised (HMAC)"
        elif tm.column("card_token") is not None:
            out[name] = "card_token mapped from the bank's own card id"
        elif tm.column("customer_id") is not None:
            out[name] = "customer_id (no card number in the source: one card per customer)"
    return out
