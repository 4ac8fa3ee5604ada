"""Behaviour score of existing cardholders: P(90+ days past due within the horizon).

Features come from **stored monthly aggregates** per card (one row per card and statement
month: limit, balances, purchases, repayments, minimum due, days past due, installment balance,
third-party repayments), built once in DuckDB from ``statements`` and ``repayments``
(:func:`monthly_aggregates`). The feature catalog's batch engine works per authorization and
per card over event windows; a behaviour score needs statement-cycle aggregates, which this
module computes directly (documented choice, see the README section "Origination and credit
lines"). Features over the last ``history`` months (default 6) are vectorised NumPy over a
(cards x months) matrix (:func:`features_from_matrices`), so the same code serves training,
batch pre-approval of millions of customers and the benchmark.

The model is a :class:`~cardmind.models.credit.scorecard.Scorecard` (its points give the
reasons). Label: a card not already 90+ DPD at the observation date is *bad* when a statement
in the following ``horizon`` months shows 90+ days past due or the card is charged off.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardmind.dataset import Dataset
from cardmind.errors import InvalidInput

#: Behaviour characteristics (names are also reason codes, see decisions.origination_reasons).
BEHAVIOUR_FEATURES: tuple[str, ...] = (
    "utilisation_last",
    "utilisation_avg_6m",
    "utilisation_max_6m",
    "payment_ratio_avg_6m",
    "min_payer_share_6m",
    "dpd_max_6m",
    "months_delinquent_12m",
    "purchases_avg_3m_to_limit",
    "balance_growth_3m",
    "tenure_months",
    "cash_like_share",
    "installment_to_limit",
)
#: Behaviour characteristics that have an identical definition in the feature catalog
#: (``cardmind.features.default_catalog``); tests hold the two computations equal.
CATALOG_EQUIVALENTS: dict[str, str] = {
    "utilisation_last": "card_statement_utilisation_last_30d",
    "utilisation_max_6m": "card_statement_utilisation_max_180d",
    "dpd_max_6m": "card_statement_days_past_due_max_180d",
}
#: Monthly aggregate columns, one (cards x months) matrix each.
AGGREGATES: tuple[str, ...] = (
    "credit_limit_fen",
    "previous_balance_fen",
    "new_balance_fen",
    "purchases_fen",
    "repayments_fen",
    "prev_minimum_due_fen",
    "days_past_due",
    "installment_outstanding_fen",
    "third_party_repayments_fen",
    "repayments_month_fen",
)

_MONTHLY_SQL = """
SET TimeZone = 'Asia/Shanghai';
CREATE OR REPLACE TEMP VIEW _monthly AS
WITH s AS (
    SELECT card_token, customer_id, statement_date,
           CAST(year(statement_date) * 12 + month(statement_date) - 1 AS INTEGER) AS month_index,
           credit_limit_fen, previous_balance_fen, new_balance_fen, purchases_fen, repayments_fen,
           lag(minimum_due_fen) OVER (PARTITION BY card_token ORDER BY statement_date)
               AS prev_minimum_due_fen,
           days_past_due, installment_outstanding_fen
    FROM statements
), r AS (
    SELECT card_token, CAST(year(ts) * 12 + month(ts) - 1 AS INTEGER) AS month_index,
           sum(amount_fen) FILTER (WHERE NOT payer_is_cardholder OR channel = 'third_party_app')
               AS third_party_repayments_fen,
           sum(amount_fen) AS repayments_month_fen
    FROM repayments GROUP BY ALL
)
SELECT s.*, coalesce(r.third_party_repayments_fen, 0) AS third_party_repayments_fen,
       coalesce(r.repayments_month_fen, 0) AS repayments_month_fen
