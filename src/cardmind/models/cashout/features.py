"""Per card-cycle cash-out features, point-in-time, computed with DuckDB SQL over a dataset.

A *card-cycle* is one card's billing cycle: the days after one statement date up to and including
the next one (derived from ``cards.billing_day``, so the ``statements`` table is not needed). A
*scoring point* is every approved purchase and every repayment: the features of a row describe
the card-cycle using only the events up to and including that row's ``ts`` (never the future), so
the maximum score over a card-cycle's rows up to time ``t`` is what a detector running at ``t``
would have said. Merchant profiles use only days strictly before the purchase day.

The pattern of a 代还 (smart repayment) app: a third party repays the statement, then the card's
remaining credit is cycled out within days, through many purchases at a few colluding (often young,
narrow-category) merchants, at night, in round or repeated amounts, for the repayment plus a fee,
keeping 5-10 % of the line free. Each feature below measures one of those traits. Repayment
features look at the card's latest repayment of at least ``min_repay_share`` of the line within
``repay_window_days`` (across cycle boundaries: apps repay a few days before the due date and the
cycling may cross the next statement date).

Without a ``repayments`` table the repayment features are unavailable: :func:`card_cycle_features`
then returns the reduced feature set (:data:`REDUCED_FEATURES`) and sets ``reduced_features``.

>>> [f for f in FEATURES if f not in REDUCED_FEATURES]  # doctest: +NORMALIZE_WHITESPACE
['repaid_to_limit', 'third_party_repay', 'spend_after_repay_ratio', 'hours_since_repay',
 'purchases_since_repay', 'merchant_tp_pattern_share']
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from cardmind.dataset import Dataset
from cardmind.errors import InvalidInput
from cardmind.units import TIMEZONE_NAME

#: Features that need the repayments table.
REPAYMENT_FEATURES: tuple[str, ...] = (
    "repaid_to_limit",
    "third_party_repay",
    "spend_after_repay_ratio",
    "hours_since_repay",
    "purchases_since_repay",
    "merchant_tp_pattern_share",
)

#: Every feature, in model order.
FEATURES: tuple[str, ...] = (
    "n_purchases",
    "spend_to_limit",
    "repaid_to_limit",
    "third_party_repay",
    "spend_after_repay_ratio",
    "hours_since_repay",
    "purchases_since_repay",
    "hours_since_cycle_start",
    "n_merchants",
    "merchant_hhi",
    "n_categories",
    "young_merchant_share",
    "merchant_tp_pattern_share",
    "merchant_round_share",
    "round_share",
    "amount_cv",
    "repeat_amount_share",
    "night_share",
    "min_free_share",
    "max_purchase_to_limit",
)

#: The features available without repayment data.
REDUCED_FEATURES: tuple[str, ...] = tuple(f for f in FEATURES if f not in REPAYMENT_FEATURES)

#: One line per feature (English / 中文) for reason codes and docs.
FEATURE_DOCS: dict[str, tuple[str, str]] = {
    "n_purchases": ("purchases in the cycle so far", "本期消费笔数"),
    "spend_to_limit": ("spend in the cycle / credit limit", "本期消费额占额度比例"),
    "repaid_to_limit": ("latest repayment / credit limit", "最近一笔还款额占额度比例"),
    "third_party_repay": (
        "latest repayment paid by a third party (1) or not (0)",
        "最近一笔还款由第三方代还",
    ),
    "spend_after_repay_ratio": (
        "spend since the latest repayment / that repayment",
        "最近一笔还款后的消费额与还款额之比",
    ),
    "hours_since_repay": ("hours since the latest repayment", "距最近一笔还款小时数"),
    "purchases_since_repay": ("purchases since the latest repayment", "最近一笔还款后的消费笔数"),
    "hours_since_cycle_start": ("hours since the statement date", "距账单日小时数"),
    "n_merchants": ("distinct merchants in the cycle", "本期交易商户数"),
    "merchant_hhi": ("spend concentration across merchants (HHI)", "消费集中于少数商户的程度"),
    "n_categories": ("distinct merchant categories", "商户类别数"),
    "young_merchant_share": (
        "share of spend at merchants onboarded < 180 days",
        "在开业不足180天商户的消费占比",
    ),
    "merchant_tp_pattern_share": (
        "merchants' past 30-day share of purchases that follow a third-party repayment",
        "商户近30天交易中紧随第三方还款的占比",
    ),
    "merchant_round_share": (
        "merchants' past 30-day share of round-amount purchases",
        "商户近30天整额交易占比",
    ),
    "round_share": ("share of purchases in whole 100 CNY", "整百金额交易占比"),
    "amount_cv": ("coefficient of variation of amounts", "交易金额变异系数"),
    "repeat_amount_share": ("share of purchases repeating an earlier amount", "重复金额交易占比"),
    "night_share": ("share of purchases between 00:00 and 06:00", "凌晨交易占比"),
    "min_free_share": ("lowest available credit left / limit", "本期最低剩余可用额度占比"),
    "max_purchase_to_limit": ("largest purchase / limit", "单笔最大消费占额度比例"),
}


@dataclass(frozen=True, kw_only=True)
class FeatureConfig:
    """Windows and thresholds of the feature SQL.

    >>> FeatureConfig(repay_window_days=0)
    Traceback (most recent call last):
    ...
    ValueError: repay_window_days must be >= 1, got 0
    """

    repay_window_days: int = 7
    min_repay_share: float = 0.01
    tp_pattern_days: int = 5
    merchant_window_days: int = 30
    young_merchant_days: int = 180
    round_unit_fen: int = 10_000
    night_end_hour: int = 6

    def __post_init__(self) -> None:
        for name in ("repay_window_days", "tp_pattern_days", "merchant_window_days"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.min_repay_share <= 1:
            raise ValueError(f"min_repay_share must be in [0, 1], got {self.min_repay_share}")
        if self.young_merchant_days < 0:
            raise ValueError(f"young_merchant_days must be >= 0, got {self.young_merchant_days}")
        if self.round_unit_fen < 1:
            raise ValueError(f"round_unit_fen must be >= 1, got {self.round_unit_fen}")
        if not 0 <= self.night_end_hour <= 23:
            raise ValueError(f"night_end_hour must be in 0..23, got {self.night_end_hour}")


REQUIRED_TABLES = ("cards", "merchants", "authorizations")

_EMPTY_REPAYMENTS = """
SELECT NULL::VARCHAR AS repayment_id, NULL::VARCHAR AS card_token, NULL::TIMESTAMPTZ AS ts, NULL::BIGINT AS amount_fen,
       NULL::VARCHAR AS channel, NULL::BOOLEAN AS payer_is_cardholder WHERE FALSE
