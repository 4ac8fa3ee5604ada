import lightgbm as lgb
import numpy as np
import pytest

from cardmind.models.explain import Reason, ReasonExplainer, describe_feature
from cardmind.models.scoring import ScoringModel


def test_reasons_are_the_largest_positive_contributions_in_order():
    ex = ReasonExplainer(feature_names=["a_1h", "b_1h", "c_1h"], references=[0.0, 0.0, 0.0])
    contrib = np.array([[0.2, 1.5, -2.0, 0.1], [-0.1, -0.2, -0.3, 0.0]])
    X = np.array([[1.0, np.nan, -1.0], [0.0, 0.0, 0.0]])
    top = ex.reasons(X, contrib, top=3)
    assert [r.feature for r in top[0]] == ["b_1h", "a_1h"]
    assert top[0][0].direction == "missing" and "无历史" in top[0][0].zh
    assert top[1] == []  # nothing raised the score: no reason invented


def test_direction_follows_the_training_median():
    hi = Reason.build(feature="card_count_1h", value=9, reference=1, contribution=1)
    lo = Reason.build(feature="card_count_1h", value=0, reference=1, contribution=1)
    assert (hi.direction, lo.direction) == ("high", "low")
    assert hi.zh.endswith("偏高") and lo.zh.endswith("偏低")
    assert hi.en.endswith("is high") and lo.en.endswith("is low")


def test_ratio_features_read_as_a_comparison_in_both_languages():
    catalog = {
        "req_amount": {"kind": "request", "what": "amount"},
        "card_amount_mean_30d": {
            "kind": "window",
            "entity": "card",
            "aggregation": "mean",
            "column": "amount_fen",
            "window": "30d",
        },
    }
    t = describe_feature(
        "req_amount_over_card_amount_mean_30d",
        {"kind": "derived", "op": "ratio", "inputs": ["req_amount", "card_amount_mean_30d"]},
        catalog,
    )
    assert (
        t.en
        == "transaction amount relative to average purchase amount on this card in the last 30 days"
    )
    assert t.zh == "交易金额相对该卡近30天交易平均金额的倍数"


def test_every_default_catalog_feature_gets_a_readable_reason():
    features = pytest.importorskip("cardmind.features")
    catalog = getattr(features, "default_catalog", None)
    if catalog is None:
        pytest.skip("the feature engine has no default_catalog yet")
    defs = {d.name: d.to_dict() for d in catalog()}
    assert len(defs) > 50
    for name, d in defs.items():
        t = describe_feature(name, d, defs)
        for text in (t.en, t.zh):
            assert text and "_" not in text and "None" not in text, (name, text)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in t.zh), (name, t.zh)


def test_scoring_model_explains_rows_with_bilingual_reasons():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 2))
    y = (X[:, 0] > 1.2).astype(int)
    b = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4}, lgb.Dataset(X, y), 20)
    m = ScoringModel(
        model_text=b.model_to_string(),
        metadata={
            "feature_names": ["card_count_1h", "noise"],
            "feature_reference": {"card_count_1h": 0.0},
            "feature_texts": {
                "card_count_1h": {
                    "en": "purchases on this card in the last hour",
                    "zh": "该卡近1小时交易笔数",
                }
            },
        },
    )
    reasons = m.explain({"card_count_1h": 3.0, "noise": 0.0}, top=1)
    assert len(reasons) == 1
    r = reasons[0]
    assert r.feature == "card_count_1h" and r.contribution > 0
    assert r.text("zh") == "该卡近1小时交易笔数偏高"
    assert r.text("en") == "purchases on this card in the last hour is high"
    with pytest.raises(ValueError, match="lang"):
        r.text("fr")


def test_single_row_calls_run_lightgbm_on_one_thread(monkeypatch):
    """One row: ``num_threads=1`` (OpenMP start-up costs more than the row); batches: default."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 2))
    b = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4},
                  lgb.Dataset(X, (X[:, 0] > 1).astype(int)), 5)
    m = ScoringModel(model_text=b.model_to_string(),
                     metadata={"feature_names": ["card_count_1h", "noise"]})
    calls = []
    predict = m.booster.predict

    def spy(data, **kw):
        calls.append((len(data), kw.get("num_threads")))
        return predict(data, **kw)

    monkeypatch.setattr(m.booster, "predict", spy)
    m.explain({"card_count_1h": 3.0, "noise": 0.0})
    m.explain(X[:1])
    m.predict_one({"card_count_1h": 3.0, "noise": 0.0})
    m.predict_many(X[:1])
    m.contributions(X[:1])
    assert calls == [(1, 1)] * 5
    calls.clear()
    m.explain(X[:50])
    m.predict_many(X[:50])
    assert calls == [(50, None)] * 2
