"""The authorization engine: decisions, idempotency, credit, reversals, stand-in, the log."""

from __future__ import annotations

import json
from datetime import datetime

import lightgbm as lgb
import numpy as np
import pytest
from sqlalchemy import select

from cardmind.decisions.authorize import AuthorizationEngine, EngineConfig
from cardmind.decisions.types import AuthorizationRequest, Decision, Label, ListEntry
from cardmind.errors import InvalidInput
from cardmind.models.scoring import ScoringModel
from cardmind.storage.decision_log import (
    DecisionLogRow,
    TempCreditGrantRow,
    load_decision_inputs,
)


def _rows(engine, table=DecisionLogRow):
    engine.flush()
    with engine._db.connect() as conn:
        return conn.execute(select(table.__table__)).mappings().all()


def test_low_risk_purchase_is_approved_without_friction(engine_factory, make_req):
    e = engine_factory()
    d = e.decide(make_req("a1"))
    assert (d.action, d.response_code, d.standin) == ("APPROVE", "00", False)
    assert d.reason_codes == ["LOW_RISK"]
    assert d.model_version == "const-1" and d.rules_version.startswith("default")
    assert e.accounts.get("good").balance_fen == 510_000


def test_repeated_auth_id_returns_first_decision_and_changes_state_once(engine_factory, make_req):
    model = None
    e = engine_factory()
    model = e.model
    first = e.decide(make_req("a1", amount=20_000))
    again = e.decide(make_req("a1", amount=99_999))  # same id, different body: still the first
    assert again == first
    assert e.accounts.get("good").balance_fen == 520_000
    assert model.calls == 1
    assert len(_rows(e)) == 1 and e.health()["duplicates"] == 1


def test_idempotency_survives_a_restart(engine_factory, make_req, book):
    e1 = engine_factory(book=book)
    first = e1.decide(make_req("a1", amount=20_000))
    e1.close()
    e2 = engine_factory(book=book)
    assert e2.get_decision("a1") == first
    assert e2.decide(make_req("a1", amount=20_000)) == first
    assert book.get("good").balance_fen == 520_000


def test_high_score_declines_and_mid_score_challenges(engine_factory, make_req, model_cls):
    assert engine_factory(model=model_cls(0.95)).decide(make_req("a")).response_code == "59"
    d = engine_factory(model=model_cls(0.6)).decide(make_req("b"))
    assert (d.action, d.response_code) == ("CHALLENGE", "1A")
    assert "FRAUD_ELEVATED" in d.reason_codes


def test_declined_and_challenged_purchases_do_not_use_credit(engine_factory, make_req, model_cls):
    e = engine_factory(model=model_cls(0.6))
    e.decide(make_req("a"))
    assert e.accounts.get("good").balance_fen == 500_000


def test_over_limit_good_card_gets_temporary_credit_and_it_is_recorded(engine_factory, make_req):
    e = engine_factory()
    d = e.decide(make_req("a1", card="full", amount=60_000))
    assert d.action == "APPROVE_WITH_TEMP_CREDIT" and d.response_code == "00"
    ts = make_req("x").ts
    assert d.temp_credit_fen == 50_000 and d.temp_credit_expires_at > ts
    assert d.available_credit_fen == 10_000
    assert {"OVER_LIMIT", "TEMP_CREDIT_GRANTED"} <= set(d.reason_codes)
    grants = _rows(e, TempCreditGrantRow)
    assert [(g["auth_id"], g["amount_fen"]) for g in grants] == [("a1", 50_000)]
    assert e.accounts.get("full").available_fen(ts) == 0  # 10,000 + 50,000 - 60,000


@pytest.mark.parametrize(("card", "why"), [("late", "TEMP_CREDIT_DELINQUENT"),
                                           ("young", "TEMP_CREDIT_TENURE")])
def test_over_limit_risky_card_is_declined_51(engine_factory, make_req, card, why):
    d = engine_factory().decide(make_req("a1", card=card, amount=60_000))
    assert (d.action, d.response_code) == ("DECLINE", "51")
    assert d.reason_codes[:2] == ["OVER_LIMIT", why]


