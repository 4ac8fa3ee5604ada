"""The column-mapping file: which source file feeds which table, and how each column is read.

A mapping is YAML (see ``docs/adr`` and the examples in ``cardmind/ingest/mappings/``)::

    version: 1
    timezone: Asia/Shanghai            # zone of naive timestamps (default: CARDMIND_TIMEZONE)
    tables:
      authorizations:
        source: transactions.csv       # one path or a list, relative to the mapping file
        card_number: card_no           # tokenised into card_token (+ pan_last4); raw value dropped
        drop_columns: [cvv2]           # never read; required for any CVV/PIN-like column
                                       # (a top-level drop_columns applies to every table)
        columns:
          auth_id: txn_id              # shorthand for {from: txn_id}
          ts: {from: txn_time, format: "%Y/%m/%d %H:%M:%S", timezone: UTC}
          amount_fen: {from: amount, unit: yuan}
          message_type: {constant: purchase}

Bad mappings raise :class:`~cardmind.errors.InvalidInput` naming the file and the key.

>>> m = Mapping.from_dict({"tables": {"fraud_labels": {"source": "t.csv", "columns": {
...     "auth_id": "id", "label": {"from": "y", "values": {"1": "fraud", "0": "genuine"}}}}}},
...     base_dir=Path("/data"))
>>> t = m.tables["fraud_labels"]
>>> str(t.sources[0]), t.column("label").source, t.column("label").values["1"]
('/data/t.csv', 'y', 'fraud')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from cardmind import schema
from cardmind.errors import InvalidInput
from cardmind.settings import get_settings
from cardmind.units import TIMEZONE_NAME

FORMATS = ("csv", "parquet")
UNITS = ("yuan", "fen")
GENERATORS = ("row",)
EXTRA_POLICIES = ("drop", "keep")


class _Loader(yaml.SafeLoader):
    """YAML with the 1.2 core scalars: ``yes``/``no``/``on``/``off`` stay text, ``0200`` and
    ``10:30`` stay text (YAML 1.1 would read them as True, octal 128 and 630), so code values
    such as ``{yes: true, "0200": purchase}`` mean what they say."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, rx) for tag, rx in resolvers if tag.rsplit(":", 1)[-1] not in ("bool", "int", "float")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^[-+]?(?:(?:0|[1-9][0-9]*)\.[0-9]*(?:[eE][-+]?[0-9]+)?|(?:0|[1-9][0-9]*)[eE][-+]?[0-9]+)$"
    ),
    list("-+0123456789"),
)


def _check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def parse_delay(text: str) -> timedelta:
    """``"7d"``, ``"36h"`` or ``"90m"`` as a duration (ValueError otherwise).

    >>> parse_delay("7d"), parse_delay("36h")
    (datetime.timedelta(days=7), datetime.timedelta(days=1, seconds=43200))
    """
    m = re.fullmatch(r"\s*(\d+)\s*([dhm])\s*", str(text))
    if not m:
        raise ValueError(f"a delay looks like 7d, 36h or 90m, got {text!r}")
    unit = {"d": "days", "h": "hours", "m": "minutes"}[m.group(2)]
    return timedelta(**{unit: int(m.group(1))})


