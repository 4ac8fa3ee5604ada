"""``simulate(config, out_dir)``: the public entry point (validation, run, summary)."""

from __future__ import annotations

import os
from pathlib import Path

from cardmind.dataset import MANIFEST
from cardmind.errors import InvalidInput
from cardmind.simulate.config import SimulationConfig
from cardmind.simulate.engine import Progress, run
from cardmind.simulate.summary import Summary, describe


def _check_writable(out: Path) -> None:
    parent = out.parent
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise InvalidInput(f"{out}: cannot write here (folder {probe} is not writable)")
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise InvalidInput(
            f"{out}: exists and is not a cardmind dataset; refusing to replace it (choose a new folder)"
        )


def simulate(
    config: SimulationConfig, out_dir: str | Path, progress: Progress | None = None
) -> Summary:
    """Simulate ``config`` into the dataset folder ``out_dir`` and return its summary.

    The folder is written atomically (temporary sibling, then rename): on any error nothing is
    left behind. ``progress(done, total, message)`` is called after each month.
    """
    if not isinstance(config, SimulationConfig):
        raise InvalidInput(f"config must be a SimulationConfig, got {type(config).__name__}")
    out = Path(out_dir).expanduser()
    _check_writable(out)
    result = run(config, out, progress)
    summary = describe(out)
    summary.seconds = round(result["seconds"], 2)
    return summary
