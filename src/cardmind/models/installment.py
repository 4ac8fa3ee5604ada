"""Installment propensity and offer terms: which purchase or statement a customer converts, at what price (分期推荐).

Trained on the bank's own offer log (each offer with its terms and whether it was accepted; the
simulator's ``truth_installment_offers`` plays that log, with a randomised fee-discount test so the
log shows how acceptance responds to price; its true probabilities are read only by
:func:`evaluate_installment`). Features: the offered amount, kind, periods, fee and discount off the
schedule, the amount relative to the credit limit, the limit, the customer's behaviour in the month
before the offer, the card's earlier plans and earlier offers (how many, how many taken: the bank's
own log, the best trace of a customer's taste for installments) and the card's PD
(:mod:`cardmind.models.installment_risk`).

:func:`choose_offers` scores every term on the grid (3/6/12/24 periods x 0-50 % off the schedule) per
candidate and keeps the one with the highest expected incremental net revenue
``P(accept) x (fee - expected loss - funding)``; a candidate whose best net is not positive gets no offer.
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
from cardmind.models.installment_risk import OfferEconomics, card_month_pd

#: Fee per period (bp of principal) by number of periods: the schedule (list price).
FEE_SCHEDULE_BP = {3: 75, 6: 70, 12: 66, 24: 65}
#: Discounts (percent off the schedule) the offer choice may give: the range the offer log tested.
DISCOUNTS_PCT = (0, 10, 20, 30, 40, 50)
FEATURES = ("amount_fen", "is_statement", "periods", "fee_rate_bp", "discount_pct", "amount_to_limit", "limit_fen",
            "hour", "prev_purchases", "prev_spend_fen", "prev_revolving_fen", "prev_max_dpd", "prev_plans", "prev_offers", "prev_offers_accepted", "pd_12m")
_LOG_COLUMNS = "offer_id, card_token, kind, source_id, offered_at, periods, fee_rate_bp, accepted"


def fee_bp(periods, discount_pct) -> np.ndarray:
    """Fee per period of the schedule less ``discount_pct`` percent, rounded half up (bp).

    >>> fee_bp(np.array([3, 12]), np.array([0, 30])).tolist()
    [75, 46]
    """
    lut = np.zeros(25, dtype=np.int64)
    for k, v in FEE_SCHEDULE_BP.items():
        lut[k] = v
    return (lut[np.asarray(periods, dtype=np.int64)] * (100 - np.asarray(discount_pct, np.int64)) + 50) // 100


def discount_of(periods, fee_rate_bp) -> np.ndarray:
    """Percent off the schedule of logged terms (0 at list price)."""
    lut = np.zeros(25, dtype=float)
    for k, v in FEE_SCHEDULE_BP.items():
        lut[k] = v
    listed = lut[np.asarray(periods, dtype=np.int64)]
    return np.where(listed > 0, 100.0 * (1.0 - np.asarray(fee_rate_bp, float) / np.maximum(listed, 1)), 0.0)


def offer_table(data: Dataset | str, *, pd_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """The offer log joined with its features (one row per logged offer).

    ``pd_table`` (from :func:`card_month_pd`) is computed from the data when not given; offers in
    month M take the card's PD at the end of month M-1 (the portfolio rate when there is none).
    Everything is as known at the purchase or statement the offer is about (its time gives the hour,
    the previous month and the earlier plans, as in the offer API): a statement's amount is its
    balance before a conversion (the stored ``new_balance_fen`` is after it), and ``prev_plans``
    leaves out the plan the offer itself created.
    """
    ds = data if isinstance(data, Dataset) else Dataset(data)
    if not ds.has("truth_installment_offers"):
        raise InvalidInput(f"{ds.path}: installment propensity needs an offer log (offers with accepted "
                           "yes/no); plans alone have no refusals to learn from")
    for t in ("authorizations", "statements", "cards"):
        if not ds.has(t):
            raise InvalidInput(f"{ds.path}: installment propensity needs the {t!r} table")
    info = {}
    if pd_table is None:
        pd_table, info = card_month_pd(ds)
    con = ds.connect(duckdb.connect())
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    con.register("card_pd", pd_table)
    plans = "installment_plans" if ds.has("installment_plans") else \
        ("(SELECT NULL::VARCHAR AS card_token, NULL::VARCHAR AS kind, NULL::VARCHAR AS source_id, "
         "NULL::BIGINT AS principal_fen, NULL::TIMESTAMPTZ AS created_at WHERE false)")
    out = con.sql(f"""
        WITH log AS (SELECT {_LOG_COLUMNS} FROM truth_installment_offers),
        src AS (
          SELECT l.*, coalesce(a.amount_fen, s.new_balance_fen + coalesce(sp.principal_fen, 0)) AS amount_fen,
                 coalesce(a.ts, s.statement_date::TIMESTAMPTZ) AS src_ts,
                 coalesce(s.credit_limit_fen, c.credit_limit_fen) AS limit_fen,
                 coalesce(a.customer_id, s.customer_id, c.customer_id) AS customer_id
          FROM log l
          LEFT JOIN authorizations a ON l.kind = 'purchase' AND a.auth_id = l.source_id
          LEFT JOIN statements s ON l.kind = 'statement' AND s.statement_id = l.source_id
          LEFT JOIN {plans} sp ON l.kind = 'statement' AND sp.kind = 'statement' AND sp.source_id = l.source_id
          LEFT JOIN cards c ON c.card_token = l.card_token),
        prev AS (
          SELECT customer_id, date_trunc('month', ts) AS month, count(*) AS n, sum(amount_fen) AS spend
          FROM authorizations WHERE approved AND message_type = 'purchase' GROUP BY ALL),
        st AS (
          SELECT customer_id, date_trunc('month', statement_date) AS month,
                 sum(greatest(previous_balance_fen - repayments_fen, 0)) AS revolving, max(days_past_due) AS dpd
          FROM statements GROUP BY ALL)
        SELECT src.offer_id, src.source_id, src.customer_id, src.card_token, src.offered_at, src.accepted, src.kind,
               src.amount_fen::DOUBLE AS amount_fen, (src.kind = 'statement')::INT AS is_statement,
               src.periods::INT AS periods, src.fee_rate_bp::INT AS fee_rate_bp,
               src.amount_fen / greatest(src.limit_fen, 1) AS amount_to_limit, src.limit_fen::DOUBLE AS limit_fen,
               hour(src.src_ts) AS hour,
               coalesce(p.n, 0) AS prev_purchases, coalesce(p.spend, 0)::DOUBLE AS prev_spend_fen,
               coalesce(st.revolving, 0)::DOUBLE AS prev_revolving_fen, coalesce(st.dpd, 0) AS prev_max_dpd,
               (SELECT count(*) FROM {plans} q WHERE q.card_token = src.card_token
                  AND q.created_at < src.src_ts AND q.source_id <> src.source_id) AS prev_plans,
               (SELECT count(*) FROM log o WHERE o.card_token = src.card_token AND o.offered_at < src.src_ts
                  AND o.source_id <> src.source_id) AS prev_offers,
               (SELECT count(*) FILTER (WHERE o.accepted) FROM log o WHERE o.card_token = src.card_token
                  AND o.offered_at < src.src_ts AND o.source_id <> src.source_id) AS prev_offers_accepted,
               r.pd_12m
        FROM src
        LEFT JOIN prev p ON p.customer_id = src.customer_id
             AND p.month = date_trunc('month', src.src_ts) - INTERVAL 1 MONTH
        LEFT JOIN st ON st.customer_id = src.customer_id
             AND st.month = date_trunc('month', src.src_ts) - INTERVAL 1 MONTH
        LEFT JOIN card_pd r ON r.card_token = src.card_token
             AND r.month = strftime(date_trunc('month', src.src_ts) - INTERVAL 1 MONTH, '%Y-%m')
        ORDER BY src.offered_at, src.offer_id""").df()
    fallback = info.get("portfolio_pd_12m", float(pd_table["pd_12m"].mean()) if len(pd_table) else 0.02)
    out["pd_12m"] = out["pd_12m"].fillna(fallback)
    out["discount_pct"] = discount_of(out["periods"], out["fee_rate_bp"]).round()
    out.attrs["pd_info"] = info
    return out


class InstallmentModel:
    """LightGBM classifier of P(accept | offer).

    >>> rng = np.random.default_rng(0)
    >>> x = pd.DataFrame({f: rng.random(400) for f in FEATURES})  # doctest: +NORMALIZE_WHITESPACE
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
        """Fit on offers ``x`` (columns :data:`FEATURES`) and accepted 0/1 ``y``.

        Acceptance is constrained to rise with the discount and to fall with the fee, so the
        offer choice never "learns" that a dearer offer sells better from noise, and the price
        terms (discount, fee) enter additively on the log-odds (an interaction constraint: a logistic
        demand curve). Letting price interact with everything fitted noise that the offer choice
        then exploited (it gave 23 % average discounts for less net revenue on the demo).
        """
        mono = [1 if f == "discount_pct" else -1 if f == "fee_rate_bp" else 0 for f in FEATURES]
        price = [FEATURES.index("discount_pct"), FEATURES.index("fee_rate_bp")]
        params = {"objective": "binary", "learning_rate": self.learning_rate, "num_leaves": 15,
                  "min_data_in_leaf": 30, "seed": self.seed, "verbose": -1, "num_threads": 2,
                  "monotone_constraints": mono,
                  "interaction_constraints": [[i for i in range(len(FEATURES)) if i not in price], price]}
        self.booster_ = lgb.train(params, lgb.Dataset(x[list(FEATURES)], label=np.asarray(y, int)),
                                  num_boost_round=self.n_estimators)
        return self

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "booster_"):
            raise NotFittedError("InstallmentModel is not fitted; call fit() first")
        return self.booster_.predict(x[list(FEATURES)], num_threads=2)

    def save(self, folder: str | Path, *, metadata: dict | None = None) -> None:
        """LightGBM text model plus ``meta.json`` (features, fee schedule, discounts, ``metadata``)."""
        if not hasattr(self, "booster_"):
            raise NotFittedError("InstallmentModel is not fitted; call fit() first")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(folder / "model.txt"))
        meta = {"features": list(FEATURES), "fee_schedule_bp": FEE_SCHEDULE_BP,
                "discounts_pct": list(DISCOUNTS_PCT), **(metadata or {})}
        (folder / "meta.json").write_text(json.dumps(meta, indent=1, default=str))

    @classmethod
    def load(cls, folder: str | Path) -> InstallmentModel:
        folder = Path(folder)
        meta_path = folder / "meta.json"
        if meta_path.is_file():
            features = json.loads(meta_path.read_text()).get("features")
            if features != list(FEATURES):
                raise InvalidInput(f"{folder}: model trained on other features ({features}); "
                                   "retrain with `cardmind train installment`")
        m = cls()
        m.booster_ = lgb.Booster(model_file=str(folder / "model.txt"))
        return m


