"""Realised profit per customer over a window of months, from monthly metrics and a config.

profit = issuer fee share (by fee class) + interest + installment fees + annual fee (waived after
N purchases a year) - funding cost - credit loss - rewards - servicing, annualised to 12 months.

Interest is the interest billed on statements (the daily rate applies when the data has none);
credit loss is LGD x the balance of the first statement at or past ``default_dpd`` days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cardmind.models.value.config import ValueConfig

COMPONENTS = ("merchant_fee", "interest", "installment_fee", "annual_fee", "funding_cost",
              "credit_loss", "rewards_cost", "servicing_cost")


def realised_profit(table: pd.DataFrame, cards: pd.DataFrame, months: list, cfg: ValueConfig) -> pd.DataFrame:
    """Annualised profit (fen) per customer over ``months`` with its components.

    ``table`` is :attr:`MonthlyMetrics.table`; costs are negative components.
    """
    window = table[table["month"].isin(months)]
    n = len(months)
    if n == 0:
        raise ValueError("realised_profit needs at least one month")
    g = window.groupby("customer_id", sort=False)
    s = g[["spend_standard_fen", "spend_discounted_fen", "spend_public_fen", "spend_fen",
           "interest_fen", "revolving_fen", "balance_fen", "installment_fee_fen", "purchases"]].sum()
    bp = cfg.issuer_fee_rate_bp
    out = pd.DataFrame(index=s.index)
    out["merchant_fee"] = (s["spend_standard_fen"] * bp["standard"] + s["spend_discounted_fen"] * bp["discounted"]
                           + s["spend_public_fen"] * bp["public_service"]) / 10_000
    interest = s["interest_fen"].where(s["interest_fen"] > 0, s["revolving_fen"] * cfg.interest_daily_rate * 30)
    out["interest"] = interest
    out["installment_fee"] = s["installment_fee_fen"]
    c = cards.set_index("customer_id").reindex(out.index)
    list_fee = c["product_tier"].map(cfg.annual_fee_fen).fillna(0)
    fee = np.where(c["annual_fee_fen"].fillna(0) > 0, c["annual_fee_fen"].fillna(0), list_fee)
    per_year = s["purchases"] * 12 / n
    out["annual_fee"] = np.where(per_year >= cfg.annual_fee_waiver_purchases, 0, fee) * n / 12
    out["funding_cost"] = -(s["balance_fen"] / n) * cfg.funding_rate_annual * n / 12
    defaulted = window[window["max_dpd"] >= cfg.default_dpd].groupby("customer_id")["balance_fen"].first()
    out["credit_loss"] = -defaulted.reindex(out.index).fillna(0) * cfg.loss_given_default
    out["rewards_cost"] = -s["spend_fen"].clip(lower=0) * cfg.rewards_rate
    out["servicing_cost"] = -cfg.servicing_cost_fen_per_month * n
    out = out * (12 / n)
    out["profit_fen"] = out[list(COMPONENTS)].sum(axis=1)
    return out.reset_index()
