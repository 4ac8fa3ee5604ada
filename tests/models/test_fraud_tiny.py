"""The fraud model on the tiny simulation: real features, delayed labels, truth only for scoring."""

import numpy as np
import pytest

from cardmind.dataset import Dataset
from cardmind.models.evaluation import SplitSpec
from cardmind.models.fraud import (
    FraudTrainConfig,
    build_training_table,
    evaluate_fraud,
    fraud_candidates,
    train_and_register,
)
from cardmind.models.registry import Registry

CONFIG = FraudTrainConfig(num_boost_round=150, top_features=20, num_threads=1)


def _compact():
    """A small slice of the fraud candidates so the test stays fast."""

    def keep(d):
        if d.kind in ("request", "label"):
            return True
        return (
            d.kind == "window"
            and d.window in ("1h", "30d")
            and d.filter in (None, "online")
            and d.entity in ("card", "merchant", "device")
            and d.aggregation in ("count", "mean", "max", "distinct_count", "time_since_last")
        )

    base = fraud_candidates().filter(keep)
    names = set(base.names())
    return fraud_candidates().filter(
        lambda d: d.name in names or (d.kind == "derived" and all(i in names for i in d.inputs))
    )


@pytest.fixture(scope="module")
def tiny_table(tiny_dataset):
    return build_training_table(Dataset(tiny_dataset), _compact())


@pytest.fixture(scope="module")
def tiny_evaluation(tiny_table):
    return evaluate_fraud(tiny_table, SplitSpec(), CONFIG)


def test_training_table_reads_labels_not_truth(tiny_table, tiny_dataset):
    ds = Dataset(tiny_dataset)
    assert all("truth" not in n for n in tiny_table.feature_names)
    from cardmind.features.catalog import resolve

    tables = {t for n in tiny_table.feature_names for t in resolve(n).tables}
    assert "authorizations" in tables and not any(t.startswith("truth_") for t in tables)
    labels = ds.read("fraud_labels").to_pandas()
    labelled = set(labels.loc[labels["label"].isin(["fraud", "chargeback"]), "auth_id"])
    has_label = ~np.isnat(tiny_table.fraud_reported_at)
    assert set(tiny_table.auth["auth_id"][has_label]) == labelled & set(tiny_table.auth["auth_id"])
    # the simulator's truth has frauds the bank never learnt about: they are not training labels
    assert tiny_table.truth.sum() > has_label.sum()


def test_lightgbm_beats_both_baselines_on_tiny(tiny_evaluation):
    m = tiny_evaluation.main.metrics
    assert m["lightgbm"].frauds >= 30, "tiny no longer has enough fraud in the test window"
    assert m["lightgbm"].ap > m["logistic"].ap
    assert m["lightgbm"].ap > m["rules"].ap
    scenarios = {r["group"] for r in m["lightgbm"].by_scenario}
    assert {"lost_stolen", "cnp_breach"} <= scenarios
    assert "cashout_app" not in scenarios  # cash-out is not third-party fraud


def test_registered_model_serves_and_explains_in_both_languages(tiny_table, tmp_path):
    reg = Registry(tmp_path)
    version, _ = train_and_register(tiny_table, SplitSpec(), CONFIG, registry=reg, promote=True)
    model = reg.load("fraud")
    meta = reg.describe("fraud", version)
    assert meta["data_fingerprint"]["row_counts"]["authorizations"] > 0
    assert set(model.feature_names) <= set(tiny_table.feature_names)
    cols = [tiny_table.feature_names.index(f) for f in model.feature_names]
    frauds = np.flatnonzero(tiny_table.truth)[-5:]
    row = dict(zip(model.feature_names, tiny_table.X[frauds[0], cols], strict=True))
    assert model.predict_one(row) == pytest.approx(
        model.predict_many(tiny_table.X[frauds[:1]][:, cols])[0]
    )
    for reasons in model.explain(tiny_table.X[frauds][:, cols], top=3):
        for r in reasons:
            assert r.contribution > 0
            assert "_" not in r.en and any("\u4e00" <= ch <= "\u9fff" for ch in r.zh)
