"""Vectorised parsing of text cells into typed columns, with a rejection mask per column.

Every parser takes an Arrow array and returns :class:`Parsed`: typed values (null where the cell
was empty or bad), a boolean mask of the bad rows and the reason that applies to them. Nothing
loops over rows in Python. Money is parsed from its decimal text into integer fen with integer
arithmetic only, so ``0.29`` yuan is exactly ``29`` fen (no binary float on the way).

>>> p = parse_money(pa.array(["12.34", "0.1", "7", "-1.00", "1.005", "x", ""]), unit="yuan")
>>> p.values.to_pylist(), p.bad.tolist()
([1234, 10, 700, -100, None, None, None], [False, False, False, False, True, True, False])
>>> parse_timestamp(pa.array(["2024-01-02 03:04:05", "2024-01-02T03:04:05Z"]),
...                 fmt=None, timezone="Asia/Shanghai").values.to_pylist()[1].hour
11
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cardmind.units import TIMEZONE_NAME

TARGET_TZ = pa.timestamp("us", tz=TIMEZONE_NAME)
YEARS = (1900, 2200)  # dates and times outside [1900, 2200) are rejected
TRUE_WORDS = ("true", "t", "1", "yes", "y")
FALSE_WORDS = ("false", "f", "0", "no", "n")
_INT_RANGES = {
    pa.int8(): (-(2**7), 2**7 - 1),
    pa.int16(): (-(2**15), 2**15 - 1),
    pa.int32(): (-(2**31), 2**31 - 1),
    pa.int64(): (-(2**63), 2**63 - 1),
}


@dataclass
class Parsed:
    """Typed values, the rows whose non-empty cell could not be parsed, and why."""

    values: pa.Array
    bad: np.ndarray
    reason: str


def _mask(arr: pa.Array) -> np.ndarray:
    """A boolean Arrow array as a NumPy mask (null counts as False)."""
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _combine(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def clean_text(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Text with surrounding blanks removed; empty cells become null.

    >>> clean_text(pa.array([" a ", "", None])).to_pylist(), clean_text(pa.array([5])).to_pylist()
    (['a', None, None], ['5'])
    """
    arr = _combine(arr)
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    arr = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def map_values(text: pa.Array, values: dict[str, str]) -> pa.Array:
    """Replace cells found in ``values``; other cells pass through unchanged.

    >>> map_values(pa.array(["1", "0", "2", None]), {"1": "fraud", "0": "genuine"}).to_pylist()
    ['fraud', 'genuine', '2', None]
    """
    if not values:
        return text
    keys = pa.array(list(values), pa.string())
    idx = pc.index_in(text, value_set=keys)
    mapped = pc.take(pa.array(list(values.values()), pa.string()), idx)
    out = pc.if_else(pc.is_null(idx), text, mapped)
    return pc.if_else(pc.equal(out, ""), pa.scalar(None, pa.string()), out)


def parse_text(arr: pa.Array) -> Parsed:
    values = clean_text(arr)
    return Parsed(values, np.zeros(len(values), bool), "")


def parse_int(arr: pa.Array, type_: pa.DataType | None = None) -> Parsed:
    """Whole numbers (optionally ``+``/``-``), range-checked for the target type."""
    type_ = type_ or pa.int64()
    text = clean_text(arr)
    ok = pc.match_substring_regex(text, r"^[+-]?\d{1,18}$")
    unsigned = pc.replace_substring_regex(text, r"^\+", "")  # Arrow's cast refuses "+5"
    good = pc.if_else(ok, unsigned, pa.scalar(None, pa.string())).cast(pa.int64())
    lo, hi = _INT_RANGES.get(type_, _INT_RANGES[pa.int64()])
    in_range = pc.and_(pc.greater_equal(good, lo), pc.less_equal(good, hi))
    keep = pc.fill_null(in_range, False)
    values = pc.if_else(keep, good, pa.scalar(None, pa.int64())).cast(type_)
    bad = _mask(pc.is_valid(text)) & ~_mask(keep)
    return Parsed(values, bad, f"not a whole number in the range of {type_}")


