"""A dataset on disk: one folder per table of Parquet files, plus ``manifest.json``.

Simulated and imported data share this layout, so everything downstream reads them alike.
Writes are atomic: a dataset is built in a hidden sibling folder and renamed into place, so a
failed run never leaves a half-written dataset behind.

>>> import tempfile, pyarrow as pa
>>> root = Path(tempfile.mkdtemp()) / "ds"
>>> with DatasetWriter(root, manifest={"source": "example"}) as w:
...     w.write("fraud_labels", pa.table({"auth_id": ["a1"], "card_token": ["t"],
...         "label": ["fraud"], "reported_at": pa.array([0], pa.timestamp("us", tz="UTC"))}))
>>> ds = Dataset(root)
>>> ds.tables(), ds.manifest["source"], ds.read("fraud_labels").num_rows
(['fraud_labels'], 'example', 1)
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from cardmind import schema
from cardmind.errors import InvalidInput

MANIFEST = "manifest.json"


class Dataset:
    """Read access to a dataset folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not (self.path / MANIFEST).is_file():
            raise InvalidInput(f"{self.path}: not a cardmind dataset (no {MANIFEST})")
        self.manifest: dict[str, Any] = json.loads((self.path / MANIFEST).read_text())

    def tables(self) -> list[str]:
        """Names of the tables present, in schema order."""
        return [t for t in schema.TABLES if self.has(t)]

    def has(self, table: str) -> bool:
        folder = self.path / table
        return folder.is_dir() and any(folder.glob("*.parquet"))

    def files(self, table: str) -> list[Path]:
        if not self.has(table):
            raise InvalidInput(f"{self.path}: dataset has no table {table!r}")
        return sorted((self.path / table).glob("*.parquet"))

    def columns_present(self, table: str) -> list[str]:
        """Columns of ``table`` that hold data.

        An import writes absent schema columns as all-null and records the ones it filled in the
        manifest (``columns_present``, plus ``extra_columns``): those are returned; otherwise
        every column of the table's files.

        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp()) / "ds"
        >>> with DatasetWriter(root, manifest={"columns_present": {"application_outcomes":
        ...         ["application_id", "bad"]}}) as w:
        ...     w.write("application_outcomes", pa.table({"application_id": ["a"], "bad": [True]}),
        ...             partial=True)
        >>> Dataset(root).columns_present("application_outcomes")
        ['application_id', 'bad']
        """
        recorded = self.manifest.get("columns_present", {}).get(table)
        if recorded is None:
            return list(pq.read_schema(self.files(table)[0]).names)
        self.files(table)
        return [*recorded, *self.manifest.get("extra_columns", {}).get(table, [])]

    def glob(self, table: str) -> str:
        """A glob pattern over the table's Parquet files (for DuckDB or Spark)."""
        self.files(table)
        return str(self.path / table / "*.parquet")

    def read(self, table: str, columns: Iterable[str] | None = None) -> pa.Table:
        """The whole table as Arrow (string columns decoded from dictionaries).

        Without ``columns``, an imported table returns only the columns that hold data
        (:meth:`columns_present`): the all-null placeholders of columns the bank did not have
        are left out, so code that checks a table's columns sees what is really there. Ask for
        such a column by name to get its nulls.
        """
        cols = list(columns) if columns is not None else None
        if cols is None and table in self.manifest.get("columns_present", {}):
            cols = self.columns_present(table)
        parts = [pq.read_table(f, columns=cols) for f in self.files(table)]
        return pa.concat_tables(parts, promote_options="default") if len(parts) > 1 else parts[0]

    def connect(self, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with one view per table present."""
        con = con or duckdb.connect()
        for table in self.tables():
            # DDL cannot take prepared parameters: quote the path as a SQL string literal.
            path = self.glob(table).replace("'", "''")
            con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet('{path}')")
        return con


class DatasetWriter:
    """Write a dataset atomically: tables go to a temporary sibling, renamed on success."""

    def __init__(self, path: str | Path, *, manifest: dict[str, Any], overwrite: bool = True):
        self.path = Path(path)
        self.manifest = {"schema_version": schema.SCHEMA_VERSION, **manifest}
        self.overwrite = overwrite
        self._tmp: Path | None = None
        self._parts: dict[str, int] = {}

    def __enter__(self) -> DatasetWriter:
        parent = self.path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and not self.overwrite:
                raise InvalidInput(f"{self.path}: already exists")
            if self.path.exists() and not self.path.is_dir():
                raise InvalidInput(f"{self.path}: exists and is not a folder")
            self._tmp = parent / f".{self.path.name}.tmp-{uuid.uuid4().hex[:8]}"
            self._tmp.mkdir()
        except OSError as exc:
            raise InvalidInput(f"{self.path}: cannot write here ({exc.strerror})") from exc
        return self

    @property
    def staging(self) -> Path:
        """The temporary folder being written (for extra files such as quarantine reports)."""
        if self._tmp is None:
            raise RuntimeError("DatasetWriter used outside its with-block")
        return self._tmp

    def write(
        self, table: str, data: pa.Table, *, partial: bool = False, extra_columns: bool = False
    ) -> None:
        """Append ``data`` as one more Parquet part of ``table``, conformed to the schema.

        ``partial=True`` (imported data): schema columns absent from ``data`` are written as
        all-null columns whose fields are marked nullable, instead of raising; the caller records
        in the manifest which columns are present. ``extra_columns=True``: columns that are not in
        the schema are kept, after the schema columns, with their own types, instead of dropped.

        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp()) / "ds"
        >>> with DatasetWriter(root, manifest={}) as w:
        ...     w.write("application_outcomes", pa.table({"application_id": ["a"], "x": [1]}),
        ...             partial=True, extra_columns=True)
        >>> Dataset(root).read("application_outcomes").column_names
        ['application_id', 'bad', 'observed_at', 'x']
        """
        if table in schema.TABLES:
            data = self._conform(table, data, partial=partial, extra_columns=extra_columns)
        n = self._parts.get(table, 0)
        folder = self.staging / table
        folder.mkdir(exist_ok=True)
        pq.write_table(data, folder / f"part-{n:05d}.parquet", compression="zstd")
        self._parts[table] = n + 1

    @staticmethod
    def _conform(table: str, data: pa.Table, *, partial: bool, extra_columns: bool) -> pa.Table:
        spec = schema.TABLES[table]
        absent = [c for c in spec.column_names if c not in data.column_names] if partial else []
        extras = [c for c in data.column_names if c not in spec.column_names]
        filled = data
        for name in absent:
            filled = filled.append_column(name, pa.nulls(data.num_rows, spec.column(name).type))
        out = schema.conform(filled, table)
        if absent:
            fields = [f.with_nullable(True) if f.name in absent else f for f in out.schema]
            out = pa.Table.from_arrays(out.columns, schema=pa.schema(fields, out.schema.metadata))
        if extra_columns:
            for name in extras:
                out = out.append_column(name, data.column(name))
        return out

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tmp = self.staging
        if exc_type is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            return
        (tmp / MANIFEST).write_text(
            json.dumps(self.manifest, indent=2, ensure_ascii=False, default=str)
        )
        if self.path.exists():
            trash = self.path.parent / f".{self.path.name}.old-{uuid.uuid4().hex[:8]}"
            self.path.rename(trash)
            tmp.rename(self.path)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            tmp.rename(self.path)
