"""Merchant rings: communities of colluding merchants found through the cards that cycle through them.

From the detector's suspect card-cycles, the purchases of those cycles form a card–merchant
bipartite graph. Merchants that take a large share of their volume from suspect cards are the
candidates; projected onto merchants (edge weight = suspect cards shared), the graph splits into
communities (Louvain by default, label propagation as an option, both from networkx). Each
community is a *ring* with its evidence: shared cards, merchant age, categories, volume. Merchants
that pass the evidence thresholds make the suspect-merchant list, exported in the shape of the
authorization engine's list entries.

>>> RingConfig(method="kmeans")
Traceback (most recent call last):
...
ValueError: method must be 'louvain' or 'label_propagation', got 'kmeans'
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import duckdb
import networkx as nx
import pyarrow as pa

from cardmind.dataset import Dataset
from cardmind.errors import InvalidInput
from cardmind.models.cashout.features import connect, cycle_end_sql
from cardmind.units import TIMEZONE_NAME

LIST_TYPE = "watch"


@dataclass(frozen=True, kw_only=True)
class RingConfig:
    """Thresholds of the merchant-ring search."""

    min_suspect_cards: int = 2
    min_suspect_share: float = 0.3
    min_shared_cards: int = 1
    method: str = "louvain"
    resolution: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in ("louvain", "label_propagation"):
            raise ValueError(
                f"method must be 'louvain' or 'label_propagation', got {self.method!r}"
            )
        if self.min_suspect_cards < 1 or self.min_shared_cards < 1:
            raise ValueError("min_suspect_cards and min_shared_cards must be >= 1")
        if not 0 <= self.min_suspect_share <= 1:
            raise ValueError(f"min_suspect_share must be in [0, 1], got {self.min_suspect_share}")
        if self.resolution <= 0:
            raise ValueError(f"resolution must be > 0, got {self.resolution}")


@dataclass(frozen=True, kw_only=True)
class Ring:
    """One community of merchants with the evidence that ties them together."""

    ring_id: str
    merchant_ids: tuple[str, ...]
    suspect_cards: int
    shared_cards: int
    suspect_volume_fen: int
    suspect_share: float
    median_age_days: float | None
    categories: tuple[str, ...]

    def evidence_text(self) -> tuple[str, str]:
        """One sentence of evidence in English and in Chinese."""
        age = "unknown" if self.median_age_days is None else f"{self.median_age_days:.0f}"
        cats = ", ".join(self.categories) or "unknown"
        en = (
            f"ring {self.ring_id}: {len(self.merchant_ids)} merchants, {self.suspect_cards} suspect "
            f"cards ({self.shared_cards} shared), {self.suspect_share:.0%} of volume from suspect "
            f"cards, median age {age} days, categories {cats}"
        )
        zh = (
            f"团伙{self.ring_id}：{len(self.merchant_ids)}家商户，{self.suspect_cards}张可疑卡"
            f"（{self.shared_cards}张共用），可疑卡交易占{self.suspect_share:.0%}，"
            f"商户中位开业{age}天，类别：{cats}"
        )
        return en, zh


@dataclass(frozen=True, kw_only=True)
class RingReport:
    """Rings found, the per-merchant evidence table, and the graph sizes and timing."""

    rings: tuple[Ring, ...]
    merchants: pa.Table
    graph: dict[str, Any] = field(default_factory=dict)

    def suspect_list(self, *, expires_at: date | None = None) -> list[dict[str, Any]]:
        """Suspect merchants as list entries (``kind="merchant"``, ``list_type="watch"``)
        with their evidence; the shape of ``cardmind.decisions`` list entries plus ``evidence``."""
        by_id = {r.ring_id: r for r in self.rings}
        out = []
        for row in self.merchants.to_pylist():
            if not row["suspect"]:
                continue
            ring = by_id.get(row["ring_id"])
            en, zh = ring.evidence_text() if ring else ("", "")
            out.append(
                {
                    "kind": "merchant",
                    "value": row["merchant_id"],
                    "list_type": LIST_TYPE,
                    "reason": f"cash-out ring suspect / 疑似套现商户 ({row['ring_id']})"[:200],
                    "added_by": "cardmind-cashout-rings",
                    "expires_at": expires_at.isoformat() if expires_at else None,
                    "evidence": {
                        "ring_id": row["ring_id"],
                        "suspect_cards": row["suspect_cards"],
                        "cards": row["cards"],
                        "suspect_share": round(row["suspect_share"], 4),
                        "age_days": row["age_days"],
                        "category": row["category"],
                        "volume_fen": row["volume_fen"],
                        "ring_en": en,
                        "ring_zh": zh,
                    },
                }
            )
        return out


_MERCHANT_SQL = """
WITH p AS (
    SELECT a.card_token, a.merchant_id, a.amount_fen, a.ts,
           {cycle_end} AS cycle_end
    FROM auth_src a JOIN cards c ON c.card_token = a.card_token
    WHERE a.message_type = 'purchase' AND a.approved
),
s AS (SELECT DISTINCT card_token, cycle_end FROM suspects),
sp AS (SELECT p.* FROM p JOIN s USING (card_token, cycle_end)),
tot AS (
    SELECT merchant_id, count(DISTINCT card_token) AS cards, sum(amount_fen)::BIGINT AS volume_fen,
           max(ts) AS last_ts
    FROM p GROUP BY merchant_id
),
sus AS (
    SELECT merchant_id, count(DISTINCT card_token) AS suspect_cards,
           sum(amount_fen)::BIGINT AS suspect_volume_fen
    FROM sp GROUP BY merchant_id
)
SELECT sus.merchant_id, sus.suspect_cards, tot.cards, sus.suspect_volume_fen, tot.volume_fen,
       sus.suspect_volume_fen::DOUBLE / tot.volume_fen AS suspect_share,
       (CAST(tot.last_ts AS DATE) - m.onboarded_at)::BIGINT AS age_days, m.category
