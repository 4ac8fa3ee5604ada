"""The card-cycle cash-out detector: a LightGBM model plus readable rules.

Two boosters are trained on the same rows: one on every feature, one on the reduced set
(:data:`~cardmind.models.cashout.features.REDUCED_FEATURES`) that is used when repayment data is
missing, so a reduced score is a real model and not a model fed with holes. A row alerts when its
score reaches the threshold (chosen on out-of-fold scores for a target card-cycle precision) or a
rule fires. Saved as two LightGBM text models plus ``metadata.json``; never pickle.

>>> CashoutDetector().score_many(None)
Traceback (most recent call last):
...
cardmind.errors.NotFittedError: CashoutDetector is not fitted; call fit() or load() first
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cardmind.errors import InvalidInput, NotFittedError
from cardmind.models.cashout.features import FEATURE_DOCS, FEATURES, REDUCED_FEATURES
from cardmind.models.cashout.rules import DEFAULT_RULES, Rule, evaluate_rules

FORMAT_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class DetectorParams:
    """Training settings.

    >>> DetectorParams(target_precision=1.5)
    Traceback (most recent call last):
    ...
    ValueError: target_precision must be in (0, 1], got 1.5
    """

    num_boost_round: int = 150
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_data_in_leaf: int = 20
    negative_row_fraction: float = 0.3
    target_precision: float = 0.9
    folds: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.target_precision <= 1:
            raise ValueError(f"target_precision must be in (0, 1], got {self.target_precision}")
        if not 0 < self.negative_row_fraction <= 1:
            raise ValueError(
                f"negative_row_fraction must be in (0, 1], got {self.negative_row_fraction}"
            )
        if self.folds < 2:
            raise ValueError(f"folds must be >= 2, got {self.folds}")
        if self.num_boost_round < 1 or self.num_leaves < 2 or self.min_data_in_leaf < 1:
            raise ValueError(
                "num_boost_round >= 1, num_leaves >= 2, min_data_in_leaf >= 1 required"
            )


def _matrix(features: pa.Table, names: tuple[str, ...]) -> np.ndarray:
    cols = [
        features.column(n).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        for n in names
    ]
    return np.column_stack(cols) if cols else np.empty((features.num_rows, 0))


def _cycle_keys(features: pa.Table) -> np.ndarray:
    """An integer id per card-cycle (rows of one card-cycle share it)."""
    keys = pc.binary_join_element_wise(
        features.column("card_token"), pc.cast(features.column("cycle_end"), pa.string()), "|"
    )
    return pc.dictionary_encode(keys).combine_chunks().indices.to_numpy(zero_copy_only=False)


def _threshold_for_precision(
    cycle_ids: np.ndarray, scores: np.ndarray, labels: np.ndarray, target: float
) -> float:
    """Lowest threshold whose card-cycle precision (max score per cycle) reaches ``target``."""
    n = int(cycle_ids.max()) + 1 if len(cycle_ids) else 0
    best = np.full(n, -1.0)
    np.maximum.at(best, cycle_ids, scores)
    truth = np.zeros(n, bool)
    np.logical_or.at(truth, cycle_ids, labels.astype(bool))
    order = np.argsort(-best, kind="stable")
    tp = np.cumsum(truth[order])
    precision = tp / np.arange(1, n + 1)
    ok = np.nonzero(precision >= target)[0]
    if len(ok) == 0 or tp[-1] == 0:
        return 0.5
    k = ok[-1]
    return float(max(best[order][k], 1e-6))


def _oof_metrics(
    cycle_ids: np.ndarray, scores: np.ndarray, labels: np.ndarray, threshold: float, folds: int
) -> dict[str, float | int | str]:
    """Out-of-fold model precision/recall per card-cycle at ``threshold`` (saved with the model)."""
    n = int(cycle_ids.max()) + 1
    best = np.full(n, -1.0)
    np.maximum.at(best, cycle_ids, scores)
    truth = np.zeros(n, bool)
    np.logical_or.at(truth, cycle_ids, labels.astype(bool))
    alert = best >= threshold
    tp, fp, fn = (
        int((alert & truth).sum()),
        int((alert & ~truth).sum()),
        int((~alert & truth).sum()),
    )
    return {
        "kind": f"model only, out-of-fold ({folds} folds grouped by card), per card-cycle",
        "precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
        "recall": round(tp / (tp + fn), 4) if tp + fn else 0.0,
        "card_cycles": n,
        "positive_cycles": int(truth.sum()),
    }


class CashoutDetector:
    """Card-cycle cash-out detector (LightGBM + readable rules).

    ``fit(features, labels)`` learns from scoring-point rows (see
    :func:`~cardmind.models.cashout.features.card_cycle_features`) with one label per row;
    ``score_many(features)`` returns per-row score, rules fired and alert.
    """

    def __init__(
        self, *, params: DetectorParams | None = None, rules: tuple[Rule, ...] | None = None
    ) -> None:
        self.params = params
        self.rules = rules

    # --- training ---------------------------------------------------------------------------
    def _params(self) -> DetectorParams:
        return self.params or DetectorParams()

    def _rules(self) -> tuple[Rule, ...]:
        return DEFAULT_RULES if self.rules is None else self.rules

    def _train(self, x: np.ndarray, y: np.ndarray, names: tuple[str, ...]) -> lgb.Booster:
        p = self._params()
        params = {
            "objective": "binary",
            "learning_rate": p.learning_rate,
            "num_leaves": p.num_leaves,
            "min_data_in_leaf": p.min_data_in_leaf,
            "feature_fraction": 0.9,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "seed": p.seed,
            "num_threads": 1,
            "deterministic": True,
            "force_col_wise": True,
            "verbose": -1,
        }
        data = lgb.Dataset(x, y, feature_name=list(names), free_raw_data=True)
        return lgb.train(params, data, num_boost_round=p.num_boost_round)

    def fit(self, features: pa.Table, labels: np.ndarray) -> None:
        """Train both boosters and choose the threshold on out-of-fold card-cycle scores."""
        labels = np.asarray(labels).astype(np.int8)
        if len(labels) != features.num_rows:
            raise InvalidInput(f"{len(labels)} labels for {features.num_rows} feature rows")
        if labels.sum() == 0 or labels.sum() == len(labels):
            raise InvalidInput("training needs both cash-out and ordinary card-cycles")
        p = self._params()
        rng = np.random.default_rng(p.seed)
        cycles = _cycle_keys(features)
        pos_cycle = np.zeros(int(cycles.max()) + 1, bool)
        np.logical_or.at(pos_cycle, cycles, labels.astype(bool))
        keep = pos_cycle[cycles] | (rng.random(len(labels)) < p.negative_row_fraction)
        x_full = _matrix(features, FEATURES)
        # out-of-fold scores, folds grouped by card so a card never scores itself
        cards = pc.dictionary_encode(features.column("card_token")).combine_chunks().indices
        fold = (
            cards.to_numpy(zero_copy_only=False).astype(np.int64) * 2654435761 % 2**32
        ) % p.folds
        oof = np.zeros(len(labels))
        for k in range(p.folds):
            train = keep & (fold != k)
            if labels[train].sum() == 0 or labels[train].sum() == train.sum():
                oof[fold == k] = labels[fold == k]
                continue
            b = self._train(x_full[train], labels[train], FEATURES)
            oof[fold == k] = b.predict(x_full[fold == k])
        self.threshold_ = _threshold_for_precision(cycles, oof, labels, p.target_precision)
        self.metrics_ = _oof_metrics(cycles, oof, labels, self.threshold_, p.folds)
        self.booster_ = self._train(x_full[keep], labels[keep], FEATURES)
        reduced_idx = [FEATURES.index(f) for f in REDUCED_FEATURES]
        self.booster_reduced_ = self._train(
            x_full[keep][:, reduced_idx], labels[keep], REDUCED_FEATURES
        )
        self.rules_ = self._rules()
        self.trained_at_ = datetime.now(UTC).isoformat(timespec="seconds")
        self.training_rows_ = int(keep.sum())
        self.training_window_ = [
            str(pc.min(features.column("cycle_end")).as_py()),
            str(pc.max(features.column("cycle_end")).as_py()),
        ]

    # --- scoring ----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise NotFittedError("CashoutDetector is not fitted; call fit() or load() first")

    def score_many(self, features: pa.Table) -> pa.Table:
        """Per row: ``score``, ``rules`` (names fired), ``alert`` and ``reduced_features``.

        Rows flagged ``reduced_features`` are scored by the reduced booster, and rules that need
        repayment data are not evaluated on them.
        """
        self._check_fitted()
        reduced = features.column("reduced_features").to_numpy(zero_copy_only=False).astype(bool)
        scores = np.zeros(features.num_rows)
        if (~reduced).any():
            scores[~reduced] = self.booster_.predict(
                _matrix(features.filter(pa.array(~reduced)), FEATURES)
            )
        if reduced.any():
            scores[reduced] = self.booster_reduced_.predict(
                _matrix(features.filter(pa.array(reduced)), REDUCED_FEATURES)
            )
        fired = evaluate_rules(features, self.rules_)
        names = [r.name for r in self.rules_]
        hits = np.zeros((features.num_rows, len(names)), bool)
        for j, r in enumerate(self.rules_):
            col = fired.column(r.name).to_numpy(zero_copy_only=False).astype(bool)
            if r.needs_repayments:
                col &= ~reduced
            hits[:, j] = col
        rows, cols = np.nonzero(hits)  # row-major: each row's rules in rule order
        offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=features.num_rows))])
        rule_lists = pa.ListArray.from_arrays(
            pa.array(offsets, pa.int32()),
            pa.array(np.array(names, dtype=object)[cols], pa.string()),
        )
        alert = (scores >= self.threshold_) | hits.any(axis=1)
        return pa.table(
            {
                "card_token": features.column("card_token"),
                "cycle_start": features.column("cycle_start"),
                "cycle_end": features.column("cycle_end"),
                "ts": features.column("ts"),
                "score": pa.array(scores, pa.float64()),
                "rules": rule_lists,
                "alert": pa.array(alert, pa.bool_()),
                "reduced_features": features.column("reduced_features"),
            }
        )

    def reasons(self, features: pa.Table, top: int = 3) -> list[list[dict[str, str]]]:
        """Top feature contributions (SHAP from LightGBM) per row, as English/Chinese reasons."""
        self._check_fitted()
        reduced = features.column("reduced_features").to_numpy(zero_copy_only=False).astype(bool)
        out: list[list[dict[str, str]]] = [[] for _ in range(features.num_rows)]
        for mask, booster, names in (
            (~reduced, self.booster_, FEATURES),
            (reduced, self.booster_reduced_, REDUCED_FEATURES),
        ):
            idx = np.nonzero(mask)[0]
            if len(idx) == 0:
                continue
            x = _matrix(features.take(pa.array(idx)), names)
            contrib = booster.predict(x, pred_contrib=True)[:, : len(names)]
            for row, i in enumerate(idx):
                order = np.argsort(-contrib[row])[:top]
                out[i] = [
                    {
                        "feature": names[j],
                        "value": f"{x[row, j]:.3g}",
                        "en": FEATURE_DOCS[names[j]][0],
                        "zh": FEATURE_DOCS[names[j]][1],
                    }
                    for j in order
                    if contrib[row, j] > 0
                ]
        return out

    # --- persistence ------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        """Write ``model.txt``, ``model_reduced.txt`` and ``metadata.json`` into ``folder``."""
        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.txt").write_text(self.booster_.model_to_string())
        (folder / "model_reduced.txt").write_text(self.booster_reduced_.model_to_string())
        meta: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "kind": "cashout_detector",
            "feature_names": list(FEATURES),
            "reduced_feature_names": list(REDUCED_FEATURES),
            "threshold": self.threshold_,
            "rules": [r.to_dict() for r in self.rules_],
            "params": asdict(self._params()),
            "trained_at": self.trained_at_,
            "training_rows": self.training_rows_,
            "training_window": self.training_window_,
            "metrics": getattr(self, "metrics_", {}),
        }
        (folder / "metadata.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))

    @classmethod
    def load(cls, folder: str | Path) -> CashoutDetector:
        """Load a detector saved by :meth:`save`; InvalidInput when the folder is not one."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / "metadata.json").read_text())
            full = (folder / "model.txt").read_text()
            reduced = (folder / "model_reduced.txt").read_text()
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"{folder}: not a saved cash-out detector ({exc})") from exc
        if meta.get("kind") != "cashout_detector" or meta.get("feature_names") != list(FEATURES):
            raise InvalidInput(f"{folder}: detector was saved with another feature list")
        det = cls(
            params=DetectorParams(**meta["params"]),
            rules=tuple(Rule.from_dict(r) for r in meta["rules"]),
        )
        det.booster_ = lgb.Booster(model_str=full)
        det.booster_reduced_ = lgb.Booster(model_str=reduced)
        det.threshold_ = float(meta["threshold"])
        det.rules_ = det.rules
        det.trained_at_ = meta["trained_at"]
        det.training_rows_ = meta["training_rows"]
        det.training_window_ = meta["training_window"]
        det.metrics_ = meta.get("metrics", {})
        return det
