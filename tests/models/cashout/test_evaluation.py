import pytest

from cardmind.dataset import Dataset, DatasetWriter
from cardmind.errors import InvalidInput
from cardmind.models.cashout.detector import DetectorParams
from cardmind.models.cashout.evaluation import evaluate, truth_cycles

FAST = DetectorParams(num_boost_round=40)


def test_truth_cycles_cover_both_scenarios(cashout_ds):
    t = truth_cycles(cashout_ds)
    assert sorted(set(t.column("scenario").to_pylist())) == ["cashout_app", "pos_cashout"]
    assert t.num_rows == 10  # 8 cycled cards + 2 POS cash-outs, one cycle each


def test_time_split_evaluation_finds_the_pattern(cashout_ds):
    report, _ = evaluate(cashout_ds, params=FAST, test_fraction=0.5)
    m = report.metrics
    assert m["positive_cycles"] > 0
    assert m["combined"]["recall"] >= 0.8
    assert m["combined"]["precision"] >= 0.8
    # the fixture cycles one purchase every 20-90 minutes: detection within two days
    assert 0 <= m["time_to_detection_hours"]["median"] <= 48
    assert report.train_cycles[1] <= report.test_cycles[0]
    assert "precision" in report.table()


def test_evaluate_with_a_given_detector_on_reduced_data(cashout_ds, cashout_ds_no_repayments):
    _, det = evaluate(cashout_ds, params=FAST, test_fraction=0.5)
    report, same = evaluate(cashout_ds_no_repayments, detector=det)
    assert same is det
    assert report.reduced_features
    assert "reduced features: True" in report.table()
    assert report.metrics["combined"]["recall"] >= 0.5


def test_evaluation_needs_truth(tmp_path, cashout_ds):
    with DatasetWriter(tmp_path / "d", manifest={"source": "t"}) as w:
        for t in ("cards", "merchants", "authorizations"):
            w.write(t, cashout_ds.read(t))
    with pytest.raises(InvalidInput, match="truth_authorizations"):
        evaluate(Dataset(tmp_path / "d"), params=FAST)
