"""Fraud model training: LightGBM on point-in-time features, trained as if deployed at a cut-off.

The recipe (see ADR "fraud evaluation protocol" for the why):

1. the training table: one row per purchase authorization, feature values as of just before it
   (the feature engine's point-in-time batch join), and the fraud label *as the bank knew it at
   the cut-off* (a label reported after the cut-off does not exist yet for training);
2. time-ordered slices (:func:`~cardmind.models.evaluation.make_split`): fit, then an
   early-stopping slice, then a calibration slice, then the feedback-delay gap, then test;
3. imbalance (~0.2 % fraud): handled by early stopping on *average precision* (the metric
   that weighs the rare class), a ``min_child_samples`` floor, and calibration, **without**
   re-weighting by default. Measured on the demo split: ``scale_pos_weight`` = sqrt(neg/pos)
   gave AP 0.25 / AUC 0.86, (neg/pos)^0.25 AP 0.43 / AUC 0.97, none AP 0.55 / AUC 0.99 --
   up-weighting the few positives makes the trees over-fit them and stop early. The other
   options stay available (``imbalance="fourth_root" | "sqrt" | "balanced"``);
4. feature selection: fit on every feature, keep the top-N by total gain, refit on those: the
   kept list is the model's declared feature service, the only features served online;
5. calibration: isotonic (Platt with few positives) on the calibration slice, stored as JSON.

>>> cfg = FraudTrainConfig(num_boost_round=50, top_features=5)
>>> cfg.params()["objective"], cfg.top_features
('binary', 5)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from cardmind import schema
from cardmind.errors import InvalidInput
from cardmind.models.calibration import Calibration
from cardmind.models.evaluation import (
    Metrics,
    Split,
    SplitSpec,
    evaluate_scores,
    make_split,
    mean_std,
    prequential_splits,
)
from cardmind.models.explain import describe_feature
from cardmind.models.scoring import ScoringModel

POSITIVE_LABELS = schema.FRAUD_LABELS
IMBALANCE = ("none", "fourth_root", "sqrt", "balanced")
AUTH_COLUMNS = ("auth_id", "ts", "card_token", "amount_fen", "channel", "cross_border", "mcc")


@dataclass(frozen=True, kw_only=True)
class FraudTrainConfig:
    """LightGBM and selection settings (keyword-only, validated)."""

    num_boost_round: int = 600
    early_stopping_rounds: int = 40
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 50
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    imbalance: str = "none"  # see IMBALANCE and the module docstring
    top_features: int = 40
    min_valid_positives: int = 5
    seed: int = 0
    num_threads: int = 1  # OpenMP threads busy-wait on a shared machine: 1 is often fastest

    def __post_init__(self) -> None:
        if self.num_boost_round < 1:
            raise ValueError(f"num_boost_round must be >= 1, got {self.num_boost_round}")
        if self.top_features < 1:
            raise ValueError(f"top_features must be >= 1, got {self.top_features}")
        if self.imbalance not in IMBALANCE:
            raise ValueError(
                f"imbalance must be one of {', '.join(IMBALANCE)}, got {self.imbalance!r}"
            )
        if not 0 < self.learning_rate <= 1:
            raise ValueError(f"learning_rate must be in (0, 1], got {self.learning_rate}")

    def params(self, scale_pos_weight: float = 1.0) -> dict[str, Any]:
        return {
            "objective": "binary",
            "metric": "average_precision",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.lambda_l2,
            "scale_pos_weight": scale_pos_weight,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.num_threads,
            "verbose": -1,
        }

    def scale_pos_weight(self, n_pos: int, n_neg: int) -> float:
        if n_pos == 0 or self.imbalance == "none":
            return 1.0
        ratio = n_neg / n_pos
        return {"sqrt": math.sqrt(ratio), "fourth_root": ratio**0.25, "balanced": ratio}[
            self.imbalance
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(kw_only=True)
class TrainingTable:
    """One row per purchase: raw columns, the feature matrix and label times.

    ``fraud_reported_at`` is when the bank learnt the row was fraud (NaT: never), so labels can
    be cut at any moment. ``truth`` / ``scenario`` are the simulator's ground truth (evaluation
    only; None for a bank's own data, where every label eventually reported is the truth).
    """

    auth: pd.DataFrame
    X: np.ndarray
    feature_names: list[str]
    fraud_reported_at: np.ndarray
    truth: np.ndarray | None = None
    scenario: np.ndarray | None = None
    feature_definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    fingerprint: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.auth)
        missing = [c for c in AUTH_COLUMNS if c not in self.auth.columns]
        if missing:
            raise ValueError(f"training table lacks authorization columns {missing}")
        if self.X.shape != (n, len(self.feature_names)):
            raise ValueError(
                f"X has shape {self.X.shape}, expected ({n}, {len(self.feature_names)})"
            )
        if len(self.fraud_reported_at) != n:
            raise ValueError("fraud_reported_at must have one value per row")
        rep = pd.to_datetime(pd.Series(self.fraud_reported_at), utc=True).dt.tz_localize(None)
        self.fraud_reported_at = rep.to_numpy().astype("datetime64[ns]")  # naive UTC, NaT: none

    def __len__(self) -> int:
        return len(self.auth)

    @property
    def ts(self) -> pd.Series:
        return self.auth["ts"]

    def labels_known_at(self, cutoff: pd.Timestamp) -> np.ndarray:
        """True where a fraud label was reported strictly before ``cutoff``."""
        c = pd.Timestamp(cutoff).tz_convert("UTC").tz_localize(None).to_datetime64()
        rep = self.fraud_reported_at
        return ~np.isnat(rep) & (rep < c)

    def evaluation_labels(self) -> np.ndarray:
        """Ground truth when known, else every fraud label eventually reported."""
        if self.truth is not None:
            return np.asarray(self.truth, bool)
        return ~np.isnat(self.fraud_reported_at)

    def known_compromised_from(self) -> pd.Series:
        """Per card, the first time a fraud label on it was reported (for Card Precision@k)."""
        rep = pd.Series(
            pd.DatetimeIndex(self.fraud_reported_at).tz_localize("UTC"),
            index=self.auth["card_token"].to_numpy(),
        )
        return rep.dropna().groupby(level=0).min()

    def subset(self, mask: np.ndarray) -> TrainingTable:
        return TrainingTable(
            auth=self.auth[mask].reset_index(drop=True),
            X=self.X[mask],
            feature_names=self.feature_names,
            fraud_reported_at=self.fraud_reported_at[mask],
            truth=None if self.truth is None else np.asarray(self.truth)[mask],
            scenario=None if self.scenario is None else np.asarray(self.scenario)[mask],
            feature_definitions=self.feature_definitions,
            fingerprint=self.fingerprint,
        )


@dataclass(kw_only=True)
class FraudModel:
    """A trained fraud model: selected features, booster, calibration and training facts."""

    booster: lgb.Booster
    feature_names: list[str]
    calibration: Calibration
    references: dict[str, float | None]
    gains: dict[str, float]
    params: dict[str, Any]
    best_iteration: int
    split: Split
    config: FraudTrainConfig
    training: dict[str, Any]
    feature_definitions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def predict_many(self, X_selected: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for a matrix already in ``feature_names`` order."""
        return self.calibration.transform(self.booster.predict(X_selected))

    def metadata(
        self,
        *,
        metrics: Mapping[str, Any] | None = None,
        fingerprint: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The JSON metadata saved in the registry next to the text model."""
        texts = {}
        for f in self.feature_names:
            t = describe_feature(f, self.feature_definitions.get(f), self.feature_definitions)
            texts[f] = {"en": t.en, "zh": t.zh, "binary": t.binary}
        return {
            "kind": "fraud",
            "model_format": "lightgbm-text",
            "feature_names": self.feature_names,
            "feature_service": feature_service_dict(self.feature_names, self.feature_definitions),
            "feature_reference": self.references,
            "feature_texts": texts,
            "feature_gain": self.gains,
            "calibration": self.calibration.to_dict(),
            "params": self.params,
            "best_iteration": self.best_iteration,
            "train_config": self.config.to_dict(),
            "training_window": self.split.to_dict(),
            "training": self.training,
            "data_fingerprint": dict(fingerprint or {}),
            "metrics": dict(metrics or {}),
            "code_version": code_version(),
            "created_at": datetime.now(UTC).isoformat(),
        }

    def scoring_model(self, **metadata: Any) -> ScoringModel:
        return ScoringModel(
            model_text=self.booster.model_to_string(), metadata=self.metadata(**metadata)
        )


def feature_service_dict(names: Sequence[str], definitions: Mapping[str, Any]) -> dict[str, Any]:
    """The declared feature list as the feature engine's ``FeatureService`` dict when available."""
    try:
        from cardmind.features import FeatureService  # type: ignore[attr-defined]

        return FeatureService(name="fraud", features=list(names)).to_dict()
    except Exception:  # the feature engine is optional here: fall back to the plain list
        return {"name": "fraud", "features": list(names)}


def code_version() -> str:
    """``cardmind <version>`` plus the git commit when running from a checkout."""
    import subprocess
    from pathlib import Path

    import cardmind

    v = f"cardmind {cardmind.__version__}"
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(cardmind.__file__).parent,
            timeout=5,
            check=False,
        )
        if out.returncode == 0:
            v += f" ({out.stdout.strip()})"
    except (OSError, subprocess.SubprocessError):
        pass
    return v