FROM s LEFT JOIN r USING (card_token, month_index)
"""


def month_index(d: date | pd.Timestamp) -> int:
    """Months since year 0: ``year * 12 + month - 1``."""
    return int(d.year * 12 + d.month - 1)


def monthly_aggregates(dataset: Dataset | str) -> pd.DataFrame:
    """One row per card and statement month (DuckDB over ``statements`` and ``repayments``)."""
    ds = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    if not ds.has("statements"):
        raise InvalidInput(
            f"{ds.path}: dataset has no statements table (behaviour needs statements)"
        )
    con = ds.connect()
    if not ds.has("repayments"):
        con.execute(
            "CREATE VIEW repayments AS SELECT NULL::VARCHAR card_token, NULL::TIMESTAMPTZ ts, "
            "0::BIGINT amount_fen, NULL::VARCHAR channel, TRUE payer_is_cardholder WHERE FALSE"
        )
    for stmt in _MONTHLY_SQL.strip().split(";\n"):
        con.execute(stmt)
    return con.sql("SELECT * FROM _monthly ORDER BY card_token, statement_date").df()


def matrices(
    agg: pd.DataFrame, *, as_of_month: int, history: int = 12
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Pivot aggregates into (cards x ``history``) matrices ending at ``as_of_month``.

    Returns the card index (``card_token``, ``customer_id``) and one float matrix per aggregate
    (NaN where the card has no statement that month). The last statement of a card in a month
    counts.
    """
    lo = as_of_month - history + 1
    win = agg[(agg["month_index"] >= lo) & (agg["month_index"] <= as_of_month)]
    win = win.drop_duplicates(["card_token", "month_index"], keep="last")
    cards = win[["card_token", "customer_id"]].drop_duplicates("card_token").reset_index(drop=True)
    row = pd.Index(cards["card_token"]).get_indexer(win["card_token"])
    col = (win["month_index"] - lo).to_numpy()
    out = {}
    for name in AGGREGATES:
        m = np.full((len(cards), history), np.nan)
        m[row, col] = win[name].to_numpy(dtype=float, na_value=np.nan)
        out[name] = m
    return cards, out


