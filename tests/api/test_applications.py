"""HTTP: POST /v1/applications, POST /v1/applications/quote, GET /v1/applications/{id}."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from cardmind.api import create_app
from cardmind.api.security import KeyStore, parse_env_keys
from cardmind.decisions.origination import OriginationPolicy, calibrate_quote
from cardmind.models.credit.application import fit_origination_models

KEYS = {"scoring": "test-scoring-key-0123456789", "analyst": "test-analyst-key-0123456789"}


def _population(n: int = 2500, seed: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    income = np.round(rng.lognormal(np.log(10_000), 0.5, n)) * 100
    occ = rng.choice(["civil_servant", "private_employee", "self_employed", "worker"], n)
    df = pd.DataFrame(
        {
            "age": rng.integers(18, 66, n),
            "monthly_income_fen": income.astype(np.int64),
            "occupation": occ,
            "city": rng.choice(["Shanghai", "Wuxi"], n),
            "education": rng.choice(["college", "bachelor"], n),
            "housing": rng.choice(["own_no_mortgage", "rent"], n),
            "employment_years": rng.integers(0, 5, n),
            "existing_debt_fen": (income * rng.beta(1.2, 5, n)).astype(np.int64),
            "bureau_inquiries_6m": rng.poisson(1.5, n),
            "bureau_delinquencies": rng.poisson(0.3, n),
            "channel": "online",
        }
    )
    df["city_tier"] = np.where(df.city == "Shanghai", 1, 3)
    logit = (
        -3
        - 0.9 * np.log(income / 1e6)
        + 0.3 * df.bureau_inquiries_6m
        + 0.8 * df.bureau_delinquencies
    )
    return df, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)


@pytest.fixture(scope="module")
def policy():
    df, bad = _population()
    p = OriginationPolicy(fit_origination_models(df, bad, challenger=False))
    calibrate_quote(p, df)
    return p


@pytest.fixture
def client(policy):
    app = create_app(
        build_engine=False,
        keys=KeyStore(env_keys=parse_env_keys(",".join(f"{k}:{r}" for r, k in KEYS.items()))),
    )
    app.state.origination = policy
    with TestClient(app) as c:
        yield c


def test_device_on_the_block_list_is_declined(policy, tmp_path):
    from datetime import datetime

    from cardmind.decisions.origination import OriginationPolicy
    from cardmind.storage.applications import DeviceBlocklist
    from cardmind.storage.base import make_engine, session_factory
    from cardmind.storage.lists import ListEntryRow
    from cardmind.units import TZ

    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    blocked = DeviceBlocklist(engine)
    with session_factory(engine).begin() as s:
        s.add(
            ListEntryRow(
                kind="device", value="DEV-BAD", list_type="block", added_at=datetime.now(TZ)
            )
        )
        s.add(
            ListEntryRow(
                kind="device", value="DEV-OK", list_type="trust", added_at=datetime.now(TZ)
            )
        )
    assert "DEV-BAD" in blocked and "DEV-OK" not in blocked and "other" not in blocked
    p = OriginationPolicy(policy.models, blocklist=blocked)
    assert p.decide({**APP, "device_id": "DEV-BAD"}).reasons[0].code == "LIST_BLOCK_APPLICANT"
    assert p.decide({**APP, "device_id": "DEV-OK"}).action == "APPROVE"


APP = {
    "application_id": "APP-1",
    "age": 40,
    "monthly_income_fen": 3_000_000,
    "occupation": "civil_servant",
    "city": "Shanghai",
    "education": "bachelor",
    "housing": "own_no_mortgage",
    "employment_years": 4,
    "existing_debt_fen": 0,
    "bureau_inquiries_6m": 0,
    "bureau_delinquencies": 0,
    "channel": "online",
}
H = {"X-API-Key": KEYS["scoring"]}


def test_application_decision_is_logged_and_idempotent(client):
    first = client.post("/v1/applications", json=APP, headers=H)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["action"] == "APPROVE" and body["credit_limit_fen"] > 0 and not body["replayed"]
    assert all(r["en"] and r["zh"] for r in body["reasons"])
    again = client.post("/v1/applications", json={**APP, "monthly_income_fen": 400_000}, headers=H)
    assert again.status_code == 200
    assert again.json()["replayed"] and again.json()["credit_limit_fen"] == body["credit_limit_fen"]
    got = client.get("/v1/applications/APP-1", headers={"X-API-Key": KEYS["analyst"]})
    assert got.status_code == 200 and got.json()["action"] == "APPROVE"
    assert client.get("/v1/applications/APP-1", headers=H).status_code == 403
    assert (
        client.get("/v1/applications/nope", headers={"X-API-Key": KEYS["analyst"]}).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"age": 7}, "age"),
        ({"monthly_income_fen": -1}, "monthly_income_fen"),
        ({"gender": "F"}, ""),
    ],
)
def test_bad_input_is_422_with_field_level_errors(client, over, field):
    r = client.post("/v1/applications", json={**APP, **over}, headers=H)
    assert r.status_code == 422
    text = r.text
    assert field in text
    if "gender" in over:
        assert "protected" in text


def test_missing_field_named_and_no_key_401(client):
    body = {k: v for k, v in APP.items() if k != "housing"}
    r = client.post("/v1/applications", json=body, headers=H)
    assert r.status_code == 422 and "housing" in r.text
    assert client.post("/v1/applications", json=APP).status_code == 401


def test_quote_endpoint(client):
    r = client.post(
        "/v1/applications/quote",
        json={
            "age": 35,
            "monthly_income_fen": 2_000_000,
            "occupation": "civil_servant",
            "city": "Shanghai",
            "housing": "own_no_mortgage",
        },
        headers=H,
    )
    assert r.status_code == 200, r.text
    q = r.json()
    assert q["likelihood_band"] in ("high", "medium", "low", "very_low")
    assert q["line_max_fen"] >= q["line_min_fen"]
    bad = client.post("/v1/applications/quote", json={"age": 35}, headers=H)
    assert bad.status_code == 422 and "monthly_income_fen" in bad.text


def test_without_trained_models_the_policy_refers_on_stand_in_rules():
    app = create_app(
        build_engine=False, keys=KeyStore(env_keys=parse_env_keys(f"{KEYS['scoring']}:scoring"))
    )
    with TestClient(app) as c:
        r = c.post("/v1/applications", json=APP, headers=H)
        assert r.status_code == 200, r.text
        assert (
            r.json()["action"] == "REFER" and r.json()["reasons"][0]["code"] == "MODEL_UNAVAILABLE"
        )
        young = c.post(
            "/v1/applications",
            json={**APP, "application_id": "Y", "age": 17, "employment_years": 1},
            headers=H,
        )
        assert young.json()["action"] == "DECLINE"
        q = c.post(
            "/v1/applications/quote",
            json={
                "age": 30,
                "monthly_income_fen": 1_000_000,
                "occupation": "worker",
                "city": "Wuxi",
                "education": "college",
            },
            headers=H,
        ).json()
        assert q["likelihood_band"] == "unknown" and q["approval_probability"] is None
        assert 0 < q["line_min_fen"] <= q["line_max_fen"]
