"""``cardmind ingest``: summary on success, one-line error and exit code 2 on bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cardmind.cli import _register, app

from .conftest import HEADER, tx_rows

_register()
runner = CliRunner()


def test_ingest_prints_summary_and_writes_report(bank):
    rows = tx_rows(4)
    rows[0] = rows[0].replace("10.50", "-1")
    bank.write(rows)
    result = runner.invoke(
        app, ["ingest", "--mapping", str(bank.mapping()), "--out", str(bank.out)]
    )
    assert result.exit_code == 0, result.output
    assert "rows rejected (not an error)" in result.output
    report = json.loads((bank.out / "ingest_report.json").read_text())
    assert report["tables"]["authorizations"]["loaded"] == 3
    assert report["tables"]["authorizations"]["rejected"] == 1


def test_source_override_and_json(bank):
    bank.write(tx_rows(3), name="other.csv")
    result = runner.invoke(
        app,
        [
            "ingest",
            "-m",
            str(bank.mapping()),
            "-o",
            str(bank.out),
            "--json",
            "--source",
            f"authorizations={bank.root / 'other.csv'}",
            "--source",
            f"fraud_labels={bank.root / 'other.csv'}",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["tables"]["authorizations"]["loaded"] == 3


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--max-reject-rate", "0"], "rows rejected"),
        (["--source", "nope=x.csv"], "--source: tables ['nope'] are not in the mapping"),
        (["--source", "bad"], "--source must look like table=path"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(bank, args, fragment, capsys):
    from cardmind.cli import main

    rows = tx_rows(3)
    rows[0] = rows[0].replace("10.50", "x")
    bank.write(rows)
    import sys

    argv = ["cardmind", "ingest", "-m", str(bank.mapping()), "-o", str(bank.out), *args]
    old = sys.argv
    sys.argv = argv
    try:
        with pytest.raises(SystemExit) as exit_:
            main()
    finally:
        sys.argv = old
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and fragment in err and "\n" not in err
    assert not bank.out.exists()


def test_bad_mapping_yaml_exit_code_2(bank, capsys):
    import sys

    from cardmind.cli import main

    bank.write(tx_rows(2), header=HEADER)
    path = bank.root / "mapping.yaml"
    path.write_text("tables: [oops")
    old = sys.argv
    sys.argv = ["cardmind", "ingest", "-m", str(path), "-o", str(bank.out)]
    try:
        with pytest.raises(SystemExit) as exit_:
            main()
    finally:
        sys.argv = old
    assert exit_.value.code == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_check_shows_the_plan_and_writes_nothing(bank):
    bank.write(tx_rows(2))
    result = runner.invoke(
        app, ["ingest", "-m", str(bank.mapping()), "-o", str(bank.out), "--check"]
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["authorizations"]["columns"]["card_token"] == "HMAC token of 'card_no'"
    assert plan["authorizations"]["columns"]["amount_fen"] == "from 'amt' (yuan)"
    assert "channel" in plan["authorizations"]["not_mapped"]
    assert not bank.out.exists()
