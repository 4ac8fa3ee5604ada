"""Forward customer value: a LightGBM regressor from the first months' behaviour.

Time split (documented in the README): features from the first half of the observed months
(months 1-3 of the demo), target = realised profit of the second half (months 4-6), annualised.
The model is saved as a LightGBM text model with JSON metadata (never pickle).

:func:`evaluate_value` evaluates the way a demanding risk team would (``scheme="out_of_time"``,
the default): trained on an earlier window (months 1-2 -> 3-4 of the demo) and tested on a later
one (months 3-4 -> 5-6) for customers held out of training altogether, so neither the period nor
the customer was seen. ``scheme="random_customers"`` is the earlier, easier protocol (same window,
customers split at random).
"""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from cardmind.errors import NotFittedError
from cardmind.models.value.config import ValueConfig
from cardmind.models.value.metrics import MonthlyMetrics
from cardmind.models.value.profit import realised_profit

_SUMS = ("purchases", "spend_fen", "active_days", "revolving_fen", "balance_fen", "interest_fen",
         "fees_fen", "statements", "on_time", "installment_plans", "installment_fee_fen",
         "spend_public_fen", "spend_discounted_fen")
_TIER_CODE = {"classic": 0, "gold": 1, "platinum": 2, "diamond": 3}


def split_months(months: list) -> tuple[list, list]:
    """First half (observation) and second half (outcome) of the observed months.

    >>> split_months([1, 2, 3, 4, 5, 6])
    ([1, 2, 3], [4, 5, 6])
    """
    if len(months) < 2:
        raise ValueError("the forward value split needs at least two months of data")
    half = len(months) // 2
    return list(months[:half]), list(months[half:])


def behaviour_features(metrics: MonthlyMetrics, months: list) -> pd.DataFrame:
    """Per-customer behaviour over ``months`` (monthly means, breadth, worst delinquency, tier)."""
    w = metrics.table[metrics.table["month"].isin(months)]
    g = w.groupby("customer_id", sort=True)
    n = len(months)
    x = g[list(_SUMS)].sum() / n
    x.columns = [f"{c}_per_month" for c in x.columns]
    x["category_breadth_max"] = g["category_breadth"].max()
    x["max_dpd"] = g["max_dpd"].max()
    x["active_months"] = (w["purchases"] > 0).groupby(w["customer_id"], sort=True).sum()
    x["purchases_last_month"] = w[w["month"] == months[-1]].set_index("customer_id")["purchases"]
    tier = metrics.cards.set_index("customer_id")["product_tier"].map(_TIER_CODE)
    x["product_tier"] = tier.reindex(x.index).fillna(0).astype(int)
    return x.fillna(0)


def training_frame(metrics: MonthlyMetrics, cfg: ValueConfig) -> tuple[pd.DataFrame, pd.Series]:
    """Features from the first half of the months, target = annualised profit of the second half."""
    first, second = split_months(metrics.months)
    x = behaviour_features(metrics, first)
    y = realised_profit(metrics.table, metrics.cards, second, cfg).set_index("customer_id")["profit_fen"]
    return x, y.reindex(x.index).fillna(0)


class ValueModel:
    """LightGBM regressor of 12-month forward profit (fen).

    >>> rng = np.random.default_rng(0)
    >>> x = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    >>> m = ValueModel(n_estimators=30).fit(x, 3 * x["a"] + rng.normal(size=300) * 0.1)
    >>> round(float(np.corrcoef(m.predict(x), x["a"])[0, 1]), 1)
    1.0
    """

    def __init__(self, *, n_estimators: int = 300, learning_rate: float = 0.05,
                 num_leaves: int = 31, seed: int = 0) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.seed = seed

    def fit(self, x: pd.DataFrame, y: pd.Series) -> ValueModel:
        params = {"objective": "huber", "alpha": float(np.percentile(np.abs(y), 90)) or 1.0,
                  "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                  "min_data_in_leaf": 20, "seed": self.seed, "verbose": -1, "num_threads": 2}
        self.booster_ = lgb.train(params, lgb.Dataset(x, label=np.asarray(y, float)),
                                  num_boost_round=self.n_estimators)
        self.features_ = list(x.columns)
        return self

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "booster_"):
            raise NotFittedError("ValueModel is not fitted; call fit() first")
        return self.booster_.predict(x[self.features_], num_threads=2)

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(folder / "model.txt"))
        (folder / "meta.json").write_text(json.dumps({"features": self.features_, "target": "profit_fen_12m"}))

    @classmethod
    def load(cls, folder: str | Path) -> ValueModel:
        folder = Path(folder)
        m = cls()
        m.booster_ = lgb.Booster(model_file=str(folder / "model.txt"))
        m.features_ = json.loads((folder / "meta.json").read_text())["features"]
        return m