def parse_float(arr: pa.Array) -> Parsed:
    text = clean_text(arr)
    ok = pc.match_substring_regex(text, r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
    unsigned = pc.replace_substring_regex(text, r"^\+", "")
    values = pc.if_else(ok, unsigned, pa.scalar(None, pa.string())).cast(pa.float64())
    bad = _mask(pc.is_valid(text)) & ~_mask(ok)
    return Parsed(values, bad, "not a number")


def parse_bool(arr: pa.Array) -> Parsed:
    """``true/t/1/yes/y`` and ``false/f/0/no/n`` in any case; anything else is bad."""
    text = pc.utf8_lower(clean_text(arr))
    is_true = pc.is_in(text, value_set=pa.array(TRUE_WORDS))
    is_false = pc.is_in(text, value_set=pa.array(FALSE_WORDS))
    known = pc.or_(is_true, is_false)
    values = pc.if_else(known, is_true, pa.scalar(None, pa.bool_()))
    bad = _mask(pc.is_valid(text)) & ~_mask(known)
    return Parsed(values, bad, f"not a yes/no value (expected one of {TRUE_WORDS + FALSE_WORDS})")


def parse_money(arr: pa.Array, *, unit: str) -> Parsed:
    """Decimal text in ``unit`` (yuan or fen) to integer fen, exactly; sign kept.

    A value with more decimals than fen can hold (``1.005`` yuan) is rejected, not rounded;
    trailing zeros are fine (``1.500`` yuan is 150 fen).
    """
    arr = _combine(arr)
    if pa.types.is_integer(arr.type):
        fen = (
            arr.cast(pa.int64())
            if unit == "fen"
            else pc.multiply_checked(arr.cast(pa.int64()), 100)
        )
        return Parsed(fen, np.zeros(len(arr), bool), "")
    scale = 2 if unit == "yuan" else 0
    text = clean_text(arr)
    parts = pc.extract_regex(text, r"^(?P<sign>[+-]?)(?P<int>\d{0,16})(?:\.(?P<frac>\d*))?$")
    sign, whole, frac = (pc.struct_field(parts, i) for i in range(3))
    whole_ok = pc.or_(pc.greater(pc.utf8_length(whole), 0), pc.greater(pc.utf8_length(frac), 0))
    frac_padded = pc.utf8_rpad(pc.fill_null(frac, ""), width=scale, padding="0")
    head = pc.utf8_slice_codeunits(frac_padded, 0, scale)
    tail = pc.utf8_slice_codeunits(frac_padded, scale)
    tail_ok = pc.match_substring_regex(tail, r"^0*$")
    ok = pc.and_(pc.and_(pc.is_valid(parts), whole_ok), tail_ok)
    ok = pc.fill_null(ok, False)
    whole_int = pc.if_else(pc.equal(whole, ""), "0", whole)
    whole_int = pc.if_else(ok, whole_int, pa.scalar(None, pa.string())).cast(pa.int64())
    fen = pc.multiply(whole_int, 10**scale)
    if scale:
        fen = pc.add(fen, pc.if_else(ok, head, pa.scalar(None, pa.string())).cast(pa.int64()))
    fen = pc.if_else(pc.equal(sign, "-"), pc.negate(fen), fen)
    bad = _mask(pc.is_valid(text)) & ~_mask(ok)
    places = "two decimal places" if scale else "no decimals"
    return Parsed(fen, bad, f"not an amount in {unit} with at most {places}")


_LOCAL = threading.local()


def _duck(sql: str, arr: pa.Array, timezone: str) -> pa.Array:
    """Run ``sql`` over ``arr`` (as table ``src``, column ``s``) in the session ``timezone``."""
    con = getattr(_LOCAL, "con", None)
    if con is None:
        con = _LOCAL.con = duckdb.connect()
    con.execute(f"SET TimeZone = {_sql_str(timezone)}")
    con.register("src", pa.table({"s": arr}))
    try:
        return _combine(con.sql(sql).to_arrow_table().column(0))
    finally:
        con.unregister("src")


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def parse_timestamp(arr: pa.Array, *, fmt: str | None, timezone: str) -> Parsed:
    """Text to ``timestamp[us, tz=Asia/Shanghai]``: naive times are read in ``timezone``,
    explicit offsets (``+08:00``, ``Z``; ``%z`` in a format) are honoured.

    ``fmt`` is a strptime format (``%Y/%m/%d %H:%M:%S``); without one, ISO 8601 is expected.
    Impossible dates (30 February) are bad, never rolled over.
    """
    arr = _combine(arr)
    if pa.types.is_timestamp(arr.type):
        values = arr if arr.type.tz else pc.assume_timezone(arr, timezone=timezone)
        values = _in_range(values.cast(TARGET_TZ))
        bad = _mask(pc.is_valid(arr)) & ~_mask(pc.is_valid(values))
        return Parsed(values, bad, f"timestamp outside the years {YEARS[0]}-{YEARS[1] - 1}")
    if pa.types.is_date(arr.type):
        arr = arr.cast(pa.string())
    text = clean_text(arr)
    if fmt is None:
        sql = "SELECT try_cast(s AS TIMESTAMPTZ) FROM src"
        what = "an ISO 8601 timestamp"
    elif "%z" in fmt or "%Z" in fmt:
        sql = f"SELECT try_strptime(s, {_sql_str(fmt)})::TIMESTAMPTZ FROM src"
        what = f"a timestamp in the format {fmt}"
    else:
        sql = f"SELECT timezone({_sql_str(timezone)}, try_strptime(s, {_sql_str(fmt)})) FROM src"
        what = f"a timestamp in the format {fmt}"
    try:
        values = _duck(sql, text, timezone)
    except duckdb.Error as exc:
        raise ValueError(f"invalid timestamp format {fmt!r}: {exc}") from None
    values = _in_range(values.cast(TARGET_TZ))
    bad = _mask(pc.is_valid(text)) & ~_mask(pc.is_valid(values))
    return Parsed(values, bad, f"not {what} (years {YEARS[0]}-{YEARS[1] - 1})")


def parse_date(arr: pa.Array, *, fmt: str | None) -> Parsed:
    """Text to ``date32`` (ISO ``YYYY-MM-DD`` or a strptime format)."""
    arr = _combine(arr)
    if pa.types.is_date(arr.type) or pa.types.is_timestamp(arr.type):
        values = _in_range(arr.cast(pa.date32()))
        bad = _mask(pc.is_valid(arr)) & ~_mask(pc.is_valid(values))
        return Parsed(values, bad, f"date outside the years {YEARS[0]}-{YEARS[1] - 1}")
    text = clean_text(arr)
    if fmt is None:
        sql, what = "SELECT try_cast(s AS DATE) FROM src", "an ISO date (YYYY-MM-DD)"
    else:
        sql, what = f"SELECT try_strptime(s, {_sql_str(fmt)})::DATE FROM src", f"a date in {fmt}"
    try:
        values = _duck(sql, text, TIMEZONE_NAME).cast(pa.date32())
    except duckdb.Error as exc:
        raise ValueError(f"invalid date format {fmt!r}: {exc}") from None
    values = _in_range(values)
    bad = _mask(pc.is_valid(text)) & ~_mask(pc.is_valid(values))
    return Parsed(values, bad, f"not {what} (years {YEARS[0]}-{YEARS[1] - 1})")


def _in_range(values: pa.Array) -> pa.Array:
    """Null out dates and times outside ``YEARS`` (a year 0 or 99999 is a data error)."""
    if pa.types.is_timestamp(values.type):
        lo = pa.scalar(datetime(YEARS[0], 1, 1, tzinfo=UTC), values.type)
        hi = pa.scalar(datetime(YEARS[1], 1, 1, tzinfo=UTC), values.type)
    else:
        lo, hi = pa.scalar(date(YEARS[0], 1, 1)), pa.scalar(date(YEARS[1], 1, 1))
        lo, hi = lo.cast(values.type), hi.cast(values.type)
    ok = pc.fill_null(pc.and_(pc.greater_equal(values, lo), pc.less(values, hi)), False)
    return pc.if_else(ok, values, pa.scalar(None, values.type))


def parse_as(
    arr: pa.Array,
    type_: pa.DataType,
    *,
    unit: str | None = None,
    fmt: str | None = None,
    timezone: str = TIMEZONE_NAME,
) -> Parsed:
    """Dispatch on the target Arrow type (money when ``unit`` is given)."""
    if unit is not None:
        return parse_money(arr, unit=unit)
    if pa.types.is_string(type_):
        return parse_text(arr)
    if pa.types.is_boolean(type_):
        return parse_bool(arr)
    if pa.types.is_integer(type_):
        return parse_int(arr, type_)
    if pa.types.is_floating(type_):
        return parse_float(arr)
    if pa.types.is_timestamp(type_):
        return parse_timestamp(arr, fmt=fmt, timezone=timezone)
    if pa.types.is_date(type_):
        return parse_date(arr, fmt=fmt)
    raise ValueError(f"importing columns of type {type_} is not supported")


def infer_extra(arr: pa.Array) -> pa.Array:
    """Type an extra (non-schema) column: whole numbers, then numbers, else text.

    >>> infer_extra(pa.array(["1", "2", ""])).type, infer_extra(pa.array(["1", "a"])).type
    (DataType(int64), DataType(string))
    """
    arr = _combine(arr)
    if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
        return arr
    for parsed in (parse_int(arr), parse_float(arr)):
        if not parsed.bad.any():
            return parsed.values
    return clean_text(arr)