def _mean(x: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(x)
    n = ok.sum(axis=1)
    s = np.where(ok, x, 0.0).sum(axis=1)
    return np.divide(s, n, out=np.full(len(x), np.nan), where=n > 0)


def _max(x: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(x)
    m = np.where(ok, x, -np.inf).max(axis=1)
    return np.where(ok.any(axis=1), m, np.nan)


def features_from_matrices(m: dict[str, np.ndarray], tenure_months: np.ndarray) -> pd.DataFrame:
    """Behaviour characteristics from (cards x months) aggregate matrices, last column = now.

    Vectorised; months without a statement are NaN and ignored. ``tenure_months`` is per card.
    """
    lim = m["credit_limit_fen"]
    lim_last = lim[:, -1]
    safe_lim = np.where(lim > 0, lim, np.nan)
    util = m["new_balance_fen"] / safe_lim
    prev = m["previous_balance_fen"]
    pay_ratio = np.clip(m["repayments_fen"] / np.where(prev > 0, prev, np.nan), 0.0, 1.5)
    mind = m["prev_minimum_due_fen"]
    has_min = mind > 0
    min_payer = np.where(
        np.isnan(mind) | ~has_min,
        np.nan,
        ((m["repayments_fen"] > 0) & (m["repayments_fen"] <= 1.1 * mind)).astype(float),
    )
    dpd = m["days_past_due"]
    six = slice(-6, None)
    last_lim = np.where(lim_last > 0, lim_last, np.nan)
    repaid = np.nansum(m["repayments_month_fen"][:, six], axis=1)
    third = np.nansum(m["third_party_repayments_fen"][:, six], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        feats = {
            "utilisation_last": util[:, -1],
            "utilisation_avg_6m": _mean(util[:, six]),
            "utilisation_max_6m": _max(util[:, six]),
            "payment_ratio_avg_6m": _mean(pay_ratio[:, six]),
            "min_payer_share_6m": _mean(min_payer[:, six]),
            "dpd_max_6m": _max(dpd[:, six]),
            "months_delinquent_12m": np.where(np.isnan(dpd), 0, dpd > 0).sum(axis=1).astype(float),
            "purchases_avg_3m_to_limit": _mean(m["purchases_fen"][:, -3:]) / last_lim,
            "balance_growth_3m": (m["new_balance_fen"][:, -1] - m["new_balance_fen"][:, -4])
            / last_lim,
            "tenure_months": np.asarray(tenure_months, dtype=float),
            "cash_like_share": np.where(repaid > 0, third / np.where(repaid > 0, repaid, 1), 0.0),
            "installment_to_limit": m["installment_outstanding_fen"][:, -1] / last_lim,
        }
    return pd.DataFrame(feats)


def behaviour_frame(
    dataset: Dataset | str,
    *,
    as_of: date,
    history: int = 12,
    agg: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
    """``(cards, features, matrices)`` of every card with a statement in the month of ``as_of``."""
    ds = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    agg = monthly_aggregates(ds) if agg is None else agg
    agg = agg[pd.to_datetime(agg["statement_date"]).dt.date <= as_of]
    cards, mats = matrices(agg, as_of_month=month_index(as_of), history=history)
    current = ~np.isnan(mats["credit_limit_fen"][:, -1])
    cards = cards[current].reset_index(drop=True)
    mats = {k: v[current] for k, v in mats.items()}
    if ds.has("cards"):
        opened = ds.read(
            "cards", columns=["card_token", "opened_at", "credit_limit_fen"]
        ).to_pandas()
        o = cards.merge(opened, on="card_token", how="left")
        od = pd.to_datetime(o["opened_at"])
        tenure = (as_of.year - od.dt.year) * 12 + (as_of.month - od.dt.month)
        tenure = tenure.to_numpy(dtype=float, na_value=np.nan)
    else:
        tenure = np.full(len(cards), np.nan)
    return cards, features_from_matrices(mats, tenure), mats


def behaviour_labels(
    agg: pd.DataFrame,
    cards: pd.DataFrame,
    *,
    as_of: date,
    horizon: int,
    charge_offs: pd.DataFrame | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(bad, eligible)`` per card: eligible cards are not 90+ DPD at ``as_of``; bad cards reach
    90+ DPD (or charge-off) in the ``horizon`` months after it."""
    a = month_index(as_of)
    sd = pd.to_datetime(agg["statement_date"]).dt.date
    now = (
        agg[(agg["month_index"] == a) & (sd <= as_of)].groupby("card_token")["days_past_due"].max()
    )
    fut = agg[(sd > as_of) & (agg["month_index"] <= a + horizon)]
    bad_tokens = set(fut.loc[fut["days_past_due"] >= 90, "card_token"])
    if charge_offs is not None and len(charge_offs):
        co = charge_offs[
            (pd.to_datetime(charge_offs["charged_off_at"]).dt.date > as_of)
            & (pd.to_datetime(charge_offs["charged_off_at"]).apply(month_index) <= a + horizon)
        ]
        bad_tokens |= set(co["card_token"])
    tok = cards["card_token"]
    eligible = (tok.map(now).fillna(0) < 90).to_numpy()
    bad = tok.isin(bad_tokens).to_numpy().astype(int)
    return bad, eligible


@dataclass
class BehaviourTrainingData:
    cards: pd.DataFrame
    X: pd.DataFrame
    y: np.ndarray
    as_of: date
    horizon: int


def training_data(
    dataset: Dataset | str, *, horizon: int = 6, as_of: date | None = None, history: int = 12
) -> BehaviourTrainingData:
    """Features at ``as_of`` (default: ``horizon`` months before the last statement month) and
    the 90+ DPD label over the following ``horizon`` months."""
    ds = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    agg = monthly_aggregates(ds)
    last = pd.to_datetime(agg["statement_date"]).max().date()
    first = pd.to_datetime(agg["statement_date"]).min().date()
    if as_of is None:
        end_month = month_index(last) - horizon
        as_of = date(end_month // 12, end_month % 12 + 1, 28)
    if month_index(as_of) - month_index(first) < 2:
        raise InvalidInput(
            f"{ds.path}: statements span {first}..{last}; a {horizon}-month behaviour label needs at "
            f"least 3 months of history before it (use --horizon smaller or more months of data)"
        )
    cards, X, _ = behaviour_frame(ds, as_of=as_of, history=history, agg=agg)
    co = ds.read("charge_offs").to_pandas() if ds.has("charge_offs") else None
    y, eligible = behaviour_labels(agg, cards, as_of=as_of, horizon=horizon, charge_offs=co)
    return BehaviourTrainingData(
        cards=cards[eligible].reset_index(drop=True),
        X=X[eligible].reset_index(drop=True),
        y=y[eligible],
        as_of=as_of,
        horizon=horizon,
    )


def behaviour_metadata(
    sc: Any, data: BehaviourTrainingData, metrics: dict[str, Any]
) -> dict[str, Any]:
    return {
        "kind": "cardmind.behaviour_score",
        "target": f"90+ days past due within {data.horizon} months",
        "as_of": data.as_of.isoformat(),
        "horizon_months": data.horizon,
        "n_cards": len(data.y),
        "bad_rate": float(data.y.mean()),
        "metrics": metrics,
    }


class BehaviourModel:
    """The behaviour scorecard plus its metadata (target, observation date, metrics).

    Saved as a folder: ``scorecard.json``, ``scorecard.csv`` and ``metadata.json``.
    """

    def __init__(self, scorecard: Any, metadata: dict[str, Any]) -> None:
        self.scorecard = scorecard
        self.metadata = metadata

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.scorecard.save(folder / "scorecard.json")
        self.scorecard.to_csv(folder / "scorecard.csv")
        (folder / "metadata.json").write_text(json.dumps(self.metadata, indent=1, default=float))

    @classmethod
    def load(cls, folder: str | Path) -> BehaviourModel:
        from cardmind.models.credit.scorecard import Scorecard

        folder = Path(folder)
        try:
            meta = json.loads((folder / "metadata.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"{folder}: not a behaviour model folder ({exc})") from exc
        return cls(Scorecard.load(folder / "scorecard.json"), meta)


def default_behaviour_dir(home: str | Path | None = None) -> Path:
    """Where ``cardmind train behaviour`` / ``cardmind preapprove`` keep the behaviour model."""
    if home is None:
        from cardmind.settings import get_settings

        home = get_settings().home
    return Path(home) / "models" / "credit" / "behaviour"


def train_behaviour(
    dataset: Dataset | str, *, horizon: int = 6, n_splits: int = 5, seed: int = 0
) -> BehaviourModel:
    """Fit the behaviour scorecard (champion) with CV AUC/KS, and a LightGBM challenger's CV."""
    from cardmind.models.credit.challenger import LightGBMChallenger
    from cardmind.models.credit.evaluation import cross_validate
    from cardmind.models.credit.scorecard import Scorecard

    if horizon < 1:
        raise InvalidInput(f"horizon must be >= 1 month, got {horizon}")
    data = training_data(dataset, horizon=horizon)
    if data.y.sum() < 10:
        raise InvalidInput(
            f"only {int(data.y.sum())} cards reach 90+ DPD within {horizon} months after {data.as_of}: "
            "need at least 10 (more cards or months of data)"
        )
    splits = min(n_splits, int(data.y.sum()))
    cv = {
        "champion_scorecard": cross_validate(
            lambda: Scorecard(name="behaviour_scorecard"),
            data.X,
            data.y,
            n_splits=splits,
            seed=seed,
            name="scorecard",
        ).summary(),
        "challenger_lightgbm": cross_validate(
            lambda: LightGBMChallenger(n_estimators=200, seed=seed),
            data.X,
            data.y,
            n_splits=splits,
            seed=seed,
            name="lightgbm",
        ).summary(),
    }
    sc = Scorecard(name="behaviour_scorecard").fit(data.X, data.y)
    return BehaviourModel(sc, behaviour_metadata(sc, data, {"cv": cv}))
