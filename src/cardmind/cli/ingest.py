"""``cardmind ingest``: load a bank's own CSV/Parquet files through a column mapping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cardmind.cli import app


def _overrides(items: list[str]) -> dict[str, list[Path]]:
    from cardmind.errors import InvalidInput

    out: dict[str, list[Path]] = {}
    for item in items:
        table, sep, path = item.partition("=")
        if not sep or not table or not path:
            raise InvalidInput(f"--source must look like table=path, got {item!r}")
        out.setdefault(table.strip(), []).append(Path(path))
    return out


@app.command("ingest")
def ingest_command(
    mapping: Annotated[Path, typer.Option("--mapping", "-m", help="Column-mapping YAML file.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Dataset folder to write (replaced atomically).")
    ],
    source: Annotated[
        list[str] | None,
        typer.Option("--source", help="Override a table's source: table=path (repeatable)."),
    ] = None,
    max_reject_rate: Annotated[
        float | None,
        typer.Option(
            "--max-reject-rate",
            help="Fail (write nothing) when a table rejects more than this share (0-1).",
        ),
    ] = None,
    quarantine_format: Annotated[
        str, typer.Option("--quarantine-format", help="csv or parquet.")
    ] = "csv",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON instead of a table.")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Only check the mapping against the files' headers and show the plan."
        ),
    ] = False,
) -> None:
    """Import a bank's files into a dataset (导入银行数据): tokenise card numbers,
    refuse CVV/PIN, quarantine bad rows with their line and reason.

    Mapping format: docs/adr/0003-ingest-mapping-format.md; examples in
    cardmind/ingest/mappings/ (bank_transactions.yaml, german_credit.yaml).
    """
    from rich.console import Console

    from cardmind.ingest import Mapping, ingest
    from cardmind.ingest.report import render

    m = Mapping.load(mapping)
    if source:
        m = m.override_sources(_overrides(source))
    if check:
        from cardmind.ingest.preflight import plan

        typer.echo(json.dumps(plan(m), indent=2, ensure_ascii=False))
        return
    console = Console(stderr=as_json, log_path=False)
    with console.status("importing ..."):
        report = ingest(
            m,
            out,
            max_reject_rate=max_reject_rate,
            quarantine_format=quarantine_format,
            progress=lambda msg: console.log(msg) if not as_json else None,
        )
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        return
    console.print(render(report))
    for name, cols in report.columns_absent.items():
        if cols:
            console.print(
                f"[dim]{name}: absent columns (features needing them are skipped): {', '.join(cols)}[/dim]"
            )
    for name, cols in report.columns_defaulted.items():
        for col, how in cols.items():
            console.print(f"[dim]{name}.{col}: {how}[/dim]")
    if report.rejected:
        console.print(
            f"{report.rejected:,} rows rejected (not an error): see the quarantine files "
            "for file, line, column and reason (被拒绝的行见隔离文件)."
        )
    console.print(f"report: {out / 'ingest_report.json'}")