"""


def cycle_end_sql(ts: str, billing_day: str) -> str:
    """SQL for the statement date that closes the cycle containing timestamp ``ts``.

    >>> import duckdb
    >>> duckdb.sql("SELECT " + cycle_end_sql("TIMESTAMP '2026-01-20 10:00'", "15")).fetchall()[0][0]
    datetime.date(2026, 2, 15)
    """
    d = f"CAST({ts} AS DATE)"
    return (
        f"CASE WHEN day({d}) <= {billing_day} "
        f"THEN make_date(year({d}), month({d}), {billing_day}) "
        f"ELSE make_date(year({d} + INTERVAL 1 MONTH), month({d} + INTERVAL 1 MONTH), {billing_day}) "
        "END"
    )


def _sql(cfg: FeatureConfig, repayments: str, as_of: bool) -> str:
    """The feature query; ``repayments`` is a relation name or a subquery."""
    w = "PARTITION BY card_token, cycle_end ORDER BY ts, ord, event_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
    cutoff = "AND a.ts <= $as_of" if as_of else ""
    cutoff_r = "WHERE r.ts <= $as_of" if as_of else ""
    return f"""
WITH purch AS (
    SELECT a.auth_id AS event_id, a.card_token, a.ts, 1 AS ord, a.merchant_id,
           a.amount_fen, a.available_credit_fen
    FROM authorizations a
    WHERE a.message_type = 'purchase' AND a.approved {cutoff}
),
rep AS (
    SELECT repayment_id, card_token, ts, amount_fen,
           (channel = 'third_party_app' OR NOT coalesce(payer_is_cardholder, TRUE)) AS third_party
    FROM {repayments} r {cutoff_r}
),
-- purchases that follow a third-party repayment of the same card within tp_pattern_days
purch_tp AS (
    SELECT p.*, coalesce(p.ts - lr.last_tp_ts <= INTERVAL {cfg.tp_pattern_days} DAY, FALSE) AS after_tp
    FROM purch p
    ASOF LEFT JOIN (SELECT card_token, ts AS last_tp_ts FROM rep WHERE third_party) lr
      ON p.card_token = lr.card_token AND p.ts >= lr.last_tp_ts
),
merchant_day AS (
    SELECT merchant_id, CAST(ts AS DATE) AS day, count(*) AS n,
           sum(CASE WHEN after_tp THEN 1 ELSE 0 END) AS n_tp,
           sum(CASE WHEN amount_fen % {cfg.round_unit_fen} = 0 THEN 1 ELSE 0 END) AS n_round
    FROM purch_tp GROUP BY ALL
),
merchant_hist AS (
    SELECT merchant_id, day,
      sum(n) OVER w AS n_30, sum(n_tp) OVER w AS tp_30, sum(n_round) OVER w AS round_30
    FROM merchant_day
    WINDOW w AS (PARTITION BY merchant_id ORDER BY day
                 RANGE BETWEEN INTERVAL {cfg.merchant_window_days} DAY PRECEDING
                 AND INTERVAL 1 DAY PRECEDING)
),
events AS (
    SELECT event_id, card_token, ts, ord, merchant_id, amount_fen, available_credit_fen,
           TRUE AS is_p, FALSE AS third_party
    FROM purch_tp
    UNION ALL
    SELECT repayment_id, card_token, ts, 0, NULL, amount_fen,
           NULL, FALSE, third_party
    FROM rep
),
ev AS (
    SELECT e.*, c.credit_limit_fen AS lim,
      CAST(e.ts AS DATE) AS d,
      {cycle_end_sql("e.ts", "c.billing_day")} AS cycle_end,
      m.category, m.onboarded_at,
      coalesce(mh.tp_30 / nullif(mh.n_30, 0), 0.0) AS m_tp_share,
      coalesce(mh.round_30 / nullif(mh.n_30, 0), 0.0) AS m_round_share
    FROM events e
    JOIN cards c USING (card_token)
    LEFT JOIN merchants m ON e.merchant_id = m.merchant_id
    LEFT JOIN merchant_hist mh ON e.merchant_id = mh.merchant_id AND CAST(e.ts AS DATE) = mh.day
),
-- the anchor: the card's latest repayment of at least min_repay_share of the line, across cycles
s0 AS (
    SELECT *,
      sum(CASE WHEN is_p THEN amount_fen ELSE 0 END) OVER (
          PARTITION BY card_token ORDER BY ts, ord, event_id ROWS UNBOUNDED PRECEDING) AS cum_spend,
      sum(CASE WHEN is_p THEN 1 ELSE 0 END) OVER (
          PARTITION BY card_token ORDER BY ts, ord, event_id ROWS UNBOUNDED PRECEDING) AS cum_n,
      NOT is_p AND amount_fen >= {cfg.min_repay_share} * lim AS is_anchor
    FROM ev
),
s0b AS (
    SELECT *,
      last_value(CASE WHEN is_anchor THEN ts END IGNORE NULLS) OVER wc AS anchor_ts,
      last_value(CASE WHEN is_anchor THEN amount_fen END IGNORE NULLS) OVER wc AS anchor_amt,
      last_value(CASE WHEN is_anchor THEN cum_spend END IGNORE NULLS) OVER wc AS anchor_spend,
      last_value(CASE WHEN is_anchor THEN cum_n END IGNORE NULLS) OVER wc AS anchor_n,
      last_value(CASE WHEN is_anchor THEN third_party::INT END IGNORE NULLS) OVER wc AS anchor_tp
    FROM s0
    WINDOW wc AS (PARTITION BY card_token ORDER BY ts, ord, event_id
                  ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
s1 AS (
    SELECT *,
      anchor_ts IS NOT NULL AND ts - anchor_ts <= INTERVAL {cfg.repay_window_days} DAY AS recent,
      CASE WHEN is_p THEN amount_fen ELSE 0 END AS p_amt,
      CASE WHEN is_p THEN 0 ELSE amount_fen END AS r_amt,
      coalesce(sum(CASE WHEN is_p THEN amount_fen END) OVER (
          PARTITION BY card_token, cycle_end, merchant_id ORDER BY ts, ord, event_id
          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)::DOUBLE AS prior_m_amt,
      CASE WHEN is_p AND row_number() OVER (
          PARTITION BY card_token, cycle_end, merchant_id ORDER BY ts, ord, event_id) = 1
          THEN 1 ELSE 0 END AS new_merchant,
      CASE WHEN is_p AND row_number() OVER (
          PARTITION BY card_token, cycle_end, category, is_p ORDER BY ts, ord, event_id) = 1
          THEN 1 ELSE 0 END AS new_category,
      CASE WHEN is_p AND row_number() OVER (
          PARTITION BY card_token, cycle_end, amount_fen, is_p ORDER BY ts, ord, event_id) > 1
          THEN 1 ELSE 0 END AS repeat_amount
    FROM s0b
),
s2 AS (
    SELECT *,
      sum(p_amt) OVER ({w}) AS spend,
      sum(CASE WHEN is_p THEN 1 ELSE 0 END) OVER ({w}) AS n_p,
      sum(CASE WHEN is_p THEN 2 * prior_m_amt * amount_fen + amount_fen::DOUBLE * amount_fen
               ELSE 0 END) OVER ({w}) AS sum_m_sq,
      sum(p_amt::DOUBLE * p_amt) OVER ({w}) AS sum_sq,
      sum(new_merchant) OVER ({w}) AS n_m,
      sum(new_category) OVER ({w}) AS n_cat,
      sum(repeat_amount) OVER ({w}) AS n_rep,
      sum(CASE WHEN is_p AND amount_fen % {cfg.round_unit_fen} = 0 THEN 1 ELSE 0 END) OVER ({w}) AS n_round,
      sum(CASE WHEN is_p AND hour(ts) < {cfg.night_end_hour} THEN 1 ELSE 0 END) OVER ({w}) AS n_night,
      sum(CASE WHEN is_p AND d - onboarded_at < {cfg.young_merchant_days} THEN amount_fen ELSE 0 END)
          OVER ({w}) AS spend_young,
      sum(CASE WHEN is_p THEN amount_fen * m_tp_share ELSE 0 END) OVER ({w}) AS w_tp,
      sum(CASE WHEN is_p THEN amount_fen * m_round_share ELSE 0 END) OVER ({w}) AS w_round,
      min(CASE WHEN is_p THEN (available_credit_fen - amount_fen)::DOUBLE / lim END) OVER ({w}) AS min_free,
      max(CASE WHEN is_p THEN amount_fen::DOUBLE / lim END) OVER ({w}) AS max_p
    FROM s1
)
SELECT
  card_token,
  CAST(cycle_end - INTERVAL 1 MONTH + INTERVAL 1 DAY AS DATE) AS cycle_start,
  cycle_end,
  ts,
  CASE WHEN is_p THEN 'purchase' ELSE 'repayment' END AS event,
  n_p::DOUBLE AS n_purchases,
  spend::DOUBLE / lim AS spend_to_limit,
  CASE WHEN recent THEN anchor_amt::DOUBLE / lim END AS repaid_to_limit,
  CASE WHEN recent THEN anchor_tp::DOUBLE END AS third_party_repay,
  CASE WHEN recent THEN (cum_spend - anchor_spend)::DOUBLE / anchor_amt END AS spend_after_repay_ratio,
  CASE WHEN recent THEN epoch(ts - anchor_ts) / 3600.0 END AS hours_since_repay,
  CASE WHEN recent THEN (cum_n - anchor_n)::DOUBLE END AS purchases_since_repay,
  epoch(ts - CAST(CAST(cycle_end - INTERVAL 1 MONTH + INTERVAL 1 DAY AS DATE) AS TIMESTAMPTZ)) / 3600.0
      AS hours_since_cycle_start,
  n_m::DOUBLE AS n_merchants,
  CASE WHEN spend > 0 THEN sum_m_sq / (spend::DOUBLE * spend) END AS merchant_hhi,
  n_cat::DOUBLE AS n_categories,
  CASE WHEN spend > 0 THEN spend_young::DOUBLE / spend END AS young_merchant_share,
  CASE WHEN spend > 0 THEN w_tp / spend END AS merchant_tp_pattern_share,
  CASE WHEN spend > 0 THEN w_round / spend END AS merchant_round_share,
  CASE WHEN n_p > 0 THEN n_round::DOUBLE / n_p END AS round_share,
  CASE WHEN n_p > 1 AND spend > 0
       THEN sqrt(greatest(sum_sq / n_p - (spend::DOUBLE / n_p) ^ 2, 0)) / (spend::DOUBLE / n_p)
  END AS amount_cv,
  CASE WHEN n_p > 0 THEN n_rep::DOUBLE / n_p END AS repeat_amount_share,
  CASE WHEN n_p > 0 THEN n_night::DOUBLE / n_p END AS night_share,
  min_free AS min_free_share,
  max_p AS max_purchase_to_limit
FROM s2
ORDER BY card_token, cycle_end, ts, ord, event_id
"""


def connect(ds: Dataset, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per table of ``ds`` (see :meth:`Dataset.connect`)."""
    return ds.connect(con)


def missing_inputs(ds: Dataset) -> list[str]:
    """Optional tables absent from ``ds`` that reduce the feature set (today: ``repayments``)."""
    return [] if ds.has("repayments") else ["repayments"]


def blind_spots(ds: Dataset) -> list[str]:
    """What the detector cannot see in ``ds``, one sentence each (empty when it sees everything).

    A missing ``repayments`` table reduces the feature set; an imported ``repayments`` table
    without ``payer_is_cardholder`` and ``channel`` hides third-party payers (the feature reads 0).
    """
    if not ds.has("repayments"):
        return ["no repayments table: repayment features are unavailable"]
    present = set(ds.columns_present("repayments"))
    if not {"payer_is_cardholder", "channel"} & present:
        return [
            "repayments have neither payer_is_cardholder nor channel: third-party payers cannot "
            "be seen (third_party_repay reads 0)"
        ]
    return []


def card_cycle_features(
    ds: Dataset,
    *,
    config: FeatureConfig | None = None,
    as_of: object | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pa.Table:
    """One row per scoring point (approved purchase or repayment) with its card-cycle features.

    ``as_of`` (a tz-aware datetime) ignores every event after it. Without repayment data the
    repayment features are null and ``reduced_features`` is True on every row.
    Raises :class:`~cardmind.errors.InvalidInput` when a required table is absent.
    """
    cfg = config or FeatureConfig()
    absent = [t for t in REQUIRED_TABLES if not ds.has(t)]
    if absent:
        raise InvalidInput(f"{ds.path}: cash-out features need tables {absent}, which are absent")
    reduced = bool(missing_inputs(ds))
    con = connect(ds, con)
    con.execute(f"SET TimeZone = '{TIMEZONE_NAME}'")
    repayments = f"({_EMPTY_REPAYMENTS})" if reduced else "repayments"
    params = {"as_of": as_of} if as_of is not None else {}
    table = con.sql(
        _sql(cfg, repayments, as_of is not None), params=params or None
    ).to_arrow_table()
    if reduced:
        table = table.drop_columns(list(REPAYMENT_FEATURES)).append_column(
            "reduced_features", pa.array([True] * table.num_rows, pa.bool_())
        )
        for name in REPAYMENT_FEATURES:
            table = table.append_column(name, pa.nulls(table.num_rows, pa.float64()))
    else:
        table = table.append_column(
            "reduced_features", pa.array([False] * table.num_rows, pa.bool_())
        )
    keys = ["card_token", "cycle_start", "cycle_end", "ts", "event"]
    return table.select([*keys, *FEATURES, "reduced_features"])