def _value_text(value: Any) -> str:
    """A YAML scalar as the text a CSV cell would hold (``true`` -> ``"true"``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


@dataclass(frozen=True, kw_only=True)
class ColumnSpec:
    """How one target column is filled: from a source column, a constant, or generated.

    >>> ColumnSpec(target="amount_fen", source="amt", unit="yuan").unit
    'yuan'
    >>> ColumnSpec(target="x", source="a", constant="b")
    Traceback (most recent call last):
    ...
    ValueError: give exactly one of from, constant, generate
    """

    target: str
    source: str | None = None
    constant: str | None = None
    generate: str | None = None
    format: str | None = None
    timezone: str | None = None
    unit: str | None = None
    values: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.source, self.constant, self.generate)) != 1:
            raise ValueError("give exactly one of from, constant, generate")
        if self.target.endswith("_fen") and self.source is not None and self.unit is None:
            raise ValueError(f"say the unit of {self.source!r} (unit: yuan or fen)")
        if self.unit is not None and self.unit not in UNITS:
            raise ValueError(f"unit must be one of {UNITS}, got {self.unit!r}")
        if self.generate is not None and self.generate not in GENERATORS:
            raise ValueError(f"generate must be one of {GENERATORS}, got {self.generate!r}")
        if self.timezone is not None:
            _check_timezone(self.timezone)


@dataclass(frozen=True, kw_only=True)
class OutcomeSpec:
    """The observed outcome of applications, written to ``application_outcomes``."""

    source: str
    values: dict[str, str] = field(default_factory=dict)
    observed_at: ColumnSpec | None = None


@dataclass(frozen=True, kw_only=True)
class TableMapping:
    """Everything needed to load one target table."""

    table: str
    sources: tuple[Path, ...]
    columns: tuple[ColumnSpec, ...] = ()
    format: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    card_number: str | None = None
    drop_columns: tuple[str, ...] = ()
    extra_columns: str = "drop"
    protected: tuple[str, ...] = ()
    outcome: OutcomeSpec | None = None
    pan_scan_exclude: tuple[str, ...] = ()
    label_delay: str | None = None

    def __post_init__(self) -> None:
        if self.table not in schema.TABLES:
            raise ValueError(f"unknown table {self.table!r}")
        spec = schema.TABLES[self.table]
        if spec.truth:
            raise ValueError(f"{self.table} holds simulator ground truth and cannot be imported")
        if not self.sources:
            raise ValueError("no source file")
        if self.format is not None and self.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {self.format!r}")
        if len(self.delimiter) != 1:
            raise ValueError(f"delimiter must be one character, got {self.delimiter!r}")
        if self.extra_columns not in EXTRA_POLICIES:
            raise ValueError(f"extra_columns must be one of {EXTRA_POLICIES}")
        targets = [c.target for c in self.columns]
        unknown = [t for t in targets if t not in spec.column_names]
        if unknown:
            raise ValueError(f"columns {unknown} are not in table {self.table}")
        if len(set(targets)) != len(targets):
            raise ValueError("a target column is mapped twice")
        if self.card_number is not None:
            if "card_token" not in spec.column_names:
                raise ValueError(f"card_number: table {self.table} has no card_token")
            if {"card_token", "pan_last4"} & set(targets):
                raise ValueError("card_number already fills card_token/pan_last4: map neither")
        for c in self.columns:
            if c.source is not None and c.source in self.drop_columns:
                raise ValueError(f"column {c.source!r} is both mapped and in drop_columns")
        if self.outcome is not None and self.table != "applications":
            raise ValueError("outcome is only supported for applications")
        if self.label_delay is not None:
            if self.table != "fraud_labels":
                raise ValueError("label_delay is only for fraud_labels")
            parse_delay(self.label_delay)

    def column(self, target: str) -> ColumnSpec | None:
        """The spec filling ``target``, or None when unmapped."""
        return next((c for c in self.columns if c.target == target), None)

    def used_sources(self) -> list[str]:
        """Source columns this mapping reads (mapped, card number, outcome), in order."""
        names = [c.source for c in self.columns if c.source is not None]
        if self.card_number:
            names.append(self.card_number)
        if self.outcome is not None:
            names.append(self.outcome.source)
            if self.outcome.observed_at is not None and self.outcome.observed_at.source:
                names.append(self.outcome.observed_at.source)
        return list(dict.fromkeys(names))

    def file_format(self, path: Path) -> str:
        if self.format:
            return self.format
        suffix = path.suffix.lower()
        if suffix in (".parquet", ".pq"):
            return "parquet"
        if suffix in (".csv", ".txt", ".tsv"):
            return "csv"
        raise InvalidInput(f"{path}: cannot tell the format from the name; set format: csv|parquet")


@dataclass(frozen=True, kw_only=True)
class Mapping:
    """A parsed mapping file: one :class:`TableMapping` per target table."""

    tables: dict[str, TableMapping]
    timezone: str = TIMEZONE_NAME
    path: Path | None = None

    def __post_init__(self) -> None:
        _check_timezone(self.timezone)
        if not self.tables:
            raise ValueError("no tables")

    @classmethod
    def load(cls, path: str | Path) -> Mapping:
        """Read and validate a YAML mapping file."""
        path = Path(path)
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # a SafeLoader
        except OSError as exc:
            raise InvalidInput(f"{path}: cannot read mapping ({exc.strerror})") from exc
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
        return cls.from_dict(data, base_dir=path.resolve().parent, where=str(path), path=path)

    @classmethod
    def from_dict(
        cls, data: Any, *, base_dir: Path, where: str = "mapping", path: Path | None = None
    ) -> Mapping:
        """Build from the parsed YAML; every problem raises ``InvalidInput`` naming the key."""
        top = _expect_dict(data, where)
        _no_unknown(top, {"version", "timezone", "drop_columns", "tables"}, where)
        if top.get("version", 1) != 1:
            raise InvalidInput(f"{where}: version must be 1, got {top.get('version')!r}")
        tz = str(top.get("timezone") or get_settings().timezone)
        # drop_columns at the top applies to every table (a CVV column in a shared file).
        dropped = _str_list(top.get("drop_columns"), f"{where}: drop_columns")
        tables = {}
        for name, body in _expect_dict(top.get("tables"), f"{where}: tables").items():
            tables[str(name)] = _table(
                str(name), body, base_dir, f"{where}: tables.{name}", dropped
            )
        try:
            return cls(tables=tables, timezone=tz, path=path)
        except ValueError as exc:
            raise InvalidInput(f"{where}: {exc}") from None

    def override_sources(self, overrides: dict[str, list[Path]]) -> Mapping:
        """A copy with the sources of some tables replaced (``--source table=path``)."""
        unknown = sorted(set(overrides) - set(self.tables))
        if unknown:
            raise InvalidInput(f"--source: tables {unknown} are not in the mapping")
        tables = dict(self.tables)
        for name, paths in overrides.items():
            t = tables[name]
            tables[name] = TableMapping(**{**_fields(t), "sources": tuple(paths)})
        return Mapping(tables=tables, timezone=self.timezone, path=self.path)


def _fields(obj: Any) -> dict[str, Any]:
    return {k: getattr(obj, k) for k in obj.__dataclass_fields__}


def _expect_dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{where}: expected a mapping of keys to values")
    return value


def _no_unknown(d: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(map(str, d)) - allowed)
    if unknown:
        raise InvalidInput(f"{where}: unknown keys {unknown}; allowed: {sorted(allowed)}")


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        return tuple(str(v) for v in value)
    raise InvalidInput(f"{where}: expected a name or a list of names")


_COLUMN_KEYS = {"from", "constant", "generate", "format", "timezone", "unit", "values"}


def _column(target: str, body: Any, where: str) -> ColumnSpec:
    if isinstance(body, str):
        body = {"from": body}
    body = _expect_dict(body, where)
    _no_unknown(body, _COLUMN_KEYS, where)
    values = _expect_dict(body.get("values") or {}, f"{where}.values")
    try:
        return ColumnSpec(
            target=target,
            source=None if body.get("from") is None else str(body["from"]),
            constant=None if "constant" not in body else _value_text(body["constant"]),
            generate=body.get("generate"),
            format=body.get("format"),
            timezone=body.get("timezone"),
            unit=body.get("unit"),
            values={_value_text(k): _value_text(v) for k, v in values.items()},
        )
    except ValueError as exc:
        raise InvalidInput(f"{where}: {exc}") from None


_TABLE_KEYS = {
    "source",
    "format",
    "delimiter",
    "encoding",
    "columns",
    "card_number",
    "drop_columns",
    "extra_columns",
    "protected",
    "outcome",
    "pan_scan_exclude",
    "label_delay",
}


def _table(
    name: str, body: Any, base_dir: Path, where: str, dropped: tuple[str, ...] = ()
) -> TableMapping:
    body = _expect_dict(body, where)
    _no_unknown(body, _TABLE_KEYS, where)
    sources = tuple(base_dir / p for p in _str_list(body.get("source"), f"{where}.source"))
    cols = _expect_dict(body.get("columns") or {}, f"{where}.columns")
    columns = tuple(_column(str(k), v, f"{where}.columns.{k}") for k, v in cols.items())
    outcome = None
    if body.get("outcome") is not None:
        o = _expect_dict(body["outcome"], f"{where}.outcome")
        _no_unknown(o, {"from", "values", "observed_at"}, f"{where}.outcome")
        if not o.get("from"):
            raise InvalidInput(f"{where}.outcome: 'from' (the outcome column) is required")
        obs = o.get("observed_at")
        outcome = OutcomeSpec(
            source=str(o["from"]),
            values={
                _value_text(k): _value_text(v)
                for k, v in _expect_dict(o.get("values") or {}, f"{where}.outcome.values").items()
            },
            observed_at=None
            if obs is None
            else _column("observed_at", obs, f"{where}.outcome.observed_at"),
        )
    try:
        return TableMapping(
            table=name,
            sources=sources,
            columns=columns,
            format=body.get("format"),
            delimiter=str(body.get("delimiter", ",")),
            encoding=str(body.get("encoding", "utf-8")),
            card_number=None if body.get("card_number") is None else str(body["card_number"]),
            drop_columns=tuple(
                dict.fromkeys(
                    dropped + _str_list(body.get("drop_columns"), f"{where}.drop_columns")
                )
            ),
            extra_columns=str(body.get("extra_columns", "drop")),
            protected=_str_list(body.get("protected"), f"{where}.protected"),
            outcome=outcome,
            pan_scan_exclude=_str_list(body.get("pan_scan_exclude"), f"{where}.pan_scan_exclude"),
            label_delay=None if body.get("label_delay") is None else str(body["label_delay"]),
        )
    except ValueError as exc:
        raise InvalidInput(f"{where}: {exc}") from None