def _train(
    X: np.ndarray,
    y: np.ndarray,
    Xv: np.ndarray,
    yv: np.ndarray,
    names: list[str],
    config: FraudTrainConfig,
    spw: float,
) -> lgb.Booster:
    params = config.params(spw)
    dtrain = lgb.Dataset(X, y.astype(float), feature_name=names, free_raw_data=True)
    if int(yv.sum()) >= config.min_valid_positives:
        dvalid = lgb.Dataset(Xv, yv.astype(float), reference=dtrain)
        return lgb.train(
            params,
            dtrain,
            num_boost_round=config.num_boost_round,
            valid_sets=[dvalid],
            callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
        )
    # Too few positives to early-stop on: a conservative fixed number of rounds.
    return lgb.train(params, dtrain, num_boost_round=min(config.num_boost_round, 150))


def train_fraud(
    table: TrainingTable, split: Split, config: FraudTrainConfig | None = None
) -> FraudModel:
    """Train, select features, refit and calibrate as of ``split.cutoff``."""
    config = config or FraudTrainConfig()
    t0 = time.perf_counter()
    masks = split.masks(table.ts)
    y_all = table.labels_known_at(split.cutoff)
    fit, valid, calib = masks["fit"], masks["valid"], masks["calib"]
    n_pos = int(y_all[fit].sum())
    if n_pos == 0:
        raise InvalidInput(
            f"no fraud label reported before {split.cutoff} among the {int(fit.sum())} training "
            f"rows: cannot train a fraud model (is fraud_labels empty?)"
        )
    spw = config.scale_pos_weight(n_pos, int(fit.sum()) - n_pos)
    names = list(table.feature_names)
    X = table.X
    first = _train(X[fit], y_all[fit], X[valid], y_all[valid], names, config, spw)
    gain = first.feature_importance("gain", iteration=first.best_iteration or None)
    order = [i for i in np.argsort(-gain) if gain[i] > 0][: config.top_features]
    if not order:
        order = list(range(min(config.top_features, len(names))))
    keep = sorted(order, key=lambda i: -gain[i])
    sel = [names[i] for i in keep]
    if len(keep) < len(names):
        booster = _train(
            X[fit][:, keep], y_all[fit], X[valid][:, keep], y_all[valid], sel, config, spw
        )
    else:
        booster = first
    best = booster.best_iteration or booster.current_iteration()
    if booster.best_iteration:
        booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    raw_cal = booster.predict(X[calib][:, keep]) if calib.any() else np.array([])
    calibration = (
        Calibration.fit(raw_cal, y_all[calib]) if calib.any() else Calibration(method="identity")
    )
    refs = {}
    for j, f in zip(keep, sel, strict=True):
        col = X[fit][:, j]
        refs[f] = float(np.nanmedian(col)) if np.isfinite(col).any() else None
    final_gain = booster.feature_importance("gain")
    training = {
        "rows": {k: int(m.sum()) for k, m in masks.items() if k != "test"},
        "positives": {k: int(y_all[m].sum()) for k, m in masks.items() if k != "test"},
        "candidate_features": len(names),
        "selected_features": len(sel),
        "scale_pos_weight": spw,
        "imbalance": config.imbalance,
        "label_rule": f"fraud label reported before the cut-off {split.cutoff.isoformat()}",
        "seconds": round(time.perf_counter() - t0, 2),
    }
    return FraudModel(
        booster=booster,
        feature_names=sel,
        calibration=calibration,
        references=refs,
        gains={f: float(g) for f, g in zip(sel, final_gain, strict=True)},
        params=config.params(spw),
        best_iteration=int(best),
        split=split,
        config=config,
        training=training,
        feature_definitions={
            f: table.feature_definitions[f] for f in sel if f in table.feature_definitions
        },
    )


