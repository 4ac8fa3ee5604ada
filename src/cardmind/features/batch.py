"""Batch engine: point-in-time correct features for many rows at once, on DuckDB.

For every input row (entity keys + ``ts``) each feature is built only from events known strictly
before ``ts``, with the same semantics as the online engine. The SQL is one statement built as a
sqlglot tree: for each feature group, the group's events and the query rows are unioned and every
aggregate is a window function ``OVER (PARTITION BY key ORDER BY t RANGE BETWEEN w PRECEDING AND 1
PRECEDING)`` on integer microseconds — exactly ``[t - w, t)``. Label-delayed and
after-repayment features use range joins.

>>> import duckdb, pyarrow as pa
>>> from cardmind.features.definitions import Catalog, WindowFeature
>>> con = duckdb.connect()
>>> auths = pa.table({"auth_id": ["a1", "a2"], "card_token": ["c", "c"],
...     "ts": pa.array([0, 60_000_000], pa.timestamp("us", tz="Asia/Shanghai")),
...     "amount_fen": [500, 700], "message_type": ["purchase"] * 2})
>>> con.register("authorizations", auths)  # doctest: +ELLIPSIS
<...>
>>> cat = Catalog([WindowFeature(entity="card", aggregation="sum", column="amount_fen",
...                              window="1h")])
>>> BatchEngine(con).compute(cat, auths.select(["card_token", "ts"])).to_pydict()
{'card_amount_sum_1h': [0.0, 500.0]}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from cardmind import schema
from cardmind.errors import InvalidInput
from cardmind.features import batch_kernels as K
from cardmind.features import sql as S
from cardmind.features.aggregates import STATS, rows_block
from cardmind.features.definitions import (
    ENTITIES,
    SOURCES,
    Catalog,
    FeatureService,
    RequestFeature,
)
from cardmind.features.plan import Group, Plan
from cardmind.units import TIMEZONE_NAME

ROW, T = "__row", "__t"
_ROWS, _BASE = "__cardmind_rows", "__cardmind_base"  # one compute at a time per connection
_SQL_CACHE: dict[tuple[Any, ...], tuple[list[str], list[tuple[str, list[str]]], str]] = {}


class BatchEngine:
    """Compute a catalog for many rows from a dataset (or a DuckDB connection with its tables)."""

    def __init__(self, source: Any, *, dialect: str = "duckdb") -> None:
        if isinstance(source, duckdb.DuckDBPyConnection):
            self.con = source
        elif hasattr(source, "connect"):
            self.con = source.connect()
        else:
            raise TypeError("BatchEngine needs a cardmind Dataset or a DuckDB connection")
        self.dialect = dialect
        self._events_cache: dict[Any, Any] | None = None

    # --- public --------------------------------------------------------------------------------

    def compute(self, catalog: Catalog | FeatureService, rows: pa.Table, *,
                strategy: str = "auto") -> pa.Table:
        """One row per input row, same order, one float64 column per feature (null = undefined).

        ``strategy``: ``join`` (range join of rows to events, all in SQL: best for samples),
        ``window`` (SQL window functions over events and rows: the portable form, e.g. Spark),
        ``compiled`` (DuckDB selects, a compiled kernel sweeps each entity's rows in time order,
        see :mod:`.batch_kernels`: best for many rows); ``auto`` joins up to 20,000 rows and
        compiles above.
        """
        plan, name = self._prepare(catalog, rows)
        if strategy == "auto":
            strategy = "join" if rows.num_rows <= 20_000 else "compiled"
        try:
            out = self._compute_parts(plan, name, rows.num_rows, _check(strategy))
        finally:
            self.con.unregister(name)
        return out.select(plan.outputs)

    def _base_inputs(self, plan: Plan) -> list[str]:
        cols = {ROW, T}
        for r in plan.request:
            cols.update(r.request_columns)
        cols.discard("ts")
        return sorted(cols)

    def to_parquet(self, catalog: Catalog | FeatureService, rows: pa.Table, path: str | Path, *,
                   strategy: str = "window", chunk_rows: int = 1_000_000) -> None:
        """Like :meth:`compute` but written to one Parquet file, for outputs too big for memory.

        ``window``: one SQL statement streamed by DuckDB (portable); ``compiled`` or ``join``:
        :meth:`compute` on slices of ``chunk_rows`` rows, appended in order; a slice is written
        by a background thread while the next one is computed.
        """
        if strategy in ("compiled", "join"):
            from concurrent.futures import Future, ThreadPoolExecutor

            import pyarrow.parquet as pq

            writer = None
            pending: Future[None] | None = None
            self._events_cache = {}  # the events do not change between slices
            try:
                with ThreadPoolExecutor(max_workers=1) as pool:
                    for start in range(0, max(rows.num_rows, 1), chunk_rows):
                        part = self.compute(catalog, rows.slice(start, chunk_rows),
                                            strategy=strategy)
                        if writer is None:
                            writer = pq.ParquetWriter(str(path), part.schema)
                        if pending is not None:
                            pending.result()  # in order, and at most two slices in memory
                        pending = pool.submit(writer.write_table, part)
                        del part
                    if pending is not None:
                        pending.result()
            finally:
                self._events_cache = None
                if writer is not None:
                    writer.close()
            return
        plan, name = self._prepare(catalog, rows)
        try:
            query = self.sql(plan, name, _check(strategy))
            copy = exp.Copy(this=exp.Subquery(this=exp.maybe_parse(query, dialect=self.dialect)),
                            files=[S.lit(str(path))],
                            params=[exp.CopyParameter(this=exp.var("FORMAT"),
                                                      expression=exp.var("PARQUET"))])
            self.con.execute(copy.sql(self.dialect, copy=False))
        finally:
            self.con.unregister(name)

    def tables(self) -> set[str]:
        return {r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}

    # --- preparation ---------------------------------------------------------------------------

    def _prepare(self, catalog: Catalog | FeatureService, rows: pa.Table) -> tuple[Plan, str]:
        if isinstance(catalog, FeatureService):
            catalog = catalog.catalog()
        plan = Plan(catalog)
        need = {"ts"}
        for d in plan.catalog:
            for c in d.request_columns:
                need.add("mcc" if c == "category" else c)
        missing = sorted(need - set(rows.column_names))
        if missing:
            raise InvalidInput(f"rows lack columns {missing} needed by the features")
        for d in plan.catalog:
            ent = ENTITIES.get(d.entity)
            if ent is None or ent.optional:
                continue
            for k in ent.keys:
                c = "mcc" if k == "category" else k
                if rows.column(c).null_count:
                    raise InvalidInput(f"rows rejected: {rows.column(c).null_count} rows have no "
                                       f"{c} (needed by {d.name})")
        if rows.column("ts").null_count:
            raise InvalidInput("rows rejected: some rows have no ts")
        self._check_sources(plan)
        ts = rows.column("ts")
        if pa.types.is_timestamp(ts.type):
            t = pc.cast(ts.cast(pa.timestamp("us", tz=TIMEZONE_NAME)), pa.int64())
        elif pa.types.is_integer(ts.type):
            t = ts.cast(pa.int64())
        else:
            raise InvalidInput(f"rows.ts must be a timestamp or epoch µs, not {ts.type}")
        table = rows.append_column(T, t).append_column(ROW, pa.array(np.arange(rows.num_rows)))
        name = _ROWS
        self.con.register(name, table)
        return plan, name

    def _check_sources(self, plan: Plan) -> None:
        present = self.tables()
        keys: dict[str, set[str]] = {}
        for g in plan.groups:
            keys.setdefault(g.source, set()).update(
                "mcc" if k == "category" else k for k in ENTITIES[g.entity].keys
                if not ENTITIES[g.entity].optional)
        if plan.labels:
            keys.setdefault("fraud_labels", set()).update({"auth_id", "reported_at"})
        if plan.repayments:
            keys.setdefault("repayments", set())
        for table, cols in keys.items():
            if table not in present:
                raise InvalidInput(f"features need table {table!r}, absent from the data; use "
                                   f"catalog.for_dataset(dataset) to drop them")
            if not cols:
                continue
            select = exp.select(*[
                S.alias(exp.func("COUNT_IF", exp.Is(this=S.col(c), expression=exp.Null())), c)
                for c in sorted(cols)]).from_(table)
            counts = self.con.execute(select.sql(self.dialect, copy=False)).fetchall()[0]
            bad = {c: n for c, n in zip(sorted(cols), counts, strict=True) if n}
            if bad:
                raise InvalidInput(f"{table}: events rejected, missing keys "
                                   f"{', '.join(f'{c} in {n} rows' for c, n in bad.items())}")

    # --- SQL -----------------------------------------------------------------------------------

    def sql(self, plan: Plan, rows: str, strategy: str = "window") -> str:
        """The whole computation as one SQL statement over the registered ``rows`` relation.

        ``strategy``: ``window`` (window functions over events and rows together: for many rows,
        e.g. every authorization) or ``join`` (a range join of rows to their entity's events:
        for a sample of rows).
        """
        ctes = self._common_ctes(plan, rows)
        joins, columns = [], []
        for name, body, names in self._parts(plan, _check(strategy)):
            ctes.append((name, body))
            joins.append(name)
            columns += [S.col(n, name) for n in names]
        base_q = exp.select(S.col(ROW, "__q"), *self._base_columns(plan), *columns, copy=False
                            ).from_("__q", copy=False)
        for name in joins:
            base_q = base_q.join(name, using=[ROW], join_type="left", copy=False)
        ctes.append(("__base", base_q))
        return _with(self._final_select(plan), ctes).sql(self.dialect, copy=False)

    def _common_ctes(self, plan: Plan, rows: str) -> list[tuple[str, exp.Expression]]:
        """``__q`` (the rows, with a category key when needed) and one ``__src_<table>`` each."""
        q_cols: list[exp.Expression] = [exp.Star()]
        if any(g.entity == "category" for g in plan.groups) or any(
                x.entity == "category" for x in plan.labels):
            q_cols.append(S.alias(S.category_expr(S.col("mcc")), "category"))
        ctes: list[tuple[str, exp.Expression]] = [("__q", exp.select(*q_cols).from_(rows))]
        for source in sorted({g.source for g in plan.groups if g.features}):
            needed = {f.column for g in plan.groups if g.source == source and g.features
                      for lane in g.lanes for f in SOURCES[source].lane(lane)}
            needed |= {k for g in plan.groups if g.source == source and g.features
                       for k in ENTITIES[g.entity].keys}
            ctes.append((f"__src_{source}", S.source_select(source, self.dialect, needed)))
        return ctes

    def _parts(self, plan: Plan, strategy: str, chunk: int | None = None
               ) -> list[tuple[str, exp.Expression, list[str]]]:
        """(name, query, output columns) per feature group (in chunks), label entity, lookback."""
        out: list[tuple[str, Any, list[str]]] = []
        for i, g in enumerate(plan.groups):
            if strategy == "compiled":
                if g.features:
                    out.append((f"__g{i}", g, [f[0] for f in g.features]))
                continue
            size = chunk or max(1, len(g.features))
            for k in range(0, len(g.features), size):
                feats = g.features[k : k + size]
                out.append((f"__g{i}_{k}", self._group_sql(g, strategy, feats),
                            [f[0] for f in feats]))
        for ent in sorted({x.entity for x in plan.labels}):
            feats = [x for x in plan.labels if x.entity == ent]
            out.append((f"__lbl_{ent}", self._label_sql(ent, feats),
                        [f"__lc_{x.name}" for x in feats]))
        lookbacks = sorted({(x.entity, x.lookback) for x in plan.repayments})
        for j, (ent, lb) in enumerate(lookbacks):
            feats = [x for x in plan.repayments if (x.entity, x.lookback) == (ent, lb)]
            out.append((f"__rep{j}", self._repayment_sql(ent, feats), [x.name for x in feats]))
        return out

    def _base_columns(self, plan: Plan, table: str | None = "__q") -> list[exp.Expression]:
        """Request features, computed on the rows."""
        return [S.alias(_request_sql(r, table), r.name, quoted=True) for r in plan.request]

    def _final_select(self, plan: Plan, source: str = "__base") -> exp.Select:
        """Outputs over the base columns: derived features and label rates on top."""
        exprs: dict[str, exp.Expression] = {}
        for d in plan.catalog:
            if d.kind in ("window", "repayment", "request"):
                exprs[d.name] = S.col(d.name)
        for x in plan.labels:
            c = S.col(f"__lc_{x.name}")
            exprs[x.name] = S.cast(c, "DOUBLE") if x.measure == "count" else \
                S.div(c, exprs[x.inputs[0]].copy())
        for x in plan.derived:
            exprs[x.name] = _derived_sql(x.op, [exprs[n].copy() for n in x.inputs])
        # Every output is DOUBLE whatever the SQL typed it as: a ``CASE .. THEN 1.0`` flag is a
        # DECIMAL literal in DuckDB, and training only takes float columns.
        return exp.select(*[S.alias(S.cast(exprs[n], "DOUBLE"), n, quoted=True)
                            for n in plan.outputs],
                          copy=False).from_(source, copy=False).order_by(S.col(ROW), copy=False)

    def _compute_parts(self, plan: Plan, rows: str, n_rows: int, strategy: str) -> pa.Table:
        """Run each part on its own (DuckDB plans small queries much faster than one huge one),
        then the final layer over the collected base columns."""
        key = (tuple(plan.outputs), tuple(plan.catalog.names()), rows, strategy, self.dialect)
        if key not in _SQL_CACHE:
            views = [exp.Create(this=exp.to_table(n), kind="VIEW", replace=True, expression=b,
                                properties=exp.Properties(expressions=[exp.TemporaryProperty()])
                                ).sql(self.dialect, copy=False)
                     for n, b in self._common_ctes(plan, rows)]
            parts = [(body if isinstance(body, Group) else body.sql(self.dialect, copy=False),
                      names) for _, body, names in self._parts(plan, strategy, chunk=400)]
            request = exp.select(exp.Star(), *self._base_columns(plan, None), copy=False).from_(
                _BASE, copy=False)
            final = _with(self._final_select(plan, "__b"), [("__b", request)])
            if len(_SQL_CACHE) > 32:
                _SQL_CACHE.clear()
            _SQL_CACHE[key] = (views, parts, final.sql(self.dialect, copy=False))
        views, parts, final_sql = _SQL_CACHE[key]
        for view in views:  # __q and __src_<table>, shared by the parts
            self.con.execute(view)
        columns: dict[str, np.ndarray] = {}
        for query, names in parts:
            if isinstance(query, Group):
                columns.update(self._compiled_group(query, n_rows))
                continue
            got = self.con.sql(query).to_arrow_table()
            idx = got.column(ROW).to_numpy()
            for n in names:
                arr = np.full(n_rows, np.nan)
                arr[idx] = pc.cast(got.column(n), pa.float64()).to_numpy(zero_copy_only=False)
                columns[n] = arr
        if not (plan.request or plan.derived or plan.labels):  # nothing on top: no final query
            return pa.table({n: K.float_column(columns[n]) for n in plan.outputs})
        base_q = exp.select(*[S.col(c) for c in self._base_inputs(plan)], copy=False).from_(
            rows, copy=False).order_by(S.col(ROW), copy=False)
        base = self.con.sql(base_q.sql(self.dialect, copy=False)).to_arrow_table()
        for n, arr in columns.items():
            base = base.append_column(n, K.float_column(arr))
        self.con.register(_BASE, base)
        try:
            return self.con.sql(final_sql).to_arrow_table()
        finally:
            self.con.unregister(_BASE)

    def _compiled_group(self, g: Group, n_rows: int) -> dict[str, np.ndarray]:
        """A group's features in compiled kernels: DuckDB selects the events and rows (SQL from
        sqlglot), Arrow gives entity ids, and one sorted sweep per entity computes every row
        (:mod:`.batch_kernels`); ``std`` and float-valued groups use the online read kernel."""
        d = self.dialect
        keys = self._keys(g.entity, None, materialised=True)
        knames = [f"__k{i}" for i in range(len(keys))]
        cache = self._events_cache
        events = cache.get(g.key) if cache is not None else None
        if events is None:
            events = self._compiled_events(g, keys, knames)
            if cache is not None:
                cache[g.key] = events
        index, ev_start, ts, val, m, codes, n_codes = events
        q_keys = self._keys(g.entity, "__q", materialised=True)
        rq = exp.select(S.col(ROW), S.col(T), *[S.alias(k, n) for k, n in
                                                 zip(q_keys, knames, strict=True)],
                        copy=False).from_("__q", copy=False).where(
            exp.and_(*[_not_null(k.copy()) for k in q_keys]), copy=False)
        r = self.con.sql(rq.sql(d, copy=False)).to_arrow_table()
        row_kid = index.lookup([r.column(n) for n in knames])
        row_t = r.column(T).to_numpy().astype(np.int64, copy=False)
        row_idx = r.column(ROW).to_numpy().astype(np.int64, copy=False)
        W, L = len(g.windows), len(g.lanes)
        swept = [f for f in g.features if g.integer and f[1] != K.STD]
        rest = [f for f in g.features if f not in swept]
        columns: dict[str, np.ndarray] = {}
        if swept:
            spec = K.SweepSpec.build([(K.DISTINCT if st < 0 else st, w, lane)
                                      for _, st, w, lane in swept], windows=g.windows_array(),
                                     n_lanes=L, specs=self._specs(g))
            rorder, row_start = K.order_by_key_time(row_kid, row_t, index.n)
            scratch, buffer = None, None
            if cache is not None:  # to_parquet: slices of the same size, memory reused
                scratch = cache.setdefault("__scratch", [])
                buffer = self._output_buffer(cache, g.key, len(swept) * n_rows)
            block = K.sweep_rows(ev_start, ts, val, m, codes, row_start, row_t[rorder],
                                 row_idx[rorder], spec, n_out=n_rows, n_codes=n_codes,
                                 scratch=scratch, out=buffer)
            none = row_idx[row_kid < 0]  # the entity has no events: empty windows
            for j, (name, st, _, _) in enumerate(swept):
                if st in (K.COUNT, K.SUM, K.DISTINCT):
                    block[j, none] = 0.0
                columns[name] = block[j]
        if rest:
            plain = [(n, st, w, lane) for n, st, w, lane in rest if st >= 0]
            dist = [(n, w, spec) for n, st, w, spec in rest if st < 0]
            src_idx = np.asarray([(st * W + w) * L + lane for _, st, w, lane in plain], np.int64)
            dsrc = np.asarray([spec * W + w for _, w, spec in dist], np.int64)
            block = rows_block(ev_start[:-1], ev_start[1:], ts, val, m, codes + 1, row_kid,
                               row_t, g.windows_array(), L, src_idx, self._specs(g), dsrc,
                               row_idx, n_rows)
            names = [p[0] for p in plain] + [p[0] for p in dist]
            columns.update({name: block[j] for j, name in enumerate(names)})
        return columns

    @staticmethod
    def _output_buffer(cache: dict[Any, Any], key: Any, size: int) -> np.ndarray:
        """One of two output buffers, in turn. to_parquet computes slice i + 2 only after the
        writer thread has written slice i, so the buffer slice i used is free again."""
        ring = cache.setdefault(("__out", key), {"turn": 0, "buffers": [None, None]})
        turn = ring["turn"]
        ring["turn"] = 1 - turn
        buf = ring["buffers"][turn]
        if buf is None or buf.size < size:
            buf = ring["buffers"][turn] = np.empty(size)
        return buf

    @staticmethod
    def _specs(g: Group) -> np.ndarray:
        dcols = g.distinct_columns
        return np.asarray([(dcols.index(c), lane) for c, lane in g.distinct],
                          np.int64).reshape(-1, 2)

    def _compiled_events(self, g: Group, keys: list[exp.Expression], knames: list[str]
                         ) -> tuple[Any, ...]:
        """The group's events sorted by (entity id, time): key index, starts, time, value, lane
        mask, dictionary codes of the distinct columns and their counts."""
        src = g.source
        dcols = g.distinct_columns
        value = S.value_expr(src, g.column, None)
        mask = exp.Add(this=S.lit(0), expression=S.lit(0))
        for i, lane in enumerate(g.lanes):
            mask = exp.Add(this=mask, expression=S.case(
                (S.lane_expr(src, lane, None), S.lit(1 << i)), default=S.lit(0)))
        ev = exp.select(
            *[S.alias(k, n) for k, n in zip(keys, knames, strict=True)], S.col(T),
            S.alias(value, "__v"), S.alias(S.cast(mask, "BIGINT"), "__m"),
            *[S.alias(S.col(c), f"__d{j}") for j, c in enumerate(dcols)], copy=False,
        ).from_(f"__src_{src}", copy=False).where(exp.and_(
            *[_not_null(k.copy()) for k in keys], _not_null(value.copy()), copy=False),
            copy=False)
        e = self.con.sql(ev.sql(self.dialect, copy=False)).to_arrow_table()
        index = K.KeyIndex([e.column(n) for n in knames])
        t = e.column(T).to_numpy().astype(np.int64, copy=False)
        order, ev_start = K.order_by_key_time(index.ids, t, index.n)
        val = e.column("__v").to_numpy(zero_copy_only=False).astype(
            np.int64 if g.integer else np.float64, copy=False)[order]
        m = e.column("__m").to_numpy().astype(np.int64, copy=False)[order]
        coded = [K.dictionary_codes(e.column(f"__d{j}")) for j in range(len(dcols))]
        codes = (np.vstack([c[order] for c, _ in coded]) if coded
                 else np.empty((0, len(order)), np.int64))
        n_codes = np.asarray([n for _, n in coded], np.int64)
        return index, ev_start, t[order], val, m, codes, n_codes

    def _keys(self, entity: str, table: str | None, *, materialised: bool = False
              ) -> list[exp.Expression]:
        out = []
        for k in ENTITIES[entity].keys:
            out.append(S.category_expr(S.col("mcc", table))
                       if k == "category" and table != "__q" and not materialised
                       else S.col(k, table))
        return out

    def _group_sql(self, g: Group, strategy: str,
                   features: list[tuple[str, int, int, int]] | None = None) -> exp.Expression:
        """One group's features for the query rows: window functions, or a range join."""
        d = self.dialect
        src = g.source
        keys = self._keys(g.entity, None, materialised=True)
        knames = [f"__k{i}" for i in range(len(keys))]
        dcols = g.distinct_columns
        value = S.value_expr(src, g.column, None)
        ev_cols = [S.alias(k, n) for k, n in zip(keys, knames, strict=True)]
        ev_cols += [S.col(T), S.alias(value, "__v")]
        ev_cols += [S.alias(S.lane_expr(src, lane, None), f"__l{i}")
                    for i, lane in enumerate(g.lanes)]
        ev_cols += [S.alias(S.col(c), f"__d{j}") for j, c in enumerate(dcols)]
        not_null = [_not_null(k) for k in keys] + [_not_null(value.copy())]
        q_keys = self._keys(g.entity, "__q", materialised=True)
        q_not_null = exp.and_(*[_not_null(k) for k in q_keys], copy=False)
        part = [S.col(n) for n in knames]
        if strategy == "window":
            ev_cols.append(S.alias(S.cast(exp.Null(), "BIGINT"), ROW))
            ev = exp.select(*ev_cols, copy=False).from_(f"__src_{src}", copy=False).where(
                exp.and_(*not_null, copy=False), copy=False)
            q_cols = [S.alias(k, n) for k, n in zip(q_keys, knames, strict=True)]
            q_cols += [S.alias(S.col(T), T), S.alias(exp.Null(), "__v")]
            q_cols += [S.alias(exp.Boolean(this=False), f"__l{i}") for i in range(len(g.lanes))]
            q_cols += [S.alias(exp.Null(), f"__d{j}") for j in range(len(dcols))]
            q_cols.append(S.col(ROW))
            q = exp.select(*q_cols, copy=False).from_("__q", copy=False).where(
                q_not_null, copy=False)
            body: exp.Expression = exp.union(ev, q, distinct=False, copy=False)
            et = T
        else:
            ev = exp.select(*ev_cols, copy=False).from_(f"__src_{src}", copy=False).where(
                exp.and_(*not_null, copy=False), copy=False)
            on = [exp.EQ(this=S.col(n, "e"), expression=k.copy())
                  for n, k in zip(knames, q_keys, strict=True)]
            on += [exp.LT(this=S.col(T, "e"), expression=S.col(T, "__q")),
                   exp.GTE(this=S.col(T, "e"), expression=exp.Sub(
                       this=S.col(T, "__q"), expression=S.lit(max(g.windows))))]
            body = exp.select(
                S.col(ROW, "__q"), S.col(T, "__q"), S.alias(S.col(T, "e"), "__et"),
                S.col("__v", "e"), *[S.col(f"__l{i}", "e") for i in range(len(g.lanes))],
                *[S.col(f"__d{j}", "e") for j in range(len(dcols))], copy=False,
            ).from_("__q", copy=False).join(
                exp.Subquery(this=ev, alias=exp.TableAlias(this=exp.to_identifier("e"))),
                on=exp.and_(*on, copy=False), join_type="left", copy=False,
            ).where(q_not_null, copy=False)
            et = "__et"
        tcol, ecol, v = S.col(T), S.col(et), S.col("__v")
        prims: dict[tuple[str, int, int], str] = {}
        prim_exprs: list[exp.Expression] = []

        def when(lane: int, w: int) -> exp.Expression:
            lane_c = S.col(f"__l{lane}")
            if strategy == "window":
                return lane_c
            return exp.and_(lane_c, exp.GTE(this=ecol.copy(), expression=exp.Sub(
                this=tcol.copy(), expression=S.lit(g.windows[w]))), copy=False)

        def prim(kind: str, w: int, lane: int) -> exp.Expression:
            key = (kind, w, lane)
            if key not in prims:
                if kind == "cnt":
                    agg = exp.Count(this=S.case((when(lane, w), S.lit(1))))
                elif kind == "s1":
                    agg = exp.Sum(this=S.case((when(lane, w), v.copy())))
                elif kind == "s2":
                    big = "HUGEINT" if d == "duckdb" else "DECIMAL(38, 0)"
                    agg = exp.Sum(this=S.case((when(lane, w), exp.Mul(
                        this=S.cast(v.copy(), big), expression=v.copy()))))
                elif kind == "mn":
                    agg = exp.Min(this=S.case((when(lane, w), v.copy())))
                elif kind == "mx":
                    agg = exp.Max(this=S.case((when(lane, w), v.copy())))
                elif kind == "last":
                    agg = exp.Max(this=S.case((when(lane, w), S.pair(ecol.copy(), v.copy()))))
                elif kind == "lt":
                    agg = exp.Max(this=S.case((when(lane, w), ecol.copy())))
                else:  # distinct: lane = spec index
                    c, ln = g.distinct[lane]
                    agg = exp.Count(this=exp.Distinct(expressions=[
                        S.case((when(ln, w), S.col(f"__d{dcols.index(c)}")))]))
                alias = f"__p{len(prims)}"
                prims[key] = alias
                if strategy == "window":
                    agg = S.window(agg, part, tcol, g.windows[w])
                prim_exprs.append(S.alias(agg, alias))
            return S.col(prims[key])

        finals = [S.alias(self._final(g, stat, w, lane, prim), name, quoted=True)
                  for name, stat, w, lane in (g.features if features is None else features)]
        sub = exp.Subquery(this=body, alias=exp.TableAlias(this=exp.to_identifier("__u")))
        inner = exp.select(S.col(ROW), S.col(T), *prim_exprs, copy=False).from_(sub, copy=False)
        if strategy != "window":
            inner = inner.group_by(S.col(ROW), S.col(T), copy=False)
        out = exp.select(S.col(ROW), *finals, copy=False).from_(
            exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("__w"))),
            copy=False)
        if strategy == "window":
            out = out.where(_not_null(S.col(ROW)), copy=False)
        return out

    def _final(self, g: Group, stat: int, w: int, lane: int, prim: Any) -> exp.Expression:
        kind = "distinct" if stat < 0 else STATS[stat]
        if kind == "distinct":
            return S.cast(prim("dc", w, lane), "DOUBLE")
        if kind == "count":
            return S.cast(prim("cnt", w, lane), "DOUBLE")
        if kind == "sum":
            return S.cast(exp.func("COALESCE", prim("s1", w, lane), S.lit(0)), "DOUBLE")
        if kind == "mean":
            return S.div(prim("s1", w, lane), prim("cnt", w, lane))
        if kind == "min":
            return S.cast(prim("mn", w, lane), "DOUBLE")
        if kind == "max":
            return S.cast(prim("mx", w, lane), "DOUBLE")
        if kind == "std":
            n = prim("cnt", w, lane)
            num = exp.Sub(this=exp.Mul(this=n.copy(), expression=prim("s2", w, lane)),
                          expression=exp.Mul(this=prim("s1", w, lane),
                                             expression=prim("s1", w, lane)))
            var = exp.Div(this=exp.func("GREATEST", S.cast(num, "DOUBLE"), S.lit(0.0)),
                          expression=exp.Paren(this=exp.Mul(
                              this=n.copy(), expression=exp.Paren(this=exp.Sub(
                                  this=n.copy(), expression=S.lit(1.0))))))
            return S.case((exp.GTE(this=n.copy(), expression=S.lit(2)), exp.func("SQRT", var)))
        if kind == "last":
            return S.cast(S.struct_field(prim("last", w, lane), "v", self.dialect), "DOUBLE")
        if kind == "time_since_last":
            return exp.Div(this=S.cast(exp.Sub(this=S.col(T), expression=prim("lt", w, lane)),
                                       "DOUBLE"), expression=S.lit(1e6))
        if kind == "share":
            return S.div(prim("cnt", w, lane), prim("cnt", w, 0))
        raise ValueError(kind)  # pragma: no cover

    def _label_sql(self, entity: str, feats: list[Any]) -> exp.Expression:
        d = self.dialect
        labels = exp.select(
            S.col("auth_id"),
            S.alias(exp.Min(this=S.epoch_us(S.col("reported_at"), d)), "__known"),
        ).from_("fraud_labels").where(exp.In(
            this=S.col("label"), expressions=[S.lit(v) for v in schema.FRAUD_LABELS])
        ).group_by(S.col("auth_id"))
        keys = self._keys(entity, "a")
        knames = [f"__k{i}" for i in range(len(keys))]
        fe = exp.select(*[S.alias(k, n) for k, n in zip(keys, knames, strict=True)],
                        S.alias(S.epoch_us(S.col("ts", "a"), d), T), S.col("__known", "l")
                        ).from_(S.alias(exp.to_table("authorizations"), "a")).join(
            exp.Subquery(this=labels, alias=exp.TableAlias(this=exp.to_identifier("l"))),
            on=exp.EQ(this=S.col("auth_id", "a"), expression=S.col("auth_id", "l")),
        ).where(exp.and_(exp.EQ(this=S.col("message_type", "a"), expression=S.lit("purchase")),
                         *[exp.Not(this=exp.Is(this=k.copy(), expression=exp.Null()))
                           for k in keys]))
        maxw = max(x.window_us for x in feats)
        qt, ft = S.col(T, "q"), S.col(T, "fe")
        on = [exp.EQ(this=S.col(k, "q") if k != "category" else S.col("category", "q"),
                     expression=S.col(n, "fe"))
              for k, n in zip(ENTITIES[entity].keys, knames, strict=True)]
        on += [exp.LT(this=ft.copy(), expression=qt.copy()),
               exp.GTE(this=ft.copy(), expression=exp.Sub(this=qt.copy(), expression=S.lit(maxw)))]
        counts = []
        for x in feats:
            cond = exp.and_(
                exp.GTE(this=ft.copy(), expression=exp.Sub(this=qt.copy(),
                                                           expression=S.lit(x.window_us))),
                exp.LTE(this=exp.Add(this=S.col("__known", "fe"), expression=S.lit(x.delay_us)),
                        expression=qt.copy()))
            counts.append(S.alias(exp.Count(this=S.case((cond, S.lit(1)))), f"__lc_{x.name}"))
        q_keys = [S.col(k, "q") for k in ENTITIES[entity].keys]
        return exp.select(S.col(ROW, "q"), *counts).from_(
            S.alias(exp.to_table("__q"), "q")).join(
            exp.Subquery(this=fe, alias=exp.TableAlias(this=exp.to_identifier("fe"))),
            on=exp.and_(*on), join_type="left",
        ).where(exp.and_(*[exp.Not(this=exp.Is(this=k, expression=exp.Null())) for k in q_keys])
                ).group_by(S.col(ROW, "q"))

    def _repayment_sql(self, entity: str, feats: list[Any]) -> exp.Expression:
        d = self.dialect
        lookback = feats[0].lookback_us
        keys = self._keys(entity, None)
        knames = [f"__k{i}" for i in range(len(keys))]
        rep = exp.select(*[S.alias(k, n) for k, n in zip(keys, knames, strict=True)],
                         S.alias(S.epoch_us(S.col("ts"), d), T),
                         S.alias(S.cast(S.col("amount_fen"), "BIGINT"), "__v"),
                         S.alias(S.cast(exp.Null(), "BIGINT"), ROW)).from_("repayments")
        q = exp.select(*[S.alias(S.col(k), n) for k, n in
                         zip(ENTITIES[entity].keys, knames, strict=True)],
                       S.col(T), S.alias(exp.Null(), "__v"), S.col(ROW)).from_("__q")
        union = exp.union(rep, q, distinct=False)
        last = S.window(exp.Max(this=S.case((exp.Is(this=S.col(ROW), expression=exp.Null()),
                                             S.pair(S.col(T), S.col("__v"))))),
                        [S.col(n) for n in knames], S.col(T), lookback)
        lr = exp.select(S.col(ROW), S.col(T), *[S.col(n) for n in knames],
                        S.alias(last, "__last")).from_(
            exp.Subquery(this=union, alias=exp.TableAlias(this=exp.to_identifier("__u"))))
        lr = exp.select(S.col(ROW), S.col(T), *[S.col(n) for n in knames],
                        S.alias(S.struct_field(S.col("__last"), "t", d), "__rt"),
                        S.alias(S.struct_field(S.col("__last"), "v", d), "__rv")).from_(
            exp.Subquery(this=lr, alias=exp.TableAlias(this=exp.to_identifier("__l")))
        ).where(exp.Not(this=exp.Is(this=S.col(ROW), expression=exp.Null())))
        pur = exp.select(*[S.alias(k, n) for k, n in zip(keys, knames, strict=True)],
                         S.alias(S.epoch_us(S.col("ts"), d), T),
                         S.alias(S.cast(S.col("amount_fen"), "BIGINT"), "__v")
                         ).from_("authorizations").where(exp.and_(
                             exp.EQ(this=S.col("message_type"), expression=S.lit("purchase")),
                             exp.EQ(this=S.col("approved"), expression=exp.Boolean(this=True))))
        on = [exp.EQ(this=S.col(n, "r"), expression=S.col(n, "p")) for n in knames]
        on += [exp.GTE(this=S.col(T, "p"), expression=S.col("__rt", "r")),
               exp.LT(this=S.col(T, "p"), expression=S.col(T, "r"))]
        agg = exp.select(
            S.col(ROW, "r"), S.col("__rt", "r"), S.col("__rv", "r"),
            S.alias(exp.Count(this=S.col(T, "p")), "__n"),
            S.alias(exp.Sum(this=S.col("__v", "p")), "__s"),
            S.alias(exp.Min(this=S.col(T, "p")), "__ft"),
        ).from_(exp.Subquery(this=lr, alias=exp.TableAlias(this=exp.to_identifier("r")))).join(
            exp.Subquery(this=pur, alias=exp.TableAlias(this=exp.to_identifier("p"))),
            on=exp.and_(*on), join_type="left",
        ).group_by(S.col(ROW, "r"), S.col("__rt", "r"), S.col("__rv", "r"))
        has = exp.Not(this=exp.Is(this=S.col("__rt"), expression=exp.Null()))
        spend = exp.func("COALESCE", S.col("__s"), S.lit(0))
        finals = []
        for x in feats:
            if x.measure == "count_since":
                e = S.case((has, S.cast(S.col("__n"), "DOUBLE")))
            elif x.measure == "spend_since":
                e = S.case((has.copy(), S.cast(spend.copy(), "DOUBLE")))
            elif x.measure == "spend_ratio":
                e = S.case((has.copy(), S.div(spend.copy(), S.col("__rv"))))
            else:
                e = exp.Div(this=S.cast(exp.Sub(this=S.col("__ft"), expression=S.col("__rt")),
                                        "DOUBLE"), expression=S.lit(1e6))
            finals.append(S.alias(e, x.name, quoted=True))
        return exp.select(S.col(ROW), *finals).from_(
            exp.Subquery(this=agg, alias=exp.TableAlias(this=exp.to_identifier("__a"))))