def term_grid(candidates: pd.DataFrame) -> pd.DataFrame:
    """Every candidate repeated for each (periods, discount) of the grid, with its fee."""
    n = len(candidates)
    terms = [(p, d) for p in FEE_SCHEDULE_BP for d in DISCOUNTS_PCT]
    g = candidates.iloc[np.tile(np.arange(n), len(terms))].reset_index(drop=True)
    periods = np.repeat([t[0] for t in terms], n)
    disc = np.repeat([t[1] for t in terms], n)
    return g.assign(periods=periods, discount_pct=disc.astype(float), fee_rate_bp=fee_bp(periods, disc),
                    _row=np.tile(np.arange(n), len(terms)))


def value_terms(frame: pd.DataFrame, p_accept, economics: OfferEconomics) -> pd.DataFrame:
    """Money of offers at their terms given P(accept): fee, expected loss, funding and net (fen)."""
    a = frame["amount_fen"].to_numpy(dtype=float)
    n = frame["periods"].to_numpy()
    fee_total = a * frame["fee_rate_bp"].to_numpy() * n / 10_000
    loss, funding = economics.costs(a, n, frame["pd_12m"].to_numpy())
    p = np.asarray(p_accept, dtype=float)
    return pd.DataFrame({"p_accept": p, "fee_total_fen": fee_total, "expected_fee_fen": p * fee_total,
                         "expected_loss_fen": p * loss, "expected_funding_fen": p * funding,
                         "expected_net_fen": p * (fee_total - loss - funding)}, index=frame.index)