# --- the protocol: model and baselines on the same split ----------------------------------------
@dataclass(kw_only=True)
class SplitResult:
    """Model and baselines scored on one split's test window."""

    split: Split
    metrics: dict[str, Metrics]
    test: pd.DataFrame  # auth columns + is_fraud + scenario + one score column per model
    model: FraudModel


@dataclass(kw_only=True)
class EvaluationResult:
    """What ``cardmind evaluate`` reports."""

    main: SplitResult
    folds: list[SplitResult] = field(default_factory=list)
    spec: SplitSpec = field(default_factory=SplitSpec)
    data: dict[str, Any] = field(default_factory=dict)

    def prequential_summary(self) -> dict[str, dict[str, tuple[float, float]]]:
        """Per model and headline metric: (mean, std) over the prequential folds."""
        out: dict[str, dict[str, tuple[float, float]]] = {}
        for r in self.folds:
            for name, m in r.metrics.items():
                for key, val in m.headline().items():
                    out.setdefault(name, {}).setdefault(key, [])  # type: ignore[arg-type]
                    out[name][key].append(val)  # type: ignore[union-attr]
        return {n: {k: mean_std(v) for k, v in d.items()} for n, d in out.items()}  # type: ignore[arg-type]


MODEL_NAMES = ("lightgbm", "logistic", "rules")