def _check(strategy: str) -> str:
    if strategy not in ("window", "join", "compiled"):
        raise ValueError(f"unknown strategy {strategy!r}; known: auto, join, compiled, window")
    return strategy


def _with(query: exp.Select, ctes: list[tuple[str, exp.Expression]]) -> exp.Select:
    for name, body in ctes:
        query = query.with_(name, as_=body, copy=False)
    return query


def _not_null(e: exp.Expression) -> exp.Expression:
    return exp.Not(this=exp.Is(this=e, expression=exp.Null()))


def _request_sql(r: RequestFeature, table: str | None) -> exp.Expression:
    what = r.what
    flag = lambda cond: S.cast(S.case((cond, S.lit(1)), default=S.lit(0)), "DOUBLE")  # noqa: E731
    t = S.col(T, table)
    if what == "amount":
        return S.cast(S.col("amount_fen", table), "DOUBLE")
    if what == "hour":
        return S.cast(S.hour_expr(t), "DOUBLE")
    if what == "is_night":
        return flag(S.night_expr(t))
    if what == "is_online":
        return flag(exp.In(this=S.col("channel", table),
                           expressions=[S.lit(c) for c in ("online_cnp", "wallet", "qr")]))
    if what == "is_cross_border":
        return S.cast(S.col("cross_border", table), "DOUBLE")
    head, _, tail = what.partition("_")
    if head == "channel":
        return flag(exp.EQ(this=S.col("channel", table), expression=S.lit(tail)))
    if head == "category":
        return flag(exp.EQ(this=S.category_expr(S.col("mcc", table)), expression=S.lit(tail)))
    if head == "band":
        return flag(exp.EQ(this=S.band_expr(S.col("amount_fen", table)), expression=S.lit(tail)))
    raise ValueError(f"unknown request feature {what!r}")  # pragma: no cover


def _derived_sql(op: str, xs: list[exp.Expression]) -> exp.Expression:
    if op == "ratio":
        return S.div(xs[0], xs[1])
    if op == "zscore":
        x, m, s = xs
        return S.case((exp.GT(this=s, expression=S.lit(0)),
                       exp.Div(this=exp.Paren(this=exp.Sub(this=x, expression=m)),
                               expression=s.copy())))
    if op == "is_zero":
        (a,) = xs
        return S.case((exp.or_(exp.Is(this=a, expression=exp.Null()),
                               exp.EQ(this=a.copy(), expression=S.lit(0))), S.lit(1.0)),
                      default=S.lit(0.0))
    raise ValueError(f"unknown op {op!r}")  # pragma: no cover
