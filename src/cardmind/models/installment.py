"""Installment propensity: which purchase or statement a customer converts when offered (分期推荐).

Trained on the bank's own offer log (each offer with its terms and whether it was accepted; the
simulator's ``truth_installment_offers`` plays that log, its ``accept_probability`` is read only by
:func:`evaluate_installment`). Features: the offered amount, kind, periods and fee, the amount
relative to the credit limit, and the customer's behaviour in the month before the offer.

:func:`choose_offers` scores every period option (3/6/12/24 with the fee schedule) per candidate
and keeps the one with the highest expected fee revenue net of expected credit loss.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from cardmind.dataset import Dataset
from cardmind.errors import InvalidInput, NotFittedError

#: Fee per period (bp of principal) by number of periods: the schedule seen in the offer log.
FEE_SCHEDULE_BP = {3: 75, 6: 70, 12: 66, 24: 65}
FEATURES = ("amount_fen", "is_statement", "periods", "fee_rate_bp", "amount_to_limit", "hour",
            "prev_purchases", "prev_spend_fen", "prev_revolving_fen", "prev_max_dpd", "prev_plans")
_LOG_COLUMNS = "offer_id, card_token, kind, source_id, offered_at, periods, fee_rate_bp, accepted"


def offer_table(data: Dataset | str) -> pd.DataFrame:
    """The offer log joined with its features (one row per logged offer)."""
    ds = data if isinstance(data, Dataset) else Dataset(data)
    if not ds.has("truth_installment_offers"):
        raise InvalidInput(f"{ds.path}: installment propensity needs an offer log (offers with accepted "
                           "yes/no); plans alone have no refusals to learn from")
    for t in ("authorizations", "statements", "cards"):
        if not ds.has(t):
            raise InvalidInput(f"{ds.path}: installment propensity needs the {t!r} table")
    con = ds.connect(duckdb.connect())
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    plans = "installment_plans" if ds.has("installment_plans") else \
        "(SELECT NULL::VARCHAR AS card_token, NULL::TIMESTAMPTZ AS created_at WHERE false)"
    return con.sql(f"""
        WITH log AS (SELECT {_LOG_COLUMNS} FROM truth_installment_offers),
        src AS (
          SELECT l.*, coalesce(a.amount_fen, s.new_balance_fen) AS amount_fen,
                 coalesce(s.credit_limit_fen, c.credit_limit_fen) AS limit_fen,
                 coalesce(a.customer_id, s.customer_id, c.customer_id) AS customer_id
          FROM log l
          LEFT JOIN authorizations a ON l.kind = 'purchase' AND a.auth_id = l.source_id
          LEFT JOIN statements s ON l.kind = 'statement' AND s.statement_id = l.source_id
          LEFT JOIN cards c ON c.card_token = l.card_token),
        prev AS (
          SELECT customer_id, date_trunc('month', ts) AS month, count(*) AS n, sum(amount_fen) AS spend
          FROM authorizations WHERE approved AND message_type = 'purchase' GROUP BY ALL),
        st AS (
          SELECT customer_id, date_trunc('month', statement_date) AS month,
                 sum(greatest(previous_balance_fen - repayments_fen, 0)) AS revolving, max(days_past_due) AS dpd
          FROM statements GROUP BY ALL)
        SELECT src.offer_id, src.source_id, src.customer_id, src.offered_at, src.accepted, src.kind,
               src.amount_fen::DOUBLE AS amount_fen, (src.kind = 'statement')::INT AS is_statement,
               src.periods::INT AS periods, src.fee_rate_bp::INT AS fee_rate_bp,
               src.amount_fen / greatest(src.limit_fen, 1) AS amount_to_limit,
               hour(src.offered_at) AS hour,
               coalesce(p.n, 0) AS prev_purchases, coalesce(p.spend, 0)::DOUBLE AS prev_spend_fen,
               coalesce(st.revolving, 0)::DOUBLE AS prev_revolving_fen, coalesce(st.dpd, 0) AS prev_max_dpd,
               (SELECT count(*) FROM {plans} q WHERE q.card_token = src.card_token
                  AND q.created_at < src.offered_at) AS prev_plans
        FROM src
        LEFT JOIN prev p ON p.customer_id = src.customer_id
             AND p.month = date_trunc('month', src.offered_at) - INTERVAL 1 MONTH
        LEFT JOIN st ON st.customer_id = src.customer_id
             AND st.month = date_trunc('month', src.offered_at) - INTERVAL 1 MONTH
        ORDER BY src.offered_at, src.offer_id""").df()


class InstallmentModel:
    """LightGBM classifier of P(accept | offer).

    >>> rng = np.random.default_rng(0)
    >>> x = pd.DataFrame({f: rng.random(400) for f in FEATURES})
    >>> y = (x["amount_to_limit"] + rng.random(400) * 0.3 > 0.7).astype(int)
    >>> m = InstallmentModel(n_estimators=30).fit(x, y)
    >>> bool(m.predict_proba(x)[y == 1].mean() > m.predict_proba(x)[y == 0].mean())
    True
    """

    def __init__(self, *, n_estimators: int = 200, learning_rate: float = 0.05, seed: int = 0) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.seed = seed

    def fit(self, x: pd.DataFrame, y) -> InstallmentModel:
        params = {"objective": "binary", "learning_rate": self.learning_rate, "num_leaves": 15,
                  "min_data_in_leaf": 30, "seed": self.seed, "verbose": -1, "num_threads": 2}
        self.booster_ = lgb.train(params, lgb.Dataset(x[list(FEATURES)], label=np.asarray(y, int)),
                                  num_boost_round=self.n_estimators)
        return self

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "booster_"):
            raise NotFittedError("InstallmentModel is not fitted; call fit() first")
        return self.booster_.predict(x[list(FEATURES)], num_threads=2)

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(folder / "model.txt"))
        (folder / "meta.json").write_text(json.dumps({"features": list(FEATURES), "fee_schedule_bp": FEE_SCHEDULE_BP}))

    @classmethod
    def load(cls, folder: str | Path) -> InstallmentModel:
        m = cls()
        m.booster_ = lgb.Booster(model_file=str(Path(folder) / "model.txt"))
        return m


def choose_offers(model: InstallmentModel, candidates: pd.DataFrame, *, loss_rate: float = 0.0) -> pd.DataFrame:
    """Best (periods, fee) per candidate row: max P(accept) x fee revenue - P(accept) x loss.

    ``loss_rate`` is the expected credit loss as a share of the converted principal (e.g. PD x LGD).
    Adds ``periods``, ``fee_rate_bp``, ``p_accept``, ``expected_revenue_fen``, ``expected_loss_fen``.
    """
    best = None
    for periods, fee in FEE_SCHEDULE_BP.items():
        c = candidates.assign(periods=periods, fee_rate_bp=fee)
        p = model.predict_proba(c)
        rev = p * c["amount_fen"].to_numpy() * fee * periods / 10_000
        loss = p * c["amount_fen"].to_numpy() * loss_rate
        c = c.assign(p_accept=p, expected_revenue_fen=rev, expected_loss_fen=loss, net=rev - loss)
        best = c if best is None else best.where(best["net"] >= c["net"], c)
    return best.drop(columns="net")


def evaluate_installment(data: Dataset | str, *, offer_share: float = 0.2, n_estimators: int = 200) -> dict[str, float]:
    """Time split (last third of the offer log = test): AUC and a targeting comparison.

    Model and the naive policy "offer everyone above amount X" each pick the same number of test
    offers (``offer_share`` of them); compared on expected accepted offers and expected fee revenue
    using the simulator's true accept probability (evaluation only).
    """
    ds = data if isinstance(data, Dataset) else Dataset(data)
    t = offer_table(ds)
    cut = t["offered_at"].quantile(2 / 3)
    train, test = t[t["offered_at"] < cut], t[t["offered_at"] >= cut].copy()
    model = InstallmentModel(n_estimators=n_estimators).fit(train, train["accepted"].astype(int))
    test["p"] = model.predict_proba(test)
    truth = ds.read("truth_installment_offers", ["offer_id", "accept_probability"]).to_pandas()
    test = test.merge(truth, on="offer_id")
    test["fee_total"] = test["amount_fen"] * test["fee_rate_bp"] * test["periods"] / 10_000
    n = max(1, int(len(test) * offer_share))
    by_model = test.nlargest(n, "p")
    by_value = test.assign(ev=test["p"] * test["fee_total"]).nlargest(n, "ev")
    naive = test.nlargest(n, "amount_fen")
    out = {"n_train": len(train), "n_test": len(test), "offers": n,
           "auc": float(roc_auc_score(test["accepted"], test["p"])),
           "auc_true_probability": float(roc_auc_score(test["accepted"], test["accept_probability"]))}
    for name, sel in (("model_p", by_model), ("model_revenue", by_value), ("naive_amount", naive)):
        out[f"{name}_expected_accepted"] = float(sel["accept_probability"].sum())
        out[f"{name}_expected_revenue_yuan"] = float((sel["accept_probability"] * sel["fee_total"]).sum() / 100)
    return out
