"""Feature definitions: small keyword-only objects, validated on construction, named from fields.

A windowed feature is *entity x source x aggregation x column x window x filter*:

>>> f = WindowFeature(entity="card", aggregation="sum", column="amount_fen", window="7d",
...                   filter="online")
>>> f.name
'card_amount_sum_7d_online'
>>> f.description
'Sum of purchase amount (fen) of the card, online, wallet or QR payments, in the 7d before the decision.'
>>> WindowFeature(entity="card", aggregation="median", window="7d")
Traceback (most recent call last):
...
ValueError: feature card/authorizations/median/7d: unknown aggregation 'median'; known: count, sum, mean, min, max, std, distinct_count, last, time_since_last, share
>>> WindowFeature.from_dict(f.to_dict()) == f
True

Semantics (see docs/adr on window semantics): a feature for a decision at time ``t`` over window
``w`` aggregates the entity's events with ``ts`` in ``[t - w, t)`` (strictly before ``t``: the
authorization being decided is never in its own history). Authorization features count purchase
*attempts* (approved or declined; ``approved``/``declined`` are filters); reversals and refunds
never erase a purchase and are only seen through the ``returns`` filter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from cardmind import schema
from cardmind.features import vocab

# --- vocabulary: entities, filters, value columns, sources ------------------------------------


@dataclass(frozen=True, kw_only=True)
class Entity:
    """What a feature describes, and the event columns that identify it."""

    name: str
    keys: tuple[str, ...]
    doc: str
    optional: bool = False  # events without the key simply have no such entity (device)


ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        Entity(name="card", keys=("card_token",), doc="the card"),
        Entity(name="customer", keys=("customer_id",), doc="the customer (all cards)"),
        Entity(name="merchant", keys=("merchant_id",), doc="the merchant"),
        Entity(name="terminal", keys=("terminal_id",), doc="the terminal"),
        Entity(name="device", keys=("device_id",), doc="the device", optional=True),
        Entity(name="card_merchant", keys=("card_token", "merchant_id"),
               doc="the card at this merchant"),
        Entity(name="category", keys=("category",), doc="the merchant category group"),
    )
}


@dataclass(frozen=True, kw_only=True)
class Filter:
    """Events whose ``column`` is one of ``values``. Virtual columns: category, amount_band, night."""

    name: str
    column: str
    values: tuple[Any, ...]
    doc: str


@dataclass(frozen=True, kw_only=True)
class ValueColumn:
    """A numeric value aggregated by sum/mean/min/max/std/last: a column or a ratio of two."""

    name: str
    short: str
    doc: str
    integer: bool = True
    numerator: str | None = None  # for ratio columns: numerator / denominator (null if <= 0)
    denominator: str | None = None

    @property
    def needs(self) -> tuple[str, ...]:
        return (self.numerator, self.denominator) if self.numerator else (self.name,)  # type: ignore[return-value]


@dataclass(frozen=True, kw_only=True)
class Source:
    """An event table features aggregate over."""

    name: str
    tag: str  # name prefix after the entity ('' for authorizations)
    time_column: str
    noun: str  # what one event is, for descriptions
    entities: tuple[str, ...]
    columns: tuple[ValueColumn, ...]
    distinct_columns: tuple[str, ...] = ()
    filters: tuple[Filter, ...] = ()
    base: Filter | None = None  # always applied unless a filter constrains the same column
    available_after_us: int = 0  # for date-stamped tables: delay after the time column's day start

    def column(self, name: str) -> ValueColumn | None:
        return next((c for c in self.columns if c.name == name), None)

    def filter(self, name: str) -> Filter | None:
        return next((f for f in self.filters if f.name == name), None)

    def lane(self, filter_name: str | None) -> tuple[Filter, ...]:
        """The conditions an event must meet to enter a feature with this filter."""
        flt = self.filter(filter_name) if filter_name else None
        conds = []
        if self.base is not None and (flt is None or flt.column != self.base.column):
            conds.append(self.base)
        if flt is not None:
            conds.append(flt)
        return tuple(conds)


def _auth_filters() -> tuple[Filter, ...]:
    out = [
        Filter(name="online", column="channel", values=("online_cnp", "wallet", "qr"),
               doc="online, wallet or QR payments"),
        Filter(name="night", column="night", values=(True,), doc="at night (00:00-06:00 local)"),
        Filter(name="cross_border", column="cross_border", values=(True,), doc="cross-border"),
        Filter(name="approved", column="approved", values=(True,), doc="approved"),
        Filter(name="declined", column="approved", values=(False,), doc="declined"),
        Filter(name="returns", column="message_type", values=("reversal", "refund"),
               doc="reversals and refunds"),
    ]
    out += [Filter(name=c, column="channel", values=(c,), doc=f"channel {c}")
            for c in schema.CHANNELS]
    out += [Filter(name=f"cat_{g}", column="category", values=(g,), doc=f"category {g}")
            for g in vocab.CATEGORY_GROUPS]
    out += [Filter(name=f"band_{b}", column="amount_band", values=(b,), doc=f"amount band {b}")
            for b, _, _ in vocab.AMOUNT_BANDS]
    return tuple(out)


AUTHORIZATIONS = Source(
    name="authorizations", tag="", time_column="ts", noun="purchase",
    entities=tuple(ENTITIES),
    columns=(ValueColumn(name="amount_fen", short="amount", doc="purchase amount (fen)"),),
    distinct_columns=("merchant_id", "terminal_id", "mcc", "city", "device_id", "channel",
                      "card_token", "customer_id"),
    filters=_auth_filters(),
    base=Filter(name="purchase", column="message_type", values=("purchase",), doc="purchases"),
)
REPAYMENTS = Source(
    name="repayments", tag="repayment", time_column="ts", noun="repayment",
    entities=("card", "customer"),
    columns=(ValueColumn(name="amount_fen", short="amount", doc="repayment amount (fen)"),),
    distinct_columns=("channel",),
    filters=(
        Filter(name="third_party", column="channel", values=("third_party_app",),
               doc="through a third-party app"),
        Filter(name="other_payer", column="payer_is_cardholder", values=(False,),
               doc="paid from someone else's account"),
        Filter(name="auto_debit", column="channel", values=("auto_debit",), doc="by auto-debit"),
    ),
)
STATEMENTS = Source(
    name="statements", tag="statement", time_column="statement_date", noun="statement",
    entities=("card", "customer"),
    columns=(
        ValueColumn(name="utilisation", short="utilisation", integer=False,
                    numerator="new_balance_fen", denominator="credit_limit_fen",
                    doc="utilisation (new balance / credit limit)"),
        ValueColumn(name="repayment_ratio", short="repayment_ratio", integer=False,
                    numerator="repayments_fen", denominator="previous_balance_fen",
                    doc="repayment ratio (repayments / previous balance)"),
        ValueColumn(name="new_balance_fen", short="new_balance", doc="new balance (fen)"),
        ValueColumn(name="purchases_fen", short="purchases", doc="billed purchases (fen)"),
        ValueColumn(name="minimum_due_fen", short="minimum_due", doc="minimum due (fen)"),
        ValueColumn(name="interest_fen", short="interest", doc="interest (fen)"),
        ValueColumn(name="fees_fen", short="fees", doc="fees (fen)"),
        ValueColumn(name="installment_outstanding_fen", short="installment_outstanding",
                    doc="unbilled installment principal (fen)"),
        ValueColumn(name="days_past_due", short="days_past_due", doc="days past due"),
    ),
    filters=(Filter(name="past_due", column="past_due", values=(True,), doc="past due"),),
    # a statement is cut at the end of statement_date: known from the next local midnight
    available_after_us=86_400 * vocab.US_PER_SECOND,
)
INSTALLMENT_PLANS = Source(
    name="installment_plans", tag="installment", time_column="created_at", noun="installment plan",
    entities=("card", "customer"),
    columns=(
        ValueColumn(name="principal_fen", short="principal", doc="installment principal (fen)"),
        ValueColumn(name="periods", short="periods", doc="installment periods"),
        ValueColumn(name="fee_total_fen", short="fee", doc="installment fee (fen)"),
    ),
    filters=(
        Filter(name="statement_plan", column="kind", values=("statement",), doc="bill installments"),
        Filter(name="purchase_plan", column="kind", values=("purchase",), doc="purchase installments"),
        Filter(name="offered", column="offered", values=(True,), doc="after an offer"),
    ),
)
SOURCES: dict[str, Source] = {
    s.name: s for s in (AUTHORIZATIONS, REPAYMENTS, STATEMENTS, INSTALLMENT_PLANS)
}

AGGREGATIONS = ("count", "sum", "mean", "min", "max", "std", "distinct_count", "last",
                "time_since_last", "share")
_VALUE_AGGS = {"sum", "mean", "min", "max", "std", "last"}
_AGG_TEXT = {
    "count": "Number of {noun}s", "sum": "Sum of {col}", "mean": "Mean of {col}",
    "min": "Minimum of {col}", "max": "Maximum of {col}",
    "std": "Sample standard deviation of {col}", "distinct_count": "Distinct {col} among {noun}s",
    "last": "{col} of the latest {noun}", "time_since_last": "Seconds since the latest {noun}",
    "share": "Share of {noun}s that are {flt}",
}

# --- definitions --------------------------------------------------------------------------------


class Definition:
    """Common behaviour of every feature definition."""

    kind: ClassVar[str]
    entity: str

    @property
    def name(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def inputs(self) -> tuple[str, ...]:
        """Names of other features this one is computed from."""
        return ()

    @property
    def tables(self) -> tuple[str, ...]:
        """Source tables this feature reads (besides the request itself)."""
        return ()

    @property
    def request_columns(self) -> tuple[str, ...]:
        """Columns of the request (the authorization being decided) this feature reads."""
        return ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):  # type: ignore[arg-type]
            if f.init:
                out[f.name] = getattr(self, f.name)
        out["name"] = self.name
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Definition:
        data = dict(data)
        kind = data.pop("kind", getattr(cls, "kind", None))
        data.pop("name", None)
        klass = _KINDS.get(kind)  # type: ignore[arg-type]
        if klass is None:
            raise ValueError(f"unknown feature kind {kind!r}; known: {', '.join(_KINDS)}")
        if "inputs" in data:
            data["inputs"] = tuple(data["inputs"])
        return klass(**data)


def _bad(label: str, message: str) -> ValueError:
    return ValueError(f"feature {label}: {message}")


@dataclass(frozen=True, kw_only=True)
class WindowFeature(Definition):
    """An aggregate of an entity's events over a sliding window before the decision."""

    kind: ClassVar[str] = "window"
    entity: str
    aggregation: str
    window: str
    source: str = "authorizations"
    column: str | None = None
    filter: str | None = None

    def __post_init__(self) -> None:
        label = "/".join(str(p) for p in (self.entity, self.source, self.aggregation,
                                          self.column, self.window, self.filter) if p)
        if self.entity not in ENTITIES:
            raise _bad(label, f"unknown entity {self.entity!r}; known: {', '.join(ENTITIES)}")
        src = SOURCES.get(self.source)
        if src is None:
            raise _bad(label, f"unknown source {self.source!r}; known: {', '.join(SOURCES)}")
        if self.entity not in src.entities:
            raise _bad(label, f"source {self.source} has no entity {self.entity!r}")
        if self.aggregation not in AGGREGATIONS:
            raise _bad(label, f"unknown aggregation {self.aggregation!r}; known: "
                              f"{', '.join(AGGREGATIONS)}")
        try:
            vocab.parse_window(self.window)
        except ValueError as exc:
            raise _bad(label, str(exc)) from None
        if self.aggregation in _VALUE_AGGS:
            col = src.column(self.column) if self.column else None
            if col is None:
                raise _bad(label, f"{self.aggregation} needs a value column of {self.source}; "
                                  f"got {self.column!r}; known: "
                                  f"{', '.join(c.name for c in src.columns)}")
            if self.aggregation == "std" and not col.integer:
                raise _bad(label, "std is only defined on integer columns (exact moments)")
        elif self.aggregation == "distinct_count":
            if self.column not in src.distinct_columns:
                raise _bad(label, f"distinct_count needs a column of {self.source} among "
                                  f"{', '.join(src.distinct_columns)}; got {self.column!r}")
        elif self.column is not None:
            raise _bad(label, f"{self.aggregation} takes no column; got {self.column!r}")
        if self.filter is not None and src.filter(self.filter) is None:
            raise _bad(label, f"unknown filter {self.filter!r} for {self.source}; known: "
                              f"{', '.join(f.name for f in src.filters)}")
        if self.aggregation == "share" and self.filter is None:
            raise _bad(label, "share needs a filter (the share of events matching it)")

    @property
    def window_us(self) -> int:
        return vocab.parse_window(self.window)

    @property
    def source_spec(self) -> Source:
        return SOURCES[self.source]

    @property
    def name(self) -> str:
        src = self.source_spec
        parts = [self.entity]
        if src.tag:
            parts.append(src.tag)
        if self.aggregation == "distinct_count":
            parts += [self.column.removesuffix("_id"), "distinct"]  # type: ignore[union-attr]
        elif self.aggregation in _VALUE_AGGS:
            parts += [src.column(self.column).short, self.aggregation]  # type: ignore[union-attr]
        else:
            parts.append(self.aggregation)
        parts.append(self.window)
        if self.filter:
            parts.append(self.filter)
        return "_".join(parts)

    @property
    def description(self) -> str:
        src = self.source_spec
        col = src.column(self.column) if self.aggregation in _VALUE_AGGS else None
        flt = src.filter(self.filter) if self.filter else None
        text = _AGG_TEXT[self.aggregation].format(
            noun=src.noun, col=col.doc if col else (self.column or ""),
            flt=flt.doc if flt else "")
        text = text[0].upper() + text[1:]
        where = f", {flt.doc}," if flt and self.aggregation != "share" else ""
        return (f"{text} of the {ENTITIES[self.entity].doc.removeprefix('the ')}{where} "
                f"in the {self.window} before the decision.")

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.source,)

    @property
    def request_columns(self) -> tuple[str, ...]:
        return ENTITIES[self.entity].keys


