"""What an import did: counts per table, present/absent columns, defaults, extra columns.

>>> r = TableReport(table="authorizations", source_rows=10, loaded=9, rejected=1)
>>> r.reject_rate
0.1
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TableReport:
    """Counts for one table (what the summary prints)."""

    table: str
    source_rows: int = 0
    loaded: int = 0
    rejected: int = 0
    issues: int = 0
    quarantine: str | None = None
    top_reasons: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def reject_rate(self) -> float:
        return self.rejected / self.source_rows if self.source_rows else 0.0


@dataclass
class IngestReport:
    """What an import did: per-table counts, present/absent columns, defaults, extras."""

    out: Path
    tables: dict[str, TableReport]
    columns_present: dict[str, list[str]]
    columns_absent: dict[str, list[str]]
    columns_defaulted: dict[str, dict[str, str]]
    extra_columns: dict[str, list[str]]
    protected_columns: dict[str, list[str]]

    @property
    def rejected(self) -> int:
        return sum(t.rejected for t in self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "tables": {
                name: {
                    "source_rows": t.source_rows,
                    "loaded": t.loaded,
                    "rejected": t.rejected,
                    "issues": t.issues,
                    "reject_rate": round(t.reject_rate, 6),
                    "quarantine": t.quarantine,
                    "top_reasons": [
                        {"column": c, "reason": r, "count": n} for c, r, n in t.top_reasons
                    ],
                }
                for name, t in self.tables.items()
            },
            "rejected_rows": self.rejected,
            "columns_present": self.columns_present,
            "columns_absent": self.columns_absent,
            "columns_defaulted": self.columns_defaulted,
            "extra_columns": self.extra_columns,
            "protected_columns": self.protected_columns,
        }


def render(report: IngestReport) -> Any:
    """The summary as a Rich table (what ``cardmind ingest`` prints)."""
    from rich.table import Table

    table = Table(title=f"cardmind ingest -> {report.out}")
    for col in ("table", "source rows", "loaded", "rejected", "quarantine"):
        numeric = col in ("source rows", "loaded", "rejected")
        table.add_column(col, justify="right" if numeric else "left")
    for name, t in report.tables.items():
        table.add_row(
            name, f"{t.source_rows:,}", f"{t.loaded:,}", f"{t.rejected:,}", t.quarantine or ""
        )
    return table
