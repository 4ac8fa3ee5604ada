"""``ScoringModel``: a trained LightGBM model with its feature list, calibration and reasons.

This is what serving code holds: it scores one row (``predict_one``, the authorization fast path),
many rows (``predict_many``), and explains a score as reason codes (``explain``). It is built from
a LightGBM text model and a JSON metadata dict; the registry saves and loads exactly those two.

>>> import lightgbm as lgb, numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(400, 2)); y = (X[:, 0] + rng.normal(size=400) > 1.5).astype(int)
>>> booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4},
...                     lgb.Dataset(X, y), num_boost_round=5)
>>> m = ScoringModel(model_text=booster.model_to_string(),
...                  metadata={"feature_names": ["card_auth_count_1h", "card_amount_max_30d"]})
>>> p = m.predict_one({"card_auth_count_1h": 3.0, "card_amount_max_30d": 0.0})
>>> 0.0 < p < 1.0, round(p, 9) == round(float(m.predict_many(np.array([[3.0, 0.0]]))[0]), 9)
(True, True)
>>> m.explain({"card_auth_count_1h": 3.0, "card_amount_max_30d": 0.0})[0].feature
'card_auth_count_1h'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pyarrow as pa

from cardmind.errors import InvalidInput
from cardmind.features.row import FeatureRow
from cardmind.models.calibration import Calibration
from cardmind.models.explain import FeatureText, Reason, ReasonExplainer

#: Above this many rows LightGBM's own multi-threaded batch predictor is faster than the walker.
COMPILED_MAX_ROWS = 256

Matrix = np.ndarray | pa.Table | Mapping[str, Sequence[float]] | Any


class ScoringModel:
    """A served fraud (or other binary) model: LightGBM booster + feature list + calibration.

    ``metadata`` needs ``feature_names``; it may hold ``calibration`` (see
    :class:`~cardmind.models.calibration.Calibration`), ``feature_reference`` (training
    medians, used to word reasons), ``feature_texts`` (``{name: {"en", "zh"}}``), ``name`` and
    ``version``.
    """

    def __init__(self, *, model_text: str, metadata: Mapping[str, Any]) -> None:
        self.metadata = dict(metadata)
        try:
            self.feature_names: list[str] = list(self.metadata["feature_names"])
        except KeyError:
            raise InvalidInput("model metadata has no feature_names") from None
        self.booster = lgb.Booster(model_str=model_text)
        if self.booster.num_feature() != len(self.feature_names):
            raise InvalidInput(
                f"model has {self.booster.num_feature()} features, metadata lists "
                f"{len(self.feature_names)}"
            )
        self.model_text = model_text
        self.name: str | None = self.metadata.get("name")
        self.version: str | None = self.metadata.get("version")
        cal = self.metadata.get("calibration")
        self.calibration = Calibration.from_dict(cal) if cal else Calibration(method="identity")
        refs = self.metadata.get("feature_reference") or {}
        texts = {
            k: FeatureText(name=k, en=v["en"], zh=v["zh"], binary=bool(v.get("binary", False)))
            for k, v in (self.metadata.get("feature_texts") or {}).items()
        }
        self._explainer = ReasonExplainer(
            feature_names=self.feature_names,
            references=[refs.get(f) for f in self.feature_names],
            texts=texts,
        )
        self._index = {f: i for i, f in enumerate(self.feature_names)}
        self._names = tuple(self.feature_names)  # one tuple: a feature row caches its slots
        self._compiled: Any = None

    # --- inputs -----------------------------------------------------------------------------
    def to_matrix(self, data: Matrix) -> np.ndarray:
        """A float64 matrix in ``feature_names`` order from an array, Arrow table, DataFrame or
        mapping of columns (missing values become NaN)."""
        if isinstance(data, np.ndarray):
            X = np.atleast_2d(data).astype(float, copy=False)
            if X.shape[1] != len(self.feature_names):
                raise InvalidInput(
                    f"matrix has {X.shape[1]} columns, model needs {len(self.feature_names)}"
                )
            return X
        if isinstance(data, pa.Table):
            names = data.column_names
        elif hasattr(data, "columns"):
            names = list(data.columns)
        elif isinstance(data, Mapping):
            names = list(data.keys())
        else:
            raise InvalidInput(f"cannot score a {type(data).__name__}")
        missing = [f for f in self.feature_names if f not in names]
        if missing:
            raise InvalidInput(f"input lacks model features: {missing[:10]}")
        cols = []
        for f in self.feature_names:
            col = data[f]
            if isinstance(col, pa.ChunkedArray | pa.Array):
                col = col.to_numpy(zero_copy_only=False)
            cols.append(np.asarray(col, dtype=float))
        return np.column_stack(cols) if cols else np.zeros((0, 0))

    def _row(self, row: Mapping[str, Any]) -> np.ndarray:
        n = len(self.feature_names)
        if isinstance(row, FeatureRow):  # one gather by cached slots (absent -> NaN)
            return row.take(self._names).reshape(1, n)
        get = row.get
        try:  # fast path: every value a number (absent -> NaN)
            return np.fromiter([get(f, math.nan) for f in self.feature_names], float, n).reshape(
                1, n
            )
        except (TypeError, ValueError):  # None or a numeric string somewhere
            x = np.empty((1, n))
            for i, f in enumerate(self.feature_names):
                v = get(f)
                x[0, i] = math.nan if v is None else float(v)
            return x

    # --- scoring ----------------------------------------------------------------------------
    def predict_raw_many(self, data: Matrix) -> np.ndarray:
        """Uncalibrated model outputs in [0, 1]."""
        X = self.to_matrix(data)
        if self._compiled is not None and len(X) <= COMPILED_MAX_ROWS:
            return self._compiled.predict(X)
        return np.asarray(self.booster.predict(X, **_threads(X)))

    def predict_many(self, data: Matrix) -> np.ndarray:
        """Calibrated fraud probabilities, one per row."""
        return self.calibration.transform(self.predict_raw_many(data))

    def predict_proba(self, data: Matrix) -> np.ndarray:
        """scikit-learn style ``(n, 2)`` array: P(genuine), P(fraud)."""
        p = self.predict_many(data)
        return np.column_stack([1.0 - p, p])

    def predict_one(self, row: Mapping[str, Any]) -> float:
        """Calibrated fraud probability of one row given as ``{feature: value}`` (fast path)."""
        x = self._row(row)
        if self._compiled is not None:
            raw = self._compiled.predict_one(x[0])
        else:
            raw = float(self.booster.predict(x, num_threads=1)[0])
        return self.calibration.transform_one(raw)

    def compile(self) -> None:
        """Switch ``predict_one``/``predict_many`` to the numba-compiled tree walker.

        Same outputs as LightGBM to ~1e-15; about 4x faster for one row (see
        ``bench/fraud_model.py``). ``contributions``/``explain`` of up to ``COMPILED_MAX_ROWS``
        rows then use the compiled tree SHAP (LightGBM's values to ~1e-12, ~1/15 of its time
        for one row, without its predictor set-up; ``bench/tree_shap.py``).
        """
        from cardmind.models.compiled import CompiledForest

        self._compiled = CompiledForest.from_booster(self.booster)

    @property
    def compiled(self) -> bool:
        return self._compiled is not None

    # --- reasons ----------------------------------------------------------------------------
    def contributions(self, data: Matrix) -> np.ndarray:
        """Tree-SHAP contributions in log-odds, shape ``(n, n_features + 1)`` (last: bias)."""
        X = self.to_matrix(data)
        c = self._compiled
        if c is not None and c.explains and len(X) <= COMPILED_MAX_ROWS:
            return c.contributions(X)
        return np.asarray(self.booster.predict(X, pred_contrib=True, **_threads(X)))

    def explain(
        self, data: Mapping[str, Any] | Matrix, top: int = 3
    ) -> list[Reason] | list[list[Reason]]:
        """Top risk-raising reasons: a list for one row given as a dict, else a list per row."""
        if isinstance(data, Mapping) and data and not _is_columns(data):
            X = self._row(data)
            c = self._compiled
            contrib = c.contributions_one(X[0])[None, :] if c is not None and c.explains else (
                self.contributions(X))
            return self._explainer.reasons(X, contrib, top=top)[0]
        X = self.to_matrix(data)
        return self._explainer.reasons(X, self.contributions(X), top=top)

    def __repr__(self) -> str:
        return (
            f"ScoringModel(name={self.name!r}, version={self.version!r}, "
            f"features={len(self.feature_names)}, calibration={self.calibration.method!r})"
        )


def _threads(X: np.ndarray) -> dict[str, int]:
    """LightGBM options for ``X``: one thread for a single row (starting OpenMP's thread team
    costs ~11 ms on a busy machine, far more than scoring one row), LightGBM's default else."""
    return {"num_threads": 1} if len(X) <= 1 else {}


def _is_columns(data: Mapping[str, Any]) -> bool:
    first = next(iter(data.values()))
    return isinstance(first, list | tuple | np.ndarray | pa.Array | pa.ChunkedArray)
