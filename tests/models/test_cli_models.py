import json
import subprocess
import sys

import lightgbm as lgb
import numpy as np
import pytest
from typer.testing import CliRunner

from cardmind.cli import _register, app
from cardmind.errors import InvalidInput
from cardmind.models.registry import Registry

_register()
runner = CliRunner()


def _save(home):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    b = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, X[:, 0] > 1), 5)
    return Registry(home / "models").save(
        "fraud",
        model_text=b.model_to_string(),
        metadata={"feature_names": ["card_count_1h", "req_amount"], "metrics": {"ap": 0.61}},
    )


def test_models_list_describe_promote(cardmind_home):
    v = _save(cardmind_home)
    out = runner.invoke(app, ["models", "list"])
    assert out.exit_code == 0 and "fraud" in out.output and "ap=0.610" in out.output
    out = runner.invoke(app, ["models", "promote", "fraud", v])
    assert out.exit_code == 0, out.output
    meta = json.loads(runner.invoke(app, ["models", "describe", "fraud", "production"]).output)
    assert meta["version"] == v and meta["stages"] == ["production"]
    assert "production" in runner.invoke(app, ["models", "list"]).output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["models", "promote", "fraud", "v0042"], "has no version v0042"),
        (["models", "describe", "nope"], "no model named 'nope'"),
        (["train", "fraud", "--data", "/nonexistent/ds"], "not a cardmind dataset"),
        (["evaluate", "--data", "/nonexistent/ds", "--out", "x.md"], "not a cardmind dataset"),
    ],
)
def test_bad_input_raises_invalid_input(cardmind_home, args, message):
    _save(cardmind_home)
    out = runner.invoke(app, args)
    assert isinstance(out.exception, InvalidInput) and message in str(out.exception)


def test_the_console_script_turns_bad_input_into_one_line_and_exit_2(cardmind_home):
    _save(cardmind_home)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cardmind.cli import main; main()",
            "models",
            "promote",
            "fraud",
            "v0042",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "has no version v0042" in out.stderr