def evaluate_split(
    table: TrainingTable,
    split: Split,
    config: FraudTrainConfig | None = None,
    *,
    k: int = 100,
    fpr: float = 0.01,
) -> SplitResult:
    """Train the model and both baselines as of ``split`` and score them on its test window."""
    from cardmind.models.baselines import LogisticBaseline, RulesBaseline

    model = train_fraud(table, split, config)
    masks = split.masks(table.ts)
    test = masks["test"]
    if not test.any():
        raise InvalidInput(
            f"no authorization in the test window {split.cutoff} .. {split.test_end}"
        )
    y_known = table.labels_known_at(split.cutoff)
    train_rows = masks["fit"] | masks["valid"] | masks["calib"]
    idx = [table.feature_names.index(f) for f in model.feature_names]
    scores = {"lightgbm": model.predict_many(table.X[test][:, idx])}
    lr = LogisticBaseline().fit(table.X[train_rows][:, idx], y_known[train_rows])
    scores["logistic"] = lr.predict_many(table.X[test][:, idx])
    rules = RulesBaseline().fit(table.auth[train_rows])
    scores["rules"] = rules.predict_many(table.auth[test].reset_index(drop=True))
    frame = table.auth[test].reset_index(drop=True).copy()
    frame["is_fraud"] = table.evaluation_labels()[test]
    if table.scenario is not None:
        scn = pd.Series(np.asarray(table.scenario, dtype=object)[test])
        frame["scenario"] = scn.where(frame["is_fraud"], None).to_numpy()
    known = table.known_compromised_from()
    metrics = {}
    for name, s in scores.items():
        frame[f"score_{name}"] = s
        metrics[name] = evaluate_scores(
            frame, model=name, score=f"score_{name}", k=k, fpr=fpr, known_from=known
        )
    return SplitResult(split=split, metrics=metrics, test=frame, model=model)


