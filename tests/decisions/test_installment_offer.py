"""Installment offer decisions on the tiny simulation, read from the persisted offer index."""

from __future__ import annotations

import duckdb
import pytest

from cardmind.decisions.installment_offer import (
    InstallmentOfferService,
    UnknownSource,
    build_offer_index,
    ensure_offer_index,
    index_metadata,
)
from cardmind.errors import InvalidInput
from cardmind.models.installment import (
    DISCOUNTS_PCT,
    FEE_SCHEDULE_BP,
    InstallmentModel,
    choose_offers,
    fee_bp,
    offer_table,
)


@pytest.fixture(scope="module")
def trained(tiny_dataset):
    t = offer_table(tiny_dataset)
    return t, InstallmentModel(n_estimators=40).fit(t, t["accepted"].astype(int))


@pytest.fixture(scope="module")
def offer_service(trained, tiny_dataset, tmp_path_factory):
    path = tmp_path_factory.mktemp("idx") / "index.duckdb"
    build_offer_index(tiny_dataset, path)
    return InstallmentOfferService(trained[1], path)


def _ids(tiny_dataset, sql):
    return [r[0] for r in duckdb.sql(sql.replace("$D", str(tiny_dataset))).fetchall()]


def test_offer_terms_and_money(offer_service, tiny_dataset):
    ids = _ids(tiny_dataset, """SELECT a.auth_id FROM read_parquet('$D/authorizations/*.parquet') a
        JOIN read_parquet('$D/cards/*.parquet') c USING (card_token)
        WHERE a.approved AND a.message_type='purchase' AND c.status='active' AND a.amount_fen > 100000 LIMIT 50""")
    decisions = [offer_service.offer("purchase", i) for i in ids]
    offered = [d for d in decisions if d.offered]
    assert offered, "active accounts get offers"
    for d in offered:
        assert d.periods in FEE_SCHEDULE_BP and d.discount_pct in DISCOUNTS_PCT and 0 < d.p_accept < 1
        assert d.fee_rate_bp == fee_bp([d.periods], [d.discount_pct])[0] and d.list_fee_rate_bp == FEE_SCHEDULE_BP[d.periods]
        assert abs(d.fee_total_fen - d.principal_fen * d.fee_rate_bp * d.periods / 10_000) <= 1
        assert abs(d.expected_net_fen - (d.expected_revenue_fen - d.expected_loss_fen - d.expected_funding_fen)) <= 2
        assert d.expected_net_fen > 0 and 0 < d.pd_12m <= 1
    for d in decisions:
        if not d.offered:
            assert d.reason_code in {"ACCOUNT_DELINQUENT", "NO_PROFITABLE_TERMS"} and d.reason_zh


def test_service_agrees_with_choose_offers(offer_service, trained):
    """The per-id service and the batch offer choice pick the same terms for logged offers."""
    t, model = trained
    sample = t[(t["kind"] == "purchase") & (t["prev_max_dpd"] == 0)].tail(30)
    batch = choose_offers(model, sample, economics=offer_service.economics)
    for (_, row), (_, b) in zip(sample.iterrows(), batch.iterrows(), strict=True):
        d = offer_service.offer("purchase", row["source_id"])
        if d.offered:
            assert (d.periods, d.discount_pct) == (b["periods"], int(b["discount_pct"]))
            assert d.p_accept == pytest.approx(b["p_accept"], abs=1e-4)


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
    with pytest.raises(UnknownSource, match="no purchase with id"):  # a statement id asked as a purchase
        offer_service.offer("purchase", closed[0])
    with pytest.raises(ValueError, match="kind must be one of"):
        offer_service.offer("loan", "x")


def test_index_is_reused_for_the_same_data_only(tiny_dataset, tmp_path):
    path = tmp_path / "idx.duckdb"
    ensure_offer_index(tiny_dataset, path)
    built = path.stat().st_mtime_ns
    ensure_offer_index(tiny_dataset, path)
    assert path.stat().st_mtime_ns == built
    assert index_metadata(path)["sources"] > 1000
    bad = tmp_path / "bad.duckdb"
    bad.write_text("not a database")
    with pytest.raises(InvalidInput, match="not an installment offer index"):
        index_metadata(bad)
