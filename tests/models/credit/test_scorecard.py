from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from cardmind.errors import InvalidInput, NotFittedError
from cardmind.models.credit import PROTECTED_ATTRIBUTES, Scaling, Scorecard
from cardmind.models.credit.evaluation import auc


def _synthetic(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "age": rng.integers(18, 66, n),
            "income": rng.lognormal(9, 0.5, n),
            "housing": rng.choice(["own", "mortgage", "rent", "family"], n),
            "gender": rng.choice(["F", "M"], n),
        }
    )
    logit = -1.5 - 0.04 * (X.age - 40) - 0.8 * (np.log(X.income) - 9) + (X.housing == "rent") * 0.7
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def _representative(ch, i: int):
    """A value that falls in bin ``i`` of characteristic ``ch``."""
    if i == ch.n_bins - 1:
        return np.nan if ch.dtype == "numerical" else "never-seen-category"
    if ch.dtype == "categorical":
        return ch.groups[i][0]
    edges = [-math.inf, *ch.splits, math.inf]
    lo, hi = edges[i], edges[i + 1]
    return hi - 1 if math.isinf(lo) else lo


@pytest.fixture(scope="module")
def fitted():
    X, y = _synthetic()
    return Scorecard().fit(X, y), X, y


def test_scaling_doubles_odds_every_pdo_points():
    s = Scaling(base_score=600, base_odds=50, pdo=20)
    odds = lambda score: (1 - s.pd_from_score(score)) / s.pd_from_score(score)  # noqa: E731
    assert odds(600) == pytest.approx(50)
    assert odds(620) == pytest.approx(100)
    assert odds(580) == pytest.approx(25)
    assert s.score_from_pd(float(s.pd_from_score(np.array([555.0]))[0])) == pytest.approx(555)


@pytest.mark.parametrize("kw", [{"pdo": 0}, {"base_odds": -1}, {"base_score": math.inf}])
def test_scaling_rejects_bad_parameters(kw):
    with pytest.raises(ValueError, match="pdo > 0"):
        Scaling(**kw)


def test_scorecard_excludes_protected_attributes_automatically(fitted):
    sc, X, _ = fitted
    assert "gender" not in sc.feature_names_
    assert sc.excluded_ == ["gender"]
    flipped = X.assign(gender=np.where(X.gender == "F", "M", "F"))
    assert np.array_equal(sc.score(X), sc.score(flipped))


@pytest.mark.parametrize("col", sorted(PROTECTED_ATTRIBUTES))
def test_scorecard_refuses_protected_attribute_as_feature(col):
    X, y = _synthetic(300)
    X[col] = "x"
    with pytest.raises(ValueError, match="protected attributes"):
        Scorecard(features=["age", col]).fit(X, y)


def test_score_is_sum_of_table_points_and_spans_exactly_min_and_max(fitted):
    sc, X, _ = fitted
    table = sc.table()
    assert sc.min_score_ == table.groupby("characteristic")["points"].min().sum()
    assert sc.max_score_ == table.groupby("characteristic")["points"].max().sum()
    best = {c.name: _representative(c, int(np.argmax(c.points))) for c in sc.characteristics_}
    worst = {c.name: _representative(c, int(np.argmin(c.points))) for c in sc.characteristics_}
    extremes = pd.DataFrame([best, worst])
    assert sc.score(extremes).tolist() == [sc.max_score_, sc.min_score_]
    scores = sc.score(X)
    assert sc.min_score_ <= scores.min() and scores.max() <= sc.max_score_
    assert np.array_equal(scores, sc.points(X).sum(axis=1))


def test_scorecard_discriminates_and_is_monotone_in_the_driver(fitted):
    sc, X, y = fitted
    assert auc(y, sc.predict_proba(X)[:, 1]) > 0.65
    age = next(c for c in sc.characteristics_ if c.name == "age")
    pts = np.array(age.points[:-1])  # numerical bins without the missing bin
    assert np.all(np.diff(pts) >= 0), "older applicants are safer in the data: points must rise"


def test_predicted_bad_rate_is_calibrated_on_average(fitted):
    sc, X, y = fitted
    assert sc.predict_proba(X)[:, 1].mean() == pytest.approx(y.mean(), abs=0.03)


