"""The SQL half of the feature vocabulary, built as sqlglot expression trees (never strings).

Every builder returns a :class:`sqlglot.exp.Expression`; the batch engine renders them for a
dialect (``duckdb`` today). Only :func:`epoch_us` and :func:`struct_field` differ per dialect.

>>> category_expr(exp.column("mcc")).sql("duckdb").startswith(
...     "CASE WHEN TRY_CAST(mcc AS INT) BETWEEN 3000 AND 3999 THEN 'travel'")
True
>>> night_expr(exp.column("t")).sql("duckdb")
'((t + 28800000000) // 3600000000) % 24 < 6'
>>> night_expr(exp.column("t")).sql("spark")
'((t + 28800000000) DIV 3600000000) % 24 < 6'
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from cardmind.features import vocab
from cardmind.features.definitions import SOURCES, Filter

HOUR_US = 3600 * vocab.US_PER_SECOND


def lit(value: Any) -> exp.Expression:
    """A SQL literal for a Python value."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def alias(e: exp.Expression, name: str, quoted: bool | None = None) -> exp.Expression:
    """``e AS name`` without copying ``e`` (sqlglot copies by default)."""
    return exp.alias_(e, name, quoted=quoted, copy=False)


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


_TYPES: dict[str, exp.DataType] = {}


def cast(e: exp.Expression, to: str) -> exp.Expression:
    if to not in _TYPES:
        _TYPES[to] = exp.DataType.build(to)
    return exp.Cast(this=e, to=_TYPES[to].copy())


def case(*whens: tuple[exp.Expression, exp.Expression], default: exp.Expression | None = None
         ) -> exp.Case:
    c = exp.Case()
    for cond, then in whens:
        c = c.when(cond, then, copy=False)
    return c.else_(default, copy=False) if default is not None else c


def epoch_us(e: exp.Expression, dialect: str) -> exp.Expression:
    """Epoch microseconds of a timestamp expression."""
    fn = "UNIX_MICROS" if dialect == "spark" else "EPOCH_US"
    return exp.Anonymous(this=fn, expressions=[e])


def struct_field(e: exp.Expression, field: str, dialect: str) -> exp.Expression:
    if dialect == "duckdb":
        return exp.Anonymous(this="STRUCT_EXTRACT", expressions=[e, lit(field)])
    return exp.Dot(this=e, expression=exp.to_identifier(field))


def pair(t: exp.Expression, v: exp.Expression) -> exp.Expression:
    """A (t, v) struct ordered by t then v (for 'last' with ties broken by the larger value)."""
    return exp.Struct(expressions=[exp.PropertyEQ(this=exp.to_identifier("t"), expression=t),
                                   exp.PropertyEQ(this=exp.to_identifier("v"), expression=v)])


def category_expr(mcc: exp.Expression) -> exp.Expression:
    code = exp.TryCast(this=mcc, to=exp.DataType.build("INT"))  # built once per call
    whens = []
    for group, ranges in vocab.CATEGORY_RANGES:
        for lo, hi in ranges:
            whens.append((exp.Between(this=code.copy(), low=lit(lo), high=lit(hi)), lit(group)))
    return case(*whens, default=lit("other"))


def band_expr(amount: exp.Expression) -> exp.Expression:
    whens = []
    for name, _lo, hi in vocab.AMOUNT_BANDS:
        if hi is not None:
            whens.append((exp.LT(this=amount.copy(), expression=lit(hi)), lit(name)))
    return case(*whens, default=lit(vocab.AMOUNT_BANDS[-1][0]))


def hour_expr(t_us: exp.Expression) -> exp.Expression:
    shifted = exp.Paren(this=exp.Add(this=t_us, expression=lit(vocab.LOCAL_OFFSET_US)))
    return exp.Mod(this=exp.Paren(this=exp.IntDiv(this=shifted, expression=lit(HOUR_US))),
                   expression=lit(24))


def night_expr(t_us: exp.Expression) -> exp.Expression:
    return exp.LT(this=hour_expr(t_us), expression=lit(vocab.NIGHT_HOURS[1]))


