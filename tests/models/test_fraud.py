import json

import numpy as np
import pytest

from cardmind.errors import InvalidInput
from cardmind.models.evaluation import SplitSpec, make_split
from cardmind.models.fraud import FraudTrainConfig, evaluate_fraud, train_and_register, train_fraud
from cardmind.models.registry import Registry

SPEC = SplitSpec(test_days=14, delay_days=7, valid_days=7, calib_days=7)
FAST = FraudTrainConfig(
    num_boost_round=120, top_features=6, early_stopping_rounds=20, num_threads=1
)


@pytest.fixture
def evaluation(synthetic_evaluation):
    return synthetic_evaluation


def test_lightgbm_beats_both_baselines_on_average_precision(evaluation):
    m = evaluation.main.metrics
    assert m["lightgbm"].frauds >= 30  # enough fraud in the test window to mean something
    assert m["lightgbm"].ap > m["logistic"].ap
    assert m["lightgbm"].ap > m["rules"].ap
    assert m["lightgbm"].auc > 0.9


def test_only_labels_reported_before_the_cutoff_are_used(synthetic_table, evaluation):
    model = evaluation.main.model
    split = evaluation.main.split
    masks = split.masks(synthetic_table.ts)
    train_rows = masks["fit"]
    truth_pos = int(synthetic_table.truth[train_rows].sum())
    known = synthetic_table.labels_known_at(split.cutoff)
    assert model.training["positives"]["fit"] == int(known[train_rows].sum())
    # some training frauds were not yet reported (or never): the model must not have seen them
    assert model.training["positives"]["fit"] < truth_pos
    # and no label reported after the cut-off leaks in
    late = ~np.isnat(synthetic_table.fraud_reported_at) & ~known
    assert not known[late].any()


def test_feature_selection_keeps_a_compact_list_without_the_noise(evaluation):
    model = evaluation.main.model
    assert 1 <= len(model.feature_names) <= FAST.top_features
    assert model.feature_names[0] not in ("noise_a", "noise_b")
    assert model.booster.num_feature() == len(model.feature_names)


def test_calibrated_scores_are_probabilities_close_to_the_observed_rate(evaluation):
    test = evaluation.main.test
    p = test["score_lightgbm"].to_numpy()
    assert ((p >= 0) & (p <= 1)).all()
    observed = test["is_fraud"].mean()
    assert 0.3 * observed < p.mean() < 3 * observed


def test_per_scenario_recall_is_reported_for_every_scenario(evaluation):
    groups = {r["group"] for r in evaluation.main.metrics["lightgbm"].by_scenario}
    assert groups == {"cnp_breach", "lost_stolen"}


def test_train_register_and_serve_the_same_scores(synthetic_table, tmp_path):
    reg = Registry(tmp_path / "models")
    version, metrics = train_and_register(synthetic_table, SPEC, FAST, registry=reg, promote=True)
    assert version == "v0001" and metrics["ap"] > 0.3
    meta = reg.describe("fraud", "production")
    json.dumps(meta, allow_nan=False)  # valid, strict JSON
    for key in (
        "feature_service",
        "training_window",
        "data_fingerprint",
        "params",
        "metrics",
        "calibration",
        "created_at",
        "code_version",
    ):
        assert meta[key], key
    assert meta["feature_service"]["features"] == meta["feature_names"]
    served = reg.load("fraud")
    X = synthetic_table.X[:50][
        :, [synthetic_table.feature_names.index(f) for f in served.feature_names]
    ]
    many = served.predict_many(X)
    one = [served.predict_one(dict(zip(served.feature_names, row, strict=True))) for row in X]
    assert np.allclose(many, one)
    reasons = served.explain(X[:3], top=3)
    assert len(reasons) == 3 and all(len(r) <= 3 for r in reasons)


def test_no_reported_fraud_before_the_cutoff_is_a_clear_error(synthetic_table):
    table = synthetic_table.subset(np.ones(len(synthetic_table), bool))
    table.fraud_reported_at[:] = np.datetime64("NaT")
    split = make_split(table.ts.min(), table.ts.max(), SPEC)
    with pytest.raises(InvalidInput, match="no fraud label reported before"):
        train_fraud(table, split, FAST)


def test_prequential_reports_mean_and_std_per_model(synthetic_table):
    res = evaluate_fraud(
        synthetic_table,
        SplitSpec(test_days=7, delay_days=7, valid_days=7, calib_days=7),
        FraudTrainConfig(num_boost_round=40, top_features=4, num_threads=1),
        prequential=2,
    )
    summary = res.prequential_summary()
    assert len(res.folds) == 2 and set(summary) == {"lightgbm", "logistic", "rules"}
    mean, std = summary["lightgbm"]["ap"]
    aps = [f.metrics["lightgbm"].ap for f in res.folds]
    assert mean == pytest.approx(np.mean(aps)) and std == pytest.approx(np.std(aps))
