"""Installment offers (分期推荐) for one authorization or statement, by id.

The service reads a **persisted offer index** (:func:`build_offer_index`): one DuckDB file with the
dataset's approved purchases and statements (amount before any conversion, limit), and one profile
row per card (status, days past due, the customer's monthly behaviour, the card's monthly PD, its
plans and earlier offers), each keyed by a single column so DuckDB answers from its ART index. It is built once per dataset (``cardmind installment index``, or by
``cardmind train installment``) and opened read-only at start-up in milliseconds; every request
then reads its few rows by key.

An answer is the best (periods, discount) of the grid by expected incremental net revenue
``P(accept) x (fee - expected loss - funding)`` (the rule of
:func:`cardmind.models.installment.choose_offers`, with the card's PD for the loss), or a refusal with
a reason in English and Chinese for closed, frozen, charged-off or delinquent accounts, or when no
term earns more than it costs. Unknown ids raise :class:`UnknownSource` (HTTP 404).
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from cardmind.dataset import Dataset
from cardmind.decisions._data import connect
from cardmind.errors import InvalidInput
from cardmind.models.installment import FEATURES, InstallmentModel, fee_bp, term_grid
from cardmind.models.installment_risk import OfferEconomics, card_month_pd

KINDS = ("purchase", "statement")
INDEX_VERSION = 2
REFUSALS = {
    "closed": ("ACCOUNT_CLOSED", "The account is closed.", "账户已销户。"),
    "charged_off": ("ACCOUNT_CHARGED_OFF", "The account is charged off.", "账户已核销。"),
    "frozen": ("ACCOUNT_FROZEN", "The account is frozen.", "账户已冻结。"),
    "delinquent": ("ACCOUNT_DELINQUENT", "The account is past due; no installment offer until it is current.",
                   "账户逾期，还清前不提供分期。"),
    "unprofitable": ("NO_PROFITABLE_TERMS", "No installment term is expected to earn more than its risk and "
                     "funding cost.", "预计没有任何分期方案的收益能覆盖风险和资金成本。"),
}


class UnknownSource(LookupError):
    """No purchase or statement with this id."""


@dataclass(frozen=True, kw_only=True)
class OfferDecision:
    """An offer (``offered=True`` with terms and money) or a refusal (reason code, English and Chinese)."""

    kind: str
    source_id: str
    offered: bool
    periods: int | None = None
    fee_rate_bp: int | None = None
    list_fee_rate_bp: int | None = None
    discount_pct: int | None = None
    principal_fen: int | None = None
    fee_total_fen: int | None = None
    p_accept: float | None = None
    pd_12m: float | None = None
    expected_revenue_fen: int | None = None
    expected_loss_fen: int | None = None
    expected_funding_fen: int | None = None
    expected_net_fen: int | None = None
    reason_code: str | None = None
    reason: str | None = None
    reason_zh: str | None = None


_INDEX_SQL = """
CREATE TABLE idx.sources AS
  SELECT 'purchase' AS kind, a.auth_id AS source_id, a.card_token, a.customer_id, a.ts,
         a.amount_fen, c.credit_limit_fen AS limit_fen
  FROM authorizations a JOIN cards c USING (card_token)
  WHERE a.approved AND a.message_type = 'purchase'
  UNION ALL
  SELECT 'statement', s.statement_id, s.card_token, s.customer_id, s.statement_date::TIMESTAMPTZ,
         s.new_balance_fen + coalesce(p.principal_fen, 0), s.credit_limit_fen
  FROM statements s LEFT JOIN {plans} p ON p.kind = 'statement' AND p.source_id = s.statement_id;
