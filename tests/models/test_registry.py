import json

import lightgbm as lgb
import numpy as np
import pytest

from cardmind.errors import InvalidInput
from cardmind.models.registry import Registry
from cardmind.models.scoring import ScoringModel

NAMES = ["card_count_1h", "req_amount", "req_is_night"]


def _booster(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(500, 3))
    y = (X[:, 0] + X[:, 1] > 1.5).astype(int)
    return lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 7, "seed": seed},
        lgb.Dataset(X, y),
        num_boost_round=10,
    )


def _meta(**extra):
    return {
        "feature_names": NAMES,
        "calibration": {"method": "platt", "a": 0.5, "b": -1.0},
        "metrics": {"ap": 0.5},
        **extra,
    }


def test_versions_increment_and_promote_chooses_what_load_returns(tmp_path):
    reg = Registry(tmp_path)
    v1 = reg.save("fraud", model_text=_booster(0).model_to_string(), metadata=_meta())
    v2 = reg.save("fraud", model_text=_booster(1).model_to_string(), metadata=_meta())
    assert (v1, v2) == ("v0001", "v0002")
    with pytest.raises(InvalidInput, match=r"no production version.*promote"):
        reg.load("fraud")
    reg.promote("fraud", v1)
    assert reg.load("fraud").version == "v0001"
    assert reg.load("fraud", "latest").version == "v0002"
    reg.promote("fraud", v2)
    assert reg.load("fraud", "production").version == "v0002"
    assert [r.stage for r in reg.list("fraud")] == ["-", "production"]
    assert reg.stages("fraud")["history"][-1]["previous"] == "v0001"


def test_artifacts_are_readable_text_and_json_only(tmp_path):
    reg = Registry(tmp_path)
    v = reg.save("fraud", model_text=_booster().model_to_string(), metadata=_meta())
    files = sorted(p.name for p in (tmp_path / "fraud" / v).iterdir())
    assert files == ["metadata.json", "model.txt"]
    assert (tmp_path / "fraud" / v / "model.txt").read_text().startswith("tree")
    meta = json.loads((tmp_path / "fraud" / v / "metadata.json").read_text())
    assert meta["name"] == "fraud" and meta["version"] == v and meta["created_at"]


def test_loaded_model_applies_the_stored_calibration(tmp_path):
    reg = Registry(tmp_path)
    b = _booster()
    reg.save("fraud", model_text=b.model_to_string(), metadata=_meta())
    m = reg.load("fraud", "v0001")
    x = np.array([[2.0, 1.0, 0.0]])
    raw = b.predict(x)[0]
    expected = 1 / (1 + np.exp(-(0.5 * np.log(raw / (1 - raw)) - 1.0)))
    assert m.predict_one(dict(zip(NAMES, x[0], strict=True))) == pytest.approx(expected)
    assert m.predict_proba(x)[0, 1] == pytest.approx(expected)


def test_bad_names_versions_and_metadata_are_refused(tmp_path):
    reg = Registry(tmp_path)
    text = _booster().model_to_string()
    with pytest.raises(InvalidInput, match="model name"):
        reg.save("../evil", model_text=text, metadata=_meta())
    with pytest.raises(InvalidInput, match="feature_names"):
        reg.save("fraud", model_text=text, metadata={"metrics": {}})
    with pytest.raises(InvalidInput, match="model has 3 features, metadata lists 2"):
        reg.save("fraud", model_text=text, metadata={"feature_names": NAMES[:2]})
    reg.save("fraud", model_text=text, metadata=_meta())
    with pytest.raises(InvalidInput, match="no version v0009"):
        reg.promote("fraud", "v0009")
    with pytest.raises(InvalidInput, match="version must look like"):
        reg.load("fraud", "1")


def test_scoring_inputs_missing_features_are_named(tmp_path):
    m = ScoringModel(model_text=_booster().model_to_string(), metadata=_meta())
    with pytest.raises(InvalidInput, match="req_is_night"):
        m.predict_many({"card_count_1h": [1.0], "req_amount": [2.0]})
    # absent values in a single row are missing (NaN), as LightGBM was trained to handle
    assert 0 <= m.predict_one({"card_count_1h": 1.0}) <= 1


def test_compiled_predictor_gives_lightgbm_scores_including_missing_values():
    m = ScoringModel(model_text=_booster().model_to_string(), metadata=_meta())
    X = np.random.default_rng(3).normal(size=(300, 3))
    X[::4, 1] = np.nan
    X[::5, 0] = 0.0
    before = m.predict_many(X)
    m.compile()
    assert m.compiled
    assert np.allclose(m.predict_many(X[:200]), before[:200], atol=1e-12)  # the walker
    assert np.allclose(m.predict_many(X), before, atol=1e-12)  # large batch: LightGBM
    rows = [dict(zip(NAMES, r, strict=True)) for r in X[:20]]
    assert np.allclose([m.predict_one(r) for r in rows], before[:20], atol=1e-12)
