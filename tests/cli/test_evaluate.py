"""``cardmind evaluate``: the fraud evaluation (bare or ``fraud``) and ``installment``; installment commands."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cardmind.cli import _register, app
from cardmind.errors import InvalidInput

_register()
runner = CliRunner()


@pytest.mark.parametrize(
    "args",
    [
        ["evaluate", "--data", "/nonexistent/ds", "--out", "x.md"],  # the form of the README and earlier tests
        ["evaluate", "fraud", "--data", "/nonexistent/ds"],
        ["evaluate", "installment", "--data", "/nonexistent/ds"],
        ["installment", "evaluate", "--data", "/nonexistent/ds"],
        ["installment", "index", "--data", "/nonexistent/ds"],
    ],
)
def test_every_spelling_reaches_its_command(args):
    out = runner.invoke(app, args)
    assert isinstance(out.exception, InvalidInput) and "not a cardmind dataset" in str(out.exception)


def test_bare_evaluate_without_data_is_a_usage_error():
    out = runner.invoke(app, ["evaluate"])
    assert out.exit_code == 2 and "--data" in out.output


def test_evaluate_installment_prints_the_policy_table(tiny_dataset):
    out = runner.invoke(app, ["evaluate", "installment", "--data", str(tiny_dataset), "--offer-share", "0.3"])
    assert out.exit_code == 0, out.output
    for policy in ("model_terms", "model_list_price", "naive_amount", "oracle"):
        assert f"| {policy} |" in out.output


def test_train_installment_writes_model_and_index(tiny_dataset, cardmind_home):
    out = runner.invoke(app, ["train", "installment", "--data", str(tiny_dataset)])
    assert out.exit_code == 0, out.output
    assert (cardmind_home / "models" / "installment" / "model.txt").is_file()
    assert (cardmind_home / "serve" / "installment-index.duckdb").is_file()
