"""The engine served by the catalog's online engine (the model's feature service)."""

from __future__ import annotations

from datetime import timedelta

from cardmind.decisions.authorize import AuthorizationEngine, EngineConfig
from cardmind.decisions.online import BasicOnlineFeatures, serving_features


class VelocityModel:
    """Scores by the catalog feature it declares: the 10-minute purchase count of the card."""

    feature_names = ("card_count_10m", "req_amount")
    version = "velocity-1"

    def __init__(self):
        self.seen = []

    def predict_one(self, row):
        self.seen.append(dict(row))
        return 0.95 if row["card_count_10m"] >= 3 else 0.01


def test_model_feature_service_is_served_by_the_catalog_engine(db_url, book, make_req):
    model = VelocityModel()
    features = serving_features(model)
    assert not isinstance(features, BasicOnlineFeatures)
    e = AuthorizationEngine(EngineConfig(db_url=db_url, latency_budget_us=60_000_000),
                            model=model, features=features, accounts=book)
    t0 = make_req("x").ts
    actions = [e.decide(make_req(f"a{i}", amount=1_000, ts=t0 + timedelta(minutes=i))).action
               for i in range(5)]
    assert actions == ["APPROVE", "APPROVE", "APPROVE", "DECLINE", "DECLINE"]
    assert [r["card_count_10m"] for r in model.seen] == [0, 1, 2, 3, 4]
    assert model.seen[0]["req_amount"] == 1_000
    e.flush()
    from sqlalchemy import text

    from cardmind.storage.decision_log import load_decision_inputs

    with e._db.connect() as conn:
        ids = conn.execute(text("SELECT auth_id FROM decision_log WHERE features_json IS NULL")
                           ).scalars().all()
    assert len(ids) == 5
    logged = [load_decision_inputs(e._db, auth_id)[0] for auth_id in sorted(ids)]
    assert all(set(f) == set(model.feature_names) for f in logged)
    assert [f["card_count_10m"] for f in logged] == [0, 1, 2, 3, 4]
    e.close()


def test_rules_may_name_catalog_features_and_unknown_ones_are_refused(db_url, book, tmp_path):
    import pytest

    from cardmind.decisions.rules import DEFAULT_RULES_PATH
    from cardmind.errors import InvalidInput

    model = VelocityModel()
    e = AuthorizationEngine(EngineConfig(db_url=db_url, latency_budget_us=60_000_000), model=model,
                            features=serving_features(model), accounts=book)
    text = DEFAULT_RULES_PATH.read_text().replace(
        "\nrules:\n", '\nrules:\n  - name: burst\n    when: "features.card_count_10m >= 10"\n'
        "    effect: CHALLENGE\n    reason: VELOCITY_HIGH\n", 1)
    assert "burst" in e.rules.load(text).rules
    with pytest.raises(InvalidInput, match="unknown feature 'card_count_99m'"):
        e.rules.load(text.replace("card_count_10m >= 10", "card_count_99m >= 10"))
    e.close()


def test_windowed_bootstrap_gives_the_same_state_as_the_full_history(tiny_dataset):
    import math

    from cardmind.dataset import Dataset
    from cardmind.decisions._data import connect
    from cardmind.decisions.online import bootstrap_features, history_needed_us
    from cardmind.features import FeatureService, OnlineEngine

    names = ["card_count_10m", "card_amount_sum_7d_online", "merchant_amount_mean_30d",
             "card_device_distinct_90d", "device_share_30d_declined"]
    service = FeatureService(name="parity", features=names)
    full, windowed = OnlineEngine(service), OnlineEngine(service)
    _, con = connect(tiny_dataset)
    until = con.execute("SELECT max(ts) - INTERVAL 20 DAY FROM authorizations").fetchone()[0]
    lo = con.execute("SELECT min(ts) FROM authorizations").fetchone()[0]
    assert (until - lo).total_seconds() * 1e6 > history_needed_us(windowed)  # really windowed
    full.bootstrap(Dataset(tiny_dataset), until=until)
    bootstrap_features(windowed, tiny_dataset, until)
    cur = con.execute("SELECT * FROM authorizations WHERE ts >= $1 ORDER BY ts LIMIT 300", [until])
    cols = [d[0] for d in cur.description]
    for row in cur.fetchall():
        auth = dict(zip(cols, row, strict=True))
        a, b = full.features_for(auth), windowed.features_for(auth)
        assert a.keys() == b.keys()
        for k in a:
            assert (math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k], (k, a[k], b[k])
        full.update(auth)
        windowed.update(auth)


class _DictReads:
    """The catalog engine seen through ``features_for`` only: every read is a plain dict (the
    engine's read path before the feature row)."""

    def __init__(self, engine):
        self.engine = engine
        self.names = engine.names

    def features_for(self, auth):
        return self.engine.features_for(auth)

    def update(self, event, table="authorizations"):
        self.engine.update(event, table)


