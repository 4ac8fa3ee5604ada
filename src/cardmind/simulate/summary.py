"""The summary printed after every run and by ``cardmind simulate --describe DIR``.

Computed from the dataset on disk with DuckDB, so it describes any simulated dataset the same
way (and reads the ``truth_*`` tables: this is evaluation code, not a model input).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from cardmind.dataset import Dataset


@dataclass
class Summary:
    """Key realism figures of a simulated dataset."""

    preset: str
    seed: int
    period_start: str
    period_end: str
    cards: int
    merchants: int
    authorizations: int
    auths_per_active_card_month: float
    spend_per_active_card_month_yuan: dict[str, float]
    decline_rate: float
    over_limit_decline_rate: float
    temp_credit_grants: int
    fraud_rate_bp: float
    scenarios: dict[str, dict[str, float]]
    cashout_share: float
    third_party_repayment_share: float
    delinquency_90_rate: float
    charge_offs: int
    utilisation: float
    installment_penetration: float
    installment_plans: dict[str, int]
    applications: dict[str, float]
    row_counts: dict[str, int] = field(default_factory=dict)
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """Human-readable summary (one figure per line)."""
        s = self.spend_per_active_card_month_yuan
        out = [
            f"preset {self.preset}, seed {self.seed}, {self.period_start} .. {self.period_end}",
            f"cards {self.cards:,}, merchants {self.merchants:,}, authorizations {self.authorizations:,}",
            f"authorizations per active card per month  {self.auths_per_active_card_month:.1f}",
            "spend per active card-month (yuan)  "
            + ", ".join(f"{k} {v:,.0f}" for k, v in s.items()),
            f"decline rate  {self.decline_rate:.2%} (over limit {self.over_limit_decline_rate:.2%}); "
            f"temporary credits granted {self.temp_credit_grants:,}",
            f"fraud rate  {self.fraud_rate_bp:.1f} bp of purchase authorizations",
        ]
        for name, v in self.scenarios.items():
            out.append(
                f"  {name:<17} episodes {int(v['episodes']):>6,}  auths {int(v['auths']):>8,}  "
                f"{v['auth_bp']:7.1f} bp of auths  {v['amount_bp']:7.1f} bp of approved amount"
            )
        out += [
            f"cash-out share of approved purchase amount  {self.cashout_share:.2%}",
            f"repayments by a third party  {self.third_party_repayment_share:.2%}",
            f"90+ days past due (share of cards with a statement)  {self.delinquency_90_rate:.2%}; "
            f"charge-offs {self.charge_offs:,}",
            f"utilisation (last statement, mean)  {self.utilisation:.1%}",
            f"installment penetration (active cards with a plan)  {self.installment_penetration:.1%}; "
            f"plans {self.installment_plans}",
            "applications  "
            + ", ".join(
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v:,}"
                for k, v in self.applications.items()
            ),
        ]
        if self.seconds is not None:
            out.append(f"generated in {self.seconds:.1f} s")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def connect(ds: Dataset) -> duckdb.DuckDBPyConnection:
    """DuckDB views over the dataset's tables (literal paths: DuckDB cannot prepare a view)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    for table in ds.tables():
        pattern = ds.glob(table).replace("'", "''")
        con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet('{pattern}')")
    return con


