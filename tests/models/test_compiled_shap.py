"""The compiled tree SHAP equals LightGBM's ``predict(pred_contrib=True)``."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from cardmind.errors import InvalidInput
from cardmind.models.compiled import CompiledForest
from cardmind.models.scoring import ScoringModel


def _data(seed: int, n: int = 3000, p: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    X[rng.random(n) < 0.15, 1] = np.nan  # missing values: default directions
    X[rng.random(n) < 0.3, 2] = 0.0  # zeros: the "Zero" missing type with zero_as_missing
    X[:, 3] = rng.integers(0, 3, n)  # few distinct values: repeated splits on one feature
    y = ((X[:, 0] + np.nan_to_num(X[:, 1]) * X[:, 3] + rng.normal(size=n)) > 1.2).astype(int)
    return X, y


@pytest.mark.parametrize(
    "params",
    [
        {"num_leaves": 31, "min_data_in_leaf": 5},
        {"num_leaves": 63, "min_data_in_leaf": 2, "max_depth": -1},  # deep, many repeats
        {"num_leaves": 4, "zero_as_missing": True},
        {"num_leaves": 15, "use_missing": False},
        {"num_leaves": 31, "bagging_fraction": 0.5, "bagging_freq": 1, "feature_fraction": 0.6},
    ],
)
def test_contributions_equal_lightgbm_pred_contrib(params):
    X, y = _data(hash(str(sorted(params.items()))) % 1000)
    b = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1, **params},
                  lgb.Dataset(X, y), num_boost_round=60)
    forest = CompiledForest.from_booster(b)
    test = X[:400].copy()
    test[::9] = np.nan  # whole rows missing
    ref = b.predict(test, pred_contrib=True, num_threads=1)
    mine = forest.contributions(test)
    assert mine.shape == ref.shape
    assert np.max(np.abs(mine - ref)) < 1e-9
    one = forest.contributions_one(test[5])
    assert np.max(np.abs(one - ref[5])) < 1e-9
    # SHAP values add up to the raw score (local accuracy)
    raw = b.predict(test, raw_score=True)
    assert np.allclose(mine.sum(axis=1), raw, atol=1e-9)


def test_single_leaf_trees_contribute_only_their_value():
    X = np.zeros((200, 3))
    y = np.r_[np.zeros(150), np.ones(50)]
    b = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, y), num_boost_round=3)
    forest = CompiledForest.from_booster(b)
    assert np.allclose(forest.contributions(X[:3]), b.predict(X[:3], pred_contrib=True),
                       atol=1e-12)


def test_scoring_model_explains_with_the_compiled_shap_and_gives_the_same_reasons():
    X, y = _data(7, p=4)
    b = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 15}, lgb.Dataset(X, y), 40)
    names = ["card_count_1h", "card_amount_sum_7d", "merchant_count_1d", "device_count_30d"]
    plain = ScoringModel(model_text=b.model_to_string(), metadata={"feature_names": names})
    fast = ScoringModel(model_text=b.model_to_string(), metadata={"feature_names": names})
    fast.compile()
    rows = [dict(zip(names, r, strict=True)) for r in X[:50]]
    for row in rows:
        a, b_ = fast.explain(row, top=3), plain.explain(row, top=3)
        assert [(r.code, r.en, r.zh) for r in a] == [(r.code, r.en, r.zh) for r in b_]
        assert [r.contribution for r in a] == pytest.approx([r.contribution for r in b_], abs=1e-9)
    assert np.max(np.abs(fast.contributions(X[:50]) - plain.contributions(X[:50]))) < 1e-9


def test_one_row_isotonic_calibration_equals_numpy_interp():
    from cardmind.models.calibration import Calibration, _interp

    rng = np.random.default_rng(1)
    raw = rng.random(3000)
    cal = Calibration.fit(raw, rng.random(3000) < raw**2)
    assert cal.method == "isotonic"
    xs = np.r_[rng.random(500), cal.x[:50], 0.0, 1.0, -0.5, 1.5]
    mine = [_interp(float(v), list(cal.x), list(cal.y)) for v in xs]
    assert mine == [float(v) for v in cal.transform(xs)]


def test_a_tree_node_without_training_rows_cannot_be_explained():
    """The edge fractions are computed once per model; a node without rows (a model dumped
    without counts) is refused as tree SHAP's division by its parent's rows did."""
    X, y = _data(3)
    b = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1, "num_leaves": 7},
                  lgb.Dataset(X, y), num_boost_round=5)
    arrays = dict(CompiledForest.from_booster(b).arrays)
    arrays["node_count"] = arrays["node_count"].copy()
    arrays["node_count"][0] = 0
    with pytest.raises(ZeroDivisionError, match="no training rows"):
        CompiledForest(arrays, sigmoid=1.0, num_feature=X.shape[1])
    walk_only = {k: v for k, v in arrays.items() if k not in ("node_count", "leaf_count")}
    forest = CompiledForest(walk_only, sigmoid=1.0, num_feature=X.shape[1])
    assert not forest.explains and forest.predict_one(X[0]) == pytest.approx(b.predict(X[:1])[0])


def _random_model(seed: int) -> tuple[lgb.Booster, np.ndarray]:
    """A LightGBM model of random shape on random data with missing values, zeros, few-valued
    features (repeated splits on one feature along a path) and random leaf sizes."""
    rng = np.random.default_rng(seed)
    n, p = int(rng.integers(300, 1500)), int(rng.integers(2, 25))
    X = rng.normal(size=(n, p)) * rng.uniform(0.1, 10, size=p)
    for j in range(p):
        kind = rng.integers(4)
        if kind == 1:
            X[rng.random(n) < rng.uniform(0.05, 0.5), j] = np.nan
        elif kind == 2:
            X[rng.random(n) < rng.uniform(0.1, 0.6), j] = 0.0
        elif kind == 3:
            X[:, j] = rng.integers(0, int(rng.integers(2, 6)), n)
    w = rng.normal(size=p)
    y = (np.nan_to_num(X) @ w + rng.normal(size=n) * rng.uniform(0.1, 3) > 0).astype(int)
    params = {
        "objective": "binary", "verbose": -1, "num_threads": 1, "seed": seed,
        "num_leaves": int(rng.choice([2, 3, 7, 15, 31, 63, 127])),
        "max_depth": int(rng.choice([-1, -1, 3, 6, 12])),
        "min_data_in_leaf": int(rng.choice([1, 2, 5, 20])),
        "learning_rate": float(rng.uniform(0.05, 0.5)),
        "zero_as_missing": bool(rng.random() < 0.3),
        "use_missing": bool(rng.random() < 0.8),
        "feature_fraction": float(rng.uniform(0.5, 1.0)),
    }
    if rng.random() < 0.4:
        params.update(bagging_fraction=float(rng.uniform(0.3, 0.9)), bagging_freq=1)
    b = lgb.train(params, lgb.Dataset(X, y), num_boost_round=int(rng.integers(1, 80)))
    test = X[rng.choice(n, 60)].copy()
    test[rng.random(test.shape) < 0.1] = np.nan
    test[rng.random(test.shape) < 0.1] = 0.0
    test[0] = np.nan
    return b, test


@pytest.mark.parametrize("seed", range(24))
def test_planned_tree_shap_equals_lightgbm_and_the_general_kernel_on_random_models(seed):
    """The planned kernel (treeshap.py) against LightGBM's pred_contrib and the general kernel
    on random model shapes; SHAP values add up to the raw score."""
    from cardmind.models.compiled import _shap_many

    b, test = _random_model(seed)
    forest = CompiledForest.from_booster(b)
    assert forest._plan is not None  # at most 16 distinct features on a path here
    ref = b.predict(test, pred_contrib=True, num_threads=1)
    planned = forest.contributions(test)
    general = _shap_many(np.ascontiguousarray(test), *forest._shap_args)
    assert planned.shape == ref.shape
    assert np.max(np.abs(planned - ref)) < 1e-9
    assert np.max(np.abs(planned - general)) < 1e-9
    for i in (0, 7, 31):
        assert np.max(np.abs(forest.contributions_one(test[i]) - ref[i])) < 1e-9
    raw = b.predict(test, raw_score=True, num_threads=1)
    assert np.allclose(planned.sum(axis=1), raw, rtol=0, atol=1e-9)


def test_paths_of_more_than_16_distinct_features_use_the_general_kernel():
    """Eight quadrature points are exact up to 16 distinct features on a path; a deeper model
    has no plan and is explained by the general kernel, still equal to LightGBM."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(6000, 30))
    y = (np.sum(X > 0, axis=1) % 2).astype(int)  # parity: every split needs the others
    b = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1, "num_leaves": 400,
                   "min_data_in_leaf": 1, "min_sum_hessian_in_leaf": 0.0, "max_depth": -1},
                  lgb.Dataset(X, y), num_boost_round=4)
    forest = CompiledForest.from_booster(b)
    assert int(forest.arrays["tree_unique"].max()) > 16
    assert forest._plan is None and forest.explains
    test = X[:20]
    ref = b.predict(test, pred_contrib=True, num_threads=1)
    assert np.max(np.abs(forest.contributions(test) - ref)) < 1e-9
    assert np.max(np.abs(forest.contributions_one(test[3]) - ref[3])) < 1e-9


def test_a_row_of_the_wrong_length_is_refused_before_the_kernels_read_it():
    X, y = _data(4)
    b = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1, "num_leaves": 7},
                  lgb.Dataset(X, y), num_boost_round=5)
    forest = CompiledForest.from_booster(b)
    with pytest.raises(InvalidInput, match="row of 8 values"):
        forest.contributions_one(X[0, :5])
    with pytest.raises(InvalidInput, match="rows of 8 values"):
        forest.contributions(X[:3, :7])
    assert forest.contributions(X[:3]).shape == (3, 9)