def test_cashout_risk_vetoes_temp_credit_but_is_not_fraud(engine_factory, make_req):
    e = engine_factory()
    e.cashout = lambda event, feats: 0.5  # the cash-out hook (issue 8)
    d = e.decide(make_req("a1", card="full", amount=60_000))
    assert d.action == "DECLINE" and d.response_code == "51"
    assert "CASHOUT_NO_TEMP_CREDIT" in d.reason_codes and d.cashout_score == 0.5
    d2 = e.decide(make_req("a2", card="good", amount=1_000))
    assert d2.action == "APPROVE"  # cash-out risk alone does not block an in-limit purchase
    e.cashout = lambda event, feats: 0.95
    d3 = e.decide(make_req("a3", card="good", amount=1_000))
    assert (d3.action, d3.response_code, d3.reason_codes[0]) == ("DECLINE", "57", "CASHOUT_RISK")


def test_portfolio_daily_cap_limits_temporary_credit(engine_factory, make_req, book):
    from cardmind.decisions.smart_credit import SmartCreditConfig

    cfg = SmartCreditConfig(portfolio_daily_fen=60_000)
    e = engine_factory(book=book, smart_credit=cfg)
    assert e.decide(make_req("a1", card="full", amount=60_000)).temp_credit_fen == 50_000
    book.get("good").balance_fen = 2_000_000
    d = e.decide(make_req("a2", card="good", amount=30_000))
    assert d.reason_codes[-1] == "TEMP_CREDIT_PORTFOLIO_CAP"


def test_reversal_and_refund_adjust_state_once(engine_factory, make_req):
    e = engine_factory()
    e.decide(make_req("p1", amount=30_000))
    assert e.accounts.get("good").balance_fen == 530_000
    rev = e.decide(make_req("r1", amount=30_000, message_type="reversal", original_auth_id="p1"))
    assert rev.reason_codes == ["REVERSAL_APPLIED"]
    again = e.decide(make_req("r2", amount=30_000, message_type="reversal", original_auth_id="p1"))
    assert again.reason_codes == ["ORIGINAL_NOT_FOUND"]
    e.decide(make_req("f1", amount=5_000, message_type="refund", original_auth_id="p0"))
    assert e.accounts.get("good").balance_fen == 495_000


def test_lists_block_and_trust(engine_factory, make_req, model_cls):
    e = engine_factory(model=model_cls(0.6))
    e.lists.add(ListEntry(kind="merchant", value="m9", list_type="block"))
    d = e.decide(make_req("a1", merchant_id="m9"))
    assert (d.action, d.response_code, d.reason_codes[0]) == ("DECLINE", "57", "LIST_BLOCK_MERCHANT")
    e.lists.add(ListEntry(kind="card", value="good", list_type="trust"))
    d2 = e.decide(make_req("a2"))  # would be challenged at 0.6, but the card is trusted
    assert d2.action == "APPROVE" and "LIST_TRUST" in d2.reason_codes
    e.lists.add(ListEntry(kind="category", value="7995", list_type="block"))
    assert e.decide(make_req("a3", mcc="7995")).reason_codes[0] == "LIST_BLOCK_CATEGORY"


def test_unknown_card_declines_14_or_raises(engine_factory, make_req):
    assert engine_factory().decide(make_req("a1", card="nope")).response_code == "14"
    with pytest.raises(InvalidInput, match="unknown card"):
        engine_factory(unknown_card="error").decide(make_req("a2", card="nope"))


@pytest.mark.parametrize("failure", ["model", "features", "latency", "account"])
def test_failures_fall_back_to_standin_rules_and_say_so(engine_factory, make_req, model_cls,
                                                       book, failure):
    kw = {}
    model = model_cls()
    if failure == "model":
        model = model_cls(fail=True)
    elif failure == "latency":
        model = model_cls(delay_s=0.003)
        kw["latency_budget_us"] = 1_000
    e = engine_factory(model=model, book=book, **kw)
    if failure == "features":
        e.features.features_for = lambda auth: (_ for _ in ()).throw(ConnectionError("redis down"))
    if failure == "account":
        e.accounts.get = lambda token: (_ for _ in ()).throw(ConnectionError("state store down"))
    d = e.decide(make_req("small", amount=10_000))
    assert d.standin and d.action == "APPROVE" and d.fraud_score is None
    assert d.reason_codes[0] == f"STANDIN_{failure.upper()}"
    assert d.standin_reason
    big = e.decide(make_req("big", amount=6_000_000))
    assert big.standin and big.action == "DECLINE"
    cnp = e.decide(make_req("cnp", amount=400_000, channel="online_cnp"))
    assert cnp.action == "CHALLENGE"
    assert e.health()["standin"] == 3


