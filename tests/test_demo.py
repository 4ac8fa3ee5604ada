"""The end-to-end demo pipeline on the tiny preset (the CLI runs the same on ``demo``)."""

import json

import pytest

from cardmind.demo import run_demo
from cardmind.errors import InvalidInput


def test_demo_runs_end_to_end_and_reports(tmp_path):
    steps = []
    result = run_demo(
        tmp_path / "demo",
        preset="tiny",
        replay_days=14,
        rounds=80,
        progress=lambda step, _msg: steps.append(step),
    )
    assert steps[0] == "simulate" and steps[-1] == "replay"
    assert result.fraud_model_version == "v0001"
    report = result.replay
    assert report.decisions > 1000 and report.fraud_count > 0
    # the trained model and the cash-out hook catch more fraud than nothing at all
    assert report.fraud_caught > 0.3 * report.fraud_count
    saved = json.loads((tmp_path / "demo" / "demo.json").read_text())
    assert saved["fraud_model_version"] == "v0001"
    assert saved["replay"]["decisions"] == report.decisions


def test_demo_refuses_nonsense_days(tmp_path):
    with pytest.raises(InvalidInput):
        run_demo(tmp_path, preset="tiny", replay_days=0)