REQUEST_KINDS: dict[str, str] = {
    "amount": "Amount of the authorization being decided (fen).",
    "hour": "Local hour (Asia/Shanghai) of the authorization.",
    "is_night": "1 when the authorization is at night (00:00-06:00 local).",
    "is_online": "1 when the authorization is an online, wallet or QR payment.",
    "is_cross_border": "1 when the merchant is foreign.",
    **{f"channel_{c}": f"1 when the channel is {c}." for c in schema.CHANNELS},
    **{f"category_{g}": f"1 when the merchant category group is {g}."
       for g in vocab.CATEGORY_GROUPS},
    **{f"band_{b}": f"1 when the amount is in band {b}." for b, _, _ in vocab.AMOUNT_BANDS},
}
_REQUEST_COLUMNS = {"amount": ("amount_fen",), "hour": ("ts",), "is_night": ("ts",),
                    "is_online": ("channel",), "is_cross_border": ("cross_border",)}


@dataclass(frozen=True, kw_only=True)
class RequestFeature(Definition):
    """A 'current event' feature computed from the authorization being decided."""

    kind: ClassVar[str] = "request"
    what: str
    entity: str = "request"

    def __post_init__(self) -> None:
        if self.what not in REQUEST_KINDS:
            raise _bad(f"req_{self.what}", f"unknown request feature {self.what!r}; known: "
                                           f"{', '.join(REQUEST_KINDS)}")

    @property
    def name(self) -> str:
        return f"req_{self.what}"

    @property
    def description(self) -> str:
        return REQUEST_KINDS[self.what]

    @property
    def request_columns(self) -> tuple[str, ...]:
        if self.what in _REQUEST_COLUMNS:
            return _REQUEST_COLUMNS[self.what]
        head = self.what.split("_", 1)[0]
        return {"channel": ("channel",), "category": ("mcc",), "band": ("amount_fen",)}[head]