def value_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """R², MAE (yuan), Spearman, mean and top-decile mean (yuan) and lift of a forward-value prediction.

    >>> r = value_metrics(np.arange(100.0), np.arange(100.0))
    >>> round(r["r2"], 3), round(r["spearman"], 3), round(r["top_decile_lift"], 2)
    (1.0, 1.0, 1.91)
    """
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    ss = ((y_true - y_true.mean()) ** 2).sum()
    top = y_pred >= np.quantile(y_pred, 0.9)
    return {
        "r2": float(1 - ((y_true - y_pred) ** 2).sum() / ss) if ss else float("nan"),
        "mae_yuan": float(np.abs(y_true - y_pred).mean() / 100),
        "spearman": float(spearmanr(y_true, y_pred).statistic),
        "mean_yuan": float(y_true.mean() / 100),
        "top_decile_mean_yuan": float(y_true[top].mean() / 100),
        # a ratio only means something when the average customer is profitable
        "top_decile_lift": float(y_true[top].mean() / y_true.mean()) if y_true.mean() > 0 else float("nan"),
    }


def window_frame(metrics: MonthlyMetrics, cfg: ValueConfig, feature_months: list,
                 target_months: list) -> tuple[pd.DataFrame, pd.Series]:
    """Features over ``feature_months``, target = annualised profit over ``target_months``."""
    x = behaviour_features(metrics, feature_months)
    y = realised_profit(metrics.table, metrics.cards, target_months, cfg).set_index("customer_id")["profit_fen"]
    return x, y.reindex(x.index).fillna(0)


SCHEMES = ("out_of_time", "random_customers")


def evaluate_value(metrics: MonthlyMetrics, cfg: ValueConfig, *, latent: pd.Series | None = None,
                   test_share: float = 0.3, seed: int = 0, scheme: str = "out_of_time") -> dict[str, dict[str, float]]:
    """Metrics of the model and of the naive "past profit continues" on held-out customers.

    ``out_of_time``: the months are cut in three windows of ``w = len(months) // 3``; the model
    learns window 1 -> window 2 on the training customers and is tested on window 2 -> window 3 for
    the held-out customers (``test_share`` of them, drawn at random). ``random_customers``: first
    half -> second half for everyone, customers split at random. Spearman against the simulator's
    latent value is added when ``latent`` (evaluation only) is given.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    months = list(metrics.months)
    if scheme == "out_of_time":
        w = len(months) // 3
        if w < 1:
            raise ValueError(f"the out-of-time evaluation needs at least 3 months of data, got {len(months)}")
        win = [months[:w], months[w:2 * w], months[2 * w:3 * w]]
        x_train, y_train = window_frame(metrics, cfg, win[0], win[1])
        x_test, y_test = window_frame(metrics, cfg, win[1], win[2])
        past_months = win[1]
    else:
        first, second = split_months(months)
        x_train, y_train = window_frame(metrics, cfg, first, second)
        x_test, y_test = x_train, y_train
        past_months = first
    customers = np.union1d(x_train.index, x_test.index)
    held_out = pd.Index(customers[np.random.default_rng(seed).random(len(customers)) < test_share])
    train = ~x_train.index.isin(held_out)
    test = x_test.index.isin(held_out)
    model = ValueModel(seed=seed).fit(x_train[train], y_train[train])
    pred = model.predict(x_test[test])
    past = realised_profit(metrics.table, metrics.cards, past_months, cfg).set_index("customer_id")["profit_fen"]
    naive = past.reindex(x_test.index[test]).fillna(0).to_numpy()
    truth = y_test[test].to_numpy()
    out = {"model": value_metrics(truth, pred), "past_profit": value_metrics(truth, naive)}
    if latent is not None:
        lat = latent.reindex(x_test.index[test])
        out["model"]["spearman_latent"] = float(spearmanr(lat, pred, nan_policy="omit").statistic)
        out["past_profit"]["spearman_latent"] = float(spearmanr(lat, naive, nan_policy="omit").statistic)
    out["model"]["n_train"] = int(train.sum())
    out["model"]["n_test"] = int(test.sum())
    return out
