"""The SQL and Python halves of the vocabulary agree (category, band, local hour, night)."""

from __future__ import annotations

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from cardmind.features import sql as S
from cardmind.features import vocab


@settings(max_examples=30, deadline=None)
@given(mcc=st.one_of(st.integers(0, 9999).map(lambda i: f"{i:04d}"), st.text(max_size=4)),
       amount=st.integers(0, 10**10), t=st.integers(0, 4_000_000_000_000_000))
def test_sql_and_python_agree(mcc, amount, t):
    q = exp.select(S.alias(S.category_expr(S.lit(mcc)), "c"),
                   S.alias(S.band_expr(S.lit(amount)), "b"),
                   S.alias(S.hour_expr(S.lit(t)), "h"), S.alias(S.night_expr(S.lit(t)), "n"))
    c, b, h, n = duckdb.sql(q.sql("duckdb")).fetchall()[0]
    assert c == vocab.category_group(mcc)
    assert b == vocab.amount_band(amount)
    assert h == vocab.local_hour(t)
    assert n == vocab.is_night(t)
