"""``POST /v1/installment-offers``."""

from __future__ import annotations

import duckdb
import pytest
from fastapi.testclient import TestClient
from tests.api.conftest import headers

from cardmind.decisions.installment_offer import InstallmentOfferService, build_offer_index
from cardmind.models.installment import InstallmentModel, offer_table


@pytest.fixture(scope="module")
def service(tiny_dataset, tmp_path_factory):
    t = offer_table(tiny_dataset)
    path = tmp_path_factory.mktemp("idx") / "index.duckdb"
    build_offer_index(tiny_dataset, path)
    return InstallmentOfferService(InstallmentModel(n_estimators=30).fit(t, t["accepted"].astype(int)), path)


@pytest.fixture
def offers_client(app, service):
    app.state.installment_offers = service
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_offer_and_errors(offers_client, tiny_dataset):
    auth = duckdb.sql(f"""SELECT a.auth_id FROM read_parquet('{tiny_dataset}/authorizations/*.parquet') a
        JOIN read_parquet('{tiny_dataset}/cards/*.parquet') c USING (card_token)
        WHERE a.approved AND a.message_type='purchase' AND c.status='active' LIMIT 1""").fetchall()[0][0]
    r = offers_client.post("/v1/installment-offers", json={"kind": "purchase", "source_id": auth}, headers=headers("scoring"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source_id"] == auth and (body["offered"] or body["reason_zh"])
    if body["offered"]:
        assert body["expected_net_fen"] == pytest.approx(
            body["expected_revenue_fen"] - body["expected_loss_fen"] - body["expected_funding_fen"], abs=2)
        assert body["discount_pct"] in (0, 10, 20, 30, 40, 50) and 0 < body["pd_12m"] <= 1
    r = offers_client.post("/v1/installment-offers", json={"kind": "statement", "source_id": "nope"}, headers=headers("analyst"))
    assert r.status_code == 404 and "no statement with id 'nope'" in r.json()["message"]
    assert offers_client.post("/v1/installment-offers", json={"kind": "loan", "source_id": "x"},
                              headers=headers("scoring")).status_code == 422
    assert offers_client.post("/v1/installment-offers", json={"kind": "purchase", "source_id": auth}).status_code == 401


def test_not_configured_is_409(client):
    r = client.post("/v1/installment-offers", json={"kind": "purchase", "source_id": "A1"}, headers=headers("scoring"))
    assert r.status_code == 409 and "not configured" in r.json()["message"]


def test_served_from_the_dataset_and_trained_model(engine, keystore, tiny_dataset, cardmind_home, monkeypatch):
    """With CARDMIND_SERVE_DATA and a trained model the app builds the offer index once and serves."""
    from cardmind.api import create_app
    from cardmind.decisions.installment_offer import default_index_path

    t = offer_table(tiny_dataset)
    InstallmentModel(n_estimators=20).fit(t, t["accepted"].astype(int)).save(cardmind_home / "models" / "installment")
    monkeypatch.setenv("CARDMIND_SERVE_DATA", str(tiny_dataset))
    sid = t.loc[t["kind"] == "statement", "source_id"].iloc[0]
    stamps = []
    for _ in range(2):  # the second start reuses the index
        with TestClient(create_app(engine=engine, keys=keystore), raise_server_exceptions=False) as c:
            r = c.post("/v1/installment-offers", json={"kind": "statement", "source_id": sid}, headers=headers("scoring"))
            assert r.status_code == 200, r.text
        stamps.append(default_index_path(cardmind_home).stat().st_mtime_ns)
    assert stamps[0] == stamps[1]