CREATE TABLE idx.card_profile AS
  WITH pm AS (
    SELECT customer_id, strftime(date_trunc('month', ts), '%Y-%m') AS month, count(*) AS n,
           sum(amount_fen) AS spend FROM authorizations
    WHERE approved AND message_type = 'purchase' GROUP BY ALL),
  sm AS (
    SELECT customer_id, strftime(date_trunc('month', statement_date), '%Y-%m') AS month,
           sum(greatest(previous_balance_fen - repayments_fen, 0)) AS revolving, max(days_past_due) AS dpd
    FROM statements GROUP BY ALL),
  cm AS (
    SELECT coalesce(pm.customer_id, sm.customer_id) AS customer_id, coalesce(pm.month, sm.month) AS month,
           coalesce(pm.n, 0) AS n, coalesce(pm.spend, 0) AS spend, coalesce(sm.revolving, 0) AS revolving,
           coalesce(sm.dpd, 0) AS dpd
    FROM pm FULL OUTER JOIN sm ON pm.customer_id = sm.customer_id AND pm.month = sm.month),
  cml AS (
    SELECT customer_id, list(month ORDER BY month) AS months, list(n ORDER BY month) AS n,
           list(spend ORDER BY month) AS spend, list(revolving ORDER BY month) AS revolving,
           list(dpd ORDER BY month) AS month_dpd
    FROM cm GROUP BY 1),
  pdl AS (SELECT card_token, list(month ORDER BY month) AS pd_months, list(pd_12m ORDER BY month) AS pd
          FROM pd_frame GROUP BY 1),
  pl AS (SELECT card_token, list(created_at ORDER BY created_at) AS plan_ts,
                list(source_id ORDER BY created_at) AS plan_src
         FROM {plans} AS q GROUP BY 1),
  ol AS (SELECT card_token, list(offered_at ORDER BY offered_at) AS offer_ts,
                list(source_id ORDER BY offered_at) AS offer_src, list(accepted ORDER BY offered_at) AS offer_acc
         FROM {offers} AS o GROUP BY 1),
  last AS (SELECT card_token, arg_max(days_past_due, statement_date) AS dpd FROM statements GROUP BY 1)
  SELECT c.card_token, c.status, coalesce(last.dpd, 0) AS dpd, cml.months, cml.n, cml.spend, cml.revolving,
         cml.month_dpd, pdl.pd_months, pdl.pd, pl.plan_ts, pl.plan_src, ol.offer_ts, ol.offer_src, ol.offer_acc
  FROM cards c LEFT JOIN last USING (card_token) LEFT JOIN cml ON cml.customer_id = c.customer_id
  LEFT JOIN pdl USING (card_token) LEFT JOIN pl USING (card_token) LEFT JOIN ol USING (card_token);