def evaluate_fraud(
    table: TrainingTable,
    spec: SplitSpec | None = None,
    config: FraudTrainConfig | None = None,
    *,
    prequential: int = 0,
    k: int = 100,
    fpr: float = 0.01,
) -> EvaluationResult:
    """The protocol: the main split (latest test window) and, when ``prequential`` > 1, that
    many rolling folds (the latest of which is the main split)."""
    spec = spec or SplitSpec()
    if len(table) == 0:
        raise InvalidInput("no purchase authorization to evaluate on")
    t_min, t_max = table.ts.min(), table.ts.max()
    try:
        main_split = make_split(t_min, t_max, spec)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    main = evaluate_split(table, main_split, config, k=k, fpr=fpr)
    folds: list[SplitResult] = []
    if prequential > 1:
        for s in prequential_splits(t_min, t_max, spec, folds=prequential):
            folds.append(
                main if s == main_split else evaluate_split(table, s, config, k=k, fpr=fpr)
            )
    data = {
        "rows": len(table),
        "features": len(table.feature_names),
        "first": t_min.isoformat(),
        "last": t_max.isoformat(),
        "frauds": int(table.evaluation_labels().sum()),
        "labels": "ground truth (simulated)"
        if table.truth is not None
        else "reported fraud labels",
        **({"fingerprint": table.fingerprint} if table.fingerprint else {}),
    }
    return EvaluationResult(main=main, folds=folds, spec=spec, data=data)


# --- from a dataset folder ----------------------------------------------------------------------
def dataset_fingerprint(dataset: Any) -> dict[str, Any]:
    """Hash of the dataset manifest plus the row count of every table (cheap: Parquet footers)."""
    import hashlib

    import pyarrow.parquet as pq

    counts = {
        t: sum(pq.ParquetFile(f).metadata.num_rows for f in dataset.files(t))
        for t in dataset.tables()
    }
    manifest = (dataset.path / "manifest.json").read_bytes()
    h = hashlib.sha256(manifest)
    h.update(json.dumps(counts, sort_keys=True).encode())
    return {
        "sha256": h.hexdigest(),
        "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
        "row_counts": counts,
        "path": str(dataset.path),
    }


#: Entities, windows and filters of the default catalog that the fraud model considers.
FRAUD_ENTITIES = ("card", "merchant", "terminal", "device", "card_merchant", "category")
FRAUD_WINDOWS = ("10m", "1h", "24h", "7d", "30d", "90d")
FRAUD_FILTERS = (None, "online", "night", "cross_border", "declined")