DERIVED_OPS = {
    "ratio": (2, "{0} / {1}", "Ratio {0} / {1} (null when the denominator is 0 or null)."),
    "zscore": (3, "{0}_z_{1}", "({0} - {1}) / {2}: how unusual the value is (null if std is 0)."),
    "is_zero": (1, "{0}_is_zero", "1 when {0} is 0 or null (never seen), else 0."),
}


@dataclass(frozen=True, kw_only=True)
class DerivedFeature(Definition):
    """Arithmetic over other features: ratio(a, b), zscore(x, mean, std), is_zero(a)."""

    kind: ClassVar[str] = "derived"
    op: str
    inputs: tuple[str, ...] = ()
    name_: str | None = None
    entity: str = "derived"

    def __post_init__(self) -> None:
        label = self.name_ or f"{self.op}({', '.join(self.inputs)})"
        if self.op not in DERIVED_OPS:
            raise _bad(label, f"unknown op {self.op!r}; known: {', '.join(DERIVED_OPS)}")
        arity = DERIVED_OPS[self.op][0]
        if len(self.inputs) != arity:
            raise _bad(label, f"{self.op} takes {arity} inputs, got {len(self.inputs)}")

    @property
    def name(self) -> str:
        if self.name_:
            return self.name_
        if self.op == "ratio":
            return f"{self.inputs[0]}_over_{self.inputs[1].removeprefix('req_')}"
        return DERIVED_OPS[self.op][1].format(*self.inputs)

    @property
    def description(self) -> str:
        return DERIVED_OPS[self.op][2].format(*self.inputs)


