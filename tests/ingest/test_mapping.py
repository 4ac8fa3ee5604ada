"""The mapping file reads code values as written and names the key of every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from cardmind.dataset import Dataset
from cardmind.errors import InvalidInput
from cardmind.ingest import Mapping, ingest

MAPPING = """
tables:
  authorizations:
    source: tx.csv
    columns:
      auth_id: id
      customer_id: cust
      merchant_id: shop
      ts: {from: time, format: "%Y%m%d %H:%M"}
      amount_fen: {from: amount, unit: fen}
      message_type: {from: mti, values: {0200: purchase, 0400: reversal}}
      cross_border: {from: foreign, values: {yes: true, no: false}}
"""


def test_code_values_are_read_as_written(tmp_path: Path):
    (tmp_path / "m.yaml").write_text(MAPPING)
    (tmp_path / "tx.csv").write_text(
        "id,cust,shop,time,amount,mti,foreign\n"
        "a,c,s,20240501 10:30,100,0200,no\n"
        "b,c,s,20240501 10:31,100,0400,yes\n"
    )
    m = Mapping.load(tmp_path / "m.yaml")
    assert m.tables["authorizations"].column("message_type").values == {
        "0200": "purchase",
        "0400": "reversal",
    }
    ingest(m, tmp_path / "out")
    auth = Dataset(tmp_path / "out").read("authorizations")
    assert auth.column("message_type").to_pylist() == ["purchase", "reversal"]
    assert auth.column("cross_border").to_pylist() == [False, True]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tables: [oops", "not valid YAML"),
        ("tables: {}", "no tables"),
        ("version: 2\ntables: {}", "version must be 1"),
        (
            "tables: {cards: {source: c.csv, card_number: pan, columns: {card_token: x}}}",
            "card_number already fills card_token",
        ),
        (
            "tables: {authorizations: {source: t.csv, columns: {ts: {from: a, constant: b}}}}",
            "tables.authorizations.columns.ts: give exactly one of from, constant, generate",
        ),
        (
            "tables: {merchants: {source: m.csv, columns: {colour: x}}}",
            "columns ['colour'] are not in table merchants",
        ),
    ],
)
def test_mapping_errors_name_the_file_and_key(tmp_path: Path, text: str, message: str):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInput) as err:
        Mapping.load(path)
    assert message in str(err.value) and str(path) in str(err.value)
