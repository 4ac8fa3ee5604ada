"""Installment offers (分期推荐) for one authorization or statement, by id.

:class:`InstallmentOfferService` indexes a dataset's purchases, statements, card statuses and the
customers' previous-month behaviour in memory at start-up, then answers one offer in about a
millisecond: the best (periods, fee) of the fee schedule by expected fee revenue net of expected
loss (the same rule as :func:`cardmind.models.installment.choose_offers`), or a refusal with a reason in English
and Chinese for closed, frozen, charged-off or delinquent accounts. Unknown ids raise
:class:`UnknownSource` (HTTP 404).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cardmind.dataset import Dataset
from cardmind.decisions._data import connect
from cardmind.models.installment import FEATURES, FEE_SCHEDULE_BP, InstallmentModel

KINDS = ("purchase", "statement")
REFUSALS = {
    "closed": ("ACCOUNT_CLOSED", "The account is closed.", "账户已销户。"),
    "charged_off": ("ACCOUNT_CHARGED_OFF", "The account is charged off.", "账户已核销。"),
    "frozen": ("ACCOUNT_FROZEN", "The account is frozen.", "账户已冻结。"),
    "delinquent": ("ACCOUNT_DELINQUENT", "The account is past due; no installment offer until it is current.",
                   "账户逾期，还清前不提供分期。"),
}


class UnknownSource(LookupError):
    """No purchase or statement with this id."""


@dataclass(frozen=True, kw_only=True)
class OfferDecision:
    """An offer (``offered=True`` with terms) or a refusal (reason code, English and Chinese)."""

    kind: str
    source_id: str
    offered: bool
    periods: int | None = None
    fee_rate_bp: int | None = None
    principal_fen: int | None = None
    fee_total_fen: int | None = None
    p_accept: float | None = None
    expected_revenue_fen: int | None = None
    expected_loss_fen: int | None = None
    reason_code: str | None = None
    reason: str | None = None
    reason_zh: str | None = None


class InstallmentOfferService:
    """Offers from an in-memory index of a dataset and a trained :class:`InstallmentModel`."""

    def __init__(self, model: InstallmentModel, data: str | Path | Dataset, *, loss_rate: float = 0.02) -> None:
        self.model = model
        self.loss_rate = loss_rate
        _, con = connect(data)
        src = con.sql("""
            SELECT 'purchase' AS kind, a.auth_id AS source_id, a.card_token, a.customer_id, a.ts,
                   a.amount_fen, c.credit_limit_fen AS limit_fen
            FROM authorizations a JOIN cards c USING (card_token)
            WHERE a.approved AND a.message_type = 'purchase'
            UNION ALL
            SELECT 'statement', statement_id, card_token, customer_id,
                   statement_date::TIMESTAMPTZ, new_balance_fen, credit_limit_fen FROM statements""").df()
        self._sources = {(k, s): i for i, (k, s) in enumerate(zip(src["kind"], src["source_id"], strict=True))}
        self._src = src.to_dict("records")
        self._status = dict(con.sql("SELECT card_token, status FROM cards").fetchall())
        self._dpd = dict(con.sql("""SELECT card_token, arg_max(days_past_due, statement_date)
                                    FROM statements GROUP BY card_token""").fetchall())
        prev = con.sql("""
            SELECT customer_id, strftime(date_trunc('month', ts), '%Y-%m') AS month, count(*) AS n,
                   sum(amount_fen) AS spend FROM authorizations
            WHERE approved AND message_type = 'purchase' GROUP BY ALL""").fetchall()
        self._prev = {(c, m): (n, s) for c, m, n, s in prev}
        st = con.sql("""
            SELECT customer_id, strftime(date_trunc('month', statement_date), '%Y-%m'),
                   sum(greatest(previous_balance_fen - repayments_fen, 0)), max(days_past_due)
            FROM statements GROUP BY ALL""").fetchall()
        self._st = {(c, m): (r, d) for c, m, r, d in st}
        self._plans: dict[str, list] = {}
        if "installment_plans" in con.sql("SHOW TABLES").df()["name"].tolist():
            for card, ts in con.sql("SELECT card_token, created_at FROM installment_plans ORDER BY created_at").fetchall():
                self._plans.setdefault(card, []).append(ts)

    def offer(self, kind: str, source_id: str) -> OfferDecision:
        """The best offer for a purchase (auth_id) or statement (statement_id), or a refusal."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        i = self._sources.get((kind, source_id))
        if i is None:
            raise UnknownSource(f"no {kind} with id {source_id!r}")
        s = self._src[i]
        status = self._status.get(s["card_token"], "active")
        refusal = status if status in REFUSALS else ("delinquent" if self._dpd.get(s["card_token"], 0) > 0 else None)
        if refusal:
            code, en, zh = REFUSALS[refusal]
            return OfferDecision(kind=kind, source_id=source_id, offered=False, reason_code=code, reason=en, reason_zh=zh)
        ts = pd.Timestamp(s["ts"])
        y, m = (ts.year, ts.month - 1) if ts.month > 1 else (ts.year - 1, 12)
        prev_month = f"{y:04d}-{m:02d}"
        n, spend = self._prev.get((s["customer_id"], prev_month), (0, 0))
        revolving, dpd = self._st.get((s["customer_id"], prev_month), (0, 0))
        row = {"amount_fen": float(s["amount_fen"]), "is_statement": int(kind == "statement"), "periods": 3,
               "fee_rate_bp": 75, "amount_to_limit": s["amount_fen"] / max(s["limit_fen"] or 1, 1),
               "hour": ts.hour, "prev_purchases": n, "prev_spend_fen": float(spend or 0),
               "prev_revolving_fen": float(revolving or 0), "prev_max_dpd": dpd or 0,
               "prev_plans": bisect.bisect_left(self._plans.get(s["card_token"], []), s["ts"])}
        grid = np.array([[row[f] for f in FEATURES] for _ in FEE_SCHEDULE_BP], dtype=float)
        grid[:, FEATURES.index("periods")] = list(FEE_SCHEDULE_BP)
        grid[:, FEATURES.index("fee_rate_bp")] = list(FEE_SCHEDULE_BP.values())
        p = self.model.booster_.predict(grid, num_threads=1)
        amount = float(s["amount_fen"])
        rev = p * amount * grid[:, FEATURES.index("fee_rate_bp")] * grid[:, FEATURES.index("periods")] / 10_000
        loss = p * amount * self.loss_rate
        k = int(np.argmax(rev - loss))
        best = {"periods": grid[k, FEATURES.index("periods")], "fee_rate_bp": grid[k, FEATURES.index("fee_rate_bp")],
                "p_accept": p[k], "expected_revenue_fen": rev[k], "expected_loss_fen": loss[k]}
        fee_total = round(s["amount_fen"] * best["fee_rate_bp"] * best["periods"] / 10_000)
        return OfferDecision(kind=kind, source_id=source_id, offered=True, periods=int(best["periods"]),
                             fee_rate_bp=int(best["fee_rate_bp"]), principal_fen=int(s["amount_fen"]),
                             fee_total_fen=int(fee_total), p_accept=round(float(best["p_accept"]), 4),
                             expected_revenue_fen=round(float(best["expected_revenue_fen"])),
                             expected_loss_fen=round(float(best["expected_loss_fen"])))