@dataclass(frozen=True, kw_only=True)
class LabelFeature(Definition):
    """Label-delayed fraud rate/count of a merchant or terminal.

    Counts the entity's purchases in ``[t - window, t)`` that carry a fraud label (``fraud`` or
    ``chargeback``, :data:`cardmind.schema.FRAUD_LABELS`) whose
    ``reported_at + delay <= t``: a label the issuer had not learned (or not yet loaded, with the
    feedback ``delay``) at decision time is not used. ``rate`` divides by all purchases in the window.
    """

    kind: ClassVar[str] = "label"
    entity: str
    window: str
    measure: str = "rate"
    delay: str | None = None

    def __post_init__(self) -> None:
        label = f"{self.entity}/fraud_{self.measure}/{self.window}"
        if self.entity not in ("merchant", "terminal", "device", "category"):
            raise _bad(label, f"label features exist for merchant, terminal, device and category, "
                              f"not {self.entity!r}")
        if self.measure not in ("rate", "count"):
            raise _bad(label, f"unknown measure {self.measure!r}; known: rate, count")
        try:
            vocab.parse_window(self.window)
            if self.delay is not None:
                vocab.parse_window(self.delay)
        except ValueError as exc:
            raise _bad(label, str(exc)) from None

    @property
    def window_us(self) -> int:
        return vocab.parse_window(self.window)

    @property
    def delay_us(self) -> int:
        return vocab.parse_window(self.delay) if self.delay else 0

    @property
    def name(self) -> str:
        base = f"{self.entity}_fraud_{self.measure}_{self.window}"
        return f"{base}_delay{self.delay}" if self.delay else base

    @property
    def description(self) -> str:
        what = "Share" if self.measure == "rate" else "Number"
        lag = f" at least {self.delay} before the decision" if self.delay else " by the decision"
        return (f"{what} of the {self.entity}'s purchases in the {self.window} before the decision "
                f"with a fraud label reported{lag}.")

    @property
    def inputs(self) -> tuple[str, ...]:
        return (f"{self.entity}_count_{self.window}",) if self.measure == "rate" else ()

    @property
    def tables(self) -> tuple[str, ...]:
        return ("authorizations", "fraud_labels")

    @property
    def request_columns(self) -> tuple[str, ...]:
        return ENTITIES[self.entity].keys


