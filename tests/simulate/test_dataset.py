"""Properties of the simulated tiny dataset: tables, identities, over-limit rule, card data."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from cardmind import schema
from cardmind.privacy import contains_pan, is_sensitive_field_name
from cardmind.simulate.engine import SIMULATED_TABLES


def test_every_simulated_table_is_written_with_the_schema(tiny):
    assert set(SIMULATED_TABLES) <= set(tiny.tables())
    for name in SIMULATED_TABLES:
        table = tiny.read(name)
        assert table.num_rows > 0, name
        assert table.schema.remove_metadata().equals(
            schema.TABLES[name].arrow_schema().remove_metadata(), check_metadata=False
        ), name
    m = tiny.manifest
    assert m["preset"] == "tiny" and m["seed"] == 0
    assert m["period_start"] == "2025-11-01" and m["period_end"] == "2026-05-01"
    assert m["parameters"]["scenarios.cashout_app.ring_size"] == 12
    assert m["row_counts"]["authorizations"] == tiny.read("authorizations").num_rows
    assert "generator_version" in m


def test_several_parts_per_monthly_table(tiny):
    assert len(tiny.files("authorizations")) == tiny.manifest["months"]


def test_primary_keys_are_unique(con):
    for name in SIMULATED_TABLES:
        key = ", ".join(schema.TABLES[name].primary_key)
        dup = con.execute(
            f"SELECT count(*) FROM (SELECT {key} FROM {name} GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()[0]
        assert dup == 0, name


def test_statement_identity_holds_on_every_row(con):
    bad, negative, rows = con.execute(
        """SELECT count(*) FILTER (WHERE new_balance_fen != previous_balance_fen - repayments_fen
                                   + purchases_fen + interest_fen + fees_fen - reversals_fen),
                  count(*) FILTER (WHERE purchases_fen < 0 OR repayments_fen < 0 OR fees_fen < 0
                                   OR interest_fen < 0 OR reversals_fen < 0 OR minimum_due_fen < 0),
                  count(*)
           FROM statements"""
    ).fetchone()
    assert rows > 1000
    assert bad == 0 and negative == 0


def test_statements_chain_and_repayments_reconcile(con):
    broken = con.execute(
        """SELECT count(*) FROM (
             SELECT previous_balance_fen AS p,
                    lag(new_balance_fen) OVER (PARTITION BY card_token ORDER BY statement_date) AS l
             FROM statements) WHERE l IS NOT NULL AND l != p"""
    ).fetchone()[0]
    assert broken == 0
    # every repayment credited in a cycle is counted in that cycle's statement
    diff = con.execute(
        """SELECT count(*) FROM statements s
           JOIN (SELECT s.statement_id, coalesce(sum(r.amount_fen), 0) AS paid
                 FROM statements s LEFT JOIN repayments r
                   ON r.card_token = s.card_token
                  AND r.ts::DATE BETWEEN s.cycle_start AND s.statement_date
                 GROUP BY 1) x USING (statement_id)
           WHERE x.paid != s.repayments_fen"""
    ).fetchone()[0]
    assert diff == 0


def test_no_approval_beyond_available_credit_without_temp_credit(con):
    over = con.execute(
        """SELECT count(*) FROM authorizations
           WHERE approved AND message_type = 'purchase' AND amount_fen > available_credit_fen
             AND temp_credit_fen = 0"""
    ).fetchone()[0]
    assert over == 0
    missing, mismatched, grants = con.execute(
        """SELECT count(*) FILTER (WHERE g.auth_id IS NULL),
                  count(*) FILTER (WHERE g.amount_fen != a.amount_fen - a.available_credit_fen),
                  count(*)
           FROM authorizations a LEFT JOIN temp_credits g USING (auth_id)
           WHERE a.temp_credit_fen > 0"""
    ).fetchone()
    assert grants > 0 and missing == 0 and mismatched == 0
    declines = con.execute(
        "SELECT count(*) FROM authorizations WHERE response_code = '51' AND amount_fen <= available_credit_fen"
    ).fetchone()[0]
    assert declines == 0


def test_over_limit_declines_and_rates_are_realistic(con):
    rate51, decline = con.execute(
        """SELECT avg((response_code = '51')::INT), avg((NOT approved)::INT)
           FROM authorizations WHERE message_type = 'purchase'"""
    ).fetchone()
    assert 0.005 < rate51 < 0.08
    assert 0.01 < decline < 0.12


def test_reversals_and_refunds_point_to_approved_purchases_of_the_same_card(con):
    bad = con.execute(
        """SELECT count(*) FROM authorizations r LEFT JOIN authorizations o
             ON o.auth_id = r.original_auth_id
           WHERE r.message_type != 'purchase'
             AND (o.auth_id IS NULL OR NOT o.approved OR o.card_token != r.card_token
                  OR r.amount_fen > o.amount_fen OR r.ts <= o.ts)"""
    ).fetchone()[0]
    assert bad == 0


def test_installments_conserve_principal(con):
    rows = con.execute(
        """SELECT count(*), count(*) FILTER (WHERE p.principal_fen != a.amount_fen)
           FROM installment_plans p JOIN authorizations a ON a.auth_id = p.source_id
           WHERE p.kind = 'purchase'"""
    ).fetchone()
    assert rows[0] > 0 and rows[1] == 0
    kinds = dict(con.execute("SELECT kind, count(*) FROM installment_plans GROUP BY 1").fetchall())
    assert kinds.get("statement", 0) > 0
    bad_fee = con.execute(
        "SELECT count(*) FROM installment_plans WHERE fee_total_fen != principal_fen * fee_rate_bp // 10000 * periods"
    ).fetchone()[0]
    assert bad_fee == 0
    offers = con.execute(
        "SELECT count(*), avg(accepted::INT) FROM truth_installment_offers"
    ).fetchone()
    assert offers[0] > 0 and 0.02 < offers[1] < 0.9


def test_delinquency_leads_to_charge_off_after_90_days(con):
    late = con.execute(
        """SELECT count(*) FROM statements s JOIN charge_offs c USING (card_token)
           WHERE s.statement_date > c.charged_off_at"""
    ).fetchone()[0]
    assert late == 0  # no statements after charge-off
    dpd = con.execute(
        """SELECT min(s.days_past_due) FROM statements s JOIN charge_offs c
             ON s.card_token = c.card_token AND s.statement_date = c.charged_off_at"""
    ).fetchone()[0]
    assert dpd >= 90
    status = con.execute(
        """SELECT count(*) FROM charge_offs c JOIN cards USING (card_token)
           WHERE cards.status != 'charged_off'"""
    ).fetchone()[0]
    assert status == 0
    defaulted = con.execute(
        "SELECT count(*) FROM truth_customers WHERE defaulted_at IS NOT NULL"
    ).fetchone()[0]
    assert defaulted > 0


def test_no_column_holds_a_card_number_cvv_or_pin(tiny):
    for name in tiny.tables():
        table = tiny.read(name)
        assert not [c for c in table.column_names if is_sensitive_field_name(c)], name
        for col_name in table.column_names:
            col = table.column(col_name)
            if pa.types.is_list(col.type):
                col = pc.list_flatten(col)
            if not pa.types.is_string(col.type):
                continue
            values = pc.unique(col).to_pylist()
            assert not [v for v in values if v is not None and contains_pan(v)], (name, col_name)
    tokens = tiny.read("cards").column("card_token").to_pylist()
    assert all(len(t) == 32 for t in tokens)
    assert all(len(x) == 4 for x in tiny.read("cards").column("pan_last4").to_pylist())


def test_rhythms_eleven_eleven_and_spring_festival(con):
    per_day = dict(
        con.execute(
            """SELECT ts::DATE AS d, count(*) FROM authorizations
               WHERE channel = 'online_cnp' GROUP BY 1"""
        ).fetchall()
    )
    import datetime as dt

    nov = [
        v
        for d, v in per_day.items()
        if d.month == 11 and d.year == 2025 and d.day not in (10, 11, 12)
    ]
    assert per_day[dt.date(2025, 11, 11)] > 2 * (sum(nov) / len(nov))
    hours = dict(con.execute("SELECT hour(ts), count(*) FROM authorizations GROUP BY 1").fetchall())
    assert hours[12] > 5 * hours.get(4, 0)
    cross = con.execute("SELECT avg(cross_border::INT) FROM authorizations").fetchone()[0]
    assert 0 < cross < 0.05


def test_lines_only_go_up_for_customers_in_good_standing(con):
    raised, lowered = con.execute(
        """SELECT count(DISTINCT s.card_token) FILTER (WHERE s.credit_limit_fen > c.credit_limit_fen),
                  count(*) FILTER (WHERE s.credit_limit_fen < c.credit_limit_fen)
           FROM statements s JOIN cards c USING (card_token)"""
    ).fetchone()
    assert raised > 0 and lowered == 0
