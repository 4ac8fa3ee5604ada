"""``cardmind simulate`` / ``cardmind demo``: output, describe, and one-line errors (exit 2)."""

from __future__ import annotations

import sys

import pytest

from cardmind.cli import main


def _run(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["cardmind", *args])
    with pytest.raises(SystemExit) as info:
        main()
    out = capsys.readouterr()
    return info.value.code or 0, out.out, out.err


def test_simulate_writes_a_dataset_and_prints_the_summary(monkeypatch, capsys, tmp_path):
    code, out, err = _run(
        monkeypatch,
        capsys,
        "simulate",
        "--preset",
        "tiny",
        "--seed",
        "2",
        "--out",
        str(tmp_path / "ds"),
        "--set",
        "population.cards=120",
        "--set",
        "period.months=2",
    )
    assert code == 0, err
    assert "authorizations per active card per month" in out
    assert (tmp_path / "ds" / "manifest.json").is_file()
    code, out2, _ = _run(monkeypatch, capsys, "simulate", "--describe", str(tmp_path / "ds"))
    assert code == 0 and "fraud rate" in out2
    code, out3, _ = _run(
        monkeypatch, capsys, "simulate", "--describe", str(tmp_path / "ds"), "--json"
    )
    assert code == 0 and '"auths_per_active_card_month"' in out3


def test_list_params(monkeypatch, capsys):
    code, out, _ = _run(monkeypatch, capsys, "simulate", "--preset", "tiny", "--list-params")
    assert code == 0 and "scenarios.cashout_app.ring_size = 12" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "huge"], "unknown preset 'huge'"),
        (["--preset", "tiny", "--set", "population.cards=-5"], "cards must be >= 0"),
        (
            ["--preset", "tiny", "--set", "scenarios.phishing.rate=0.1"],
            "unknown scenario 'phishing'",
        ),
        (["--preset", "tiny", "--seed", "-1"], "seed must be an integer >= 0"),
        (["--preset", "tiny", "--set", "ring_size"], "NAME=VALUE"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_and_writes_nothing(
    monkeypatch, capsys, tmp_path, args, message
):
    target = tmp_path / "out"
    code, _, err = _run(monkeypatch, capsys, "simulate", *args, "--out", str(target))
    assert code == 2
    assert err.strip().count("\n") == 0 and message in err
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = _run(
        monkeypatch, capsys, "simulate", "--preset", "tiny", "--out", str(blocker / "ds")
    )
    assert code == 2 and err.strip().count("\n") == 0 and "cannot write" in err
    assert [p.name for p in tmp_path.iterdir()] == ["file"]
    code, _, err = _run(monkeypatch, capsys, "simulate", "--preset", "tiny")
    assert code == 2 and "--out DIR is required" in err
    code, _, err = _run(monkeypatch, capsys, "simulate", "--describe", str(tmp_path))
    assert code == 2 and "not a cardmind dataset" in err
