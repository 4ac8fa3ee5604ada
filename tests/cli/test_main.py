import subprocess
import sys


def _run(*args):
    return subprocess.run(
        [sys.executable, "-c", "from cardmind.cli import main; main()", *args],
        capture_output=True,
        text=True,
    )


def test_unknown_table_is_a_one_line_error_with_exit_2():
    result = _run("schema", "nope")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "unknown table 'nope'" in result.stderr


def test_schema_lists_tables():
    result = _run("schema")
    assert result.returncode == 0
    assert "### `authorizations`" in result.stdout