def fraud_candidates(catalog: Any = None, *, size: str = "full") -> Any:
    """The fraud model's candidate features from the default catalog.

    ``full`` (about 500): request features, label-delayed fraud rates, card / merchant /
    terminal / device / card-at-merchant / category windows on authorizations (10m .. 90d;
    all, online, night, cross-border and declined purchases), and the ratios and z-scores built
    on them. ``compact`` (about 150): windows of 1h, 24h and 30d; all, online and declined
    purchases; counts, means, maxima, distinct counts, shares and time since the last purchase.

    Customer windows duplicate card windows (one card per customer in most data) and statement,
    repayment and installment features describe credit and cash-out, not third-party fraud.
    """
    from cardmind import features

    if size not in ("full", "compact"):
        raise InvalidInput(f"feature set must be full or compact, got {size!r}")
    catalog = catalog if catalog is not None else features.default_catalog()

    def base(d: Any) -> bool:
        if d.kind in ("request", "label"):
            return True
        if d.kind != "window" or d.source != "authorizations" or d.entity not in FRAUD_ENTITIES:
            return False
        if size == "compact":
            return (
                d.window in ("1h", "24h", "30d")
                and d.filter in (None, "online", "declined")
                and d.entity != "card_merchant"
                and d.aggregation
                in ("count", "mean", "max", "distinct_count", "time_since_last", "share")
            )
        return d.window in FRAUD_WINDOWS and d.filter in FRAUD_FILTERS

    names = set(catalog.filter(base).names())
    return catalog.filter(
        lambda d: d.name in names or (d.kind == "derived" and all(i in names for i in d.inputs))
    )


def build_training_table(
    dataset: Any, catalog: Any = None, *, progress: Callable[[str], None] | None = None
) -> TrainingTable:
    """One row per purchase with point-in-time features, label report times and (simulated
    data only) the ground truth, which only evaluation reads."""
    say = progress or (lambda _m: None)
    if not dataset.has("authorizations"):
        raise InvalidInput(f"{dataset.path}: no authorizations table")
    if not dataset.has("fraud_labels"):
        raise InvalidInput(f"{dataset.path}: no fraud_labels table: a fraud model needs labels")
    auth_t = dataset.read("authorizations")
    if "message_type" in auth_t.column_names:
        import pyarrow.compute as pc

        auth_t = auth_t.filter(pc.equal(auth_t["message_type"], "purchase"))
    auth_t = auth_t.sort_by([("ts", "ascending"), ("auth_id", "ascending")])
    feats, names, defs = compute_features(dataset, auth_t, catalog, say)
    cols = [c for c in AUTH_COLUMNS if c in auth_t.column_names]
    auth = auth_t.select(cols).to_pandas()
    for c in AUTH_COLUMNS:
        if c not in auth.columns:  # minimal imported data: rules treat absent columns as "no"
            auth[c] = {"channel": "unknown", "cross_border": False, "mcc": ""}.get(c)
    labels = dataset.read("fraud_labels").to_pandas()
    pos = labels[labels["label"].isin(POSITIVE_LABELS)]
    first = pos.groupby("auth_id")["reported_at"].min()
    reported = auth["auth_id"].map(first)
    truth = scenario = None
    if dataset.has("truth_authorizations"):  # evaluation only: never a feature or a label
        tr = dataset.read("truth_authorizations").to_pandas().set_index("auth_id")
        truth = auth["auth_id"].map(tr["is_fraud"]).fillna(False).to_numpy(bool)
        scenario = auth["auth_id"].map(tr["scenario"]).to_numpy(object)
    elif "scenario" in labels.columns:
        scenario = auth["auth_id"].map(pos.groupby("auth_id")["scenario"].first()).to_numpy(object)
    say(
        f"{int((~reported.isna()).sum()):,} purchases labelled fraud"
        + (f", {int(truth.sum()):,} frauds in the ground truth" if truth is not None else "")
    )
    return TrainingTable(
        auth=auth,
        X=feats,
        feature_names=names,
        fraud_reported_at=reported.to_numpy(),
        truth=truth,
        scenario=scenario,
        feature_definitions=defs,
        fingerprint=dataset_fingerprint(dataset),
    )


