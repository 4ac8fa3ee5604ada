"""A plain, slow reference implementation of every feature kind, straight from the definitions.

No shared code with the engines beyond the vocabulary (windows, category groups, bands, hours):
for each row it filters the events by hand and aggregates with the standard library.
"""

from __future__ import annotations

import math
import statistics
from datetime import date, datetime
from fractions import Fraction
from typing import Any

from cardmind import schema
from cardmind.features import vocab
from cardmind.features.definitions import (
    ENTITIES,
    SOURCES,
    Catalog,
    DerivedFeature,
    LabelFeature,
    RepaymentFeature,
    RequestFeature,
    WindowFeature,
)

NAN = math.nan


_MEMO: dict[tuple[int, str], Any] = {}  # (id(event), what) -> value, cleared per compute()


def _time(table: str, e: dict) -> int:
    k = (id(e), "__t")
    if k not in _MEMO:
        _MEMO[k] = _time_plain(table, e)
    return _MEMO[k]


def _time_plain(table: str, e: dict) -> int:
    if table == "statements":
        d = e["statement_date"]
        d = d.date() if isinstance(d, datetime) else d
        days = (d - date(1970, 1, 1)).days
        return (days + 1) * 86_400_000_000 - 8 * 3_600_000_000
    return vocab.to_epoch_us(e[SOURCES[table].time_column])


def _attr(table: str, e: dict, column: str) -> Any:
    if column in e:
        return e[column]
    k = (id(e), column)
    if k not in _MEMO:
        _MEMO[k] = _attr_plain(table, e, column)
    return _MEMO[k]


def _attr_plain(table: str, e: dict, column: str) -> Any:
    if column == "category":
        return vocab.category_group(e.get("mcc"))
    if column == "amount_band":
        return None if e.get("amount_fen") is None else vocab.amount_band(e["amount_fen"])
    if column == "night":
        return vocab.is_night(_time(table, e))
    if column == "past_due":
        return (e.get("days_past_due") or 0) > 0
    return e.get(column)


def _key(entity: str, table: str, e: dict) -> tuple | None:
    vals = tuple(_attr(table, e, k) for k in ENTITIES[entity].keys)
    return None if any(v is None for v in vals) else vals


def _by_key(entity: str, table: str, tables: dict[str, list[dict]]) -> dict[tuple, list[dict]]:
    """The table's events grouped by the entity's key (memoised for one compute())."""
    k = (0, f"idx:{entity}:{table}")
    if k not in _MEMO:
        idx: dict[tuple, list[dict]] = {}
        for e in tables.get(table, []):
            idx.setdefault(_key(entity, table, e), []).append(e)
        _MEMO[k] = idx
    return _MEMO[k]


def _value(table: str, column: str, e: dict) -> Any:
    vc = SOURCES[table].column(column)
    if vc is not None and vc.numerator:
        num, den = e.get(vc.numerator), e.get(vc.denominator)
        return None if num is None or den is None or den <= 0 else num / den
    return e.get(column)


def _in_lane(table: str, flt: str | None, e: dict) -> bool:
    return all(_attr(table, e, f.column) in f.values for f in SOURCES[table].lane(flt))


def window_feature(d: WindowFeature, tables: dict[str, list[dict]], row: dict) -> float:
    key = _key(d.entity, "authorizations", row)
    if key is None:
        return NAN
    t = vocab.to_epoch_us(row["ts"])
    w = vocab.parse_window(d.window)
    col = d.column if d.aggregation not in ("count", "share", "time_since_last",
                                            "distinct_count") else None
    evs = []
    for e in _by_key(d.entity, d.source, tables).get(key, []):
        et = _time(d.source, e)
        if not (t - w <= et < t):
            continue
        if col is not None and _value(d.source, col, e) is None:
            continue
        evs.append((et, e))
    lane = [(et, e) for et, e in evs if _in_lane(d.source, d.filter, e)]
    agg = d.aggregation
    if agg == "count":
        return float(len(lane))
    if agg == "share":
        base = [x for x in evs if _in_lane(d.source, None, x[1])]
        return len(lane) / len(base) if base else NAN
    if agg == "distinct_count":
        return float(len({e[d.column] for _, e in lane if e.get(d.column) is not None}))
    if agg == "time_since_last":
        return (t - max(et for et, _ in lane)) / 1e6 if lane else NAN
    xs = [_value(d.source, d.column, e) for _, e in lane]
    if agg == "sum":
        return float(sum(xs))
    if not xs:
        return NAN
    if agg == "mean":
        return float(Fraction(sum(xs)) / len(xs)) if all(isinstance(x, int) for x in xs) \
            else sum(xs) / len(xs)
    if agg == "min":
        return float(min(xs))
    if agg == "max":
        return float(max(xs))
    if agg == "std":
        return statistics.stdev(xs) if len(xs) >= 2 else NAN
    if agg == "last":
        return float(max((et, _value(d.source, d.column, e)) for et, e in lane)[1])
    raise AssertionError(agg)


