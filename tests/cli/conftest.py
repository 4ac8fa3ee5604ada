"""The ``run`` fixture: ``cardmind ...`` in process, as the console script runs it."""

from __future__ import annotations

import sys
from typing import NamedTuple

import pytest


class Result(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run(capsys, monkeypatch):
    """Run ``cardmind ...`` in process (``main()``: one-line errors, exit code 2)."""
    from cardmind.cli import main

    def _run(*args: str) -> Result:
        monkeypatch.setattr(sys, "argv", ["cardmind", *args])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code or 0
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return _run