def compute_features(
    dataset: Any, auth: Any, catalog: Any, say: Callable[[str], None]
) -> tuple[np.ndarray, list[str], dict[str, dict[str, Any]]]:
    """Point-in-time feature matrix for the purchases ``auth`` (Arrow), via the feature engine."""
    import pyarrow as pa

    from cardmind import features

    catalog = (catalog if catalog is not None else fraud_candidates()).for_dataset(dataset)
    for notice in getattr(catalog, "notices", []):
        say(f"feature skipped: {notice}")
    table = features.BatchEngine(_duckdb_views(dataset)).compute(catalog, auth)
    if table.num_rows != auth.num_rows:
        raise RuntimeError(f"feature engine returned {table.num_rows} rows for {auth.num_rows}")
    if "auth_id" in table.column_names:
        got = table["auth_id"].to_numpy(zero_copy_only=False)
        want = auth["auth_id"].to_numpy(zero_copy_only=False)
        if not np.array_equal(got, want):
            order = pd.Series(np.arange(len(got)), index=got).loc[want].to_numpy()
            table = table.take(pa.array(order))
    names, cols, defs = [], [], {}
    for d in catalog:
        if d.name not in table.column_names:
            continue
        col = table[d.name]
        if not (
            pa.types.is_integer(col.type)
            or pa.types.is_floating(col.type)
            or pa.types.is_boolean(col.type)
        ):
            say(f"feature skipped: {d.name} is {col.type}, not numeric")
            continue
        arr = col.to_numpy(zero_copy_only=False)
        cols.append(
            np.asarray(pd.array(arr, dtype="Float64").to_numpy(dtype=float, na_value=np.nan))
        )
        names.append(d.name)
        defs[d.name] = d.to_dict()
    X = np.column_stack(cols) if cols else np.zeros((auth.num_rows, 0))
    return X, names, defs


def _duckdb_views(dataset: Any) -> Any:
    """A DuckDB connection with one view per table (``Dataset.connect`` passes the path as a
    prepared parameter, which DuckDB 2.x refuses in ``CREATE VIEW``)."""
    import duckdb

    con = duckdb.connect()
    for t in dataset.tables():
        path = dataset.glob(t).replace("'", "''")
        con.execute(f"CREATE OR REPLACE VIEW {t} AS SELECT * FROM read_parquet('{path}')")
    return con


def train_and_register(
    table: TrainingTable,
    spec: SplitSpec | None = None,
    config: FraudTrainConfig | None = None,
    *,
    name: str = "fraud",
    promote: bool = False,
    registry: Any = None,
    k: int = 100,
) -> tuple[str, dict[str, Any]]:
    """Train as of the protocol's cut-off, score the test window, save to the registry.

    Returns the version and the test metrics stored in its metadata.
    """
    from cardmind.models.registry import Registry

    spec = spec or SplitSpec()
    try:
        split = make_split(table.ts.min(), table.ts.max(), spec)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    model = train_fraud(table, split, config)
    test = split.masks(table.ts)["test"]
    idx = [table.feature_names.index(f) for f in model.feature_names]
    frame = table.auth[test].reset_index(drop=True).copy()
    frame["is_fraud"] = table.evaluation_labels()[test]
    if table.scenario is not None:
        scn = pd.Series(np.asarray(table.scenario, dtype=object)[test])
        frame["scenario"] = scn.where(frame["is_fraud"], None).to_numpy()
    frame["score"] = model.predict_many(table.X[test][:, idx])
    m = evaluate_scores(frame, model="lightgbm", k=k, known_from=table.known_compromised_from())
    metrics = {key: val for key, val in m.to_dict().items() if key not in ("review",)}
    reg = registry or Registry()
    version = reg.save(
        name,
        model_text=model.booster.model_to_string(),
        metadata=model.metadata(metrics=metrics, fingerprint=table.fingerprint),
    )
    if promote:
        reg.promote(name, version)
    return version, metrics
