"""Money is exact (yuan text -> integer fen), time zones are honoured, types are strict."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from cardmind.dataset import Dataset
from cardmind.ingest import Mapping, ingest
from cardmind.ingest.coerce import (
    parse_bool,
    parse_date,
    parse_float,
    parse_int,
    parse_money,
    parse_timestamp,
)
from cardmind.units import yuan_to_fen

from .conftest import base_mapping

SH = ZoneInfo("Asia/Shanghai")

amounts = st.decimals(min_value=0, max_value=Decimal("99999999999.99"), places=2)


@settings(max_examples=150, deadline=None)
@given(st.lists(amounts, min_size=1, max_size=30), st.integers(0, 3))
def test_yuan_to_fen_is_exact(values, pad):
    # Written as a bank would: plain, with trailing zeros, or without decimals.
    text = [f"{v:.{2 + pad}f}" if pad < 3 else str(v) for v in values]
    parsed = parse_money(pa.array(text), unit="yuan")
    assert not parsed.bad.any()
    assert parsed.values.to_pylist() == [yuan_to_fen(v) for v in values]


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10**15))
def test_fen_unit_keeps_integers(n):
    assert parse_money(pa.array([str(n)]), unit="fen").values.to_pylist() == [n]


def test_money_edge_cases():
    p = parse_money(
        pa.array(["0.29", "0.57", "1.10", ".5", "5.", "+3", "1,000", "1e3", "0.001"]), unit="yuan"
    )
    assert p.values.to_pylist() == [29, 57, 110, 50, 500, 300, None, None, None]
    assert p.bad.tolist() == [False] * 6 + [True] * 3
    assert parse_money(pa.array(["12.00", "12.5"]), unit="fen").bad.tolist() == [False, True]


def test_naive_times_are_shanghai_and_offsets_are_honoured():
    p = parse_timestamp(
        pa.array(
            [
                "2024-05-01 10:00:00",
                "2024-05-01T10:00:00+02:00",
                "2024-05-01T02:00:00Z",
                "2024-05-01",
            ]
        ),
        fmt=None,
        timezone="Asia/Shanghai",
    )
    assert p.values.type == pa.timestamp("us", tz="Asia/Shanghai")
    got = p.values.to_pylist()
    assert got[0] == datetime(2024, 5, 1, 10, tzinfo=SH)
    assert got[1] == datetime(2024, 5, 1, 16, tzinfo=SH)
    assert got[2] == datetime(2024, 5, 1, 10, tzinfo=SH)
    assert got[3] == datetime(2024, 5, 1, 0, tzinfo=SH)


def test_formats_and_other_zones():
    utc = parse_timestamp(pa.array(["2024/05/01 02:00"]), fmt="%Y/%m/%d %H:%M", timezone="UTC")
    assert utc.values.to_pylist() == [datetime(2024, 5, 1, 10, tzinfo=SH)]
    z = parse_timestamp(
        pa.array(["20240501 100000 +0000", "junk"]),
        fmt="%Y%m%d %H%M%S %z",
        timezone="Asia/Shanghai",
    )
    assert z.values.to_pylist() == [datetime(2024, 5, 1, 18, tzinfo=SH), None]
    assert z.bad.tolist() == [False, True]
    # Typed (Parquet) timestamps: naive ones are read in the mapping's zone.
    naive = pa.array([datetime(2024, 5, 1, 10)], pa.timestamp("ms"))
    assert parse_timestamp(naive, fmt=None, timezone="Asia/Shanghai").values.to_pylist() == [
        datetime(2024, 5, 1, 10, tzinfo=SH)
    ]


def test_timezone_in_the_mapping_end_to_end(bank):
    bank.write(["t1,6222021234567894,m1,1.00,2024-05-01 02:00:00,0,ok"])
    data = base_mapping()
    data["timezone"] = "UTC"
    ingest(Mapping.load(bank.mapping(data)), bank.out)
    ts = Dataset(bank.out).read("authorizations").column("ts").to_pylist()
    assert ts == [datetime(2024, 5, 1, 10, tzinfo=SH)]


def test_ints_and_bools_are_strict():
    i = parse_int(pa.array(["12", " -3 ", "1.5", "300", "", "+5", "007"]), pa.int8())
    assert i.values.to_pylist() == [12, -3, None, None, None, 5, 7]
    assert i.bad.tolist() == [False, False, True, True, False, False, False]
    f = parse_float(pa.array(["+1.5", "-2e3", ".5", "1,5"]))
    assert f.values.to_pylist() == [1.5, -2000.0, 0.5, None]
    b = parse_bool(pa.array(["Y", "no", "TRUE", "maybe"]))
    assert b.values.to_pylist() == [True, False, True, None]
    assert b.bad.tolist() == [False, False, False, True]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.text(max_size=30),
            st.from_regex(r"[+-]?\d{0,25}(\.\d{0,5})?([eE][+-]?\d{1,4})?", fullmatch=True),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_parsers_never_raise_on_any_text(cells):
    arr = pa.array(cells, pa.string())
    for parsed in (
        parse_int(arr, pa.int16()),
        parse_int(arr),
        parse_float(arr),
        parse_bool(arr),
        parse_money(arr, unit="yuan"),
        parse_money(arr, unit="fen"),
        parse_timestamp(arr, fmt=None, timezone="Asia/Shanghai"),
        parse_timestamp(arr, fmt="%d/%m/%Y %H:%M", timezone="UTC"),
        parse_date(arr, fmt=None),
    ):
        assert len(parsed.values) == len(cells) == len(parsed.bad)
        # A cell is either a value, bad, or empty: never silently lost.
        for cell, value, bad in zip(
            cells, parsed.values.to_pylist(), parsed.bad.tolist(), strict=True
        ):
            empty = cell is None or not cell.strip()
            assert (value is not None) + bad + empty >= 1
            assert not (bad and value is not None)
