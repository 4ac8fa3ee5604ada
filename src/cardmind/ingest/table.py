"""Loading one table: each file parsed column by column, then defaults, duplicates, labels.

Every problem becomes a quarantine record (file, line, column, reason); good rows of all the
table's files are concatenated with their file and line kept until duplicates are resolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cardmind import schema
from cardmind.ingest import coerce
from cardmind.ingest.cards import find_pans, tokenize_column
from cardmind.ingest.mapping import ColumnSpec, Mapping, TableMapping, parse_delay
from cardmind.ingest.preflight import extras_of
from cardmind.ingest.quarantine import Quarantine
from cardmind.ingest.report import TableReport
from cardmind.ingest.rules import (
    COLUMN_FALLBACKS,
    CONSTANT_DEFAULTS,
    DEFAULT_LABEL_DELAY,
    GENERATED_IDS,
    POSITIVE_AMOUNTS,
    SIGNED_AMOUNTS,
    VOCABULARIES,
)
from cardmind.ingest.sources import Source, read_source
from cardmind.settings import get_settings


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
        for name in extras_of(tm, header):
            extras[name] = coerce.infer_extra(src.table.column(name))
            if name not in tm.pan_scan_exclude:
                text_targets.append((name, name))

    for target, source in text_targets:
        # Extras are scanned as written: a column of card numbers must not pass as integers.
        values = cols[target] if target in cols else coerce.clean_text(src.table.column(source))
        reject(
            find_pans(values),
            kind="pan_in_text",
            column=source,
            target=target,
            reason=f"{target}: holds what looks like a full card number, which cardmind "
            "never stores (tokenise it with card_number or remove it; an id column that only "
            "looks like card numbers goes under pan_scan_exclude)",
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


class SourceCache:
    """Reads each source file once, with the columns every table mapped to it needs."""

    def __init__(self, mapping: Mapping, headers: dict[tuple[str, Path], list[str]]) -> None:
        self._wanted: dict[tuple[Path, str, str, str], list[str]] = {}
        self._uses: dict[tuple[Path, str, str, str], int] = {}
        for tm in mapping.tables.values():
            for path in tm.sources:
                cols = _needed(tm, headers[(tm.table, path)])
                key = self._key(tm, path)
                self._wanted[key] = list(dict.fromkeys(self._wanted.get(key, []) + cols))
                self._uses[key] = self._uses.get(key, 0) + 1
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
        self._uses[key] -= 1
        if self._uses[key] == 0:  # last table reading this file: free the text columns
            del self._cache[key]
        return Source(
            path=src.path, table=src.table.select(columns), lines=src.lines, malformed=src.malformed
        )


def _needed(tm: TableMapping, header: list[str]) -> list[str]:
    extra = extras_of(tm, header) if tm.extra_columns == "keep" else []
    return list(dict.fromkeys(tm.used_sources() + extra))


# --- one table -----------------------------------------------------------------------------


@dataclass
class Loaded:
    data: pa.Table  # schema columns present (+ extras), good rows only
    outcomes: pa.Table | None
    present: list[str]
    defaulted: dict[str, str]
    extras: list[str]


def _concat_good(results: list[_FileResult]) -> tuple[pa.Table, list[str]]:
    names = list(dict.fromkeys(k for r in results for k in r.columns))
    extra_names = list(dict.fromkeys(k for r in results for k in r.extras))
    for name in extra_names:  # files that disagree on an extra column's type: keep it as text
        types = {r.extras[name].type for r in results if name in r.extras}
        if len(types) > 1:
            for r in results:
                if name in r.extras:
                    r.extras[name] = coerce.clean_text(r.extras[name])
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


def load_table(
    tm: TableMapping,
    mapping: Mapping,
    headers: dict[tuple[str, Path], list[str]],
    q: Quarantine,
    auth_cards: pa.Table | None,
    report: TableReport,
    reader: SourceCache,
) -> Loaded:
    """Load every source file of one table; return its good rows and what was filled how.

    ``auth_cards`` (``auth_id``, ``card_token`` of the authorizations already loaded) lets fraud
    labels take their card from the authorization and rejects labels of unloaded ones.
    """
    spec = schema.TABLES[tm.table]
    # The key is read only when a card number is tokenised (no key file created otherwise).
    key = get_settings().pan_key_bytes() if tm.card_number else b""
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
        pos = pc.index_in(
            data.column("auth_id"), value_set=auth_cards.column("auth_id").combine_chunks()
        )
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
        if "reported_at" not in names:
            delay = tm.label_delay or DEFAULT_LABEL_DELAY
            us = int(parse_delay(delay).total_seconds() * 1_000_000)
            ts = pc.take(auth_cards.column("ts"), pos).cast(pa.int64())
            reported = pc.add(ts, us).cast(coerce.TARGET_TZ)
            data = data.append_column("reported_at", reported)
            names.add("reported_at")
            defaulted["reported_at"] = (
                f"authorization ts + {delay} (assumed feedback delay: map reported_at or set "
                "label_delay)"
            )
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
    return Loaded(data, outcomes, present, defaulted, extra_names)


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
