"""Every labelled scenario appears in the tiny dataset, with the behaviour it is named for."""

from __future__ import annotations

import json

import pytest

from cardmind.simulate.scenarios import FRAUD_SCENARIOS, SCENARIO_TYPES


def test_every_scenario_appears_with_plausible_rates(con):
    rows = con.execute(
        """SELECT t.scenario, count(DISTINCT t.episode_id), count(*), bool_and(t.is_fraud),
                  bool_or(t.is_fraud)
           FROM truth_authorizations t JOIN authorizations a USING (auth_id) GROUP BY 1"""
    ).fetchall()
    total = con.execute("SELECT count(*) FROM authorizations").fetchone()[0]
    seen = {r[0]: r for r in rows}
    assert set(seen) == set(SCENARIO_TYPES)
    for name, (_, episodes, auths, all_fraud, any_fraud) in seen.items():
        assert episodes >= 3, name
        assert auths / total < 0.03, name  # raised for tiny, still a small minority
        assert all_fraud == any_fraud == (name in FRAUD_SCENARIOS), name
    episodes = dict(
        con.execute("SELECT scenario, count(*) FROM truth_episodes GROUP BY 1").fetchall()
    )
    assert set(episodes) == set(SCENARIO_TYPES)


def test_fraud_labels_are_delayed_and_some_fraud_is_never_reported(con):
    n, early, scen_ok = con.execute(
        """SELECT count(*), count(*) FILTER (WHERE l.reported_at <= a.ts),
                  count(*) FILTER (WHERE l.scenario = t.scenario)
           FROM fraud_labels l JOIN authorizations a USING (auth_id)
           JOIN truth_authorizations t USING (auth_id)"""
    ).fetchone()
    assert n > 100 and early == 0 and scen_ok == n
    delay_days = con.execute(
        """SELECT median(epoch(l.reported_at - a.ts) / 86400)
           FROM fraud_labels l JOIN authorizations a USING (auth_id)"""
    ).fetchone()[0]
    assert 0.5 < delay_days < 45
    unlabelled = con.execute(
        """SELECT count(*) FROM truth_authorizations t JOIN authorizations a USING (auth_id)
           LEFT JOIN fraud_labels l USING (auth_id)
           WHERE t.is_fraud AND a.approved AND l.auth_id IS NULL"""
    ).fetchone()[0]
    assert unlabelled > 0
    not_fraud = con.execute(
        """SELECT count(*) FROM fraud_labels l JOIN truth_authorizations t USING (auth_id)
           WHERE NOT t.is_fraud"""
    ).fetchone()[0]
    assert not_fraud == 0


def _scenario_auths(con, name):
    return con.execute(
        f"""SELECT a.*, t.episode_id FROM authorizations a JOIN truth_authorizations t USING (auth_id)
            WHERE t.scenario = '{name}' ORDER BY t.episode_id, a.ts"""
    ).fetchdf()


def test_cashout_app_repays_as_third_party_then_cycles_credit_at_a_ring(con):
    eps = con.execute(
        "SELECT episode_id, card_token, merchant_ids, start_at, end_at, params FROM truth_episodes WHERE scenario = 'cashout_app'"
    ).fetchdf()
    assert len(eps) >= 5
    params = [json.loads(p) for p in eps["params"]]
    assert all(abs(p["fee_rate"] - 0.006) < 1e-12 for p in params)
    # the app's repayment: third party, in full, through an app, right before the purchases
    rep = con.execute(
        """SELECT count(*) FROM repayments r JOIN truth_episodes e
             ON e.card_token = r.card_token AND e.start_at = r.ts
           WHERE e.scenario = 'cashout_app' AND NOT r.payer_is_cardholder
             AND r.channel = 'third_party_app'"""
    ).fetchone()[0]
    assert rep >= 0.8 * len(eps)
    auths = _scenario_auths(con, "cashout_app")
    ring = {m for ms in eps["merchant_ids"] for m in ms}
    assert set(auths["merchant_id"]) <= ring
    per_ep = auths[auths["approved"]].groupby("episode_id")
    assert per_ep.size().median() >= 8  # many small purchases
    span_days = (per_ep["ts"].max() - per_ep["ts"].min()).dt.total_seconds() / 86400
    assert span_days.max() <= 3.01
    # after the cycle, 5-10 % of the line is left free
    last = auths[auths["approved"]].sort_values("ts").groupby("episode_id").tail(1)
    lim = dict(con.execute("SELECT card_token, credit_limit_fen FROM cards").fetchall())
    free = (last["available_credit_fen"] - last["amount_fen"]) / last["card_token"].map(lim)
    assert free.between(0.03, 0.12).mean() > 0.8
    # only the card holders in a 代还 scheme are repaid by a third party
    other = con.execute(
        """SELECT count(*) FROM repayments r WHERE NOT payer_is_cardholder
           AND card_token NOT IN (SELECT card_token FROM truth_episodes WHERE scenario = 'cashout_app')"""
    ).fetchone()[0]
    assert other == 0


def test_pos_cashout_is_round_amounts_right_after_the_statement(con):
    rows = con.execute(
        """SELECT a.amount_fen, a.channel,
                  epoch(a.ts - (s.statement_date + INTERVAL 1 DAY)::TIMESTAMPTZ) / 86400 AS days
           FROM authorizations a JOIN truth_authorizations t USING (auth_id)
           JOIN statements s ON s.card_token = a.card_token
            AND s.statement_date = (SELECT max(statement_date) FROM statements x
                                    WHERE x.card_token = a.card_token AND x.statement_date < a.ts::DATE)
           WHERE t.scenario = 'pos_cashout'"""
    ).fetchall()
    assert len(rows) >= 5
    assert all(amount % 100_000 == 0 for amount, _, _ in rows)
    assert all(channel == "pos_chip" for _, channel, _ in rows)
    assert all(-0.01 <= days <= 3.2 for _, _, days in rows)


