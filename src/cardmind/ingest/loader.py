"""The import itself: check every source against the mapping, then load table by table.

Order of work, so that a bad mapping or a forbidden column fails before anything is read:

1. *preflight*: every source file exists, its header has every mapped column, no CVV/PIN-like
   column is present unless listed under ``drop_columns``, constants parse, the table's minimum
   columns are mapped;
2. per table and file: read only the needed columns, parse each (vectorised), tokenise the card
   number, check vocabularies and amounts, look for card numbers in text; every problem becomes a
   quarantine record with file, line, column and reason;
3. per table: documented defaults for absent columns, duplicate keys (first kept), labels whose
   authorization was not loaded;
4. write through :class:`~cardmind.dataset.DatasetWriter`: all tables, the quarantine files and
   the report appear together or not at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cardmind import schema
from cardmind.dataset import DatasetWriter
from cardmind.errors import InvalidInput, SensitiveDataError
from cardmind.ingest import coerce
from cardmind.ingest.cards import find_pans, tokenize_column
from cardmind.ingest.mapping import ColumnSpec, Mapping, TableMapping
from cardmind.ingest.quarantine import Quarantine
from cardmind.ingest.sources import Source, read_header, read_source
from cardmind.privacy import is_sensitive_field_name
from cardmind.settings import get_settings

QUARANTINE_DIR = "_quarantine"
REPORT_FILE = "ingest_report.json"

VOCABULARIES: dict[tuple[str, str], tuple[str, ...]] = {
    ("authorizations", "channel"): schema.CHANNELS,
    ("authorizations", "message_type"): schema.MESSAGE_TYPES,
    ("cards", "product_tier"): schema.PRODUCT_TIERS,
    ("cards", "status"): schema.CARD_STATUSES,
    ("repayments", "channel"): schema.REPAYMENT_CHANNELS,
    ("installment_plans", "kind"): schema.INSTALLMENT_KINDS,
    ("customers", "acquisition_channel"): schema.ACQUISITION_CHANNELS,
    ("applications", "channel"): schema.ACQUISITION_CHANNELS,
    ("applications", "decision"): ("approved", "rejected"),
    ("fraud_labels", "label"): schema.LABEL_KINDS,
}

# Amounts that must be > 0 (the message type, not the sign, says refund or reversal).
POSITIVE_AMOUNTS = {
    ("authorizations", "amount_fen"),
    ("repayments", "amount_fen"),
    ("temp_credits", "amount_fen"),
}
# Money that may legitimately be negative (a credit balance); every other *_fen must be >= 0.
SIGNED_AMOUNTS = {("statements", "previous_balance_fen"), ("statements", "new_balance_fen")}

# Documented defaults for absent columns: constants, or another column of the same row.
CONSTANT_DEFAULTS: dict[tuple[str, str], Any] = {
    ("authorizations", "message_type"): "purchase",
    ("authorizations", "temp_credit_fen"): 0,
}
COLUMN_FALLBACKS: dict[str, list[tuple[str, str]]] = {
    # table: [(absent column, column copied into it)], applied in order
    "*": [("card_token", "customer_id"), ("customer_id", "card_token")],
    "authorizations": [("merchant_id", "terminal_id"), ("terminal_id", "merchant_id")],
}

# Identifiers generated (``<file stem>-<record number>``) when the bank's file has none.
GENERATED_IDS = {
    "applications": "application_id",
    "statements": "statement_id",
    "repayments": "repayment_id",
    "installment_plans": "plan_id",
    "temp_credits": "grant_id",
}

# Minimum columns per table: each entry is a set of alternatives, one of which must be filled.
ESSENTIALS: dict[str, list[tuple[str, ...]]] = {
    "authorizations": [
        ("auth_id",),
        ("ts",),
        ("amount_fen",),
        ("card_token", "customer_id"),
        ("merchant_id", "terminal_id"),
    ],
    "fraud_labels": [("auth_id",), ("label",)],
    "repayments": [("ts",), ("amount_fen",), ("card_token", "customer_id")],
    "statements": [("statement_date",), ("card_token", "customer_id")],
    "cards": [("card_token",)],
    "application_outcomes": [("application_id",), ("bad",)],
}


@dataclass
class TableReport:
    """Counts for one table (what the summary prints)."""

    table: str
    source_rows: int = 0
    loaded: int = 0
    rejected: int = 0
    issues: int = 0
    quarantine: str | None = None
    top_reasons: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def reject_rate(self) -> float:
        return self.rejected / self.source_rows if self.source_rows else 0.0


@dataclass
class IngestReport:
    """What an import did: per-table counts, present/absent columns, defaults, extras."""

    out: Path
    tables: dict[str, TableReport]
    columns_present: dict[str, list[str]]
    columns_absent: dict[str, list[str]]
    columns_defaulted: dict[str, dict[str, str]]
    extra_columns: dict[str, list[str]]
    protected_columns: dict[str, list[str]]

    @property
    def rejected(self) -> int:
        return sum(t.rejected for t in self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "tables": {
                name: {
                    "source_rows": t.source_rows,
                    "loaded": t.loaded,
                    "rejected": t.rejected,
                    "issues": t.issues,
                    "reject_rate": round(t.reject_rate, 6),
                    "quarantine": t.quarantine,
                    "top_reasons": [
                        {"column": c, "reason": r, "count": n} for c, r, n in t.top_reasons
                    ],
                }
                for name, t in self.tables.items()
            },
            "rejected_rows": self.rejected,
            "columns_present": self.columns_present,
            "columns_absent": self.columns_absent,
            "columns_defaulted": self.columns_defaulted,
            "extra_columns": self.extra_columns,
            "protected_columns": self.protected_columns,
        }


# --- preflight -----------------------------------------------------------------------------


def _where(tm: TableMapping) -> str:
    return f"tables.{tm.table}"


def preflight(mapping: Mapping) -> dict[tuple[str, Path], list[str]]:
    """Check every source against the mapping without reading data; return the headers."""
    headers: dict[tuple[str, Path], list[str]] = {}
    for tm in mapping.tables.values():
        spec = schema.TABLES[tm.table]
        filled = {c.target for c in tm.columns}
        if tm.card_number:
            filled |= {"card_token", "pan_last4"}
        if tm.table in GENERATED_IDS:
            filled.add(GENERATED_IDS[tm.table])  # generated from file and row when unmapped
        for alternatives in ESSENTIALS.get(tm.table, []):
            if not filled & set(alternatives):
                need = " or ".join(alternatives)
                raise InvalidInput(
                    f"mapping {_where(tm)}: must fill {need} (the minimum for {tm.table})"
                )
        for c in tm.columns:
            if c.constant is not None:
                _check_constant(tm, c)
        if tm.outcome is not None and "application_outcomes" in mapping.tables:
            raise InvalidInput(
                f"mapping {_where(tm)}.outcome: application_outcomes is also mapped; use one"
            )
        for path in tm.sources:
            fmt = tm.file_format(path)
            header = read_header(path, fmt=fmt, delimiter=tm.delimiter, encoding=tm.encoding)
            headers[(tm.table, path)] = header
            secret = [h for h in header if is_sensitive_field_name(h) and h not in tm.drop_columns]
            if secret:
                raise SensitiveDataError(
                    f"{path}: columns {secret} look like CVV/CVN2, PIN or password data, which "
                    f"cardmind refuses to import; remove them or list them under "
                    f"{_where(tm)}.drop_columns so they are never read "
                    "(拒绝导入卡片安全码、密码等敏感信息)"
                )
            missing = [(src, where) for src, where in _named_sources(tm) if src not in header]
            if missing:
                src, where = missing[0]
                raise InvalidInput(
                    f"{path}: column {src!r} named by {_where(tm)}.{where} is not in the file "
                    f"(columns: {', '.join(header)})"
                )
            if tm.extra_columns == "keep":
                clash = [h for h in _extras(tm, header) if h in spec.column_names]
                if clash:
                    raise InvalidInput(
                        f"{path}: extra columns {clash} have the names of {tm.table} columns; "
                        f"map them under {_where(tm)}.columns or list them under drop_columns"
                    )
            kept = set(_extras(tm, header)) if tm.extra_columns == "keep" else set()
            sources = {c.source for c in tm.columns if c.source}
            absent = [p for p in tm.protected if p not in kept and p not in sources]
            if absent:
                raise InvalidInput(
                    f"mapping {_where(tm)}.protected: {absent} are not imported from {path} "
                    "(map them or set extra_columns: keep)"
                )
    return headers


def _named_sources(tm: TableMapping) -> list[tuple[str, str]]:
    out = [(c.source, f"columns.{c.target}") for c in tm.columns if c.source is not None]
    if tm.card_number:
        out.append((tm.card_number, "card_number"))
    if tm.outcome is not None:
        out.append((tm.outcome.source, "outcome"))
        obs = tm.outcome.observed_at
        if obs is not None and obs.source:
            out.append((obs.source, "outcome.observed_at"))
    return out


def _extras(tm: TableMapping, header: list[str]) -> list[str]:
    used = set(tm.used_sources()) | set(tm.drop_columns)
    return [h for h in header if h not in used]


def _check_constant(tm: TableMapping, c: ColumnSpec) -> None:
    col = schema.TABLES[tm.table].column(c.target)
    unit = (c.unit or "fen") if c.target.endswith("_fen") else None
    try:
        parsed = coerce.parse_as(
            pa.array([c.constant], pa.string()), col.type, unit=unit, fmt=c.format
        )
    except ValueError as exc:
        raise InvalidInput(f"mapping {_where(tm)}.columns.{c.target}: {exc}") from None
    vocab = VOCABULARIES.get((tm.table, c.target))
    if parsed.bad.any() or (vocab and c.constant not in vocab):
        expected = f"one of {vocab}" if vocab else parsed.reason
        raise InvalidInput(
            f"mapping {_where(tm)}.columns.{c.target}: constant {c.constant!r} is not {expected}"
        )


# --- one file ------------------------------------------------------------------------------


@dataclass
class _FileResult:
    columns: dict[str, pa.Array]
    extras: dict[str, pa.Array]
    bad: np.ndarray
    file: str
    lines: np.ndarray


def _load_file(
    tm: TableMapping,
    src: Source,
    q: Quarantine,
    *,
    timezone: str,
    key: bytes,
    header: list[str],
) -> _FileResult:
    spec = schema.TABLES[tm.table]
    n = src.table.num_rows
    file = src.path.name
    lines = src.lines
    bad = np.zeros(n, bool)
    cols: dict[str, pa.Array] = {}
    text_targets: list[tuple[str, str]] = []  # (target, source) of text taken from the file

    for ln, reason in src.malformed:
        q.add(
            kind="malformed", file=file, lines=np.array([ln]), column="*", target="*", reason=reason
        )

    def reject(
        mask: np.ndarray,
        *,
        kind: str,
        column: str,
        target: str,
        reason: str | list[str],
        values: pa.Array | None = None,
        card_number: bool = False,
    ) -> None:
        idx = np.flatnonzero(mask)
        if len(idx) == 0:
            return
        shown = None if values is None else pc.take(values, pa.array(idx))
        q.add(
            kind=kind,
            file=file,
            lines=lines[idx],
            column=column,
            target=target,
            reason=reason,
            values=shown,
            card_number=card_number,
        )
        bad[idx] = True

    for c in tm.columns:
        col = spec.column(c.target)
        if c.constant is not None:
            unit = (c.unit or "fen") if c.target.endswith("_fen") else None
            one = coerce.parse_as(
                pa.array([c.constant], pa.string()),
                col.type,
                unit=unit,
                fmt=c.format,
                timezone=c.timezone or timezone,
            ).values
            cols[c.target] = pa.repeat(one[0], n) if n else pa.array([], one.type)
            continue
        if c.generate == "row":
            rows = pa.array(np.arange(1, n + 1)).cast(pa.string())
            cols[c.target] = pc.binary_join_element_wise(
                f"{src.path.stem}-", pc.utf8_lpad(rows, width=6, padding="0"), ""
            )
            continue
        assert c.source is not None
        raw = src.table.column(c.source).combine_chunks()
        if c.values:
            raw = coerce.map_values(coerce.clean_text(raw), c.values)
        parsed = coerce.parse_as(
            raw, col.type, unit=c.unit, fmt=c.format, timezone=c.timezone or timezone
        )
        reject(
            parsed.bad,
            kind="unparseable",
            column=c.source,
            target=c.target,
            reason=f"{c.target}: {parsed.reason}",
            values=raw,
        )
        values = parsed.values
        if not col.nullable:
            missing = (
                ~np.asarray(pc.is_valid(values).to_numpy(zero_copy_only=False), bool) & ~parsed.bad
            )
            reject(
                missing,
                kind="missing",
                column=c.source,
                target=c.target,
                reason=f"{c.target}: missing value (required)",
            )
        vocab = VOCABULARIES.get((tm.table, c.target))
        if vocab:
            outside = coerce._mask(pc.invert(pc.is_in(values, value_set=pa.array(vocab))))
            outside &= np.asarray(pc.is_valid(values).to_numpy(zero_copy_only=False), bool)
            reject(
                outside,
                kind="vocabulary",
                column=c.source,
                target=c.target,
                reason=f"{c.target}: not one of {', '.join(vocab)}"
                + (" (after the value mapping)" if c.values else ""),
                values=values,
            )
        if c.target.endswith("_fen") and (tm.table, c.target) not in SIGNED_AMOUNTS:
            positive = (tm.table, c.target) in POSITIVE_AMOUNTS
            low = pc.less_equal(values, 0) if positive else pc.less(values, 0)
            neg = coerce._mask(pc.less(values, 0))
            reject(
                neg,
                kind="negative",
                column=c.source,
                target=c.target,
                reason=f"{c.target}: negative amount (refunds and reversals are a "
                "message_type, never a sign)",
                values=raw,
            )
            zero = coerce._mask(low) & ~neg
            reject(
                zero,
                kind="negative",
                column=c.source,
                target=c.target,
                reason=f"{c.target}: amount must be > 0",
                values=raw,
            )
        if pa.types.is_string(col.type) and c.source not in tm.pan_scan_exclude:
            text_targets.append((c.target, c.source))
        cols[c.target] = values

    if tm.card_number:
        raw = src.table.column(tm.card_number).combine_chunks()
        tok = tokenize_column(raw, key=key)
        reject(
            tok.bad,
            kind="card_number",
            column=tm.card_number,
            target="card_token",
            reason="card_token: not a card number (13-19 digits passing the Luhn check)",
            values=raw,
            card_number=True,
        )
        missing = (
            ~np.asarray(pc.is_valid(tok.tokens).to_numpy(zero_copy_only=False), bool) & ~tok.bad
        )
        reject(
            missing,
            kind="missing",
            column=tm.card_number,
            target="card_token",
            reason="card_token: missing card number (required)",
        )
        cols["card_token"] = tok.tokens
        if "pan_last4" in spec.column_names:
            cols["pan_last4"] = tok.last4

    extras: dict[str, pa.Array] = {}
    if tm.extra_columns == "keep":
        for name in _extras(tm, header):
            extras[name] = coerce.infer_extra(src.table.column(name))
            if pa.types.is_string(extras[name].type) and name not in tm.pan_scan_exclude:
                text_targets.append((name, name))

    for target, source in text_targets:
        values = cols.get(target, extras.get(target))
        reject(
            find_pans(values),
            kind="pan_in_text",
            column=source,
            target=target,
            reason=f"{target}: holds what looks like a full card number, which cardmind "
            "never stores (tokenise it with card_number, or remove it)",
            values=values,
        )

    if tm.outcome is not None:
        o = tm.outcome
        raw = coerce.map_values(coerce.clean_text(src.table.column(o.source)), o.values)
        parsed = coerce.parse_bool(raw)
        reject(
            parsed.bad,
            kind="unparseable",
            column=o.source,
            target="application_outcomes.bad",
            reason=f"outcome: {parsed.reason}" + (" after the value mapping" if o.values else ""),
            values=raw,
        )
        cols["__outcome_bad"] = parsed.values
        if o.observed_at is not None and o.observed_at.source:
            obs_raw = src.table.column(o.observed_at.source)
            obs = coerce.parse_timestamp(
                obs_raw, fmt=o.observed_at.format, timezone=o.observed_at.timezone or timezone
            )
            reject(
                obs.bad,
                kind="unparseable",
                column=o.observed_at.source,
                target="application_outcomes.observed_at",
                reason=f"observed_at: {obs.reason}",
                values=obs_raw,
            )
            cols["__outcome_observed_at"] = obs.values
    return _FileResult(cols, extras, bad, file, lines)


class _SourceCache:
    """Reads each source file once, with the columns every table mapped to it needs."""

    def __init__(self, mapping: Mapping, headers: dict[tuple[str, Path], list[str]]) -> None:
        self._wanted: dict[tuple[Path, str, str, str], list[str]] = {}
        for tm in mapping.tables.values():
            for path in tm.sources:
                cols = _needed(tm, headers[(tm.table, path)])
                key = self._key(tm, path)
                self._wanted[key] = list(dict.fromkeys(self._wanted.get(key, []) + cols))
        self._cache: dict[tuple[Path, str, str, str], Source] = {}

    @staticmethod
    def _key(tm: TableMapping, path: Path) -> tuple[Path, str, str, str]:
        return (path.resolve(), tm.file_format(path), tm.delimiter, tm.encoding)

    def read(self, tm: TableMapping, path: Path, columns: list[str]) -> Source:
        key = self._key(tm, path)
        if key not in self._cache:
            self._cache[key] = read_source(
                path,
                fmt=key[1],
                columns=self._wanted[key],
                delimiter=tm.delimiter,
                encoding=tm.encoding,
            )
        src = self._cache[key]
        return Source(
            path=src.path, table=src.table.select(columns), lines=src.lines, malformed=src.malformed
        )


def _needed(tm: TableMapping, header: list[str]) -> list[str]:
    extra = _extras(tm, header) if tm.extra_columns == "keep" else []
    return list(dict.fromkeys(tm.used_sources() + extra))


# --- one table -----------------------------------------------------------------------------


@dataclass
class _Loaded:
    data: pa.Table  # schema columns present (+ extras), good rows only
    outcomes: pa.Table | None
    present: list[str]
    defaulted: dict[str, str]
    extras: list[str]


def _concat_good(results: list[_FileResult]) -> tuple[pa.Table, list[str]]:
    names = list(dict.fromkeys(k for r in results for k in r.columns))
    extra_names = list(dict.fromkeys(k for r in results for k in r.extras))
    parts = []
    for r in results:
        keep = pa.array(~r.bad)
        arrays = {k: r.columns[k] for k in names if k in r.columns}
        arrays.update({k: r.extras[k] for k in extra_names if k in r.extras})
        arrays["__file"] = pa.array([r.file] * len(r.bad), pa.string())
        arrays["__line"] = pa.array(r.lines, pa.int64())
        parts.append(pa.table(arrays).filter(keep))
    table = pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
    return table, extra_names


def _load_table(
    tm: TableMapping,
    mapping: Mapping,
    headers: dict[tuple[str, Path], list[str]],
    q: Quarantine,
    auth_cards: pa.Table | None,
    report: TableReport,
    reader: _SourceCache,
) -> _Loaded:
    spec = schema.TABLES[tm.table]
    key = get_settings().pan_key_bytes()
    pk = spec.primary_key
    generate_pk = tm.table in GENERATED_IDS and tm.column(pk[0]) is None
    cols = tm.columns + ((ColumnSpec(target=pk[0], generate="row"),) if generate_pk else ())
    tm_eff = TableMapping(
        **{**{k: getattr(tm, k) for k in tm.__dataclass_fields__}, "columns": cols}
    )
    results = []
    for path in tm.sources:
        header = headers[(tm.table, path)]
        needed = _needed(tm, header)
        src = reader.read(tm, path, needed)
        report.source_rows += src.table.num_rows + len(src.malformed)
        results.append(
            _load_file(tm_eff, src, q, timezone=mapping.timezone, key=key, header=header)
        )
    data, extra_names = _concat_good(results)
    defaulted: dict[str, str] = {}
    if generate_pk:
        defaulted[pk[0]] = "generated: <source file stem>-<record number, 6 digits>"

    # Documented defaults for absent columns.
    names = set(data.column_names)
    for absent, source in COLUMN_FALLBACKS["*"] + COLUMN_FALLBACKS.get(tm.table, []):
        if (
            absent in spec.column_names
            and source in spec.column_names
            and absent not in names
            and source in names
        ):
            data = data.append_column(absent, data.column(source))
            names.add(absent)
            defaulted[absent] = f"copied from {source}"
    for (table, col), value in CONSTANT_DEFAULTS.items():
        if table == tm.table and col not in names:
            data = data.append_column(
                col, pa.repeat(pa.scalar(value, spec.column(col).type), data.num_rows)
            )
            names.add(col)
            defaulted[col] = f"constant {value!r}"

    # Labels: the card comes from the authorization; labels of unloaded authorizations rejected.
    if tm.table == "fraud_labels" and auth_cards is not None:
        pos = pc.index_in(data.column("auth_id"), value_set=auth_cards.column("auth_id"))
        known = coerce._mask(pc.is_valid(pos))
        _reject_rows(
            data,
            ~known,
            q,
            kind="orphan",
            column="auth_id",
            target="auth_id",
            reason="auth_id: its authorization was not loaded (missing or rejected)",
        )
        if "card_token" not in names:
            card = pc.take(auth_cards.column("card_token"), pos)
            data = data.append_column("card_token", card)
            names.add("card_token")
            defaulted["card_token"] = "from the labelled authorization"
        data = data.filter(pa.array(known))

    # Duplicate keys: keep the first (file order, then line), quarantine the others.
    if all(k in names for k in pk) and data.num_rows:
        data = _drop_duplicates(data, pk, q)

    outcomes = None
    if "__outcome_bad" in names:
        o = pa.table(
            {
                "application_id": data.column(pk[0]),
                "bad": data.column("__outcome_bad"),
                "observed_at": data.column("__outcome_observed_at")
                if "__outcome_observed_at" in names
                else pa.nulls(data.num_rows, coerce.TARGET_TZ),
            }
        )
        outcomes = o.filter(pc.is_valid(o.column("bad")))
    present = [c for c in spec.column_names if c in names]
    data = data.select(present + [e for e in extra_names if e in names])
    return _Loaded(data, outcomes, present, defaulted, extra_names)


def _reject_rows(
    data: pa.Table,
    mask: np.ndarray,
    q: Quarantine,
    *,
    kind: str,
    column: str,
    target: str,
    reason: str | list[str],
) -> None:
    idx = np.flatnonzero(mask)
    if not len(idx):
        return
    sub = data.take(pa.array(idx))
    reasons = reason if isinstance(reason, list) else [reason] * len(idx)
    by_file: dict[str, list[int]] = {}
    for i, f in enumerate(sub.column("__file").to_pylist()):
        by_file.setdefault(f, []).append(i)
    for f, rows in by_file.items():
        part = sub.take(pa.array(rows))
        q.add(
            kind=kind,
            file=f,
            lines=part.column("__line").to_numpy(),
            column=column,
            target=target,
            reason=[reasons[i] for i in rows],
            values=part.column(target).combine_chunks() if target in sub.column_names else None,
        )


def _drop_duplicates(data: pa.Table, pk: tuple[str, ...], q: Quarantine) -> pa.Table:
    """Keep the first row of each key (file order, then line); quarantine the others."""
    if len(pk) == 1:
        keys = data.column(pk[0]).combine_chunks()
    else:
        keys = pc.binary_join_element_wise(*[data.column(k).cast(pa.string()) for k in pk], "+")
    codes = pc.dictionary_encode(keys).indices.to_numpy(zero_copy_only=False)
    _, first_pos = np.unique(codes, return_index=True)
    first = np.zeros(len(codes), bool)
    first[first_pos] = True
    if first.all():
        return data
    dup_idx = np.flatnonzero(~first)
    origin = first_pos[codes[dup_idx]]
    files = data.column("__file").take(pa.array(origin)).to_pylist()
    lines = data.column("__line").take(pa.array(origin)).to_pylist()
    values = keys.take(pa.array(dup_idx)).to_pylist()
    label = "+".join(pk)
    reasons = [
        f"{label}: duplicate {v!r}, first at {f} line {ln} (kept)"
        for v, f, ln in zip(values, files, lines, strict=True)
    ]
    _reject_rows(data, ~first, q, kind="duplicate", column=pk[0], target=pk[0], reason=reasons)
    return data.filter(pa.array(first))


# --- the whole import ----------------------------------------------------------------------


def ingest(
    mapping: Mapping,
    out: str | Path,
    *,
    max_reject_rate: float | None = None,
    quarantine_format: str = "csv",
    progress: Callable[[str], None] | None = None,
) -> IngestReport:
    """Import the tables of ``mapping`` into the dataset folder ``out`` (atomically).

    Rejected rows never stop the import (they go to ``out/_quarantine/<table>.csv``), unless a
    table's share of rejected rows exceeds ``max_reject_rate``: then nothing is written.
    """
    if quarantine_format not in ("csv", "parquet"):
        raise InvalidInput(f"quarantine format must be csv or parquet, got {quarantine_format!r}")
    if max_reject_rate is not None and not 0 <= max_reject_rate <= 1:
        raise InvalidInput(f"--max-reject-rate must be between 0 and 1, got {max_reject_rate}")
    headers = preflight(mapping)
    say = progress or (lambda _msg: None)
    order = [t for t in schema.TABLES if t in mapping.tables]
    reports: dict[str, TableReport] = {}
    present: dict[str, list[str]] = {}
    absent: dict[str, list[str]] = {}
    defaulted: dict[str, dict[str, str]] = {}
    extras: dict[str, list[str]] = {}
    protected: dict[str, list[str]] = {}
    manifest: dict[str, Any] = {
        "source": "ingest",
        "mapping": str(mapping.path) if mapping.path else None,
        "mapping_sha256": hashlib.sha256(mapping.path.read_bytes()).hexdigest()
        if mapping.path and mapping.path.is_file()
        else None,
        "timezone_naive": mapping.timezone,
    }
    out = Path(out)
    with DatasetWriter(out, manifest=manifest) as writer:
        auth_cards = None
        reader = _SourceCache(mapping, headers)
        for name in order:
            tm = mapping.tables[name]
            say(f"loading {name}")
            q = Quarantine(name)
            rep = TableReport(table=name)
            loaded = _load_table(tm, mapping, headers, q, auth_cards, rep, reader)
            if name == "authorizations":
                auth_cards = loaded.data.select(["auth_id", "card_token"])
            _write_table(writer, name, loaded.data, keep_extra=tm.extra_columns == "keep")
            spec = schema.TABLES[name]
            present[name] = loaded.present
            absent[name] = [c for c in spec.column_names if c not in loaded.present]
            defaulted[name] = loaded.defaulted
            if loaded.extras:
                extras[name] = loaded.extras
            prot = [_output_name(tm, p) for p in tm.protected]
            if "gender" in loaded.present and "gender" not in prot:
                prot.append("gender")
            if prot:
                protected[name] = prot
            reports[name] = rep
            if loaded.outcomes is not None:
                _write_table(writer, "application_outcomes", loaded.outcomes, keep_extra=False)
                present["application_outcomes"] = ["application_id", "bad"] + (
                    ["observed_at"] if tm.outcome and tm.outcome.observed_at else []
                )
                absent["application_outcomes"] = [
                    c
                    for c in schema.APPLICATION_OUTCOMES.column_names
                    if c not in present["application_outcomes"]
                ]
                reports["application_outcomes"] = TableReport(
                    table="application_outcomes",
                    source_rows=loaded.data.num_rows,
                    loaded=loaded.outcomes.num_rows,
                )
            rep.loaded = loaded.data.num_rows
            rep.rejected = q.rows_rejected()
            rep.issues = q.issues()
            rep.top_reasons = q.top_reasons()
            path = q.write(writer.staging / QUARANTINE_DIR, quarantine_format)
            if path is not None:
                rep.quarantine = str(out / QUARANTINE_DIR / path.name)
            if max_reject_rate is not None and rep.reject_rate > max_reject_rate:
                top = "; ".join(f"{c}: {r} ({n})" for c, r, n in rep.top_reasons[:3])
                raise InvalidInput(
                    f"{name}: {rep.rejected} of {rep.source_rows} rows rejected "
                    f"({rep.reject_rate:.1%} > --max-reject-rate {max_reject_rate:.1%}); nothing "
                    f"written. Most frequent: {top}"
                )
        report = IngestReport(out, reports, present, absent, defaulted, extras, protected)
        summary = report.to_dict()
        writer.manifest.update(
            {
                "tables": {k: v["loaded"] for k, v in summary["tables"].items()},
                "columns_present": present,
                "columns_absent": absent,
                "columns_defaulted": defaulted,
                "extra_columns": extras,
                "protected_columns": protected,
                "card_key": _card_keys(mapping),
                "outcomes": {
                    n: {"table": "application_outcomes", "source_column": t.outcome.source}
                    for n, t in mapping.tables.items()
                    if t.outcome is not None
                },
                "rejected_rows": report.rejected,
            }
        )
        (writer.staging / REPORT_FILE).write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    return report


def _write_table(writer: DatasetWriter, name: str, data: pa.Table, *, keep_extra: bool) -> None:
    writer.write(name, data, partial=True, extra_columns=keep_extra)


def _output_name(tm: TableMapping, name: str) -> str:
    for c in tm.columns:
        if c.source == name:
            return c.target
    return name


def _card_keys(mapping: Mapping) -> dict[str, str]:
    out = {}
    for name, tm in mapping.tables.items():
        if "card_token" not in schema.TABLES[name].column_names:
            continue
        if tm.card_number:
            out[name] = f"card number column {tm.card_number!r}, tokenised (HMAC)"
        elif tm.column("card_token") is not None:
            out[name] = "card_token mapped from the bank's own card id"
        elif tm.column("customer_id") is not None:
            out[name] = "customer_id (no card number in the source: one card per customer)"
    return out