def test_standin_never_grants_temporary_credit(engine_factory, make_req, model_cls):
    d = engine_factory(model=model_cls(fail=True)).decide(make_req("a", card="full", amount=60_000))
    assert (d.action, d.response_code, d.temp_credit_fen) == ("DECLINE", "51", 0)


def test_no_model_means_standin_and_unknown_cards_are_declined_14(db_url, make_req, book):
    e = AuthorizationEngine(EngineConfig(db_url=db_url), model=None, accounts=book)
    d = e.decide(make_req("a"))
    assert d.standin and d.reason_codes == ["STANDIN_MODEL"] and d.action == "APPROVE"
    assert "no fraud model" in d.standin_reason and e.health()["status"] == "degraded"
    d = e.decide(make_req("b", card="x"))  # unknown card: declined without scoring
    assert (d.action, d.response_code, d.standin, d.reason_codes) == ("DECLINE", "14", False,
                                                                      ["CARD_UNKNOWN"])
    e.close()


def test_decision_log_has_versions_features_and_no_sensitive_data(engine_factory, make_req):
    e = engine_factory()
    e.decide(make_req("a1", pan_last4="7894", device_id="d1"))
    (row,) = _rows(e)
    assert row["rules_version"].startswith("default") and row["model_version"] == "const-1"
    values, version = load_decision_inputs(e._db, "a1")
    assert set(values) == {"card_auth_count_1h", "txn_amount_fen"} and version == "const-1"
    assert row["features_json"] is None and len(row["feature_values"]) == 2 * 8
    req = json.loads(row["request_json"])
    assert req["pan_last4"] == "7894" and not any("cvv" in k or "pin" in k for k in req)
    assert json.loads(row["decision_json"])["auth_id"] == "a1" and row["latency_us"] >= 0


def test_labels_need_a_known_decision(engine_factory, make_req):
    e = engine_factory()
    e.decide(make_req("a1"))
    e.add_label(Label(auth_id="a1", label="fraud", reported_at="2026-03-05T10:00:00"))
    with pytest.raises(InvalidInput, match="no decision"):
        e.add_label(Label(auth_id="zz", label="genuine", reported_at="2026-03-05T10:00:00"))


def test_served_lightgbm_model_scores_and_explains(engine_factory, make_req):
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.integers(0, 6, 2000), rng.integers(100, 2_000_000, 2000)]).astype(float)
    y = ((X[:, 0] >= 4) & (X[:, 1] > 1_000_000)).astype(int)
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4},
                        lgb.Dataset(X, y), num_boost_round=20)
    model = ScoringModel(model_text=booster.model_to_string(), metadata={
        "feature_names": ["card_auth_count_1h", "txn_amount_fen"], "version": "v0001"})
    e = engine_factory(model=model)
    from datetime import timedelta

    seen: list[dict] = []  # the rows the model scored, in order
    score = model.predict_one
    model.predict_one = lambda row: (seen.append(dict(row)), score(row))[1]
    t0 = make_req("x").ts
    for i in range(5):  # build velocity on the card
        e.decide(make_req(f"v{i}", amount=1_000, ts=t0 + timedelta(minutes=i)))
    low = e.decide(make_req("low", amount=1_000, ts=t0 - timedelta(hours=3)))
    assert low.action == "APPROVE" and low.fraud_score < 0.5 and low.model_version == "v0001"
    high = e.decide(make_req("high", amount=1_200_000, ts=t0 + timedelta(minutes=10)))
    assert high.fraud_score > 0.5 and high.action in ("CHALLENGE", "DECLINE")
    assert high.response_code in ("1A", "59")
    assert any(c.startswith("FACTOR_") for c in high.reason_codes)
    # every logged decision is explainable later, exactly: the challenge's own factors ...
    factors = e.explain_decision("high", top=2)
    assert [f"FACTOR_{r.feature}" for r in factors] == [
        c for c in high.reason_codes if c.startswith("FACTOR_")]
    assert [(r.en, r.zh) for r in factors] == [
        (x.en, x.zh) for x in high.reasons if x.code.startswith("FACTOR_")]
    # ... and an approval's, computed on demand from its stored inputs
    assert e.explain_decision("low", top=2) == model.explain(seen[5], top=2)
    assert e.explain_decision("nope") is None
    # a decision logged before migration 0004 (inputs as JSON) explains the same
    values, _ = load_decision_inputs(e._db, "low")
    with e._db.begin() as conn:
        conn.execute(DecisionLogRow.__table__.update()
                     .where(DecisionLogRow.__table__.c.auth_id == "low")
                     .values(features_json=json.dumps(values), feature_set=None,
                             feature_values=None))
    assert e.explain_decision("low", top=2) == model.explain(seen[5], top=2)