def _one(con, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    return row[0] if row else None


def describe(path: str | Path) -> Summary:
    """Summarise the simulated dataset at ``path`` (raises ``InvalidInput`` if it is not one)."""
    ds = Dataset(path)
    con = connect(ds)
    m = ds.manifest
    purchases = "message_type = 'purchase'"
    n_auth = _one(con, "SELECT count(*) FROM authorizations")
    per_card = (
        _one(
            con,
            f"""
        SELECT avg(n) FROM (SELECT card_token, date_trunc('month', ts) AS m, count(*) AS n
        FROM authorizations WHERE {purchases} GROUP BY ALL)""",
        )
        or 0.0
    )
    q = con.execute(f"""
        SELECT quantile_cont(s, [0.1, 0.25, 0.5, 0.75, 0.9]), avg(s) FROM (
          SELECT card_token, date_trunc('month', ts) AS m, sum(amount_fen) / 100.0 AS s
          FROM authorizations WHERE {purchases} AND approved GROUP BY ALL)""").fetchone()
    qs = q[0] or [0, 0, 0, 0, 0]
    spend = {
        "p10": qs[0],
        "p25": qs[1],
        "median": qs[2],
        "p75": qs[3],
        "p90": qs[4],
        "mean": q[1] or 0.0,
    }
    dec, dec51, n_p, amt_ok = con.execute(f"""
        SELECT avg(CASE WHEN approved THEN 0 ELSE 1 END),
               avg(CASE WHEN response_code = '51' THEN 1 ELSE 0 END),
               count(*), sum(CASE WHEN approved THEN amount_fen ELSE 0 END)
        FROM authorizations WHERE {purchases}""").fetchone()
    n_p = n_p or 1
    amt_ok = amt_ok or 1
    scen = {}
    rows = con.execute(f"""
        SELECT t.scenario, count(DISTINCT t.episode_id), count(*),
               sum(CASE WHEN a.approved THEN a.amount_fen ELSE 0 END), bool_or(t.is_fraud)
        FROM truth_authorizations t JOIN authorizations a USING (auth_id)
        WHERE a.{purchases} GROUP BY 1 ORDER BY 1""").fetchall()
    fraud_auths = 0
    cash_amt = 0
    for name, eps, n, amt, is_fraud in rows:
        scen[name] = {
            "episodes": eps,
            "auths": n,
            "auth_bp": n / n_p * 1e4,
            "amount_bp": (amt or 0) / amt_ok * 1e4,
            "is_fraud": bool(is_fraud),
        }
        if is_fraud:
            fraud_auths += n
        if name in ("cashout_app", "pos_cashout"):
            cash_amt += amt or 0
    third = (
        _one(con, "SELECT avg(CASE WHEN payer_is_cardholder THEN 0 ELSE 1 END) FROM repayments")
        or 0.0
    )
    dq = (
        _one(
            con,
            """
        WITH last AS (SELECT card_token, arg_max(days_past_due, statement_date) AS dpd
                      FROM statements GROUP BY 1)
        SELECT avg(CASE WHEN dpd >= 90 OR card_token IN (SELECT card_token FROM charge_offs)
                   THEN 1 ELSE 0 END) FROM last""",
        )
        or 0.0
    )
    util = (
        _one(
            con,
            """
        SELECT avg(greatest(0, least(1.5, (nb + io) / nullif(lim, 0)))) FROM (
          SELECT arg_max(new_balance_fen, statement_date) AS nb,
                 arg_max(installment_outstanding_fen, statement_date) AS io,
                 arg_max(credit_limit_fen, statement_date) AS lim
          FROM statements GROUP BY card_token)""",
        )
        or 0.0
    )
    active = (
        _one(
            con,
            f"SELECT count(DISTINCT card_token) FROM authorizations WHERE {purchases} AND approved",
        )
        or 1
    )
    with_plan = _one(con, "SELECT count(DISTINCT card_token) FROM installment_plans") or 0
    plans = dict(
        con.execute("SELECT kind, count(*) FROM installment_plans GROUP BY 1 ORDER BY 1").fetchall()
    )
    apps = con.execute("""
        SELECT count(*), avg(CASE WHEN decision = 'approved' THEN 1 ELSE 0 END),
               avg(CASE WHEN decision = 'approved' THEN bad_12m::INT END),
               avg(CASE WHEN decision = 'rejected' THEN bad_12m::INT END)
        FROM applications JOIN truth_applications USING (application_id)""").fetchone()
    con.close()
    return Summary(
        preset=str(m.get("preset")),
        seed=int(m.get("seed", 0)),
        period_start=str(m.get("period_start")),
        period_end=str(m.get("period_end")),
        cards=int(m.get("cards", 0)),
        merchants=int(m.get("merchants", 0)),
        authorizations=int(n_auth or 0),
        auths_per_active_card_month=float(per_card),
        spend_per_active_card_month_yuan={k: round(float(v or 0), 2) for k, v in spend.items()},
        decline_rate=float(dec or 0),
        over_limit_decline_rate=float(dec51 or 0),
        temp_credit_grants=int(m.get("row_counts", {}).get("temp_credits", 0)),
        fraud_rate_bp=fraud_auths / n_p * 1e4,
        scenarios=scen,
        cashout_share=cash_amt / amt_ok,
        third_party_repayment_share=float(third),
        delinquency_90_rate=float(dq),
        charge_offs=int(m.get("row_counts", {}).get("charge_offs", 0)),
        utilisation=float(util),
        installment_penetration=with_plan / active,
        installment_plans={k: int(v) for k, v in plans.items()},
        applications={
            "count": int(apps[0] or 0),
            "approval_rate": float(apps[1] or 0),
            "bad_rate_approved": float(apps[2] or 0),
            "bad_rate_rejected": float(apps[3] or 0),
        },
        row_counts=dict(m.get("row_counts", {})),
        seconds=m.get("seconds"),
    )
