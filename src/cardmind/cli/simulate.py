"""``cardmind simulate``: generate a simulated issuer and print its summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cardmind.cli import app
from cardmind.errors import InvalidInput


def _progress_run(cfg, out: Path):
    """Run the simulation with a Rich progress bar (one step per month)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from cardmind.simulate import simulate

    with Progress(
        TextColumn("[bold]simulating[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} months"),
        TimeElapsedColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(f"{cfg.preset} (seed {cfg.seed})", total=cfg.period.months)

        def progress(done: int, total: int, message: str) -> None:
            bar.update(task, completed=done, total=total)

        return simulate(cfg, out, progress=progress)


def _print_summary(summary, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        typer.echo(str(summary))


@app.command("simulate")
def simulate_command(
    preset: Annotated[str, typer.Option("--preset", help="tiny, demo or bench.")] = "demo",
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same data).")] = 0,
    out: Annotated[
        Path | None, typer.Option("--out", help="Dataset folder to write (replaced atomically).")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a parameter: NAME=VALUE, e.g. scenarios.cashout_app.ring_size=8.",
        ),
    ] = None,
    describe: Annotated[
        Path | None, typer.Option("--describe", help="Only print the summary of DIR.")
    ] = None,
    list_params: Annotated[
        bool, typer.Option("--list-params", help="List every parameter and exit.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Simulate a card issuer (模拟发卡行): customers, cards, merchants, authorizations, statements,
    repayments, installments, applications and labelled fraud / cash-out scenarios."""
    from cardmind.simulate import describe as describe_dataset
    from cardmind.simulate import load_preset, parse_overrides

    if describe is not None:
        _print_summary(describe_dataset(describe), as_json)
        return
    cfg = load_preset(preset, seed=seed, overrides=parse_overrides(set_))
    if list_params:
        for name, value in cfg.flat().items():
            typer.echo(f"{name} = {value}")
        return
    if out is None:
        raise InvalidInput("--out DIR is required (the dataset folder to write)")
    summary = _progress_run(cfg, out)
    _print_summary(summary, as_json)
    typer.echo(f"dataset written to {out}")
