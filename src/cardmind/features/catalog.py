"""The default catalog: families declared once, expanded combinatorially.

>>> cat = default_catalog()
>>> len(cat) > 2000, "card_amount_sum_7d_online" in cat, "merchant_fraud_rate_30d" in cat
(True, True, True)
>>> per_entity = {e: sum(1 for d in cat if d.entity == e) for e in ("card", "customer")}
>>> all(n >= 1000 for n in per_entity.values())
True
>>> resolve("card_count_1h").window
'1h'
"""

from __future__ import annotations

from functools import lru_cache

from cardmind import schema
from cardmind.features import vocab
from cardmind.features.definitions import (
    REQUEST_KINDS,
    Catalog,
    Definition,
    DerivedFeature,
    LabelFeature,
    RepaymentFeature,
    RequestFeature,
    WindowFeature,
)

W = vocab.WINDOWS
_BEHAVIOUR = ("online", "night", "cross_border", "approved", "declined")
_CHANNELS = tuple(schema.CHANNELS)
_CATEGORIES = tuple(f"cat_{g}" for g in vocab.CATEGORY_GROUPS)
_BANDS = tuple(f"band_{b}" for b, _, _ in vocab.AMOUNT_BANDS)


def _holder(entity: str) -> list[Definition]:
    """Card and customer: the behavioural profile (about 1,400 features each)."""
    out: list[Definition] = []
    every = (None, *_BEHAVIOUR, "returns", *_CHANNELS, *_CATEGORIES, *_BANDS)
    spread = (None, *_BEHAVIOUR, *_CHANNELS, *_BANDS)
    for w in W:
        for f in every:
            out.append(WindowFeature(entity=entity, aggregation="count", window=w, filter=f))
            for agg in ("sum", "mean", "max"):
                out.append(WindowFeature(entity=entity, aggregation=agg, column="amount_fen",
                                         window=w, filter=f))
            if f is not None and f != "returns":
                out.append(WindowFeature(entity=entity, aggregation="share", window=w, filter=f))
        for f in spread:
            for agg in ("min", "std"):
                out.append(WindowFeature(entity=entity, aggregation=agg, column="amount_fen",
                                         window=w, filter=f))
        for f in (None, "online", "night", "declined", "returns"):
            out.append(WindowFeature(entity=entity, aggregation="last", column="amount_fen",
                                     window=w, filter=f))
            out.append(WindowFeature(entity=entity, aggregation="time_since_last", window=w,
                                     filter=f))
        for col in ("merchant_id", "terminal_id", "mcc", "city", "device_id", "channel"):
            out.append(WindowFeature(entity=entity, aggregation="distinct_count", column=col,
                                     window=w))
        if entity == "customer":
            out.append(WindowFeature(entity=entity, aggregation="distinct_count",
                                     column="card_token", window=w))
    # repayments
    for w in ("7d", "30d", "90d", "180d"):
        for f in (None, "third_party", "other_payer", "auto_debit"):
            out.append(WindowFeature(entity=entity, source="repayments", aggregation="count",
                                     window=w, filter=f))
            out.append(WindowFeature(entity=entity, source="repayments", aggregation="sum",
                                     column="amount_fen", window=w, filter=f))
        for agg in ("mean", "max", "last"):
            out.append(WindowFeature(entity=entity, source="repayments", aggregation=agg,
                                     column="amount_fen", window=w))
        out.append(WindowFeature(entity=entity, source="repayments",
                                 aggregation="time_since_last", window=w))
    # statements (monthly): utilisation, repayment ratio, balances, delinquency
    for w in ("30d", "90d", "180d"):
        for col, aggs in (("utilisation", ("last", "mean", "max")),
                          ("repayment_ratio", ("last", "mean", "min")),
                          ("new_balance_fen", ("last", "mean", "max")),
                          ("purchases_fen", ("mean", "sum")),
                          ("minimum_due_fen", ("last",)),
                          ("interest_fen", ("sum",)), ("fees_fen", ("sum",)),
                          ("installment_outstanding_fen", ("last",)),
                          ("days_past_due", ("max", "last"))):
            for agg in aggs:
                out.append(WindowFeature(entity=entity, source="statements", aggregation=agg,
                                         column=col, window=w))
        out.append(WindowFeature(entity=entity, source="statements", aggregation="count",
                                 window=w, filter="past_due"))
    # installment plans
    for w in ("30d", "90d", "180d"):
        for f in (None, "statement_plan", "purchase_plan", "offered"):
            out.append(WindowFeature(entity=entity, source="installment_plans",
                                     aggregation="count", window=w, filter=f))
        out.append(WindowFeature(entity=entity, source="installment_plans", aggregation="sum",
                                 column="principal_fen", window=w))
        out.append(WindowFeature(entity=entity, source="installment_plans", aggregation="mean",
                                 column="periods", window=w))
        out.append(WindowFeature(entity=entity, source="installment_plans", aggregation="sum",
                                 column="fee_total_fen", window=w))
    # spending after a repayment (cash-out / 代还 pattern)
    for lb in ("7d", "30d"):
        for m in ("time_to_next_purchase", "spend_since", "count_since", "spend_ratio"):
            out.append(RepaymentFeature(entity=entity, measure=m, lookback=lb))
    # derived: velocity and current-event ratios
    for short, long in (("1h", "24h"), ("24h", "7d"), ("24h", "30d"), ("7d", "90d"),
                        ("30d", "180d")):
        out.append(DerivedFeature(op="ratio", inputs=(f"{entity}_count_{short}",
                                                      f"{entity}_count_{long}")))
        out.append(DerivedFeature(op="ratio", inputs=(f"{entity}_amount_sum_{short}",
                                                      f"{entity}_amount_sum_{long}")))
    for w in ("24h", "7d", "30d", "90d"):
        out.append(DerivedFeature(op="ratio", inputs=("req_amount", f"{entity}_amount_mean_{w}")))
        out.append(DerivedFeature(op="ratio", inputs=("req_amount", f"{entity}_amount_max_{w}")))
        out.append(DerivedFeature(op="zscore", inputs=("req_amount", f"{entity}_amount_mean_{w}",
                                                       f"{entity}_amount_std_{w}")))
    out.append(DerivedFeature(op="ratio", inputs=(f"{entity}_amount_sum_30d",
                                                  f"{entity}_repayment_amount_sum_30d")))
    return out


