"""The challenger credit model: LightGBM on the raw characteristics (text model, no pickle).

Categorical columns are encoded with the category lists learned in ``fit`` and saved in the
artifact's JSON metadata; unseen categories score as missing. Protected attributes are refused,
as for the scorecard.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(1)
>>> X = pd.DataFrame({"age": rng.integers(18, 66, 400), "housing": rng.choice(["own", "rent"], 400)})
>>> y = (rng.random(400) < np.where(X.age < 30, 0.5, 0.1)).astype(int)
>>> m = LightGBMChallenger(n_estimators=30).fit(X, y)
>>> p = m.predict_proba(X)[:, 1]
>>> bool(p[X.age < 30].mean() > p[X.age >= 30].mean())
True
>>> bool(np.allclose(LightGBMChallenger.from_dict(m.to_dict()).predict_proba(X)[:, 1], p))
True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardmind.errors import InvalidInput, NotFittedError
from cardmind.models.credit.scorecard import PROTECTED_ATTRIBUTES, as_text

ARTIFACT_KIND = "cardmind.lightgbm_credit"


class LightGBMChallenger:
    """Gradient-boosted trees on the characteristics; ``predict_proba`` like scikit-learn."""

    def __init__(
        self,
        *,
        features: list[str] | None = None,
        n_estimators: int = 300,
        learning_rate: float = 0.03,
        num_leaves: int = 15,
        min_child_samples: int = 20,
        n_jobs: int = 1,
        seed: int = 0,
        name: str = "lightgbm",
    ) -> None:
        self.features = features
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.n_jobs = n_jobs
        self.seed = seed
        self.name = name

    def _encode(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.feature_names_ if c not in X.columns]
        if missing:
            raise InvalidInput(f"missing characteristics: {missing}")
        cols = []
        for c in self.feature_names_:
            if c in self.categories_:
                codes = pd.Index(self.categories_[c], dtype=object).get_indexer(
                    as_text(X[c]).astype(object)
                )
                cols.append(np.where(codes < 0, np.nan, codes).astype(float))
            else:
                cols.append(pd.to_numeric(X[c], errors="coerce").to_numpy(dtype=float))
        return np.column_stack(cols)

    def fit(self, X: pd.DataFrame, y: Any, sample_weight: Any = None) -> LightGBMChallenger:
        """Train the booster; returns ``self``."""
        import lightgbm as lgb

        if self.n_estimators < 1 or self.learning_rate <= 0 or self.num_leaves < 2:
            raise ValueError(
                "n_estimators must be >= 1, learning_rate > 0 and num_leaves >= 2; got "
                f"{self.n_estimators}, {self.learning_rate}, {self.num_leaves}"
            )
        if self.features is None:
            features = [c for c in X.columns if c not in PROTECTED_ATTRIBUTES]
        else:
            bad = sorted(set(self.features) & PROTECTED_ATTRIBUTES)
            if bad:
                raise ValueError(f"protected attributes cannot be model inputs: {bad}")
            features = list(self.features)
        self.feature_names_ = features
        self.excluded_ = sorted(set(X.columns) & PROTECTED_ATTRIBUTES)
        self.categories_ = {
            c: sorted(as_text(X[c]).dropna().unique().tolist())
            for c in features
            if not pd.api.types.is_numeric_dtype(X[c])
        }
        data = lgb.Dataset(
            self._encode(X),
            label=np.asarray(y).astype(int),
            weight=None if sample_weight is None else np.asarray(sample_weight, dtype=float),
            feature_name=features,
            categorical_feature=[features.index(c) for c in self.categories_],
            free_raw_data=True,
        )
        params = {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "feature_fraction": 0.8,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "cat_smooth": 10.0,
            "min_data_per_group": 20,
            "num_threads": self.n_jobs,
            "seed": self.seed,
            "deterministic": True,
            "verbose": -1,
        }
        self.booster_ = lgb.train(params, data, num_boost_round=self.n_estimators)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() or load()")

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Columns: P(good), P(bad)."""
        self._check_fitted()
        p = self.booster_.predict(self._encode(X), num_threads=self.n_jobs)
        return np.column_stack([1.0 - p, p])

    def predict_proba_one(self, record: dict[str, Any]) -> float:
        """P(bad) of one record (a dict): the real-time path, without pandas."""
        self._check_fitted()
        if not hasattr(self, "_code_maps"):
            self._code_maps = {
                c: {v: i for i, v in enumerate(cats)} for c, cats in self.categories_.items()
            }
        row = np.empty((1, len(self.feature_names_)))
        for j, c in enumerate(self.feature_names_):
            v = record.get(c)
            if c in self._code_maps:
                if isinstance(v, float) and v.is_integer():
                    v = int(v)
                row[0, j] = self._code_maps[c].get(None if v is None else str(v), np.nan)
            else:
                try:
                    row[0, j] = np.nan if v is None else float(v)
                except (TypeError, ValueError):
                    row[0, j] = np.nan
        return float(self.booster_.predict(row, num_threads=1)[0])

    def feature_importance(self) -> pd.Series:
        """Total gain per characteristic, largest first."""
        self._check_fitted()
        imp = self.booster_.feature_importance(importance_type="gain")
        return pd.Series(imp, index=self.feature_names_).sort_values(ascending=False)

    def to_dict(self) -> dict[str, Any]:
        """Artifact: LightGBM text model plus JSON metadata."""
        self._check_fitted()
        return {
            "kind": ARTIFACT_KIND,
            "version": 1,
            "name": self.name,
            "features": self.feature_names_,
            "categories": self.categories_,
            "excluded_protected": self.excluded_,
            "model": self.booster_.model_to_string(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LightGBMChallenger:
        import lightgbm as lgb

        if data.get("kind") != ARTIFACT_KIND:
            raise InvalidInput(f"not a LightGBM credit artifact: kind={data.get('kind')!r}")
        m = cls(name=data["name"])
        m.feature_names_ = list(data["features"])
        m.categories_ = {k: list(v) for k, v in data["categories"].items()}
        m.excluded_ = list(data.get("excluded_protected", []))
        m.booster_ = lgb.Booster(model_str=data["model"])
        return m

    def save(self, path: str | Path) -> None:
        """Write ``path`` (JSON metadata) and ``path.with_suffix('.txt')`` (the text model)."""
        d = self.to_dict()
        path = Path(path)
        path.with_suffix(".txt").write_text(d.pop("model"))
        d["model_file"] = path.with_suffix(".txt").name
        path.write_text(json.dumps(d, indent=1, ensure_ascii=False))

    @classmethod
    def load(cls, path: str | Path) -> LightGBMChallenger:
        path = Path(path)
        try:
            d = json.loads(path.read_text())
            d["model"] = (path.parent / d.pop("model_file")).read_text()
        except (OSError, KeyError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"{path}: cannot read LightGBM artifact ({exc})") from exc
        return cls.from_dict(d)