REPAYMENT_MEASURES = {
    "time_to_next_purchase": "Seconds from the latest repayment to the first approved purchase "
                             "after it",
    "spend_since": "Approved purchase amount (fen) since the latest repayment",
    "count_since": "Number of approved purchases since the latest repayment",
    "spend_ratio": "Approved purchase amount since the latest repayment / that repayment's amount",
}


@dataclass(frozen=True, kw_only=True)
class RepaymentFeature(Definition):
    """Spending after the latest repayment (the 代还/cash-out pattern), over a lookback window.

    The latest repayment ``r`` is the one with the greatest ``(ts, amount)`` in
    ``[t - lookback, t)``; purchases count when approved with ``ts`` in ``[r.ts, t)``.
    Null when there is no repayment in the lookback.
    """

    kind: ClassVar[str] = "repayment"
    entity: str
    measure: str
    lookback: str

    def __post_init__(self) -> None:
        label = f"{self.entity}/repayment/{self.measure}/{self.lookback}"
        if self.entity not in ("card", "customer"):
            raise _bad(label, f"repayment features exist for card and customer, not {self.entity!r}")
        if self.measure not in REPAYMENT_MEASURES:
            raise _bad(label, f"unknown measure {self.measure!r}; known: "
                              f"{', '.join(REPAYMENT_MEASURES)}")
        try:
            vocab.parse_window(self.lookback)
        except ValueError as exc:
            raise _bad(label, str(exc)) from None

    @property
    def lookback_us(self) -> int:
        return vocab.parse_window(self.lookback)

    @property
    def name(self) -> str:
        return f"{self.entity}_repayment_{self.measure}_{self.lookback}"

    @property
    def description(self) -> str:
        return (f"{REPAYMENT_MEASURES[self.measure]}, for the {self.entity}'s latest repayment in "
                f"the {self.lookback} before the decision.")

    @property
    def tables(self) -> tuple[str, ...]:
        return ("authorizations", "repayments")

    @property
    def request_columns(self) -> tuple[str, ...]:
        return ENTITIES[self.entity].keys


