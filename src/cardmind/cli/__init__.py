"""The ``cardmind`` command line: thin wrappers that parse, call the library and show progress.

Each noun group lives in its own module of this package and registers itself on ``app`` here.
Bad input ends with a one-line error on stderr and exit code 2.
"""

from __future__ import annotations

import sys

import typer

from cardmind.errors import CardmindError

app = typer.Typer(
    name="cardmind",
    help="cardmind: the AI brain of a credit-card issuer (智能信用卡大脑).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    """Import the command modules; each adds its commands or sub-apps to ``app``."""
    # One line per command module (keep sorted).
    from cardmind.cli import cashout as _cashout  # noqa: F401
    from cardmind.cli import credit as _credit  # noqa: F401
    from cardmind.cli import demo as _demo  # noqa: F401
    from cardmind.cli import features as _features  # noqa: F401
    from cardmind.cli import ingest as _ingest  # noqa: F401
    from cardmind.cli import lists as _lists  # noqa: F401
    from cardmind.cli import models as _models  # noqa: F401
    from cardmind.cli import replay as _replay  # noqa: F401
    from cardmind.cli import schema as _schema  # noqa: F401
    from cardmind.cli import serve as _serve  # noqa: F401
    from cardmind.cli import simulate as _simulate  # noqa: F401
    from cardmind.cli import value as _value  # noqa: F401


@app.callback()
def _root() -> None:
    """cardmind: the AI brain of a credit-card issuer (智能信用卡大脑)."""


def main() -> None:
    """Console-script entry point; cardmind errors become one line on stderr and exit code 2.

    Usage errors (unknown option, bad value) are Click's own and also exit with code 2.
    """
    _register()
    try:
        app()
    except CardmindError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