def label_count(d: LabelFeature, tables: dict[str, list[dict]], row: dict) -> float:
    key = _key(d.entity, "authorizations", row)
    if key is None:
        return NAN
    t = vocab.to_epoch_us(row["ts"])
    known: dict[str, int] = {}
    for lab in tables.get("fraud_labels", []):
        if lab["label"] in schema.FRAUD_LABELS:
            r = vocab.to_epoch_us(lab["reported_at"])
            known[lab["auth_id"]] = min(r, known.get(lab["auth_id"], r))
    n = 0
    for a in tables["authorizations"]:
        at = _time("authorizations", a)
        if (a["message_type"] == "purchase" and _key(d.entity, "authorizations", a) == key
                and t - d.window_us <= at < t and a["auth_id"] in known
                and known[a["auth_id"]] + d.delay_us <= t):
            n += 1
    return float(n)


def repayment_feature(d: RepaymentFeature, tables: dict[str, list[dict]], row: dict) -> float:
    key = _key(d.entity, "authorizations", row)
    t = vocab.to_epoch_us(row["ts"])
    reps = [(_time("repayments", r), r["amount_fen"]) for r in tables.get("repayments", [])
            if _key(d.entity, "repayments", r) == key
            and t - d.lookback_us <= _time("repayments", r) < t]
    if not reps:
        return NAN
    rt, rv = max(reps)
    ps = sorted((_time("authorizations", a), a["amount_fen"]) for a in tables["authorizations"]
                if _key(d.entity, "authorizations", a) == key and a["message_type"] == "purchase"
                and a["approved"] and rt <= _time("authorizations", a) < t)
    spend = sum(v for _, v in ps)
    return {"count_since": float(len(ps)), "spend_since": float(spend),
            "spend_ratio": spend / rv if rv > 0 else NAN,
            "time_to_next_purchase": (ps[0][0] - rt) / 1e6 if ps else NAN}[d.measure]


def request_feature(d: RequestFeature, row: dict) -> float:
    t = vocab.to_epoch_us(row["ts"])
    w = d.what
    if w == "amount":
        return float(row["amount_fen"])
    if w == "hour":
        return float(vocab.local_hour(t))
    if w == "is_night":
        return float(vocab.is_night(t))
    if w == "is_online":
        return float(row.get("channel") in ("online_cnp", "wallet", "qr"))
    if w == "is_cross_border":
        return float(row["cross_border"])
    head, _, tail = w.partition("_")
    got = {"channel": row.get("channel"), "category": vocab.category_group(row.get("mcc")),
           "band": vocab.amount_band(row["amount_fen"])}[head]
    return float(got == tail)


def compute(catalog: Catalog, tables: dict[str, list[dict]], rows: list[dict]
            ) -> list[dict[str, float]]:
    """Every feature of the catalog (and its dependencies) for every row."""
    _MEMO.clear()
    full = catalog.closure()
    out = []
    for row in rows:
        vals: dict[str, float] = {}
        for d in full:
            if isinstance(d, WindowFeature):
                v = window_feature(d, tables, row)
            elif isinstance(d, LabelFeature):
                c = label_count(d, tables, row)
                if d.measure == "count":
                    v = c
                else:
                    n = vals[d.inputs[0]]
                    v = c / n if n > 0 else NAN
            elif isinstance(d, RepaymentFeature):
                v = repayment_feature(d, tables, row)
            elif isinstance(d, RequestFeature):
                v = request_feature(d, row)
            elif isinstance(d, DerivedFeature):
                xs = [vals[n] for n in d.inputs]
                if d.op == "ratio":
                    v = xs[0] / xs[1] if not any(map(math.isnan, xs)) and xs[1] != 0 else NAN
                elif d.op == "zscore":
                    v = (xs[0] - xs[1]) / xs[2] if not any(map(math.isnan, xs)) and xs[2] > 0 \
                        else NAN
                else:
                    v = 1.0 if math.isnan(xs[0]) or xs[0] == 0 else 0.0
            else:
                raise AssertionError(d)
            vals[d.name] = v
        out.append({n: vals[n] for n in catalog.names()})
    return out
