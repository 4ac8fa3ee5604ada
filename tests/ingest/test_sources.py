"""Parquet sources load like CSV ones; line numbers survive malformed rows."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cardmind.dataset import Dataset
from cardmind.ingest import Mapping, ingest
from cardmind.ingest.sources import read_source

from .conftest import PAN_A, base_mapping


def test_parquet_source_with_typed_columns(bank):
    table = pa.table(
        {
            "txn_id": ["p1", "p2", "p3"],
            "card_no": [PAN_A] * 3,
            "mer_id": ["m1", "m2", "m3"],
            "amt": pa.array(
                [Decimal("0.29"), Decimal("19.99"), Decimal("-1.00")], pa.decimal128(12, 2)
            ),
            "txn_time": pa.array([0, 1_000_000, 2_000_000], pa.timestamp("us", tz="UTC")),
            "fraud_flag": [0, 1, 0],
            "memo": ["a", "b", "c"],
        }
    )
    pq.write_table(table, bank.root / "tx.parquet")
    data = base_mapping()
    for t in data["tables"].values():
        t["source"] = "tx.parquet"
    report = ingest(Mapping.load(bank.mapping(data)), bank.out)
    auth = Dataset(bank.out).read("authorizations")
    assert auth.column("amount_fen").to_pylist() == [29, 1999]
    assert auth.column("ts").type == pa.timestamp("us", tz="Asia/Shanghai")
    assert report.tables["authorizations"].rejected == 1
    q = (bank.out / "_quarantine" / "authorizations.csv").read_text()
    assert '"tx.parquet",3,"amt"' in q  # Parquet: row number from 1
    assert Dataset(bank.out).read("fraud_labels").column("label").to_pylist() == [
        "genuine",
        "fraud",
    ]


def test_line_numbers_skip_malformed_rows(tmp_path):
    p = tmp_path / "f.csv"
    p.write_text("a,b\n1,2\n3\n\n4,5,6\n7,8\n", encoding="utf-8")
    src = read_source(p, fmt="csv", columns=["a", "b"])
    assert src.table.column("a").to_pylist() == ["1", "", "7"]
    assert src.lines.tolist() == [2, 4, 6]  # the blank line 4 is a record of empty cells
    assert src.malformed == [(3, "expected 2 fields, found 1"), (5, "expected 2 fields, found 3")]


def test_gbk_encoding(bank):
    path = bank.root / "tx.csv"
    path.write_bytes(
        "txn_id,card_no,mer_id,amt,txn_time,fraud_flag,memo\n"
        f"t1,{PAN_A},m1,1.00,2024-05-01 10:00:00,0,北京\n".encode("gbk")
    )
    data = base_mapping()
    for t in data["tables"].values():
        t["encoding"] = "gbk"
    ingest(Mapping.load(bank.mapping(data)), bank.out)
    assert Dataset(bank.out).read("authorizations").column("city").to_pylist() == ["北京"]


def test_wrong_encoding_names_column_and_record_without_the_value(bank):
    from cardmind.errors import InvalidInput

    path = bank.root / "tx.csv"
    path.write_bytes(
        b"txn_id,card_no,mer_id,amt,txn_time,fraud_flag,memo\n"
        + f"t1,{PAN_A},m1,1.00,2024-05-01 10:00:00,0,北京\n".encode("gbk")
    )
    with pytest.raises(InvalidInput) as err:
        ingest(Mapping.load(bank.mapping(base_mapping())), bank.out)
    msg = str(err.value)
    assert "column 'memo', record 2: invalid UTF8 data" in msg and "encoding: gbk" in msg
    assert PAN_A not in msg
