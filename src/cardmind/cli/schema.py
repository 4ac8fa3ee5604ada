"""``cardmind schema``: print the data dictionary."""

from __future__ import annotations

import typer

from cardmind.cli import app


@app.command("schema")
def schema_command(
    table: str = typer.Argument(None, help="Only this table (default: all)."),
) -> None:
    """Print the typed tables and the meaning of every column (数据字典)."""
    from cardmind import schema

    if table is None:
        typer.echo(schema.describe_markdown())
        return
    if table not in schema.TABLES:
        from cardmind.errors import InvalidInput

        raise InvalidInput(f"unknown table {table!r}; known: {', '.join(schema.TABLES)}")
    t = schema.TABLES[table]
    typer.echo(f"{t.name}: {t.doc}")
    for c in t.columns:
        typer.echo(f"  {c.name:<24} {c.type!s:<32} {c.doc}")