def source_time(source: str, table: str | None, dialect: str) -> exp.Expression:
    """When an event of ``source`` becomes known, in epoch µs."""
    src = SOURCES[source]
    if source == "statements":
        days = exp.DateDiff(this=col(src.time_column, table),
                            expression=exp.cast(lit("1970-01-01"), "DATE"), unit=exp.var("DAY"))
        return exp.Sub(
            this=exp.Add(this=exp.Mul(this=cast(days, "BIGINT"), expression=lit(86_400_000_000)),
                         expression=lit(src.available_after_us)),
            expression=lit(vocab.LOCAL_OFFSET_US))
    return epoch_us(col(src.time_column, table), dialect)


def virtual_column(source: str, name: str, table: str | None, t_us: exp.Expression
                   ) -> exp.Expression:
    """A raw or virtual event column as SQL."""
    if source == "authorizations" and name == "category":
        return category_expr(col("mcc", table))
    if source == "authorizations" and name == "amount_band":
        return band_expr(col("amount_fen", table))
    if source == "authorizations" and name == "night":
        return exp.Paren(this=night_expr(t_us))
    if source == "statements" and name == "past_due":
        return exp.Paren(this=exp.GT(this=col("days_past_due", table), expression=lit(0)))
    return col(name, table)


VIRTUAL = {"authorizations": ("category", "amount_band", "night"), "statements": ("past_due",)}


def source_select(source: str, dialect: str, needed: set[str] | None = None) -> exp.Select:
    """``SELECT *, <event time> AS __t, <virtual columns in needed> FROM source``."""
    t = source_time(source, None, dialect)
    cols: list[exp.Expression] = [exp.Star(), alias(t, "__t")]
    cols += [alias(virtual_column(source, v, None, t.copy()), v)
             for v in VIRTUAL.get(source, ()) if needed is None or v in needed]
    return exp.select(*cols, copy=False).from_(source, copy=False)


def condition(source: str, flt: Filter, table: str | None, t_us: exp.Expression | None
              ) -> exp.Expression:
    """``column IN values``; with ``t_us`` None, virtual columns are read as materialised."""
    c = col(flt.column, table) if t_us is None else virtual_column(source, flt.column, table, t_us)
    if len(flt.values) == 1:
        return exp.EQ(this=c, expression=lit(flt.values[0]))
    return exp.In(this=c, expressions=[lit(v) for v in flt.values])


def lane_expr(source: str, lane: str | None, table: str | None,
              t_us: exp.Expression | None = None) -> exp.Expression:
    """True when an event enters a lane; NULL-safe (a NULL column is not in the lane)."""
    conds = [condition(source, f, table, t_us.copy() if t_us is not None else None)
             for f in SOURCES[source].lane(lane)]
    if not conds:
        return exp.Boolean(this=True)
    return exp.func("COALESCE", exp.and_(*conds), exp.Boolean(this=False))


def value_expr(source: str, column: str | None, table: str | None) -> exp.Expression:
    if column is None:
        return lit(0)
    vc = SOURCES[source].column(column)
    if vc is not None and vc.numerator:
        den = col(vc.denominator, table)  # type: ignore[arg-type]
        return case((exp.GT(this=den, expression=lit(0)),
                     exp.Div(this=cast(col(vc.numerator, table), "DOUBLE"),  # type: ignore[arg-type]
                             expression=den.copy())))
    return cast(col(column, table), "BIGINT")


def window(agg: exp.Expression, partition: list[exp.Expression], order: exp.Expression,
           preceding: int) -> exp.Window:
    """``agg OVER (PARTITION BY .. ORDER BY t RANGE BETWEEN w PRECEDING AND 1 PRECEDING)``:
    events with t in [t - w, t), i.e. strictly before the row."""
    return exp.Window(
        this=agg,
        partition_by=[p.copy() for p in partition],
        order=exp.Order(expressions=[exp.Ordered(this=order.copy())]),
        spec=exp.WindowSpec(kind="RANGE", start=lit(preceding), start_side="PRECEDING",
                            end=lit(1), end_side="PRECEDING"),
    )


def nullif(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    return exp.Nullif(this=a, expression=b)


def div(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    """a / b as DOUBLE, NULL when b is 0 or NULL."""
    return exp.Div(this=cast(a, "DOUBLE"), expression=nullif(b, lit(0)))