def test_card_testing_is_tiny_amounts_then_large_ones_from_one_device(con):
    auths = _scenario_auths(con, "card_testing")
    for _, ep in auths.groupby("episode_id"):
        small = ep[ep["amount_fen"] <= 1000]
        big = ep[ep["amount_fen"] > 1000]
        assert len(small) >= 3
        if len(big):
            assert big["ts"].min() > small["ts"].max()
        assert ep["device_id"].nunique() == 1
        assert set(ep["channel"]) == {"online_cnp"}


def test_account_takeover_uses_a_device_never_seen_on_the_card(con):
    new = con.execute(
        """SELECT count(*), count(*) FILTER (WHERE a.device_id IN (
                 SELECT device_id FROM authorizations g LEFT JOIN truth_authorizations gt USING (auth_id)
                 WHERE g.card_token = a.card_token AND gt.auth_id IS NULL AND g.device_id IS NOT NULL))
           FROM authorizations a JOIN truth_authorizations t USING (auth_id)
           WHERE t.scenario = 'account_takeover'"""
    ).fetchone()
    assert new[0] > 0 and new[1] == 0


def test_lost_stolen_is_card_present_and_skimming_far_from_home(con):
    channels = {
        r[0]
        for r in con.execute(
            """SELECT DISTINCT a.channel FROM authorizations a JOIN truth_authorizations t USING (auth_id)
               WHERE t.scenario = 'lost_stolen'"""
        ).fetchall()
    }
    assert channels <= {"contactless", "pos_chip"}
    away = con.execute(
        """SELECT avg((a.city != c.city)::INT) FROM authorizations a JOIN truth_authorizations t USING (auth_id)
           JOIN customers c USING (customer_id) WHERE t.scenario = 'skimming'"""
    ).fetchone()[0]
    assert away > 0.85  # a tiny world lacks shops of some kinds in some cities: fallback


@pytest.mark.parametrize("scenario", ["cnp_breach", "skimming"])
def test_point_of_compromise_cards_paid_at_the_breached_merchant_before(con, scenario):
    bad = con.execute(
        f"""SELECT count(*) FROM truth_episodes e
            WHERE e.scenario = '{scenario}' AND NOT EXISTS (
              SELECT 1 FROM authorizations a WHERE a.card_token = e.card_token
                AND a.merchant_id = e.merchant_ids[1] AND a.ts < e.start_at)"""
    ).fetchone()[0]
    assert bad == 0


def test_bust_out_cards_stop_paying(con):
    rows = con.execute(
        """SELECT e.card_token,
                  (SELECT count(*) FROM repayments r WHERE r.card_token = e.card_token
                     AND r.ts > e.end_at + INTERVAL 40 DAY) AS later_payments
           FROM truth_episodes e WHERE e.scenario = 'bust_out'"""
    ).fetchall()
    assert rows
    assert all(n == 0 for _, n in rows)


def _cashout_run(tmp_path, name, **extra):
    from cardmind.dataset import Dataset
    from cardmind.simulate import load_preset, simulate
    from cardmind.simulate.summary import connect

    overrides = {"population.cards": 150, "period.months": 2, "scenarios.cashout_app.participant_share": 0.2}
    overrides.update({f"scenarios.cashout_app.{k}": v for k, v in extra.items()})
    simulate(load_preset("tiny", seed=5, overrides=overrides), tmp_path / name)
    con = connect(Dataset(tmp_path / name))
    per_episode = con.execute(
        """SELECT t.episode_id, sum(a.amount_fen) FILTER (WHERE a.approved), any_value(e.params)
           FROM authorizations a JOIN truth_authorizations t USING (auth_id)
           JOIN truth_episodes e USING (episode_id)
           WHERE t.scenario = 'cashout_app' GROUP BY 1 ORDER BY 1"""
    ).fetchall()
    mccs = {
        r[0]
        for r in con.execute(
            """SELECT DISTINCT m.mcc FROM authorizations a JOIN truth_authorizations t USING (auth_id)
               JOIN merchants m USING (merchant_id) WHERE t.scenario = 'cashout_app'"""
        ).fetchall()
    }
    con.close()
    return per_episode, mccs


def test_cashout_app_ring_categories_and_fee_shape_the_purchases(tmp_path):
    base, base_mccs = _cashout_run(tmp_path, "base")
    assert base_mccs <= {"5999", "5311", "5411", "5651", "5812"} and len(base) >= 5
    _, mccs = _cashout_run(tmp_path, "cats", ring_categories="jewellery, 5732")
    assert mccs == {"5944", "5732"}
    other, _ = _cashout_run(tmp_path, "fee", fee_rate=0.05)
    assert all(json.loads(p)["fee_rate"] == 0.05 for _, _, p in other)
    # same draws, only the fee differs: each cycle spends (1 + fee) / (1 + 0.006) times as much
    spent = {e: b for e, b, _ in base}
    ratios = [o / spent[e] for e, o, _ in other if o and spent.get(e)]
    assert len(ratios) >= 0.8 * len(base)
    assert abs(sorted(ratios)[len(ratios) // 2] - 1.05 / 1.006) < 0.005