def test_unseen_category_and_missing_value_score_in_the_missing_bin(fitted):
    sc, X, _ = fitted
    row = X.head(1).copy()
    row["housing"] = "houseboat"
    row["age"] = np.nan
    b = sc.bins(row)[0]
    for j, ch in enumerate(sc.characteristics_):
        if ch.name in ("housing", "age"):
            assert b[j] == ch.n_bins - 1


def test_json_and_csv_artifacts_reproduce_the_scores(fitted, tmp_path):
    sc, X, _ = fitted
    sc.save(tmp_path / "sc.json")
    assert json.loads((tmp_path / "sc.json").read_text())["kind"] == "cardmind.scorecard"
    loaded = Scorecard.load(tmp_path / "sc.json")
    assert np.array_equal(loaded.score(X), sc.score(X))
    sc.to_csv(tmp_path / "sc.csv")
    csv = pd.read_csv(tmp_path / "sc.csv")
    assert list(csv.columns) == list(sc.table().columns)
    assert csv["points"].tolist() == sc.table()["points"].tolist()


def test_adverse_factors_are_points_lost_against_the_best_bin(fitted):
    sc, X, _ = fitted
    pts = sc.points(X.head(50))
    idx, lost = sc.adverse_factors(pts, top=2)
    best = np.array([max(c.points) for c in sc.characteristics_])
    for r in range(50):
        expected = sorted((best - pts[r]).tolist(), reverse=True)[:2]
        got = [int(v) for v in lost[r]]
        assert got == [e if e > 0 else 0 for e in expected]
        for j, v in zip(idx[r], lost[r], strict=True):
            if j >= 0:
                assert best[j] - pts[r, j] == v


def test_unfitted_scorecard_raises_not_fitted():
    with pytest.raises(NotFittedError):
        Scorecard().score(pd.DataFrame({"a": [1]}))


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"min_bin_size": 0.7}, "min_bin_size"),
        ({"max_n_bins": 1}, "max_n_bins"),
        ({"C": 0}, "C must"),
    ],
)
def test_bad_parameters_raise_value_error_at_fit(kw, msg):
    X, y = _synthetic(200)
    with pytest.raises(ValueError, match=msg):
        Scorecard(**kw).fit(X, y)


def test_fit_rejects_single_class_and_wrong_types():
    X, _ = _synthetic(100)
    with pytest.raises(ValueError, match="both classes"):
        Scorecard().fit(X, np.zeros(100))
    with pytest.raises(TypeError, match="DataFrame"):
        Scorecard().fit(X.to_numpy(), np.zeros(100))


def test_loading_a_foreign_artifact_is_refused(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"kind": "other"}))
    with pytest.raises(InvalidInput, match="not a scorecard"):
        Scorecard.load(tmp_path / "x.json")


def test_sample_weights_change_the_fit():
    X, y = _synthetic(1500, seed=3)
    w = np.where(y == 1, 3.0, 1.0)
    base = Scorecard().fit(X, y)
    weighted = Scorecard().fit(X, y, sample_weight=w)
    assert weighted.bad_rate_ > base.bad_rate_ + 0.1
    assert weighted.predict_proba(X)[:, 1].mean() > base.predict_proba(X)[:, 1].mean()


def test_points_one_equals_batch_points(fitted):
    sc, X, _ = fitted
    sample = X.head(200).copy()
    sample.loc[sample.index[:5], "housing"] = None
    sample.loc[sample.index[5:10], "age"] = np.nan
    batch = sc.points(sample)
    for r, rec in enumerate(sample.to_dict("records")):
        assert sc.points_one(rec) == batch[r].tolist()
    assert sc.points_one({}) == [c.points[-1] for c in sc.characteristics_]


def test_monotonic_trend_is_validated_and_passed_to_the_binning():
    X, y = _synthetic(800)
    with pytest.raises(ValueError, match="monotonic_trend"):
        Scorecard(monotonic_trend="zigzag").fit(X, y)
    sc = Scorecard(monotonic_trend="descending", min_iv=0.0).fit(X, y)
    age = next(c for c in sc.characteristics_ if c.name == "age")
    bad_rate = np.array(age.bad[:-1]) / np.maximum(np.array(age.count[:-1]), 1)
    assert np.all(np.diff(bad_rate) <= 1e-9)
