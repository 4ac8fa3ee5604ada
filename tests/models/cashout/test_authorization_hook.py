"""The cash-out risk table wired into the real authorization engine through its ``cashout`` hook."""

from datetime import date, datetime

import pytest

from cardmind.decisions.accounts import AccountBook, CardAccount
from cardmind.decisions.authorize import AuthorizationEngine, EngineConfig
from cardmind.decisions.types import AuthorizationRequest
from cardmind.models.cashout.risk import CashoutRiskTable
from cardmind.units import TZ

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=TZ)


class _LowFraud:
    feature_names = ()
    version = "const"

    def predict_one(self, row):
        return 0.01

    def explain(self, row, top=2):
        return []


@pytest.fixture
def engine(tmp_path):
    book = AccountBook()
    for token in ("cycler", "watched", "plain"):
        book.put(CardAccount(card_token=token, customer_id=f"u-{token}", limit_fen=2_000_000,
                             balance_fen=1_990_000, opened_at=date(2021, 1, 1),
                             avg_purchases_fen=800_000, product_tier="gold"))  # fmt: skip
    table = CashoutRiskTable.from_rows(
        [
            {"card_token": "cycler", "cycle_end": "2026-02-15", "score": 0.99, "alert": True,
             "rules": ["third_party_repay_then_cycle"]},
            {"card_token": "watched", "cycle_end": "2026-02-15", "score": 0.6, "alert": False,
             "rules": []},
            {"card_token": "plain", "cycle_end": "2026-02-15", "score": 0.01, "alert": False,
             "rules": []},
        ],
        threshold=0.9,
    )  # fmt: skip
    e = AuthorizationEngine(
        EngineConfig(db_url=f"sqlite:///{tmp_path / 'cm.db'}", log_flush_ms=5, latency_budget_us=60_000_000),
        model=_LowFraud(),
        accounts=book,
        cashout=table.engine_hook(suspect_merchants={"ring01"}),
    )
    yield e
    e.close()


def _req(i, card, merchant="m1", amount=5_000):
    return AuthorizationRequest(auth_id=f"a{i}", card_token=card, merchant_id=merchant,
                                terminal_id="t1", ts=T0, amount_fen=amount, mcc="5999",
                                channel="pos_chip", city="Shanghai")  # fmt: skip


def _codes(d):
    return [r.code for r in d.reasons]


def test_high_risk_card_at_a_suspect_merchant_is_declined_as_cashout_not_fraud(engine):
    d = engine.decide(_req(1, "cycler", "ring01"))
    assert d.action == "DECLINE" and "CASHOUT_RISK" in _codes(d)
    assert not any(c.startswith("FRAUD") for c in _codes(d))
    assert d.cashout_score == pytest.approx(0.95)


def test_high_risk_card_elsewhere_is_challenged(engine):
    d = engine.decide(_req(2, "cycler", "m1"))
    assert d.action == "CHALLENGE" and "CASHOUT_RISK" in _codes(d)


def test_watched_card_gets_no_temporary_credit(engine):
    d = engine.decide(_req(3, "watched", "m1", amount=50_000))  # over the available credit
    assert d.action == "DECLINE" and d.temp_credit_fen == 0
    assert "CASHOUT_NO_TEMP_CREDIT" in _codes(d)


def test_plain_card_is_unaffected_but_gets_no_temp_credit_at_a_suspect_merchant(engine):
    assert engine.decide(_req(4, "plain", "m1")).action == "APPROVE"
    assert engine.decide(_req(5, "plain", "ring01")).action == "APPROVE"  # no friction
    d = engine.decide(_req(6, "plain", "ring01", amount=50_000))  # over the available credit
    assert d.action == "DECLINE" and d.temp_credit_fen == 0
    assert "CASHOUT_NO_TEMP_CREDIT" in _codes(d)


def test_watched_card_at_a_suspect_merchant_is_challenged(engine):
    d = engine.decide(_req(7, "watched", "ring01"))
    assert d.action == "CHALLENGE" and "CASHOUT_RISK" in _codes(d)
