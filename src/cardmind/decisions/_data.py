"""DuckDB access to a dataset for bootstrapping (views over the Parquet files, Shanghai time).

``Dataset.connect`` binds the file pattern as a prepared parameter, which DuckDB 2.x refuses in a
``CREATE VIEW``; this helper inlines the quoted pattern instead.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from cardmind.dataset import Dataset


def connect(data: str | Path | Dataset) -> tuple[Dataset, duckdb.DuckDBPyConnection]:
    """The dataset and a DuckDB connection with one view per table, time zone Asia/Shanghai."""
    ds = data if isinstance(data, Dataset) else Dataset(data)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    for table in ds.tables():
        pattern = ds.glob(table).replace("'", "''")
        con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet('{pattern}')")
    return ds, con