def _amount_model(names):
    """A real LightGBM model on catalog features that finds large amounts risky."""
    import lightgbm as lgb
    import numpy as np

    from cardmind.models.scoring import ScoringModel

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, len(names)))
    X[:, 0] = rng.integers(1_000, 3_000_000, 3000)  # req_amount
    X[rng.random(X.shape) < 0.1] = np.nan
    X[:, 0] = np.abs(np.nan_to_num(X[:, 0], nan=5_000.0))
    y = (X[:, 0] > 1_500_000).astype(int)
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 7,
                         "min_data_in_leaf": 5}, lgb.Dataset(X, y), num_boost_round=30)
    model = ScoringModel(model_text=booster.model_to_string(),
                         metadata={"feature_names": names, "version": "amount-1"})
    model.compile()
    return model


def test_feature_row_dict_and_demand_read_give_the_same_decisions_and_logged_features(tmp_path):
    import json
    import random

    from sqlalchemy import text

    from cardmind.decisions.rules import DEFAULT_RULES_PATH
    from cardmind.features import OnlineEngine, default_catalog
    from cardmind.features.row import FeatureRow
    from cardmind.storage.decision_log import load_decision_inputs

    from .conftest import T0, make_book, req

    names = ["req_amount", "card_count_10m", "card_amount_sum_24h", "card_amount_std_1h",
             "merchant_count_1h", "card_merchant_distinct_24h", "device_count_1h",
             "req_channel_qr", "req_hour", "card_amount_mean_24h"]
    catalog = default_catalog()
    names = [n for n in names if n in catalog]
    model = _amount_model(names)
    rules = tmp_path / "rules.yaml"
    rules.write_text(DEFAULT_RULES_PATH.read_text().replace(
        "\nrules:\n", '\nrules:\n  - name: burst\n    when: "features.card_count_1h >= 4"\n'
        "    effect: CHALLENGE\n    reason: VELOCITY_HIGH\n", 1))
    served = [*names, "card_count_1h"]
    sources = {"row": OnlineEngine(catalog), "dict": _DictReads(OnlineEngine(catalog)),
               "demand": OnlineEngine(catalog, serve=served)}
    rng = random.Random(5)
    reqs = []
    for i in range(90):
        card = rng.choice(["good", "full", "late", "young", "nobody"])
        kw = {"channel": rng.choice(["pos_chip", "qr", "online_cnp"]),
              "mcc": rng.choice(["5411", "5812", "6011"]), "merchant_id": f"m{rng.randrange(3)}"}
        if rng.random() < 0.3:
            kw["device_id"] = f"d{rng.randrange(2)}"
        amount = rng.choice([800, 20_000, 150_000, 2_500_000])
        reqs.append(req(f"a{i:03d}", card, amount, ts=T0 + timedelta(minutes=2 * i), **kw))
    reqs.append(req("r1", "good", 20_000, ts=T0 + timedelta(hours=4), message_type="refund",
                    original_auth_id="a000"))
    got = {}
    for label, features in sources.items():
        cfg = EngineConfig(db_url=f"sqlite:///{tmp_path / label}.db", rules_path=rules,
                           latency_budget_us=60_000_000, log_flush_ms=5)
        e = AuthorizationEngine(cfg, model=model, features=features, accounts=make_book())
        assert e.model is model and any(r.name == "burst" for r in e.rules.current.rules)
        if label != "dict":
            assert isinstance(features.read({**reqs[0].as_event(), "customer_id": "u0"})[0],
                              FeatureRow)
        decisions = [e.decide(r).model_dump(exclude={"latency_us", "decided_at"}) for r in reqs]
        e.flush()
        with e._db.connect() as conn:
            ids = conn.execute(text("SELECT auth_id FROM decision_log ORDER BY auth_id")).scalars()
            # every row's values are a float64 vector (ADR 0023), none left as JSON
            assert conn.execute(text("SELECT count(*) FROM decision_log WHERE features_json "
                                     "IS NOT NULL OR feature_values IS NULL")).scalar() == 0
            ids = list(ids)
        logged = []
        for auth_id in ids:  # the values as explain_decision reads them (NaN: null)
            values, _ = load_decision_inputs(e._db, auth_id)
            logged.append((auth_id, json.dumps({k: (None if v != v else v)
                                                for k, v in sorted(values.items())})))
        e.close()
        got[label] = decisions, logged
    assert got["row"] == got["dict"] == got["demand"]
    decisions, logged = got["row"]
    assert len(logged) == len(reqs)
    actions = {d["action"] for d in decisions}
    assert {"APPROVE", "CHALLENGE"} <= actions or {"APPROVE", "DECLINE"} <= actions
    assert any(r["code"].startswith("FACTOR_") for d in decisions for r in d["reasons"])
    assert any(r["code"] == "VELOCITY_HIGH" for d in decisions for r in d["reasons"])
    purchase = json.loads(dict(logged)["a010"])
    assert set(purchase) == set(served)  # the model's inputs and the rules' features
