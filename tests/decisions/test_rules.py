"""Rule files: validation with precise errors, evaluation, hot reload, bad files refused."""

from __future__ import annotations

import os
import re
import time

import pytest

from cardmind.decisions.rules import (
    DEFAULT_RULES_PATH,
    RuleManager,
    parse_rules,
    sample_context,
    verdict,
)
from cardmind.errors import InvalidInput

GOOD = """
version: "t-1"
rules:
  - name: big
    when: "amount_fen > 100000"
    effect: DECLINE
    reason: FRAUD_HIGH
  - name: fast
    when: "features.card_auth_count_1h >= 5"
    effect: CHALLENGE
    reason: VELOCITY_HIGH
"""


def test_default_rule_file_loads():
    rs = parse_rules(DEFAULT_RULES_PATH.read_text())
    assert rs.version.startswith("default") and rs.standin and len(rs.checksum) == 12


@pytest.mark.parametrize(("change", "message"), [
    (("amount_fen >", "amount_fenn >"), "rule 'big': unknown name 'amount_fenn'"),
    (("amount_fen > 100000", "amount_fen >"), "rule 'big': syntax error"),
    (("amount_fen > 100000", "amount_fen + 1"), "rule 'big': must be true or false"),
    (("amount_fen > 100000", "amount_fen > 'x'"), "rule 'big': fails on a sample request"),
    (("effect: DECLINE", "effect: EXPLODE"), "rule 'big': 'effect' must be one of"),
    (("reason: FRAUD_HIGH", "reason: NOPE"), "rule 'big': unknown reason code 'NOPE'"),
    (("name: fast", "name: big"), "duplicate rule name 'big'"),
    (('version: "t-1"', "versio: 1"), "unknown top-level keys ['versio']"),
    (("  - name: big", "  - name: big\n    when: x\n  when: y"), "not valid YAML at line"),
])
def test_bad_rules_are_refused_with_a_precise_message(change, message):
    with pytest.raises(InvalidInput) as err:
        parse_rules(GOOD.replace(*change))
    assert message in str(err.value)


def test_unknown_feature_refused_when_catalog_known():
    parse_rules(GOOD, known_features=frozenset({"card_auth_count_1h"}))
    with pytest.raises(InvalidInput, match="unknown feature 'card_auth_count_1h'"):
        parse_rules(GOOD, known_features=frozenset({"other"}))


def test_standin_rules_cannot_use_score_or_features():
    bad = GOOD + """
standin:
  - name: s
    when: "fraud_score > 0.5"
    effect: DECLINE
    reason: FRAUD_HIGH
"""
    with pytest.raises(InvalidInput, match="stand-in rule 's': stand-in rules cannot use fraud_score"):
        parse_rules(bad)


def test_no_python_eval_reaches_the_evaluator():
    with pytest.raises(InvalidInput):
        parse_rules(GOOD.replace("amount_fen > 100000", "__import__('os').system('true')"))


def test_evaluation_and_verdict():
    rs = parse_rules(GOOD)
    ctx = sample_context({"card_auth_count_1h": 7.0})
    v = verdict(rs.evaluate(ctx))
    assert (v.action, v.response_code, v.reasons) == ("CHALLENGE", "1A", ("VELOCITY_HIGH",))
    ctx["amount_fen"] = 200_000
    assert verdict(rs.evaluate(ctx)).action == "DECLINE"
    ctx.update(amount_fen=1, features={"card_auth_count_1h": 0.0})
    assert verdict(rs.evaluate(ctx)).action == "APPROVE"


def _touch_later(path, text):
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def test_hot_reload_from_file_and_bad_file_keeps_previous(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD)
    mgr = RuleManager(path, watch_s=0.0)
    assert mgr.version == "t-1"
    _touch_later(path, GOOD.replace('"t-1"', '"t-2"'))
    mgr.maybe_reload(time.monotonic())
    assert mgr.version == "t-2"
    _touch_later(path, GOOD.replace('"t-1"', '"t-3"').replace("FRAUD_HIGH", "NOPE"))
    mgr.maybe_reload(time.monotonic())
    assert mgr.version == "t-2" and "unknown reason code 'NOPE'" in mgr.last_error
    with pytest.raises(InvalidInput):
        mgr.reload()
    assert mgr.version == "t-2"


def test_load_via_api_validates_and_persists(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD)
    mgr = RuleManager(path)
    with pytest.raises(InvalidInput):
        mgr.load("version: x\nrules: 5")
    assert mgr.version == "t-1"
    info = mgr.load(GOOD.replace('"t-1"', '"t-9"'), persist=True)
    assert info.version == "t-9" and '"t-9"' in path.read_text()
    assert mgr.validate(GOOD).version == "t-1" and mgr.version == "t-9"


def test_engine_picks_up_a_new_rule_file_without_restart(tmp_path, engine_factory, make_req):
    path = tmp_path / "rules.yaml"
    path.write_text(DEFAULT_RULES_PATH.read_text())
    e = engine_factory(rules_path=path, watch_rules_s=0.0)
    assert e.decide(make_req("a1", amount=150_000)).action == "APPROVE"
    text = re.sub(r'version: "[^"]+"', 'version: "tight"', DEFAULT_RULES_PATH.read_text(), count=1)
    text = text.replace("\nrules:\n", '\nrules:\n  - name: cap\n    when: "amount_fen > 100000"\n'
                        "    effect: DECLINE\n    reason: FRAUD_HIGH\n", 1)
    _touch_later(path, text)
    d = e.decide(make_req("a2", amount=150_000))
    assert (d.action, d.rules_version) == ("DECLINE", "tight")
