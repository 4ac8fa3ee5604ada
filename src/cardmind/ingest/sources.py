"""Reading source files: headers first (to check a mapping), then only the needed columns.

CSV cells are read as text (every type decision is the importer's, with a reason per row);
Parquet columns keep their types. Each record carries its line number: in CSV the header is line
1 and a record's line is its physical line (a quoted value spanning several lines shifts the
numbers after it); in Parquet it is the row number starting at 1.

>>> import tempfile
>>> p = Path(tempfile.mkdtemp()) / "t.csv"
>>> _ = p.write_text("id,amount\\na,1.5\\nb\\nc,2\\n")
>>> read_header(p, fmt="csv")
['id', 'amount']
>>> src = read_source(p, fmt="csv", columns=["amount"])
>>> src.table.column("amount").to_pylist(), src.lines.tolist(), src.malformed
(['1.5', '2'], [2, 4], [(3, 'expected 2 fields, found 1')])
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cardmind.errors import InvalidInput


@dataclass
class Source:
    """Columns read from one file, the line of every record, and the malformed records skipped."""

    path: Path
    table: pa.Table
    lines: np.ndarray
    malformed: list[tuple[int, str]] = field(default_factory=list)


def _check_encoding(encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise InvalidInput(f"unknown encoding {encoding!r}") from None


def read_header(
    path: Path, *, fmt: str, delimiter: str = ",", encoding: str = "utf-8"
) -> list[str]:
    """Column names of a source file, without reading its data."""
    if not path.is_file():
        raise InvalidInput(f"{path}: source file not found")
    if fmt == "parquet":
        try:
            return list(pq.read_schema(path).names)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidInput(f"{path}: not a readable Parquet file ({exc})") from None
    _check_encoding(encoding)
    try:
        with path.open("rb") as f:
            first = f.readline().decode(encoding)
    except (UnicodeDecodeError, OSError) as exc:
        raise InvalidInput(f"{path}: cannot read the header line as {encoding} ({exc})") from None
    first = first.lstrip("\ufeff")
    row = next(csv.reader(io.StringIO(first), delimiter=delimiter), [])
    names = [n.strip() for n in row]
    if not names or names == [""]:
        raise InvalidInput(f"{path}: empty file (no header line)")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(f"{path}: header repeats columns {dupes}")
    return names


def read_source(
    path: Path,
    *,
    fmt: str,
    columns: list[str],
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> Source:
    """Read ``columns`` of ``path`` (CSV as text, Parquet typed) with line numbers."""
    if fmt == "parquet":
        try:
            table = pq.read_table(path, columns=columns)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidInput(f"{path}: not a readable Parquet file ({exc})") from None
        return Source(path=path, table=table, lines=np.arange(1, table.num_rows + 1))
    header = read_header(path, fmt="csv", delimiter=delimiter, encoding=encoding)
    malformed: list[tuple[int, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        # Never keep row.text: it may hold a card number in an unread column.
        malformed.append(
            (
                int(row.number) if row.number is not None else -1,
                f"expected {row.expected_columns} fields, found {row.actual_columns}",
            )
        )
        return "skip"

    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                use_threads=False,  # needed for line numbers of malformed records
                encoding=encoding,
                column_names=header,
                skip_rows=1,
                block_size=1 << 24,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                ignore_empty_lines=False,
                newlines_in_values=True,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in columns},
                include_columns=columns,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        # The message of a parse error can quote a row (a card number): never show it whole.
        conv = re.search(
            r"column #(\d+): Row #(\d+): CSV conversion error to \w+: ([\w ]+)", str(exc)
        )
        if conv:
            col, row, what = int(conv.group(1)), conv.group(2), conv.group(3)
            name = header[col] if col < len(header) else f"#{col}"
            reason = f"column {name!r}, record {row}: {what}"
        else:
            reason = str(exc).split(":")[0]
        raise InvalidInput(
            f"{path}: cannot parse as CSV ({reason}); check the delimiter and the encoding "
            f"(now {encoding!r}; files from Chinese systems are often encoding: gbk)"
        ) from None
    bad = np.array(sorted(n for n, _ in malformed if n > 0), dtype=np.int64)
    lines = _record_lines(table.num_rows, bad)
    return Source(path=path, table=table, lines=lines, malformed=malformed)


def _record_lines(n: int, skipped: np.ndarray) -> np.ndarray:
    """Physical line of each record: lines 2, 3, ... minus the malformed lines skipped."""
    candidates = np.arange(2, 2 + n + len(skipped), dtype=np.int64)
    if len(skipped):
        candidates = candidates[~np.isin(candidates, skipped)]
    return candidates[:n]
