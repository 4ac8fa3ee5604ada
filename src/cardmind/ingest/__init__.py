"""Import a bank's own files (CSV or Parquet) into a cardmind dataset through a column mapping.

The mapping (YAML, see :mod:`cardmind.ingest.mapping`) says which file feeds which table and how
each column is read. Card numbers are tokenised on the way in, CVV/PIN-like columns refused,
amounts turned into integer fen exactly, naive times read in Asia/Shanghai. Every rejected row
goes to ``OUT/_quarantine/<table>.csv`` with its file, line, column and reason; the output folder
appears atomically, with a manifest saying which schema columns the bank's data holds.

>>> import tempfile
>>> from cardmind.dataset import Dataset
>>> d = Path(tempfile.mkdtemp())
>>> _ = (d / "tx.csv").write_text(
...     "txn_id,cust,shop,amt,time,fraud\\n"
...     "t1,c1,m1,12.30,2024-05-01 10:00:00,0\\n"
...     "t2,c1,m2,-5,2024-05-01 11:00:00,1\\n")
>>> m = Mapping.from_dict({"tables": {
...     "authorizations": {"source": "tx.csv", "columns": {"auth_id": "txn_id",
...         "customer_id": "cust", "merchant_id": "shop", "ts": "time",
...         "amount_fen": {"from": "amt", "unit": "yuan"}}},
...     "fraud_labels": {"source": "tx.csv", "columns": {"auth_id": "txn_id",
...         "label": {"from": "fraud", "values": {"1": "fraud", "0": "genuine"}}}}}},
...     base_dir=d)
>>> report = ingest(m, d / "out")
>>> report.tables["authorizations"].loaded, report.tables["authorizations"].rejected
(1, 1)
>>> Dataset(d / "out").read("authorizations").column("amount_fen").to_pylist()
[1230]
"""

from __future__ import annotations

from pathlib import Path

from cardmind.ingest.loader import IngestReport, TableReport, ingest, preflight
from cardmind.ingest.mapping import ColumnSpec, Mapping, OutcomeSpec, TableMapping

MAPPINGS_DIR = Path(__file__).parent / "mappings"

__all__ = [
    "MAPPINGS_DIR",
    "ColumnSpec",
    "IngestReport",
    "Mapping",
    "OutcomeSpec",
    "TableMapping",
    "TableReport",
    "ingest",
    "preflight",
]
