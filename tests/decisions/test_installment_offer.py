"""Installment offer decisions on the tiny simulation."""

from __future__ import annotations

import duckdb
import pytest

from cardmind.decisions.installment_offer import InstallmentOfferService, UnknownSource
from cardmind.models.installment import FEE_SCHEDULE_BP, InstallmentModel, offer_table


@pytest.fixture(scope="session")
def offer_service(tiny_dataset):
    t = offer_table(tiny_dataset)
    return InstallmentOfferService(InstallmentModel(n_estimators=40).fit(t, t["accepted"].astype(int)), tiny_dataset)


def _ids(tiny_dataset, sql):
    return [r[0] for r in duckdb.sql(sql.replace("$D", str(tiny_dataset))).fetchall()]


def test_offer_terms_follow_the_schedule(offer_service, tiny_dataset):
    ids = _ids(tiny_dataset, """SELECT a.auth_id FROM read_parquet('$D/authorizations/*.parquet') a
        JOIN read_parquet('$D/cards/*.parquet') c USING (card_token)
        WHERE a.approved AND a.message_type='purchase' AND c.status='active' LIMIT 50""")
    decisions = [offer_service.offer("purchase", i) for i in ids]
    offered = [d for d in decisions if d.offered]
    assert offered, "active accounts get offers"
    for d in offered:
        assert FEE_SCHEDULE_BP[d.periods] == d.fee_rate_bp and 0 < d.p_accept < 1
        assert d.fee_total_fen == round(d.principal_fen * d.fee_rate_bp * d.periods / 10_000)
    for d in decisions:
        if not d.offered:
            assert d.reason_code == "ACCOUNT_DELINQUENT" and "逾期" in d.reason_zh


def test_refusals_and_unknown_ids(offer_service, tiny_dataset):
    closed = _ids(tiny_dataset, """SELECT s.statement_id FROM read_parquet('$D/statements/*.parquet') s
        JOIN read_parquet('$D/cards/*.parquet') c USING (card_token)
        WHERE c.status IN ('closed', 'frozen', 'charged_off') LIMIT 5""")
    assert closed
    for sid in closed:
        d = offer_service.offer("statement", sid)
        assert not d.offered and d.reason_code in {"ACCOUNT_CLOSED", "ACCOUNT_FROZEN", "ACCOUNT_CHARGED_OFF"}
        assert d.reason and d.reason_zh
    with pytest.raises(UnknownSource, match="no purchase with id 'nope'"):
        offer_service.offer("purchase", "nope")
    with pytest.raises(ValueError, match="kind must be one of"):
        offer_service.offer("loan", "x")
