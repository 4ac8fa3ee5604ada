import json

import numpy as np
import pytest

from cardmind.models.calibration import Calibration


def _data(n=20000, seed=0):
    rng = np.random.default_rng(seed)
    raw = rng.random(n)
    y = rng.random(n) < raw**4  # raw over-states the probability
    return raw, y


def test_isotonic_is_monotone_and_closer_to_the_truth_than_raw():
    raw, y = _data()
    cal = Calibration.fit(raw[:10000], y[:10000])
    assert cal.method == "isotonic"
    grid = np.linspace(0, 1, 101)
    p = cal.transform(grid)
    assert np.all(np.diff(p) >= 0)
    brier_raw = np.mean((raw[10000:] - y[10000:]) ** 2)
    brier_cal = np.mean((cal.transform(raw[10000:]) - y[10000:]) ** 2)
    assert brier_cal < brier_raw


def test_few_positives_use_platt_and_no_positive_is_identity():
    raw, y = _data(400)
    y = np.zeros_like(y)
    y[np.argsort(-raw)[:10]] = True
    assert Calibration.fit(raw, y).method == "platt"
    assert Calibration.fit(raw, np.zeros_like(y)).method == "identity"


@pytest.mark.parametrize("n", [400, 20000])
def test_json_round_trip_gives_identical_outputs(n):
    raw, y = _data(n)
    cal = Calibration.fit(raw, y)
    again = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert np.array_equal(cal.transform(raw), again.transform(raw))
    assert cal.transform_one(0.3) == pytest.approx(float(cal.transform(np.array([0.3]))[0]))


def test_bad_definitions_are_refused():
    with pytest.raises(ValueError, match="unknown calibration method"):
        Calibration(method="beta")
    with pytest.raises(ValueError, match="breakpoints"):
        Calibration(method="isotonic", x=(0.5,), y=(0.1,))


def test_calibration_never_creates_ties_so_the_ranking_is_unchanged():
    raw, y = _data()
    cal = Calibration.fit(raw[:10000], y[:10000])
    order_raw = np.argsort(raw[10000:], kind="stable")
    p = cal.transform(raw[10000:])
    assert len(np.unique(p)) == len(np.unique(raw[10000:]))
    assert np.array_equal(np.argsort(p, kind="stable"), order_raw)
    assert cal.transform(np.array([0.0]))[0] >= 0 and cal.transform(np.array([1.0]))[0] <= 1
