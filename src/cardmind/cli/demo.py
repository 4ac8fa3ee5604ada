"""``cardmind demo``: the end-to-end job on a simulated issuer (see :mod:`cardmind.demo`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from cardmind.cli import app


@app.command("demo")
def demo_command(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder (default $CARDMIND_HOME/demo)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    preset: Annotated[str, typer.Option("--preset", help="demo (default) or tiny.")] = "demo",
    days: Annotated[int, typer.Option("--days", min=1, help="Days replayed at the end.")] = 14,
) -> None:
    """Simulate an issuer, train the fraud model and the cash-out detector, replay the last
    weeks through the authorization engine, and report (端到端演示)."""
    from rich.console import Console

    from cardmind.demo import run_demo
    from cardmind.settings import get_settings

    console = Console()
    target = out if out is not None else get_settings().home / "demo"
    began = time.perf_counter()
    with console.status("starting") as status:

        def progress(step: str, message: str) -> None:
            if "\n" in message:  # a summary block: print it whole
                console.print(message)
            else:
                status.update(f"[bold]{step}[/]: {message}")
                console.log(f"[bold]{step}[/]: {message}")

        result = run_demo(target, preset=preset, seed=seed, replay_days=days, progress=progress)
    for table in result.replay.tables():
        console.print(table)
    steps = ", ".join(f"{k} {v:.0f} s" for k, v in result.seconds.items())
    console.print(f"demo finished in {time.perf_counter() - began:.0f} s ({steps})")
    console.print(f"figures: {target / 'demo.json'}; data: {result.data_dir}")
