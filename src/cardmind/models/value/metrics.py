"""Monthly customer metrics from events, computed in DuckDB (vectorised, one query per table).

One row per customer and calendar month (Asia/Shanghai) in which the customer holds a card:
purchases (approved purchase authorizations), spend (approved purchases minus refunds and
reversals), active days, category breadth (distinct MCCs), spend by fee class (standard,
discounted, public service), revolving balance, interest and fees billed, on-time repayment,
installment use and fees. Tables that are absent (``installment_plans``, ``statements``) give
zeros and are listed in :attr:`MonthlyMetrics.missing`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pandas as pd

from cardmind.dataset import Dataset
from cardmind.errors import InvalidInput

#: Merchant category codes of public services (utilities, hospitals, schools, government).
PUBLIC_SERVICE_MCCS = ("4900", "8062", "8211", "8220", "8299", "8398", "9211", "9222", "9311", "9399")
#: Categories that had preferential (discounted) issuer fees (supermarkets, fuel, transport).
DISCOUNTED_MCCS = ("5411", "5541", "5542", "4111", "4112", "4121", "4131")

METRIC_COLUMNS = (
    "purchases", "spend_fen", "active_days", "category_breadth", "spend_standard_fen",
    "spend_discounted_fen", "spend_public_fen", "revolving_fen", "balance_fen", "interest_fen",
    "fees_fen", "statements", "on_time", "max_dpd", "installment_plans", "installment_fee_fen",
)


@dataclass
class MonthlyMetrics:
    """Monthly metrics (``table``) plus the cards' annual fee and tier, and what was missing."""

    table: pd.DataFrame
    cards: pd.DataFrame
    months: list[pd.Timestamp]
    missing: list[str] = field(default_factory=list)


def _q(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def monthly_metrics(data: Dataset | str) -> MonthlyMetrics:
    """Monthly metrics of every customer with a card (zero-filled months included).

    Months run from the first to the last authorization (calendar months, Asia/Shanghai).
    Tested against direct counts on the tiny simulation in ``tests/models/value``.
    """
    ds = data if isinstance(data, Dataset) else Dataset(data)
    for required in ("authorizations", "cards"):
        if not ds.has(required):
            raise InvalidInput(f"{ds.path}: the value metrics need the {required!r} table")
    con = ds.connect(duckdb.connect())
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    missing = [t for t in ("statements", "installment_plans", "repayments") if not ds.has(t)]
    auth = con.sql(f"""
        SELECT customer_id, date_trunc('month', ts)::DATE AS month,
          count(*) FILTER (WHERE message_type = 'purchase') AS purchases,
          sum(CASE WHEN message_type = 'purchase' THEN amount_fen ELSE -amount_fen END) AS spend_fen,
          count(DISTINCT ts::DATE) FILTER (WHERE message_type = 'purchase') AS active_days,
          count(DISTINCT mcc) FILTER (WHERE message_type = 'purchase') AS category_breadth,
          sum(amount_fen) FILTER (WHERE message_type = 'purchase' AND mcc NOT IN ({_q(PUBLIC_SERVICE_MCCS)})
                                   AND mcc NOT IN ({_q(DISCOUNTED_MCCS)})) AS spend_standard_fen,
          sum(amount_fen) FILTER (WHERE message_type = 'purchase' AND mcc IN ({_q(DISCOUNTED_MCCS)})) AS spend_discounted_fen,
          sum(amount_fen) FILTER (WHERE message_type = 'purchase' AND mcc IN ({_q(PUBLIC_SERVICE_MCCS)})) AS spend_public_fen
        FROM authorizations WHERE approved GROUP BY ALL""").df()
    bounds = con.sql("SELECT min(ts)::DATE, max(ts)::DATE FROM authorizations").fetchall()[0]
    months = list(pd.date_range(pd.Timestamp(bounds[0]).to_period("M").to_timestamp(),
                                pd.Timestamp(bounds[1]), freq="MS"))
    cards = con.sql("""SELECT customer_id, any_value(product_tier) AS product_tier,
                         max(annual_fee_fen) AS annual_fee_fen, any_value(status) AS status
                       FROM cards GROUP BY customer_id""").df()
    grid = pd.MultiIndex.from_product([cards["customer_id"], months], names=["customer_id", "month"])
    out = pd.DataFrame(index=grid).reset_index()
    parts = [auth]
    if "statements" not in missing:
        parts.append(con.sql("""
            SELECT customer_id, date_trunc('month', statement_date)::DATE AS month,
              sum(greatest(previous_balance_fen - repayments_fen, 0)) AS revolving_fen,
              sum(new_balance_fen + installment_outstanding_fen) AS balance_fen,
              sum(interest_fen) AS interest_fen, sum(fees_fen) AS fees_fen,
              count(*) AS statements, count(*) FILTER (WHERE days_past_due = 0) AS on_time,
              max(days_past_due) AS max_dpd
            FROM statements GROUP BY ALL""").df())
    if "installment_plans" not in missing:
        parts.append(con.sql("""
            SELECT customer_id, date_trunc('month', created_at)::DATE AS month,
              count(*) AS installment_plans, sum(fee_total_fen) AS installment_fee_fen
            FROM installment_plans GROUP BY ALL""").df())
    for part in parts:
        part["month"] = pd.to_datetime(part["month"])
        out = out.merge(part, on=["customer_id", "month"], how="left")
    for col in METRIC_COLUMNS:
        if col not in out:
            out[col] = 0
        out[col] = out[col].fillna(0).astype("int64")
    return MonthlyMetrics(table=out, cards=cards, months=months, missing=missing)
