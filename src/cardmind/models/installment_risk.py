"""Risk and cost of an installment plan: each card's PD and the plan's expected loss and funding.

The PD comes from the platform's behaviour scorecard (:mod:`cardmind.models.credit.behaviour`,
P(90+ days past due within ``horizon`` months) from monthly statement aggregates), fitted on the
dataset itself and scored at the end of every statement month, so an offer made in month M uses the
card's PD as of month M-1 (no look-ahead). When the data are too short or have too few defaults for
a scorecard, every card gets the portfolio's observed charge-off rate (``pd_source`` says which).

Economics of a plan of principal A over n months, accepted (:class:`OfferEconomics`):

- expected loss = PD over the term x LGD x average outstanding share ``(n + 1) / 2n`` x A, with
  PD over the term ``1 - (1 - PD_12m) ** (n / 12)``;
- funding = A x annual funding rate x ``(n + 1) / 24`` (the average balance outstanding for n months).

>>> e = OfferEconomics(funding_rate_annual=0.025, loss_given_default=0.85)
>>> loss, funding = e.costs(np.array([1_000_000.0]), np.array([12]), np.array([0.02]))
>>> round(float(loss[0])), round(float(funding[0]))
(9208, 13542)
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from cardmind.dataset import Dataset
from cardmind.errors import InvalidInput

#: Bounds of a PD (a year): the floor is Basel III's 0.1 % for revolving retail (QRRE) exposures;
#: a scorecard fitted on a short window extrapolates clean accounts to ~0.01 %.
_PD_FLOOR, _PD_CAP = 0.001, 0.5


@dataclass(frozen=True, kw_only=True)
class OfferEconomics:
    """Funding rate and LGD of installment plans (defaults: the customer value model's ``value.yaml``)."""

    funding_rate_annual: float = 0.025
    loss_given_default: float = 0.85

    def __post_init__(self) -> None:
        if not 0 <= self.funding_rate_annual < 1:
            raise ValueError(f"funding_rate_annual must be in [0, 1), got {self.funding_rate_annual}")
        if not 0 <= self.loss_given_default <= 1:
            raise ValueError(f"loss_given_default must be in [0, 1], got {self.loss_given_default}")

    @classmethod
    def from_value_config(cls, cfg=None) -> OfferEconomics:
        """The funding rate and LGD of the customer value config (packaged ``value.yaml`` by default)."""
        from cardmind.models.value.config import load_value_config

        cfg = cfg or load_value_config()
        return cls(funding_rate_annual=cfg.funding_rate_annual, loss_given_default=cfg.loss_given_default)

    def costs(self, amount_fen, periods, pd_12m) -> tuple[np.ndarray, np.ndarray]:
        """``(expected_loss_fen, funding_fen)`` of accepted plans (arrays, element-wise)."""
        a = np.asarray(amount_fen, dtype=float)
        n = np.asarray(periods, dtype=float)
        pd12 = np.clip(np.asarray(pd_12m, dtype=float), 0.0, 1.0)
        pd_term = 1.0 - (1.0 - pd12) ** (n / 12.0)
        loss = pd_term * self.loss_given_default * a * (n + 1) / (2 * n)
        funding = a * self.funding_rate_annual * (n + 1) / 24.0
        return loss, funding


def _month_end(month_index: int) -> date:
    y, m = divmod(month_index, 12)
    return date(y, m + 1, calendar.monthrange(y, m + 1)[1])


def _portfolio_pd(ds: Dataset, agg: pd.DataFrame) -> float:
    """Charge-offs per card-year observed in the data, bounded to 0.2-50 %."""
    card_months = len(agg.drop_duplicates(["card_token", "month_index"]))
    n_co = ds.read("charge_offs", ["card_token"]).num_rows if ds.has("charge_offs") else 0
    rate = 12 * n_co / max(card_months, 1)
    return float(np.clip(rate, _PD_FLOOR, _PD_CAP))


def card_month_pd(data: Dataset | str, *, horizon: int = 3) -> tuple[pd.DataFrame, dict]:
    """PD (a year) per card at the end of each statement month: ``card_token, month ('YYYY-MM'), pd_12m``.

    Returns the table and an info dict: ``pd_source`` ("behaviour_scorecard" or
    "portfolio_charge_off_rate"), ``horizon_months``, ``portfolio_pd_12m``, and the scorecard's
    training size and bad rate when one was fitted.
    """
    from cardmind.models.credit.behaviour import behaviour_frame, monthly_aggregates, training_data
    from cardmind.models.credit.scorecard import Scorecard

    ds = data if isinstance(data, Dataset) else Dataset(data)
    agg = monthly_aggregates(ds)
    portfolio = _portfolio_pd(ds, agg)
    info: dict = {"horizon_months": horizon, "portfolio_pd_12m": portfolio}
    months = sorted(agg["month_index"].unique().tolist())
    empty = pd.DataFrame({"card_token": pd.Series(dtype=str), "month": pd.Series(dtype=str),
                          "pd_12m": pd.Series(dtype=float)})
    try:
        td = training_data(ds, horizon=horizon)
        if td.y.sum() < 10:
            raise InvalidInput(f"only {int(td.y.sum())} bad cards")
        sc = Scorecard(name="installment_pd").fit(td.X, td.y)
    except (InvalidInput, ValueError) as exc:
        info |= {"pd_source": "portfolio_charge_off_rate", "why": str(exc)}
        rows = agg.drop_duplicates(["card_token", "month_index"])
        out = pd.DataFrame({"card_token": rows["card_token"].to_numpy(),
                            "month": [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in rows["month_index"]],
                            "pd_12m": portfolio})
        return (out if len(out) else empty), info
    info |= {"pd_source": "behaviour_scorecard", "n_train_cards": len(td.y),
             "bad_rate": float(td.y.mean()), "as_of": td.as_of.isoformat()}
    parts = []
    for m in months:
        cards, x, _ = behaviour_frame(ds, as_of=_month_end(m), agg=agg)
        if not len(cards):
            continue
        pd_h = sc.predict_proba(x)[:, 1]
        parts.append(pd.DataFrame({"card_token": cards["card_token"].to_numpy(),
                                   "month": f"{m // 12:04d}-{m % 12 + 1:02d}",
                                   "pd_12m": np.clip(1.0 - (1.0 - np.clip(pd_h, 0, 1)) ** (12 / horizon),
                                                     _PD_FLOOR, 1.0)}))
    return (pd.concat(parts, ignore_index=True) if parts else empty), info