_KINDS: dict[str, type[Definition]] = {
    k.kind: k for k in (WindowFeature, RequestFeature, DerivedFeature, LabelFeature,
                        RepaymentFeature)
}

# --- catalog and services ----------------------------------------------------------------------


@dataclass
class Catalog:
    """An ordered, name-unique collection of feature definitions.

    >>> c = Catalog([WindowFeature(entity="card", aggregation="count", window="1h")])
    >>> c.names(), len(c), "card_count_1h" in c
    (['card_count_1h'], 1, True)
    >>> Catalog([*c, *c])
    Traceback (most recent call last):
    ...
    ValueError: feature card_count_1h: duplicate name in catalog
    """

    definitions: Iterable[Definition] = ()
    notices: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        index: dict[str, Definition] = {}
        for d in self.definitions:
            if not isinstance(d, Definition):
                raise TypeError(f"not a feature definition: {d!r}")
            if d.name in index:
                raise ValueError(f"feature {d.name}: duplicate name in catalog")
            index[d.name] = d
        self._index = index
        self.definitions = tuple(index.values())

    def __iter__(self) -> Iterator[Definition]:
        return iter(self.definitions)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def names(self) -> list[str]:
        return list(self._index)

    def get(self, name: str) -> Definition:
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"unknown feature {name!r}") from None

    def select(self, names: Iterable[str]) -> Catalog:
        """The named features, in the given order (``KeyError`` naming an unknown one)."""
        return Catalog([self.get(n) for n in names])

    def closure(self) -> Catalog:
        """This catalog plus every feature a derived/label feature needs (dependencies first)."""
        return Catalog(self._closure_defs())

    def _closure_defs(self) -> list[Definition]:
        from cardmind.features.catalog import resolve  # default-catalog lookups for inputs

        seen: dict[str, Definition] = {}

        def visit(d: Definition) -> None:
            if d.name in seen:
                return
            for n in d.inputs:
                visit(self._index[n] if n in self._index else resolve(n))
            seen[d.name] = d

        for d in self:
            visit(d)
        return list(seen.values())

    def filter(self, keep: Callable[[Definition], bool]) -> Catalog:
        return Catalog([d for d in self if keep(d)])

    def for_dataset(self, dataset: Any) -> Catalog:
        """Drop features whose source tables or columns the dataset lacks; ``.notices`` says why."""
        present: dict[str, set[str]] = {}
        for t in dataset.tables():
            if hasattr(dataset, "columns_present"):  # columns that hold data (imports)
                present[t] = set(dataset.columns_present(t))
            else:
                present[t] = set(dataset.read(t).schema.names)
        kept: list[Definition] = []
        notices: list[str] = []
        dropped: set[str] = set()
        for d in self._closure_defs():
            reason = _missing(d, present)
            if reason is None and any(n in dropped for n in d.inputs):
                reason = "an input feature was dropped"
            if reason:
                dropped.add(d.name)
                if d.name in self._index:
                    notices.append(f"{d.name}: dropped, {reason}")
            elif d.name in self._index:
                kept.append(d)
        out = Catalog(kept)
        out.notices = notices
        return out

    def to_json_list(self) -> list[dict[str, Any]]:
        return [d.to_dict() for d in self]


