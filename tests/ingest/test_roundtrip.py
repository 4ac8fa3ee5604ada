"""Export -> import is the identity for every importable table (all column types, yuan text)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from cardmind import schema
from cardmind.dataset import Dataset
from cardmind.ingest import Mapping, ingest
from cardmind.ingest.rules import POSITIVE_AMOUNTS, SIGNED_AMOUNTS, VOCABULARIES
from cardmind.units import TZ

BERLIN = ZoneInfo("Europe/Berlin")

IMPORTABLE = [t for t in schema.TABLES.values() if not t.truth]
N = 40


def _column(table: str, col: schema.Column, rng: np.random.Generator) -> tuple[list, list[str]]:
    """Random valid values and the text a bank's export would hold for them."""
    t = col.type
    vocab = VOCABULARIES.get((table, col.name))
    if col.name in schema.TABLES[table].primary_key:
        values = [f"{col.name[:3].upper()}{i:05d}" for i in range(N)]
        return values, values
    if vocab:
        values = [vocab[i] for i in rng.integers(0, len(vocab), N)]
        return values, values
    if pa.types.is_string(t):
        values = [f"v{i}-{rng.integers(0, 99)}" for i in range(N)]
        return values, values
    if pa.types.is_boolean(t):
        values = [bool(b) for b in rng.integers(0, 2, N)]
        return values, [("true" if v else "false") for v in values]
    if col.name.endswith("_fen"):
        lo = 1 if (table, col.name) in POSITIVE_AMOUNTS else 0
        lo = -(10**9) if (table, col.name) in SIGNED_AMOUNTS else lo
        values = [int(v) for v in rng.integers(lo, 10**10, N)]
        return values, [str(Decimal(v) / 100) for v in values]  # yuan, as exported
    if pa.types.is_integer(t):
        values = [int(v) for v in rng.integers(1, 28, N)]
        return values, [str(v) for v in values]
    if pa.types.is_timestamp(t):
        base = datetime(2024, 1, 1, tzinfo=TZ)
        values = [base + timedelta(microseconds=int(us)) for us in rng.integers(0, 10**13, N)]
        # Half naive Beijing time, half with an explicit offset in another zone.
        text = [
            v.replace(tzinfo=None).isoformat(sep=" ") if i % 2 else v.astimezone(BERLIN).isoformat()
            for i, v in enumerate(values)
        ]
        return values, text
    if pa.types.is_date(t):
        values = [date(2020, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 2000, N)]
        return values, [v.isoformat() for v in values]
    raise AssertionError(f"no generator for {t}")


@pytest.mark.parametrize("spec", IMPORTABLE, ids=lambda t: t.name)
def test_export_then_import_is_identity(spec: schema.Table, tmp_path):
    rng = np.random.default_rng(len(spec.name))
    data, text = {}, {}
    for col in spec.columns:
        data[col.name], text[col.name] = _column(spec.name, col, rng)
    pacsv.write_csv(
        pa.table({k: pa.array(v, pa.string()) for k, v in text.items()}), tmp_path / "t.csv"
    )
    columns = {
        c.name: ({"from": c.name, "unit": "yuan"} if c.name.endswith("_fen") else c.name)
        for c in spec.columns
    }
    mapping = Mapping.from_dict(
        {"tables": {spec.name: {"source": "t.csv", "columns": columns}}}, base_dir=tmp_path
    )
    report = ingest(mapping, tmp_path / "out")
    assert report.rejected == 0, report.to_dict()
    got = Dataset(tmp_path / "out").read(spec.name)
    expected = pa.table({c.name: pa.array(data[c.name], c.type) for c in spec.columns})
    assert got.column_names == expected.column_names
    for name in expected.column_names:
        assert got.column(name).to_pylist() == expected.column(name).to_pylist(), name
    assert Dataset(tmp_path / "out").manifest["columns_absent"][spec.name] == []
