"""A compiled predictor for LightGBM binary models: the trees as flat arrays, walked by numba.

LightGBM's ``Booster.predict`` costs tens of microseconds per call whatever the number of rows
(argument checks, a C++ predictor set-up); the authorization path scores one row at a time. This
module flattens the text model (``Booster.dump_model()``) into arrays and walks them in a numba
function, with LightGBM's exact split semantics (missing values, default directions, zero
handling), so one row costs a few microseconds. Numerical splits only (cardmind's models use no
categorical splits); anything else is refused at compile time.

>>> import lightgbm as lgb, numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(500, 3)); X[::5, 1] = np.nan
>>> b = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, X[:, 0] > 0.5),
...               num_boost_round=20)
>>> forest = CompiledForest.from_booster(b)
>>> bool(np.allclose(forest.predict(X), b.predict(X), atol=1e-12))
True
>>> bool(abs(forest.predict_one(X[3]) - b.predict(X[3:4])[0]) < 1e-12)
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from cardmind.errors import InvalidInput

_K_ZERO = 1e-35
_MISSING = {"None": 0, "Zero": 1, "NaN": 2}


@njit(cache=True, nogil=True)
def _walk(
    x, roots, feature, threshold, left, right, default_left, missing, leaf_value
):  # pragma: no cover - numba
    total = 0.0
    for t in range(roots.shape[0]):
        node = roots[t]
        while node >= 0:
            v = x[feature[node]]
            mt = missing[node]
            if np.isnan(v) and mt != 2:
                v = 0.0
            if (mt == 1 and -_K_ZERO <= v <= _K_ZERO) or (mt == 2 and np.isnan(v)):
                node = left[node] if default_left[node] else right[node]
            elif v <= threshold[node]:
                node = left[node]
            else:
                node = right[node]
        total += leaf_value[~node]
    return total


@njit(cache=True, nogil=True)
def _walk_many(
    X, roots, feature, threshold, left, right, default_left, missing, leaf_value
):  # pragma: no cover - numba
    out = np.empty(X.shape[0])
    for i in range(X.shape[0]):
        out[i] = _walk(
            X[i], roots, feature, threshold, left, right, default_left, missing, leaf_value
        )
    return out


class CompiledForest:
    """Flat arrays of a LightGBM binary model; ``predict*`` return probabilities (sigmoid)."""

    def __init__(self, arrays: dict[str, np.ndarray], *, sigmoid: float, num_feature: int) -> None:
        self.arrays = arrays
        self.sigmoid = sigmoid
        self.num_feature = num_feature
        self._args = tuple(
            arrays[k]
            for k in (
                "roots",
                "feature",
                "threshold",
                "left",
                "right",
                "default_left",
                "missing",
                "leaf_value",
            )
        )
        self.predict_one(np.zeros(num_feature))  # compile (or load from the numba cache) now

    @classmethod
    def from_booster(cls, booster: Any) -> CompiledForest:
        dump = booster.dump_model()
        obj = str(dump.get("objective", ""))
        if not obj.startswith("binary"):
            raise InvalidInput(f"compiled predictor supports binary models, not {obj!r}")
        sigmoid = 1.0
        for part in obj.split():
            if part.startswith("sigmoid:"):
                sigmoid = float(part.split(":")[1])
        feature: list[int] = []
        threshold: list[float] = []
        left: list[int] = []
        right: list[int] = []
        default_left: list[bool] = []
        missing: list[int] = []
        leaf_value: list[float] = []
        roots: list[int] = []

        def add(node: dict[str, Any]) -> int:
            if "leaf_value" in node or "split_index" not in node:
                leaf_value.append(float(node.get("leaf_value", 0.0)))
                return ~(len(leaf_value) - 1)
            if node.get("decision_type", "<=") != "<=":
                raise InvalidInput("compiled predictor supports numerical splits only")
            i = len(feature)
            feature.append(int(node["split_feature"]))
            threshold.append(float(node["threshold"]))
            default_left.append(bool(node.get("default_left", True)))
            missing.append(_MISSING.get(str(node.get("missing_type", "None")), 0))
            left.append(0)
            right.append(0)
            left[i] = add(node["left_child"])
            right[i] = add(node["right_child"])
            return i

        for tree in dump["tree_info"]:
            roots.append(add(tree["tree_structure"]))
        arrays = {
            "roots": np.array(roots, np.int64),
            "feature": np.array(feature, np.int64),
            "threshold": np.array(threshold, np.float64),
            "left": np.array(left, np.int64),
            "right": np.array(right, np.int64),
            "default_left": np.array(default_left, np.bool_),
            "missing": np.array(missing, np.int8),
            "leaf_value": np.array(leaf_value, np.float64),
        }
        return cls(arrays, sigmoid=sigmoid, num_feature=int(dump.get("max_feature_idx", 0)) + 1)

    def raw_one(self, x: np.ndarray) -> float:
        return float(_walk(x, *self._args))

    def predict_one(self, x: np.ndarray) -> float:
        """Probability for one row (1-D float64 array in feature order)."""
        return float(1.0 / (1.0 + np.exp(-self.sigmoid * _walk(x, *self._args))))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Probabilities for a 2-D float64 matrix."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        return 1.0 / (1.0 + np.exp(-self.sigmoid * _walk_many(X, *self._args)))