CREATE UNIQUE INDEX sources_key ON idx.sources (source_id);
CREATE UNIQUE INDEX card_profile_key ON idx.card_profile (card_token);
"""


def default_index_path(home: str | Path | None = None) -> Path:
    """``$CARDMIND_HOME/serve/installment-index.duckdb``."""
    if home is None:
        from cardmind.settings import get_settings

        home = get_settings().home
    return Path(home) / "serve" / "installment-index.duckdb"


def build_offer_index(data: str | Path | Dataset, path: str | Path) -> dict:
    """Write the offer index of a dataset to ``path`` (replaced atomically); returns its metadata."""
    ds, con = connect(data)
    for t in ("authorizations", "statements", "cards"):
        if not ds.has(t):
            raise InvalidInput(f"{ds.path}: the installment offer index needs the {t!r} table")
    t0 = time.perf_counter()
    pd_frame, pd_info = card_month_pd(ds)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    con.execute(f"ATTACH '{str(tmp).replace(chr(39), chr(39) * 2)}' AS idx")
    con.register("pd_frame", pd_frame)
    plans = "installment_plans" if ds.has("installment_plans") else \
        ("(SELECT NULL::VARCHAR AS card_token, NULL::VARCHAR AS kind, NULL::VARCHAR AS source_id, "
         "NULL::BIGINT AS principal_fen, NULL::TIMESTAMPTZ AS created_at WHERE false)")
    offers = "truth_installment_offers" if ds.has("truth_installment_offers") else \
        ("(SELECT NULL::VARCHAR AS card_token, NULL::TIMESTAMPTZ AS offered_at, NULL::VARCHAR AS source_id, "
         "NULL::BOOLEAN AS accepted WHERE false)")
    sql = _INDEX_SQL.replace("{plans}", plans).replace("{offers}", offers)
    for stmt in sql.strip().split(";\n"):
        con.execute(stmt)
    meta = {"version": INDEX_VERSION, "dataset": str(Path(ds.path).resolve()), "fingerprint": dataset_fingerprint(ds),
            "sources": con.execute("SELECT count(*) FROM idx.sources").fetchone()[0],
            "pd": pd_info, "build_seconds": round(time.perf_counter() - t0, 2)}
    con.execute("CREATE TABLE idx.meta (json VARCHAR)")
    con.execute("INSERT INTO idx.meta VALUES (?)", [json.dumps(meta, default=str)])
    con.execute("DETACH idx")
    con.close()
    tmp.replace(path)
    return meta


def dataset_fingerprint(data: str | Path | Dataset) -> str:
    """Path and manifest digest of a dataset: an index is reused only for the same data."""
    ds = data if isinstance(data, Dataset) else Dataset(data)
    manifest = json.dumps(getattr(ds, "manifest", {}), sort_keys=True, default=str)
    return f"{Path(ds.path).resolve()}#{hashlib.sha256(manifest.encode()).hexdigest()[:16]}"


def ensure_offer_index(data: str | Path | Dataset, path: str | Path) -> Path:
    """``path`` when it indexes ``data`` already (same fingerprint and version), else rebuilt there."""
    path = Path(path)
    if path.is_file():
        try:
            meta = index_metadata(path)
            if meta.get("version") == INDEX_VERSION and meta.get("fingerprint") == dataset_fingerprint(data):
                return path
        except InvalidInput:
            pass
    build_offer_index(data, path)
    return path


def index_metadata(path: str | Path) -> dict:
    """The metadata stored in an offer index (raises :class:`InvalidInput` when it is not one)."""
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            return json.loads(con.execute("SELECT json FROM meta").fetchone()[0])
    except (duckdb.Error, TypeError) as exc:
        raise InvalidInput(f"{path}: not an installment offer index ({exc})") from None


def _previous_month(ts: pd.Timestamp) -> str:
    y, m = (ts.year, ts.month - 1) if ts.month > 1 else (ts.year - 1, 12)
    return f"{y:04d}-{m:02d}"


class InstallmentOfferService:
    """Offers from a persisted offer index and a trained :class:`InstallmentModel`."""

    def __init__(self, model: InstallmentModel, index: str | Path, *, economics: OfferEconomics | None = None,
                 profile_cache: int = 65_536) -> None:
        self.model = model
        self.economics = economics or OfferEconomics.from_value_config()
        self.index = Path(index)
        self.metadata = index_metadata(self.index)
        # point lookups gain nothing from parallel scans: one thread per query keeps them short
        self._root = duckdb.connect(str(self.index), read_only=True, config={"threads": 1})
        self._root.execute("SET TimeZone = 'Asia/Shanghai'")
        self._local = threading.local()
        # a card's profile row is read-only in the index: cache the hot cards (many purchases each)
        self._profile = functools.lru_cache(maxsize=profile_cache)(self._card_profile)
        self._fallback_pd = float(self.metadata.get("pd", {}).get("portfolio_pd_12m", 0.02))
        terms = term_grid(pd.DataFrame([dict.fromkeys(FEATURES, 0.0)]))
        self._grid = terms[list(FEATURES)].to_numpy(dtype=float)  # the terms columns stay, the rest is filled
        self._periods = terms["periods"].to_numpy()
        self._fee = terms["fee_rate_bp"].to_numpy()
        self._discount = terms["discount_pct"].to_numpy()

    def _con(self) -> duckdb.DuckDBPyConnection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = self._root.cursor()
        return con

    def _card_profile(self, card: str) -> tuple | None:
        return self._one("SELECT status, dpd, months, n, spend, revolving, month_dpd, pd_months, pd, plan_ts, "
                         "plan_src, offer_ts, offer_src, offer_acc FROM card_profile WHERE card_token = ?", [card])

    def _one(self, sql: str, params: list) -> tuple | None:
        return self._con().execute(sql, params).fetchone()

    def features(self, kind: str, source_id: str) -> tuple[dict, str | None]:
        """The model's inputs for a purchase or statement (as known then) and the refusal, if any."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        # single-column keys: DuckDB answers those from its ART index (multi-column filters scan)
        s = self._one("SELECT kind, card_token, ts, amount_fen, limit_fen FROM sources "
                      "WHERE source_id = ?", [source_id])
        if s is None or s[0] != kind:
            raise UnknownSource(f"no {kind} with id {source_id!r}")
        _, card, ts, amount, limit = s
        prof = self._profile(card)
        (status, dpd_now, months, ns, spends, revs, dpds, pd_months, pds, plan_ts, plan_src, offer_ts, offer_src,
         offer_acc) = prof or ("active", 0, *([None] * 12))
        refusal = status if status in REFUSALS else ("delinquent" if (dpd_now or 0) > 0 else None)
        ts = pd.Timestamp(ts).tz_convert("Asia/Shanghai")  # a cursor does not keep the session time zone
        prev = _previous_month(ts)
        n = spend = revolving = dpd = 0
        if months and prev in months:
            i = months.index(prev)
            n, spend, revolving, dpd = ns[i], spends[i], revs[i], dpds[i]
        plans = sum(1 for t, src in zip(plan_ts or (), plan_src or (), strict=True) if t < ts and src != source_id)
        earlier = [acc for t, src, acc in zip(offer_ts or (), offer_src or (), offer_acc or (), strict=True)
                   if t < ts and src != source_id]
        pd_12m = float(pds[pd_months.index(prev)]) if pd_months and prev in pd_months else self._fallback_pd
        row = {"amount_fen": float(amount), "is_statement": float(kind == "statement"),
               "amount_to_limit": amount / max(limit or 1, 1), "limit_fen": float(limit or 0), "hour": ts.hour,
               "prev_purchases": n, "prev_spend_fen": float(spend or 0), "prev_revolving_fen": float(revolving or 0),
               "prev_max_dpd": dpd or 0, "prev_plans": plans,
               "prev_offers": len(earlier), "prev_offers_accepted": sum(bool(a) for a in earlier), "pd_12m": pd_12m}
        return row, refusal

    def offer(self, kind: str, source_id: str) -> OfferDecision:
        """The best offer for a purchase (auth_id) or statement (statement_id), or a refusal."""
        row, refusal = self.features(kind, source_id)
        if refusal:
            return self._refuse(kind, source_id, refusal)
        amount, pd_12m = row["amount_fen"], row["pd_12m"]
        x = self._grid.copy()
        for name, value in row.items():
            x[:, FEATURES.index(name)] = value
        p = self.model.booster_.predict(x, num_threads=1)
        a, periods, fee = amount, self._periods, self._fee
        fee_total = a * fee * periods / 10_000
        loss, funding = self.economics.costs(np.full(len(periods), a), periods, np.full(len(periods), pd_12m))
        net = p * (fee_total - loss - funding)
        k = int(np.argmax(net))
        if net[k] <= 0:
            return self._refuse(kind, source_id, "unprofitable")
        return OfferDecision(
            kind=kind, source_id=source_id, offered=True, periods=int(periods[k]), fee_rate_bp=int(fee[k]),
            list_fee_rate_bp=int(fee_bp(periods[k:k + 1], 0)[0]), discount_pct=int(self._discount[k]),
            principal_fen=int(amount), fee_total_fen=round(float(fee_total[k])),
            p_accept=round(float(p[k]), 4), pd_12m=round(pd_12m, 5),
            expected_revenue_fen=round(float(p[k] * fee_total[k])), expected_loss_fen=round(float(p[k] * loss[k])),
            expected_funding_fen=round(float(p[k] * funding[k])), expected_net_fen=round(float(net[k])))

    @staticmethod
    def _refuse(kind: str, source_id: str, why: str) -> OfferDecision:
        code, en, zh = REFUSALS[why]
        return OfferDecision(kind=kind, source_id=source_id, offered=False, reason_code=code, reason=en, reason_zh=zh)

    def close(self) -> None:
        """Close the index connection."""
        self._root.close()