def choose_offers(model: InstallmentModel, candidates: pd.DataFrame, *, economics: OfferEconomics | None = None,
                  discounts: bool = True) -> pd.DataFrame:
    """Best terms per candidate row: max P(accept) x (fee - expected loss - funding).

    ``candidates`` need the model's features (the terms columns are overwritten) and ``pd_12m``.
    ``discounts=False`` keeps the schedule's fees (periods only). Returns the candidates with
    ``periods``, ``discount_pct``, ``fee_rate_bp``, ``p_accept``, ``fee_total_fen``,
    ``expected_fee_fen``, ``expected_loss_fen``, ``expected_funding_fen``, ``expected_net_fen`` and
    ``offer`` (the best net is positive).
    """
    economics = economics or OfferEconomics()
    g = term_grid(candidates.reset_index(drop=True))
    if not discounts:
        g = g[g["discount_pct"] == 0].reset_index(drop=True)
    money = value_terms(g, model.predict_proba(g), economics)
    g = pd.concat([g, money], axis=1)
    best = g.loc[g.groupby("_row")["expected_net_fen"].idxmax()].sort_values("_row")
    best = best.drop(columns="_row").reset_index(drop=True)
    best.index = candidates.index
    best["offer"] = best["expected_net_fen"] > 0
    return best


