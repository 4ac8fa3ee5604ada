"""Replay of a simulated period, and state bootstrapped from the data before it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cardmind.decisions._data import connect
from cardmind.decisions.accounts import AccountBook
from cardmind.decisions.authorize import EngineConfig
from cardmind.decisions.replay import replay
from cardmind.errors import InvalidInput


class Const:
    feature_names = ("card_auth_count_1h", "txn_amount_fen")

    def __init__(self, score):
        self.score, self.version = score, f"const-{score}"

    def predict_one(self, row):
        return self.score

    def explain(self, row, top=2):
        return []


def test_bootstrap_matches_the_issuers_own_available_credit(tiny_dataset):
    _, con = connect(tiny_dataset)
    until = con.execute("SELECT max(ts) - INTERVAL 30 DAY FROM authorizations").fetchone()[0]
    book = AccountBook.from_dataset(tiny_dataset, until=until)
    first = con.execute("""
        SELECT card_token, ts, available_credit_fen FROM (
          SELECT *, row_number() OVER (PARTITION BY card_token ORDER BY ts) rn
          FROM authorizations WHERE ts >= $1) WHERE rn = 1""", [until]).fetchall()
    exact = sum(book.get(c).available_fen(ts) == avail for c, ts, avail in first)
    assert len(first) > 100 and exact / len(first) > 0.7


@pytest.fixture(scope="module")
def reports(tiny_dataset, tmp_path_factory):
    out = {}
    for score in (0.01, 0.97):
        db = tmp_path_factory.mktemp("replay") / "log.db"
        # a generous latency budget: tests never depend on wall-clock speed
        cfg = EngineConfig(db_url=f"sqlite:///{db}", latency_budget_us=60_000_000)
        out[score] = replay(tiny_dataset, days=10, model=Const(score), config=cfg)
    return out


def test_replay_report_is_consistent(reports):
    r = reports[0.01]
    assert r.decisions == sum(r.by_action.values()) and r.purchases <= r.decisions
    assert r.fraud_count == sum(s.count for s in r.scenarios if s.is_fraud) > 0
    assert any(not s.is_fraud for s in r.scenarios)  # cash-out listed apart from fraud
    assert r.genuine + sum(s.count for s in r.scenarios) == r.purchases
    assert 0 <= r.rescued <= r.over_limit and r.standin == 0
    assert r.rescued > 0 and r.temp_credit_fen > 0  # low risk: smart credit rescues some
    assert r.latency_p50_us <= r.latency_p99_us <= r.latency_p999_us
    assert r.challenge_rate_genuine == 0  # zero perception at a low score
    assert set(r.to_dict()) >= {"false_positive_rate", "challenge_rate_genuine", "rescue_rate"}


def test_replay_with_a_very_high_score_declines_all_fraud(reports):
    r = reports[0.97]
    assert r.fraud_caught == r.fraud_declined == r.fraud_count
    assert r.rescued == 0 and r.false_positive_rate > 0.9


def test_replay_without_model_runs_on_standin(tiny_dataset, tmp_path):
    r = replay(tiny_dataset, days=2, model=None,
               config=EngineConfig(db_url=f"sqlite:///{tmp_path / 'x.db'}"))
    assert r.standin == r.purchases > 0 and r.model_version is None
    # the window's repayments went through engine.repay: every one applied and logged
    from sqlalchemy import create_engine, func, select

    from cardmind.storage.decision_log import RepaymentLogRow

    db = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with db.connect() as conn:
        logged = conn.execute(select(func.count()).select_from(RepaymentLogRow)).scalar_one()
    db.dispose()
    assert logged == r.repayments > 0 and r.repayments_refused == 0


def test_replay_refuses_a_window_outside_the_data(tiny_dataset, tmp_path):
    _, con = connect(tiny_dataset)
    lo = con.execute("SELECT min(ts) FROM authorizations").fetchone()[0]
    with pytest.raises(InvalidInput, match="must fall inside the data"):
        replay(tiny_dataset, start=lo - timedelta(days=1), model=None,
               config=EngineConfig(db_url=f"sqlite:///{tmp_path / 'x.db'}"))


def test_cli_replay(tiny_dataset, tmp_path):
    import json

    from typer.testing import CliRunner

    from cardmind.cli import _register, app

    _register()
    out = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["replay", "--data", str(tiny_dataset), "--days", "2",
                                   "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "fraud caught" in res.output and json.loads(out.read_text())["decisions"] > 0
