"""Definitions, catalog and feature services: validation, names, JSON."""

from __future__ import annotations

import json

import pytest
from feature_synth import FakeDataset, make_tables

from cardmind.features import (
    Catalog,
    DerivedFeature,
    FeatureService,
    LabelFeature,
    RepaymentFeature,
    RequestFeature,
    WindowFeature,
    default_catalog,
)
from cardmind.features.definitions import Definition


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"entity": "planet", "aggregation": "count", "window": "1h"}, "unknown entity 'planet'"),
    ({"entity": "card", "aggregation": "median", "window": "1h"}, "unknown aggregation"),
    ({"entity": "card", "aggregation": "sum", "column": "nope", "window": "1h"},
     "needs a value column"),
    ({"entity": "card", "aggregation": "count", "window": "0d"}, "must be positive"),
    ({"entity": "card", "aggregation": "count", "window": "-5m"}, "must be positive"),
    ({"entity": "card", "aggregation": "count", "window": "week"}, "is not '<n>"),
    ({"entity": "card", "aggregation": "count", "window": "1h", "filter": "sunny"},
     "unknown filter 'sunny'"),
    ({"entity": "card", "aggregation": "share", "window": "1h"}, "share needs a filter"),
    ({"entity": "merchant", "source": "repayments", "aggregation": "count", "window": "1h"},
     "no entity 'merchant'"),
    ({"entity": "card", "source": "statements", "aggregation": "std", "column": "utilisation",
      "window": "30d"}, "integer columns"),
    ({"entity": "card", "aggregation": "distinct_count", "column": "amount_fen", "window": "1h"},
     "distinct_count needs"),
    ({"entity": "card", "aggregation": "count", "column": "amount_fen", "window": "1h"},
     "takes no column"),
])
def test_bad_window_definitions_fail_with_value_error_naming_the_definition(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        WindowFeature(**kwargs)
    assert str(info.value).startswith(f"feature {kwargs['entity']}/")


def test_other_kinds_validate_too():
    with pytest.raises(ValueError, match="unknown request feature"):
        RequestFeature(what="weather")
    with pytest.raises(ValueError, match="takes 2 inputs"):
        DerivedFeature(op="ratio", inputs=("a",))
    with pytest.raises(ValueError, match="label features exist for"):
        LabelFeature(entity="card", window="30d")
    with pytest.raises(ValueError, match="must be positive"):
        LabelFeature(entity="merchant", window="30d", delay="0h")
    with pytest.raises(ValueError, match="unknown measure"):
        RepaymentFeature(entity="card", measure="vibes", lookback="7d")


def test_duplicate_names_are_refused_naming_the_feature():
    f = WindowFeature(entity="card", aggregation="count", window="1h")
    with pytest.raises(ValueError, match="feature card_count_1h: duplicate name"):
        Catalog([f, WindowFeature(entity="card", aggregation="count", window="1h")])


def test_names_are_derived_from_the_definition():
    assert WindowFeature(entity="card", aggregation="sum", column="amount_fen", window="7d",
                         filter="online").name == "card_amount_sum_7d_online"
    assert LabelFeature(entity="merchant", window="30d").name == "merchant_fraud_rate_30d"
    assert WindowFeature(entity="customer", source="statements", aggregation="mean",
                         column="utilisation", window="90d").name == \
        "customer_statement_utilisation_mean_90d"
    assert WindowFeature(entity="device", aggregation="distinct_count", column="card_token",
                         window="1h").name == "device_card_token_distinct_1h"


def test_default_catalog_is_large_and_every_feature_has_a_one_line_description():
    cat = default_catalog()
    assert len(cat) >= 3000
    for entity in ("card", "customer"):
        assert sum(1 for d in cat if d.entity == entity) >= 1000
    for d in cat:
        assert d.description and "\n" not in d.description, d.name
    names = cat.names()
    for required in ("card_statement_utilisation_last_30d", "card_statement_repayment_ratio_last_30d",
                     "card_repayment_time_to_next_purchase_30d",
                     "card_repayment_spend_ratio_30d", "merchant_fraud_rate_30d_delay1d",
                     "terminal_fraud_rate_7d", "card_merchant_count_180d_is_zero",
                     "req_amount_over_card_amount_mean_30d", "category_count_1h",
                     "device_card_token_distinct_24h"):
        assert required in names, required


def test_every_default_definition_round_trips_through_json():
    for d in default_catalog():
        again = Definition.from_dict(json.loads(json.dumps(d.to_dict())))
        assert again == d and again.name == d.name


def test_feature_service_round_trips_and_resolves():
    svc = FeatureService(name="fraud_v1", features=["card_count_1h", "merchant_fraud_rate_30d",
                                                    "req_amount_over_card_amount_mean_30d"])
    again = FeatureService.from_dict(json.loads(json.dumps(svc.to_dict())))
    assert again == svc
    cat = svc.catalog()
    assert cat.names() == list(svc.features)
    closure = cat.closure().names()  # dependencies come first
    assert closure.index("card_amount_mean_30d") < closure.index(
        "req_amount_over_card_amount_mean_30d")
    with pytest.raises(KeyError, match="unknown feature 'nope'"):
        FeatureService(name="x", features=["nope"]).catalog()


def test_select_and_for_dataset_drop_absent_tables_with_notices():
    cat = default_catalog()
    sub = cat.select(["card_count_1h", "card_statement_utilisation_last_30d",
                      "merchant_fraud_rate_30d"])
    assert sub.names() == ["card_count_1h", "card_statement_utilisation_last_30d",
                           "merchant_fraud_rate_30d"]
    tables = make_tables(0, n_auths=20)
    del tables["statements"], tables["fraud_labels"]
    kept = sub.for_dataset(FakeDataset(tables))
    assert kept.names() == ["card_count_1h"]
    assert any("statements is absent" in n for n in kept.notices)
    assert any("fraud_labels is absent" in n for n in kept.notices)


def test_for_dataset_drops_features_whose_request_columns_are_absent():
    sub = default_catalog().select(["card_count_1h", "req_is_cross_border", "req_category_grocery",
                                    "req_amount", "category_count_24h"])
    tables = make_tables(0, n_auths=20)
    tables["authorizations"] = tables["authorizations"].drop_columns(["mcc", "cross_border"])
    kept = sub.for_dataset(FakeDataset(tables))
    assert kept.names() == ["card_count_1h", "req_amount"]
    assert any("req_is_cross_border" in n and "request columns ['cross_border']" in n
               for n in kept.notices)
    assert any("category_count_24h" in n and "['mcc']" in n for n in kept.notices)