def test_a_model_whose_features_are_not_served_is_not_used(db_url, book, make_req, model_cls):
    class Needy(model_cls):
        feature_names = ("card_auth_count_1h", "not_a_served_feature")

    from cardmind.decisions.online import BasicOnlineFeatures

    e = AuthorizationEngine(EngineConfig(db_url=db_url), model=Needy(),
                            features=BasicOnlineFeatures(), accounts=book)
    d = e.decide(make_req("a1"))
    assert d.standin and d.reason_codes[0] == "STANDIN_MODEL"
    assert "lacks 1 model features" in e.health()["model_error"]
    e.close()


def test_reversal_memory_is_bounded(engine_factory, make_req):
    e = engine_factory(purchases_cache=1)
    e.decide(make_req("p1", amount=1_000))
    e.decide(make_req("p2", amount=2_000))
    old = e.decide(make_req("r1", amount=1_000, message_type="reversal", original_auth_id="p1"))
    new = e.decide(make_req("r2", amount=2_000, message_type="reversal", original_auth_id="p2"))
    assert old.reason_codes == ["ORIGINAL_NOT_FOUND"] and new.reason_codes == ["REVERSAL_APPLIED"]


def test_cashout_risk_still_acts_in_standin(engine_factory, make_req, model_cls):
    e = engine_factory(model=model_cls(fail=True))
    e.cashout = lambda event, feats: 0.8
    d = e.decide(make_req("a1"))
    assert d.standin and (d.action, d.reason_codes) == ("CHALLENGE", ["STANDIN_MODEL", "CASHOUT_RISK"])


def test_logged_json_round_trips_to_the_request_and_decision(engine_factory, make_req, model_cls):
    """request_json and decision_json load back to equal objects (what replay, restart and
    GET /v1/decisions read), byte for byte what ``model_dump_json`` gives."""
    e = engine_factory(model=model_cls(0.6))
    reqs = [make_req("a1", card="full", amount=60_000),  # over the limit: declined, reasons
            make_req("a2", pan_last4="7894", device_id="d1", channel="online_cnp")]
    ok = engine_factory()
    reqs_ok = [make_req("b1", card="full", amount=60_000),  # temporary credit, expiry date
               make_req("b2", message_type="refund", original_auth_id="b1", card="full")]
    made = [(r, e.decide(r)) for r in reqs] + [(r, ok.decide(r)) for r in reqs_ok]
    assert {d.action for _, d in made} >= {"DECLINE", "APPROVE_WITH_TEMP_CREDIT"}
    rows = {r["auth_id"]: r for r in [*_rows(e), *_rows(ok)]}
    for req, d in made:
        row = rows[req.auth_id]
        assert AuthorizationRequest.model_validate_json(row["request_json"]) == req
        assert Decision.model_validate_json(row["decision_json"]) == d
        assert (row["request_json"], row["decision_json"]) == (req.model_dump_json(),
                                                              d.model_dump_json())
        # every other column is the decision's (else the request's) field of that name; the
        # engine's row is a tuple in the table's order, this checks that order
        for name, value in row.items():
            if name.endswith("_json") or name.startswith("feature_"):  # features: other tests
                continue
            want = getattr(d, name) if name in Decision.model_fields else getattr(
                req, "ts" if name == "request_ts" else name)
            if isinstance(want, datetime):
                want = want.replace(tzinfo=None)  # SQLite keeps the Asia/Shanghai wall clock
            assert value == want, name
