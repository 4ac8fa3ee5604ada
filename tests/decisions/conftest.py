"""Fixtures for the authorization tests: a small book of card accounts and an engine factory."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from cardmind.decisions.accounts import AccountBook, CardAccount
from cardmind.decisions.authorize import AuthorizationEngine, EngineConfig
from cardmind.decisions.types import AuthorizationRequest
from cardmind.units import TZ

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=TZ)


def make_book() -> AccountBook:
    book = AccountBook()
    book.put(CardAccount(card_token="good", customer_id="u1", limit_fen=2_000_000,
                         balance_fen=500_000, opened_at=date(2021, 1, 1),
                         avg_purchases_fen=800_000, product_tier="gold"))
    book.put(CardAccount(card_token="full", customer_id="u2", limit_fen=2_000_000,
                         balance_fen=1_990_000, opened_at=date(2021, 1, 1),
                         avg_purchases_fen=800_000, product_tier="gold"))
    book.put(CardAccount(card_token="late", customer_id="u3", limit_fen=1_000_000,
                         balance_fen=995_000, opened_at=date(2021, 1, 1), days_past_due=35))
    book.put(CardAccount(card_token="young", customer_id="u4", limit_fen=1_000_000,
                         balance_fen=995_000, opened_at=date(2026, 2, 1)))
    return book


def req(auth_id: str, card: str = "good", amount: int = 10_000, **kw) -> AuthorizationRequest:
    base = dict(auth_id=auth_id, card_token=card, merchant_id="m1", terminal_id="t1",
                ts=T0, amount_fen=amount, mcc="5411", channel="pos_chip", city="Shanghai")
    base.update(kw)
    return AuthorizationRequest(**base)


class ConstantModel:
    """A stand-in 'model' with a fixed score (the real LightGBM model is tested separately)."""

    feature_names = ("card_auth_count_1h", "txn_amount_fen")
    version = "const-1"

    def __init__(self, score: float = 0.01, fail: bool = False, delay_s: float = 0.0):
        self.score, self.fail, self.delay_s = score, fail, delay_s
        self.calls = 0

    def predict_one(self, row):
        import time

        self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("model server down")
        return self.score

    def explain(self, row, top=2):
        return []


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'cm.db'}"


@pytest.fixture
def engine_factory(db_url):
    made = []

    def make(model=None, book=None, **cfg):
        cfg.setdefault("latency_budget_us", 60_000_000)  # a loaded CI machine must not stand in
        config = EngineConfig(db_url=db_url, log_flush_ms=5, **cfg)
        e = AuthorizationEngine(config, model=model if model is not None else ConstantModel(),
                                accounts=book if book is not None else make_book())
        made.append(e)
        return e

    yield make
    for e in made:
        e.close()


@pytest.fixture
def make_req():
    return req


@pytest.fixture
def model_cls():
    return ConstantModel


@pytest.fixture
def book():
    return make_book()
