"""``cardmind features list / describe`` (in process)."""

from __future__ import annotations

from typer.testing import CliRunner

from cardmind.cli import _register, app
from cardmind.errors import InvalidInput

_register()
runner = CliRunner()


def test_list_and_describe():
    out = runner.invoke(app, ["features", "list", "--entity", "merchant"])
    assert out.exit_code == 0
    assert "merchant_fraud_rate_30d\t" in out.stdout
    assert all(line.startswith("merchant_") for line in out.stdout.splitlines())
    counts = runner.invoke(app, ["features", "list", "--count"])
    assert "card" in counts.stdout and "total" in counts.stdout
    d = runner.invoke(app, ["features", "describe", "card_amount_sum_7d_online"])
    assert d.exit_code == 0 and '"filter": "online"' in d.stdout


def test_unknown_feature_or_entity_is_invalid_input():
    out = runner.invoke(app, ["features", "describe", "nope"])
    assert isinstance(out.exception, InvalidInput)
    assert str(out.exception) == "unknown feature 'nope'; see `cardmind features list`"
    bad = runner.invoke(app, ["features", "list", "--entity", "planet"])
    assert isinstance(bad.exception, InvalidInput)
