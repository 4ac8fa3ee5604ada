"""Checks before any data is read: files, headers, forbidden columns, constants, minimums.

A bad mapping or a CVV-like column fails here, so an import never starts half-way.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from cardmind import schema
from cardmind.errors import InvalidInput, SensitiveDataError
from cardmind.ingest import coerce
from cardmind.ingest.mapping import ColumnSpec, Mapping, TableMapping
from cardmind.ingest.rules import ESSENTIALS, GENERATED_IDS, VOCABULARIES
from cardmind.ingest.sources import read_header
from cardmind.privacy import is_sensitive_field_name


def where_of(tm: TableMapping) -> str:
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
                    f"mapping {where_of(tm)}: must fill {need} (the minimum for {tm.table})"
                )
        for c in tm.columns:
            if c.constant is not None:
                _check_constant(tm, c)
            elif c.format is not None:
                _check_format(f"{where_of(tm)}.columns.{c.target}", c, tm)
        if tm.outcome is not None and tm.outcome.observed_at is not None:
            obs = tm.outcome.observed_at
            if obs.format is not None:
                _check_format(f"{where_of(tm)}.outcome.observed_at", obs, None)
        if tm.outcome is not None and "application_outcomes" in mapping.tables:
            raise InvalidInput(
                f"mapping {where_of(tm)}.outcome: application_outcomes is also mapped; use one"
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
                    f"{where_of(tm)}.drop_columns so they are never read "
                    "(拒绝导入卡片安全码、密码等敏感信息)"
                )
            missing = [(src, where) for src, where in _named_sources(tm) if src not in header]
            if missing:
                src, where = missing[0]
                raise InvalidInput(
                    f"{path}: column {src!r} named by {where_of(tm)}.{where} is not in the file "
                    f"(columns: {', '.join(header)})"
                )
            if tm.extra_columns == "keep":
                clash = [h for h in extras_of(tm, header) if h in spec.column_names]
                if clash:
                    raise InvalidInput(
                        f"{path}: extra columns {clash} have the names of {tm.table} columns; "
                        f"map them under {where_of(tm)}.columns or list them under drop_columns"
                    )
            kept = set(extras_of(tm, header)) if tm.extra_columns == "keep" else set()
            sources = {c.source for c in tm.columns if c.source}
            absent = [p for p in tm.protected if p not in kept and p not in sources]
            if absent:
                raise InvalidInput(
                    f"mapping {where_of(tm)}.protected: {absent} are not imported from {path} "
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


def extras_of(tm: TableMapping, header: list[str]) -> list[str]:
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
        raise InvalidInput(f"mapping {where_of(tm)}.columns.{c.target}: {exc}") from None
    vocab = VOCABULARIES.get((tm.table, c.target))
    if parsed.bad.any() or (vocab and c.constant not in vocab):
        expected = f"one of {vocab}" if vocab else parsed.reason
        raise InvalidInput(
            f"mapping {where_of(tm)}.columns.{c.target}: constant {c.constant!r} is not {expected}"
        )


def _check_format(where: str, c: ColumnSpec, tm: TableMapping | None) -> None:
    """A strptime format DuckDB cannot use is a mapping error, found before reading data."""
    type_ = schema.TABLES[tm.table].column(c.target).type if tm else coerce.TARGET_TZ
    if not (pa.types.is_timestamp(type_) or pa.types.is_date(type_)):
        raise InvalidInput(f"mapping {where}: format only applies to dates and timestamps")
    try:
        coerce.parse_as(pa.array(["x"], pa.string()), type_, fmt=c.format)
    except ValueError as exc:
        raise InvalidInput(f"mapping {where}: {exc}") from None


def plan(mapping: Mapping) -> dict[str, dict[str, object]]:
    """What an import would do, after the preflight checks, without reading any data.

    Per table: the source files, each filled column and where it comes from, the schema columns
    the mapping does not fill (documented defaults may still fill some), the columns dropped unread, and the extra columns kept.
    """
    headers = preflight(mapping)
    out: dict[str, dict[str, object]] = {}
    for name, tm in mapping.tables.items():
        spec = schema.TABLES[name]
        filled: dict[str, str] = {}
        for c in tm.columns:
            if c.source is not None:
                filled[c.target] = f"from {c.source!r}" + (f" ({c.unit})" if c.unit else "")
            elif c.constant is not None:
                filled[c.target] = f"constant {c.constant!r}"
            else:
                filled[c.target] = "generated"
        if tm.card_number:
            filled["card_token"] = f"HMAC token of {tm.card_number!r}"
            if "pan_last4" in spec.column_names:
                filled["pan_last4"] = f"last four of {tm.card_number!r}"
        if name in GENERATED_IDS and GENERATED_IDS[name] not in filled:
            filled[GENERATED_IDS[name]] = "generated: <file stem>-<record number>"
        extras = sorted(
            {e for p in tm.sources for e in extras_of(tm, headers[(name, p)])}
            if tm.extra_columns == "keep"
            else set()
        )
        out[name] = {
            "sources": [str(p) for p in tm.sources],
            "columns": filled,
            "not_mapped": [c for c in spec.column_names if c not in filled],
            "dropped_unread": list(tm.drop_columns),
            "extra_columns": extras,
            "protected": list(tm.protected),
            "outcome": tm.outcome.source if tm.outcome else None,
        }
    return out
