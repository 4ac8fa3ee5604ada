"""Rejected rows: one record per problem (file, line, column, reason), card numbers masked.

>>> q = Quarantine("authorizations")
>>> q.add(kind="missing", file="t.csv", lines=np.array([3]), column="txn_id", target="auth_id",
...       reason="missing value", values=pa.array([None], pa.string()))
>>> q.rows_rejected(), q.table().column("reason_zh").to_pylist()
(1, ['缺少必填值'])
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cardmind.ingest.cards import mask_all, mask_text

REASONS_ZH = {
    "malformed": "行格式错误(字段数不符)",
    "unparseable": "无法解析",
    "missing": "缺少必填值",
    "vocabulary": "取值不在允许范围内",
    "negative": "金额为负或为零",
    "card_number": "卡号无效",
    "pan_in_text": "文本中疑似含有完整卡号",
    "duplicate": "主键重复(保留第一条)",
    "orphan": "关联的授权记录未导入",
}

COLUMNS = (
    "table",
    "source_file",
    "line",
    "column",
    "target",
    "reason_code",
    "reason",
    "reason_zh",
    "value",
)


class Quarantine:
    """Collects rejected rows of one table; every value shown is masked for card numbers."""

    def __init__(self, table: str) -> None:
        self.name = table
        self._parts: list[pa.Table] = []

    def add(
        self,
        *,
        kind: str,
        file: str,
        lines: np.ndarray,
        column: str,
        target: str,
        reason: str | list[str],
        values: pa.Array | None = None,
        card_number: bool = False,
    ) -> None:
        """Record one problem for each of ``lines`` (``values`` are the offending cells)."""
        n = len(lines)
        if n == 0:
            return
        if values is None:
            shown = pa.nulls(n, pa.string())
        else:
            text = values.cast(pa.string()) if not pa.types.is_string(values.type) else values
            shown = mask_all(text) if card_number else mask_text(text)
        reasons = pa.array(reason if isinstance(reason, list) else [reason] * n, pa.string())
        self._parts.append(
            pa.table(
                {
                    "table": pa.array([self.name] * n, pa.string()),
                    "source_file": pa.array([file] * n, pa.string()),
                    "line": pa.array(np.asarray(lines, np.int64)),
                    "column": pa.array([column] * n, pa.string()),
                    "target": pa.array([target] * n, pa.string()),
                    "reason_code": pa.array([kind] * n, pa.string()),
                    "reason": reasons,
                    "reason_zh": pa.array([REASONS_ZH.get(kind, kind)] * n, pa.string()),
                    "value": shown,
                }
            )
        )

    def table(self) -> pa.Table:
        """All records, ordered by file and line."""
        if not self._parts:
            return pa.table(
                {c: pa.array([], pa.int64() if c == "line" else pa.string()) for c in COLUMNS}
            )
        t = pa.concat_tables(self._parts)
        return t.sort_by([("source_file", "ascending"), ("line", "ascending")])

    def issues(self) -> int:
        return sum(p.num_rows for p in self._parts)

    def rows_rejected(self) -> int:
        """Distinct (file, line) pairs rejected."""
        if not self._parts:
            return 0
        t = pa.concat_tables(self._parts).select(["source_file", "line"])
        return t.group_by(["source_file", "line"]).aggregate([]).num_rows

    def top_reasons(self, k: int = 5) -> list[tuple[str, str, int]]:
        """The most frequent (column, reason) pairs with their counts."""
        counts: Counter[tuple[str, str]] = Counter()
        for p in self._parts:
            for (col, reason), n in Counter(
                zip(p.column("column").to_pylist(), p.column("reason").to_pylist(), strict=True)
            ).items():
                counts[(col, reason)] += n
        return [(c, r, n) for (c, r), n in counts.most_common(k)]

    def write(self, folder: Path, fmt: str = "csv") -> Path | None:
        """Write ``folder/<table>.csv`` (or ``.parquet``); None when nothing was rejected."""
        if not self._parts:
            return None
        folder.mkdir(parents=True, exist_ok=True)
        t = self.table()
        if fmt == "parquet":
            path = folder / f"{self.name}.parquet"
            pq.write_table(t, path)
        else:
            path = folder / f"{self.name}.csv"
            pacsv.write_csv(t, path)
        return path
