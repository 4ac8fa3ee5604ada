import importlib.util
import json
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "cashout_synthetic",
    Path(__file__).resolve().parents[1] / "models" / "cashout" / "cashout_synthetic.py",
)
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    return (
        synthetic.build(root / "ds", seed=2, n_cards=40),
        synthetic.build(root / "norepay", seed=2, n_cards=40, with_repayments=False),
        root,
    )


def _pretrain(ds, home):
    """A small detector saved where the CLI looks for it (keeps the test fast)."""
    from cardmind.dataset import Dataset
    from cardmind.models.cashout import pipeline
    from cardmind.models.cashout.detector import DetectorParams

    det = pipeline.train(Dataset(ds), params=DetectorParams(num_boost_round=20, folds=2))
    det.save(home / "cashout" / "detector")


def test_detect_rings_and_reduced_input(data, tmp_path, cardmind_home, run):
    ds, norepay, _ = data
    _pretrain(ds, cardmind_home)
    r = run("cashout", "detect", "--data", str(ds), "--out", str(tmp_path / "c.csv"))
    assert r.returncode == 0, r.stderr
    assert "alerts" in r.stdout and (tmp_path / "c.csv").is_file()
    assert (cardmind_home / "cashout" / "detector" / "model.txt").is_file()
    r = run("cashout", "rings", "--data", str(ds), "--out", str(tmp_path / "s.json"),
            "--as-of", "2026-04-30T00:00:00")  # fmt: skip
    assert r.returncode == 0, r.stderr
    entries = json.loads((tmp_path / "s.json").read_text())
    assert entries and all(e["value"].startswith("ring") for e in entries)
    r = run("lists", "import", str(tmp_path / "s.json"))  # the file goes to the engine as it is
    assert r.returncode == 0 and f"added or refreshed {len(entries)} watch; 0 refused" in r.stdout
    model = str(cardmind_home / "cashout" / "detector")
    r = run(
        "cashout",
        "evaluate",
        "--data",
        str(ds),
        "--model",
        model,
        "--out",
        str(tmp_path / "e.json"),
    )
    assert r.returncode == 0, r.stderr
    assert "precision" in r.stdout
    assert json.loads((tmp_path / "e.json").read_text())["metrics"]["combined"]["recall"] > 0.5
    r = run("cashout", "detect", "--data", str(norepay), "--out", str(tmp_path / "r.parquet"))
    assert r.returncode == 0, r.stderr
    assert "no repayments table" in r.stderr


def test_bad_input_is_one_line_and_exit_2(data, tmp_path, run):
    _, norepay, root = data
    r = run("cashout", "detect", "--data", str(root / "missing"), "--out", "x.csv")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
    r = run("cashout", "detect", "--data", str(norepay), "--out", "x.csv",
             "--model", str(tmp_path / "none"))  # fmt: skip
    assert r.returncode == 2 and "no saved detector" in r.stderr
    r = run("cashout", "detect", "--data", str(norepay), "--out", "x.csv", "--as-of", "soon")
    assert r.returncode == 2 and "--as-of" in r.stderr
    r = run("cashout", "plan", "--balance", "abc", "--capacity", "1")
    assert r.returncode == 2 and "not an amount" in r.stderr


def test_plan_and_warning(run):
    r = run("cashout", "plan", "--balance", "12000", "--capacity", "2500")
    assert r.returncode == 0 and "账单分期6期" in r.stdout
    r = run("cashout", "warning", "--lang", "en")
    assert r.returncode == 0 and "CVN2" in r.stdout and "代还 apps" not in r.stdout
