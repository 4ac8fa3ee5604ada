"""Batch engine: bad input, services, order, Parquet output."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from feature_helpers import assert_same
from feature_synth import connect, make_tables

from cardmind.errors import InvalidInput
from cardmind.features import BatchEngine, FeatureService, default_catalog


@pytest.fixture(scope="module")
def tables():
    return make_tables(2, n_auths=80, days=3)


def test_rows_keep_their_order_and_services_work(tables):
    svc = FeatureService(name="s", features=["card_amount_sum_24h", "req_amount",
                                             "merchant_fraud_rate_7d"])
    rows = tables["authorizations"]
    shuffled = rows.take(pa.array(list(range(rows.num_rows))[::-1]))
    eng = BatchEngine(connect(tables))
    a = eng.compute(svc, rows)
    b = eng.compute(svc, shuffled)
    assert a.column_names == list(svc.features)
    assert all(a.schema.field(n).type == pa.float64() for n in a.column_names)
    assert b.column("req_amount").to_pylist() == shuffled.column("amount_fen").to_pylist()
    cat = svc.catalog()
    assert_same(cat, a.take(pa.array(list(range(rows.num_rows))[::-1])), b)
    w = eng.compute(svc, rows, strategy="window")
    assert_same(cat, a, w)


def test_to_parquet_equals_compute(tables, tmp_path):
    svc = FeatureService(name="s", features=["card_count_1h", "card_amount_std_24h"])
    eng = BatchEngine(connect(tables))
    want = eng.compute(svc, tables["authorizations"])
    eng.to_parquet(svc, tables["authorizations"], tmp_path / "f.parquet")
    assert_same(svc.catalog(), pq.read_table(tmp_path / "f.parquet"), want)
    eng.to_parquet(svc, tables["authorizations"], tmp_path / "g.parquet", strategy="compiled",
                   chunk_rows=25)
    assert_same(svc.catalog(), pq.read_table(tmp_path / "g.parquet"), want)


def test_bad_input_is_refused_with_a_reason(tables):
    eng = BatchEngine(connect(tables))
    cat = default_catalog().select(["card_count_1h", "req_amount"])
    rows = tables["authorizations"]
    with pytest.raises(InvalidInput, match=r"rows lack columns \['amount_fen'\]"):
        eng.compute(cat, rows.select(["card_token", "ts"]))
    nulls = rows.set_column(rows.schema.get_field_index("card_token"), "card_token",
                            pa.array([None] * rows.num_rows, pa.string()))
    with pytest.raises(InvalidInput, match="have no card_token"):
        eng.compute(cat, nulls)
    bad = dict(tables)
    bad["authorizations"] = nulls
    with pytest.raises(InvalidInput, match="events rejected, missing keys card_token"):
        BatchEngine(connect(bad)).compute(cat, rows)
    no_labels = {k: v for k, v in tables.items() if k != "fraud_labels"}
    with pytest.raises(InvalidInput, match="need table 'fraud_labels'"):
        BatchEngine(connect(no_labels)).compute(
            default_catalog().select(["merchant_fraud_count_7d"]), rows)
    with pytest.raises(ValueError, match="unknown strategy"):
        eng.compute(cat, rows, strategy="magic")
    assert pc.sum(rows["amount_fen"]).as_py() > 0


@pytest.mark.parametrize("strategy", ["compiled", "join", "window"])
def test_chargebacks_count_as_fraud_in_label_features(tables, strategy):
    """``chargeback`` labels (CNP-breach fraud) count like ``fraud``; ``genuine`` never does."""
    cat = default_catalog().select(["merchant_fraud_count_7d", "terminal_fraud_rate_7d"])
    rows = tables["authorizations"]

    def counts(label):
        labels = tables["fraud_labels"]
        relabelled = labels.set_column(labels.schema.get_field_index("label"), "label",
                                       pa.array([label] * labels.num_rows, pa.string()))
        out = BatchEngine(connect({**tables, "fraud_labels": relabelled})).compute(
            cat, rows, strategy=strategy)
        return out.column("merchant_fraud_count_7d").to_pylist()

    fraud = counts("fraud")
    assert sum(fraud) > 0
    assert counts("chargeback") == fraud
    assert sum(counts("genuine")) == 0
