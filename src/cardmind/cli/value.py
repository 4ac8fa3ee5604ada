"""``cardmind report quality`` and ``cardmind value tiers``: customer value from the command line."""

from __future__ import annotations

from pathlib import Path

import typer

from cardmind.cli import app

report_app = typer.Typer(help="Analytical reports (报告).", no_args_is_help=True)
DATA = typer.Option(..., "--data", help="Dataset folder (simulated or imported).")
TIERS = typer.Option(None, "--tiers", help="Tier rules YAML (default: packaged tiers.yaml).")
CONFIG = typer.Option(None, "--config", help="Profit parameters YAML (default: packaged value.yaml).")
HTML_OUT = typer.Option(..., "--out", help="HTML file to write.")
PARQUET_OUT = typer.Option(..., "--out", help="Parquet file to write (customer_id, tier, value, context).")
value_app = typer.Typer(help="Customer value and tiers (客户价值分层).", no_args_is_help=True)
app.add_typer(report_app, name="report")
app.add_typer(value_app, name="value")


@report_app.command("quality")
def report_quality(
    data: Path = DATA,
    out: Path = HTML_OUT,
    tiers: Path = TIERS,
    config: Path = CONFIG,
) -> None:
    """How many purchases a month make a quality customer (HTML report with charts)."""
    from cardmind.models.value.config import load_value_config
    from cardmind.models.value.metrics import monthly_metrics
    from cardmind.models.value.quality import render_html, study
    from cardmind.models.value.tiers import load_tiers

    cfg, rules = load_value_config(config), load_tiers(tiers)
    s = study(monthly_metrics(data), cfg=cfg, rules=rules)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(s, source=str(data)), encoding="utf-8")
    en, _ = s.answer()
    typer.echo(en)
    typer.echo(f"report written to {out}")


@value_app.command("tiers")
def value_tiers(
    data: Path = DATA,
    out: Path = PARQUET_OUT,
    tiers: Path = TIERS,
    config: Path = CONFIG,
) -> None:
    """Assign every customer a value tier from the realised profit of all observed months."""
    from cardmind.models.value.config import load_value_config
    from cardmind.models.value.metrics import monthly_metrics
    from cardmind.models.value.tiers import assign_population, load_tiers

    result = assign_population(monthly_metrics(data), load_value_config(config), load_tiers(tiers))
    out.parent.mkdir(parents=True, exist_ok=True)
    result.to_parquet(out, index=False)
    for tier, n in result["tier"].value_counts().items():
        typer.echo(f"{tier:<12} {n:>9,}")
    typer.echo(f"tiers written to {out}")
