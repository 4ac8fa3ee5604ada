import pyarrow as pa
import pytest

from cardmind.models.cashout.rules import DEFAULT_RULES, Rule, evaluate_rules


def _rule(cond):
    return Rule(name="r", condition=cond, reason_en="en", reason_zh="中文")


@pytest.mark.parametrize(
    ("cond", "match"),
    [
        ("bogus_feature > 1", "unknown feature"),
        ("n_purchases > (SELECT 1)", "only feature names"),
        ("f.n_purchases > 1", "unknown feature"),
        ("n_purchases >", "cannot parse"),
    ],
)
def test_unsafe_or_unknown_conditions_are_refused(cond, match):
    with pytest.raises(ValueError, match=match):
        _rule(cond)


def test_rule_knows_its_features_and_round_trips():
    r = _rule("third_party_repay >= 0.5 AND n_purchases BETWEEN 2 AND 9")
    assert r.features == ("third_party_repay", "n_purchases")
    assert r.needs_repayments
    assert Rule.from_dict(r.to_dict()) == r


def test_default_rules_have_both_languages():
    assert DEFAULT_RULES
    for r in DEFAULT_RULES:
        assert r.reason_en and any("\u4e00" <= ch <= "\u9fff" for ch in r.reason_zh)


def test_null_feature_never_fires():
    t = pa.table({"third_party_repay": pa.array([None, 0.9, 0.1], pa.float64())})
    out = evaluate_rules(t, (_rule("third_party_repay >= 0.5"),))
    assert out.column("r").to_pylist() == [False, True, False]
