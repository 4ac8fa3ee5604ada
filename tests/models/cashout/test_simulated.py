"""The detector and the rings on the simulator's tiny dataset (shared session fixture)."""

import shutil

import pytest

from cardmind.dataset import Dataset
from cardmind.models.cashout import pipeline
from cardmind.models.cashout.detector import DetectorParams
from cardmind.models.cashout.evaluation import evaluate, ring_metrics

FAST = DetectorParams(num_boost_round=60)


@pytest.fixture(scope="module")
def tiny(tiny_dataset):
    return Dataset(tiny_dataset)


@pytest.fixture(scope="module")
def evaluated(tiny):
    return evaluate(tiny, params=FAST)


def test_time_split_precision_recall_and_time_to_detection(evaluated):
    report, _ = evaluated
    m = report.metrics
    assert set(m["recall_by_scenario"]) == {"cashout_app", "pos_cashout"}
    assert m["positive_cycles"] >= 30
    assert m["combined"]["recall"] >= 0.75
    assert m["combined"]["precision"] >= 0.75
    assert m["time_to_detection_hours"]["median"] <= 24
    assert m["rules"]["precision"] >= 0.8  # the readable rules alone are precise


def test_rings_recover_the_colluding_merchants(tiny, evaluated):
    _, det = evaluated
    detection = pipeline.detect(tiny, det)
    report = pipeline.rings(tiny, detection)
    suspects = [e["value"] for e in report.suspect_list()]
    m = ring_metrics(tiny, suspects)
    assert m["precision"] >= 0.8 and m["recall"] >= 0.6
    assert report.rings[0].shared_cards >= 2


def test_dropping_repayments_is_flagged_and_still_detects(tiny, evaluated, tmp_path):
    _, det = evaluated
    copy = tmp_path / "no-repayments"
    shutil.copytree(tiny.path, copy, ignore=shutil.ignore_patterns("repayments"))
    reduced = Dataset(copy)
    assert not reduced.has("repayments")
    detection = pipeline.detect(reduced, det)
    assert detection.notices and "cannot see repayments" in detection.notices[0]
    assert all(detection.cycles.column("reduced_features").to_pylist())
    report, _ = evaluate(reduced, detector=det)
    assert report.reduced_features
    assert report.metrics["combined"]["recall"] >= 0.4
