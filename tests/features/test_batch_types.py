"""Batch engine output types: every feature column is float64, on any dataset and strategy."""

from __future__ import annotations

import pyarrow as pa
import pytest
import yaml

from cardmind.dataset import Dataset
from cardmind.features import BatchEngine, default_catalog
from cardmind.ingest import Mapping, ingest

MINIMUM = {
    "version": 1,
    "tables": {
        "authorizations": {
            "source": "tx.csv",
            "columns": {
                "auth_id": "id",
                "customer_id": "customer",
                "terminal_id": "terminal",
                "amount_fen": {"from": "amount", "unit": "yuan"},
                "ts": "time",
            },
        },
        "fraud_labels": {
            "source": "tx.csv",
            "columns": {"auth_id": "id",
                        "label": {"from": "is_fraud", "values": {"1": "fraud", "0": "genuine"}}},
        },
    },
}


@pytest.fixture(scope="module")
def minimum(tmp_path_factory):
    """A dataset imported with `cardmind ingest` from the minimum column set."""
    root = tmp_path_factory.mktemp("minimum")
    (root / "tx.csv").write_text(
        "id,customer,terminal,amount,time,is_fraud\n"
        "a1,c1,T9,12.5,2024-05-01 10:00:00,0\n"
        "a2,c1,T9,300,2024-05-02 01:30:00,1\n"
        "a3,c2,T8,99999,2024-05-02 02:00:00,0\n")
    (root / "mapping.yaml").write_text(yaml.safe_dump(MINIMUM))
    ingest(Mapping.load(root / "mapping.yaml"), root / "out")
    return Dataset(root / "out")


@pytest.mark.parametrize("strategy", ["join", "window", "compiled"])
def test_request_flags_are_float64_on_a_minimum_dataset(minimum, strategy):
    catalog = default_catalog().for_dataset(minimum)
    names = [n for n in catalog.names() if n.startswith(("req_", "merchant_fraud_rate"))]
    assert {"req_is_night", "req_band_small", "req_band_xlarge"} <= set(names)
    out = BatchEngine(minimum).compute(catalog.select(names), minimum.read("authorizations"),
                                       strategy=strategy)
    wrong = {f.name: str(f.type) for f in out.schema if f.type != pa.float64()}
    assert not wrong, f"not float64: {wrong}"
    assert out.column("req_is_night").to_pylist() == [0.0, 1.0, 1.0]  # 01:30 and 02:00 local
    assert out.column("req_band_xlarge").to_pylist() == [0.0, 0.0, 1.0]


def test_whole_catalog_is_float64_on_a_minimum_dataset(minimum):
    catalog = default_catalog().for_dataset(minimum)
    out = BatchEngine(minimum).compute(catalog, minimum.read("authorizations"))
    assert out.num_columns == len(catalog.names())
    wrong = {f.name: str(f.type) for f in out.schema if f.type != pa.float64()}
    assert not wrong, f"not float64: {wrong}"