FROM sus JOIN tot USING (merchant_id) LEFT JOIN merchants m USING (merchant_id)
ORDER BY sus.merchant_id
"""

_EDGES_SQL = """
WITH p AS (
    SELECT DISTINCT a.card_token, a.merchant_id, {cycle_end} AS cycle_end
    FROM auth_src a JOIN cards c ON c.card_token = a.card_token
    WHERE a.message_type = 'purchase' AND a.approved
),
sp AS (
    SELECT DISTINCT p.card_token, p.merchant_id FROM p
    JOIN (SELECT DISTINCT card_token, cycle_end FROM suspects) s USING (card_token, cycle_end)
    WHERE p.merchant_id IN (SELECT merchant_id FROM candidates)
)
SELECT a.merchant_id AS m1, b.merchant_id AS m2, count(*) AS shared
FROM sp a JOIN sp b ON a.card_token = b.card_token AND a.merchant_id < b.merchant_id
GROUP BY ALL
"""


def _communities(graph: nx.Graph, cfg: RingConfig) -> list[set[str]]:
    if graph.number_of_nodes() == 0:
        return []
    if cfg.method == "louvain":
        return [
            set(c)
            for c in nx.community.louvain_communities(
                graph, weight="weight", resolution=cfg.resolution, seed=cfg.seed
            )
        ]
    return [
        set(c) for c in nx.community.asyn_lpa_communities(graph, weight="weight", seed=cfg.seed)
    ]


def find_rings(
    ds: Dataset,
    suspects: pa.Table,
    *,
    config: RingConfig | None = None,
    as_of: datetime | None = None,
) -> RingReport:
    """Rings of merchants from ``suspects`` (``card_token``, ``cycle_end`` of alerted card-cycles,
    e.g. the alerted rows of the detector's per-cycle summary), from purchases up to ``as_of``."""
    cfg = config or RingConfig()
    for col in ("card_token", "cycle_end"):
        if col not in suspects.column_names:
            raise InvalidInput(f"suspects table needs column {col!r}")
    for t in ("cards", "merchants", "authorizations"):
        if not ds.has(t):
            raise InvalidInput(f"{ds.path}: merchant rings need table {t!r}, which is absent")
    con = connect(ds)
    con.execute(f"SET TimeZone = '{TIMEZONE_NAME}'")
    con.register("suspects", suspects.select(["card_token", "cycle_end"]))
    # every query below reads purchases through this view (cut at as_of when given)
    cutoff = ""
    if as_of is not None:
        if as_of.tzinfo is None:
            raise InvalidInput("as_of must be timezone-aware")
        # DDL takes no parameters: the ISO text of a datetime is safe to inline
        cutoff = f" WHERE ts <= TIMESTAMPTZ '{as_of.isoformat()}'"
    con.execute(f"CREATE OR REPLACE TEMP VIEW auth_src AS SELECT * FROM authorizations{cutoff}")
    ce = cycle_end_sql("a.ts", "c.billing_day")
    merchants = con.sql(_MERCHANT_SQL.format(cycle_end=ce)).to_arrow_table()
    rows = merchants.to_pylist()
    candidates = [
        r["merchant_id"]
        for r in rows
        if r["suspect_cards"] >= cfg.min_suspect_cards
        and r["suspect_share"] >= cfg.min_suspect_share
    ]
    con.register("candidates", pa.table({"merchant_id": pa.array(candidates, pa.string())}))
    edges = con.sql(_EDGES_SQL.format(cycle_end=ce)).to_arrow_table().to_pylist()
    graph = nx.Graph()
    graph.add_nodes_from(candidates)
    graph.add_weighted_edges_from(
        (e["m1"], e["m2"], e["shared"]) for e in edges if e["shared"] >= cfg.min_shared_cards
    )
    t0 = time.perf_counter()
    communities = _communities(graph, cfg)
    seconds = time.perf_counter() - t0
    communities.sort(key=lambda c: (-len(c), min(c)))
    by_m = {r["merchant_id"]: r for r in rows}
    rings: list[Ring] = []
    ring_of: dict[str, str] = {}
    for i, members in enumerate(communities, start=1):
        rid = f"R{i:03d}"
        ms = tuple(sorted(members))
        for m in ms:
            ring_of[m] = rid
        sub = graph.subgraph(ms)
        shared = _shared_cards(con, ms)
        vol = sum(by_m[m]["suspect_volume_fen"] for m in ms)
        total = sum(by_m[m]["volume_fen"] for m in ms)
        ages = sorted(by_m[m]["age_days"] for m in ms if by_m[m]["age_days"] is not None)
        rings.append(
            Ring(
                ring_id=rid,
                merchant_ids=ms,
                suspect_cards=_suspect_cards(con, ms),
                shared_cards=shared if sub.number_of_edges() else 0,
                suspect_volume_fen=int(vol),
                suspect_share=float(vol / total) if total else 0.0,
                median_age_days=float(ages[len(ages) // 2]) if ages else None,
                categories=tuple(sorted({by_m[m]["category"] for m in ms if by_m[m]["category"]})),
            )
        )
    table = merchants.append_column(
        "ring_id", pa.array([ring_of.get(r["merchant_id"]) for r in rows], pa.string())
    ).append_column("suspect", pa.array([r["merchant_id"] in ring_of for r in rows], pa.bool_()))
    info = {
        "suspect_card_cycles": suspects.num_rows,
        "merchants_touched": len(rows),
        "candidate_merchants": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
        "method": cfg.method,
        "community_seconds": round(seconds, 6),
    }
    return RingReport(rings=tuple(rings), merchants=table, graph=info)


def _card_merchants(con: duckdb.DuckDBPyConnection, ms: tuple[str, ...]) -> str:
    ce = cycle_end_sql("a.ts", "c.billing_day")
    return f"""
        SELECT DISTINCT a.card_token, a.merchant_id
        FROM auth_src a JOIN cards c ON c.card_token = a.card_token
        JOIN (SELECT DISTINCT card_token, cycle_end FROM suspects) s
          ON s.card_token = a.card_token AND s.cycle_end = {ce}
        WHERE a.message_type = 'purchase' AND a.approved AND list_contains($ms, a.merchant_id)
    """


def _suspect_cards(con: duckdb.DuckDBPyConnection, ms: tuple[str, ...]) -> int:
    sql = f"SELECT count(DISTINCT card_token) FROM ({_card_merchants(con, ms)})"
    return int(con.sql(sql, params={"ms": list(ms)}).fetchall()[0][0])


def _shared_cards(con: duckdb.DuckDBPyConnection, ms: tuple[str, ...]) -> int:
    sql = f"""SELECT count(*) FROM (SELECT card_token FROM ({_card_merchants(con, ms)})
              GROUP BY card_token HAVING count(*) >= 2)"""
    return int(con.sql(sql, params={"ms": list(ms)}).fetchall()[0][0])