def _merchant_like(entity: str, windows: tuple[str, ...], label_windows: tuple[str, ...]
                   ) -> list[Definition]:
    out: list[Definition] = []
    for w in windows:
        for f in (None, "online", "night", "declined", "cross_border"):
            out.append(WindowFeature(entity=entity, aggregation="count", window=w, filter=f))
            out.append(WindowFeature(entity=entity, aggregation="sum", column="amount_fen",
                                     window=w, filter=f))
        out.append(WindowFeature(entity=entity, aggregation="mean", column="amount_fen", window=w))
        out.append(WindowFeature(entity=entity, aggregation="max", column="amount_fen", window=w))
        for f in ("declined", "night", "online", "band_xlarge", "returns"):
            if f != "returns":
                out.append(WindowFeature(entity=entity, aggregation="share", window=w, filter=f))
        out.append(WindowFeature(entity=entity, aggregation="distinct_count",
                                 column="card_token", window=w))
    for w in label_windows:
        out.append(LabelFeature(entity=entity, window=w, measure="count"))
        out.append(LabelFeature(entity=entity, window=w, measure="rate"))
        out.append(LabelFeature(entity=entity, window=w, measure="rate", delay="1d"))
    return out


def _others() -> list[Definition]:
    out: list[Definition] = []
    out += _merchant_like("merchant", ("10m", "1h", "24h", "7d", "30d"), ("7d", "30d"))
    out += _merchant_like("terminal", ("10m", "1h", "24h", "7d"), ("7d",))
    for w in ("10m", "1h", "24h", "7d", "30d"):
        out.append(WindowFeature(entity="device", aggregation="count", window=w))
        out.append(WindowFeature(entity="device", aggregation="sum", column="amount_fen", window=w))
        out.append(WindowFeature(entity="device", aggregation="share", window=w, filter="declined"))
        for col in ("card_token", "customer_id"):
            out.append(WindowFeature(entity="device", aggregation="distinct_count", column=col,
                                     window=w))
    for w in ("24h", "7d", "30d", "90d", "180d"):
        out.append(WindowFeature(entity="card_merchant", aggregation="count", window=w))
        out.append(WindowFeature(entity="card_merchant", aggregation="sum", column="amount_fen",
                                 window=w))
        out.append(WindowFeature(entity="card_merchant", aggregation="time_since_last", window=w))
    out.append(DerivedFeature(op="is_zero", inputs=("card_merchant_count_180d",)))
    out.append(DerivedFeature(op="is_zero", inputs=("device_count_30d",)))
    for w in ("10m", "1h", "24h"):
        out.append(WindowFeature(entity="category", aggregation="count", window=w))
        out.append(WindowFeature(entity="category", aggregation="mean", column="amount_fen",
                                 window=w))
    out.append(DerivedFeature(op="ratio", inputs=("req_amount", "category_amount_mean_24h")))
    out.append(DerivedFeature(op="ratio", inputs=("category_count_10m", "category_count_24h")))
    return out


@lru_cache(maxsize=1)
def _default() -> Catalog:
    defs: list[Definition] = [RequestFeature(what=k) for k in REQUEST_KINDS]
    defs += _holder("card") + _holder("customer") + _others()
    return Catalog(defs)


def default_catalog() -> Catalog:
    """The default catalog (a fresh :class:`Catalog` object over shared definitions)."""
    return Catalog(list(_default()))


def resolve(name: str) -> Definition:
    """A definition of the default catalog by name (``KeyError`` if unknown)."""
    return _default().get(name)
