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
    import json

    from sqlalchemy import text

    def strict(c):
        raise ValueError(f"non-standard JSON constant {c}")

    with e._db.connect() as conn:
        logged = conn.execute(text("SELECT features_json FROM decision_log")).scalars().all()
    assert len(logged) == 5
    assert all(set(json.loads(f, parse_constant=strict)) == set(model.feature_names) for f in logged)
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