def true_accept_probability(truth: pd.DataFrame, discount_pct) -> np.ndarray:
    """The simulator's true P(accept) of the logged offers at another discount (evaluation only)."""
    from cardmind.simulate.spending import priced_probability

    return priced_probability(truth["list_accept_probability"].to_numpy(), truth["price_sensitivity"].to_numpy(),
                              np.asarray(discount_pct, dtype=float))


def _policy(sel: pd.DataFrame, truth: pd.DataFrame, economics: OfferEconomics) -> dict[str, float]:
    t = truth.loc[sel.index]
    money = value_terms(sel, true_accept_probability(t, sel["discount_pct"].to_numpy()), economics)
    return {"offers": len(sel), "expected_accepted": float(money["p_accept"].sum()),
            "expected_fee_yuan": float(money["expected_fee_fen"].sum() / 100),
            "expected_loss_yuan": float(money["expected_loss_fen"].sum() / 100),
            "expected_funding_yuan": float(money["expected_funding_fen"].sum() / 100),
            "expected_net_yuan": float(money["expected_net_fen"].sum() / 100),
            "mean_discount_pct": float(sel["discount_pct"].mean()) if len(sel) else 0.0,
            "defaulter_share": float(t["defaulter"].mean()) if len(t) else 0.0}


def evaluate_installment(data: Dataset | str, *, offer_share: float = 0.2, n_estimators: int = 200,
                         economics: OfferEconomics | None = None) -> dict:
    """Time split (last third of the offer log = test): AUC and policies valued with the simulator's truth.

    Every test offer is a candidate (a purchase or statement the bank could make an offer on).
    Each policy may make ``offer_share`` of them: the model (its own terms: periods and discount,
    ranked by expected net, positive net only), the model at list price (periods only), and the
    naive "offer everyone above amount X" at the schedule fee, with the periods of the best margin
    per accepted plan (and, for reference, with the periods the log offered); ``oracle`` is the best
    any policy could do with the same number of offers (true probabilities, best terms). Every policy is
    valued with the true acceptance probability at the terms it chose (the simulator's
    ``list_accept_probability`` and ``price_sensitivity``) and the same expected loss (the cards' PD)
    and funding; ``defaulter_share`` is the share of offers made to customers the simulator made
    defaulters (a truth check of the PD).
    """
    if not 0 < offer_share <= 1:
        raise ValueError(f"offer_share must be in (0, 1], got {offer_share}")
    economics = economics or OfferEconomics.from_value_config()
    ds = data if isinstance(data, Dataset) else Dataset(data)
    t = offer_table(ds)
    cut = t["offered_at"].quantile(2 / 3)
    train, test = t[t["offered_at"] < cut], t[t["offered_at"] >= cut].reset_index(drop=True)
    model = InstallmentModel(n_estimators=n_estimators).fit(train, train["accepted"].astype(int))
    truth = ds.read("truth_installment_offers", ["offer_id", "accept_probability", "list_accept_probability",
                                                 "price_sensitivity"]).to_pandas()
    truth = test[["offer_id", "customer_id"]].merge(truth, on="offer_id", how="left")
    if ds.has("truth_customers"):
        tc = ds.read("truth_customers", ["customer_id", "repayment_type"]).to_pandas()
        truth = truth.merge(tc, on="customer_id", how="left")
        truth["defaulter"] = truth["repayment_type"].eq("defaulter")
    else:
        truth["defaulter"] = False
    p_logged = model.predict_proba(test)
    n = max(1, int(len(test) * offer_share))
    out: dict = {"n_train": len(train), "n_test": len(test), "budget_offers": n,
                 "pd_source": t.attrs.get("pd_info", {}).get("pd_source", "given"),
                 "auc": float(roc_auc_score(test["accepted"], p_logged)),
                 "auc_true_probability": float(roc_auc_score(test["accepted"], truth["accept_probability"])),
                 "policies": {}}
    chosen = choose_offers(model, test, economics=economics)
    at_list = choose_offers(model, test, economics=economics, discounts=False)
    naive = test.nlargest(n, "amount_fen")
    out["naive_threshold_yuan"] = float(naive["amount_fen"].min() / 100)
    # the naive policy's terms: the schedule, at the periods with the best margin per accepted plan
    margin = None
    for periods in FEE_SCHEDULE_BP:
        alt = naive.assign(periods=periods, discount_pct=0.0, fee_rate_bp=fee_bp(np.full(len(naive), periods), 0))
        alt = alt.assign(m=value_terms(alt, np.ones(len(alt)), economics)["expected_net_fen"])
        margin = alt if margin is None else margin.where(margin["m"] >= alt["m"], alt)
    policies = {
        "model_terms": chosen[chosen["offer"]].nlargest(n, "expected_net_fen"),
        "model_list_price": at_list[at_list["offer"]].nlargest(n, "expected_net_fen"),
        "naive_amount": margin,
        "naive_amount_logged_periods": naive.assign(discount_pct=0.0, fee_rate_bp=fee_bp(naive["periods"], 0)),
    }
    # the best any policy could do with the same budget: true probabilities, best discount
    best_true = None
    for d in DISCOUNTS_PCT:
        for periods in FEE_SCHEDULE_BP:
            alt = test.assign(periods=periods, discount_pct=float(d), fee_rate_bp=fee_bp(np.full(len(test), periods), d))
            money = value_terms(alt, true_accept_probability(truth, np.full(len(test), d)), economics)
            alt = alt.assign(net=money["expected_net_fen"])
            best_true = alt if best_true is None else best_true.where(best_true["net"] >= alt["net"], alt)
    policies["oracle"] = best_true[best_true["net"] > 0].nlargest(n, "net")
    for name, sel in policies.items():
        out["policies"][name] = _policy(sel, truth, economics)
    return out




def evaluation_table(result: dict) -> str:
    """The policies of :func:`evaluate_installment` as a Markdown table, plus the headline figures."""
    lines = [f"offers: {result['n_train']:,} train / {result['n_test']:,} test (time split); "
             f"budget {result['budget_offers']:,} offers per policy; PD: {result['pd_source']}",
             f"AUC on realised acceptance: model {result['auc']:.3f}, true probability {result['auc_true_probability']:.3f}",
             f"naive threshold: every candidate above {result['naive_threshold_yuan']:,.0f} yuan", "",
             "| policy | offers | expected accepted | fee ¥ | expected loss ¥ | funding ¥ | net ¥ | mean discount % |",
             "|---|---|---|---|---|---|---|---|"]
    for name, m in result["policies"].items():
        lines.append(f"| {name} | {m['offers']:,} | {m['expected_accepted']:,.0f} | {m['expected_fee_yuan']:,.0f} | "
                     f"{m['expected_loss_yuan']:,.0f} | {m['expected_funding_yuan']:,.0f} | "
                     f"{m['expected_net_yuan']:,.0f} | {m['mean_discount_pct']:.1f} |")
    return "\n".join(lines)