def _missing(d: Definition, present: dict[str, set[str]]) -> str | None:
    for table in d.tables:
        if table not in present:
            return f"table {table} is absent"
    if isinstance(d, WindowFeature):
        src = d.source_spec
        need = set(ENTITIES[d.entity].keys) - {"category"}
        if d.column and src.column(d.column):
            need |= set(src.column(d.column).needs)  # type: ignore[union-attr]
        elif d.column:
            need.add(d.column)
        for flt in src.lane(d.filter):
            if flt.column not in ("category", "amount_band", "night", "past_due"):
                need.add(flt.column)
        missing = sorted(need - present[d.source])
        if missing:
            return f"{d.source} lacks columns {missing}"
    if "authorizations" in present:  # the request being decided is an authorization
        need = {"mcc" if c == "category" else c for c in d.request_columns}
        missing = sorted(need - present["authorizations"])
        if missing:
            return f"authorizations lacks request columns {missing}"
    return None


@dataclass(frozen=True, kw_only=True)
class FeatureService:
    """The named subset of features a model uses; saved with the model as JSON.

    >>> s = FeatureService(name="fraud_v1", features=["card_count_1h", "req_amount"])
    >>> FeatureService.from_dict(s.to_dict()) == s
    True
    >>> FeatureService(name="x", features=["a", "a"])
    Traceback (most recent call last):
    ...
    ValueError: feature service x: duplicate feature 'a'
    """

    name: str
    features: tuple[str, ...] | list[str]
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("feature service: name must not be empty")
        feats = tuple(self.features)
        seen: set[str] = set()
        for f in feats:
            if f in seen:
                raise ValueError(f"feature service {self.name}: duplicate feature {f!r}")
            seen.add(f)
        object.__setattr__(self, "features", feats)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "features": list(self.features),
                "description": self.description}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureService:
        return cls(name=data["name"], features=list(data["features"]),
                   description=data.get("description", ""))

    def catalog(self, catalog: Catalog | None = None) -> Catalog:
        """The service's features from ``catalog`` (default: the default catalog)."""
        from cardmind.features.catalog import resolve

        if catalog is None:
            return Catalog([resolve(n) for n in self.features])
        return Catalog([catalog.get(n) if n in catalog else resolve(n) for n in self.features])
