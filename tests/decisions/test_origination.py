"""Origination policy: knock-outs, grades, lines, reasons, validation, quick quote, idempotent log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cardmind.decisions.origination import (
    ApplicationRequest,
    OriginationConfig,
    OriginationPolicy,
    QuoteRequest,
    calibrate_quote,
)
from cardmind.errors import InvalidInput
from cardmind.models.credit.application import OriginationModels, fit_origination_models

OCC = [
    "civil_servant",
    "soe_employee",
    "private_employee",
    "self_employed",
    "professional",
    "worker",
]
OCC_RISK = np.array([-0.5, -0.4, 0.0, 0.35, -0.3, 0.25])
HOUSING = ["own_no_mortgage", "mortgage", "rent", "family"]
CITIES = {"Shanghai": 1, "Hangzhou": 2, "Wuxi": 3, "Ganzhou": 4}


def applications(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A small synthetic through-the-door population (test data, not the simulator)."""
    rng = np.random.default_rng(seed)
    occ = rng.integers(0, len(OCC), n)
    city = rng.choice(list(CITIES), n)
    income = np.round(rng.lognormal(np.log(10_000), 0.5, n)) * 100
    df = pd.DataFrame(
        {
            "application_id": [f"app{i}" for i in range(n)],
            "age": rng.integers(18, 70, n),
            "gender": rng.choice(["F", "M"], n),
            "monthly_income_fen": income.astype(np.int64),
            "occupation": np.array(OCC)[occ],
            "city": city,
            "city_tier": [CITIES[c] for c in city],
            "education": rng.choice(["high_school", "college", "bachelor", "master"], n),
            "housing": rng.choice(HOUSING, n),
            "employment_years": rng.integers(0, 15, n),
            "existing_debt_fen": (income * rng.beta(1.2, 5, n)).astype(np.int64),
            "bureau_inquiries_6m": rng.poisson(1.5, n),
            "bureau_delinquencies": rng.poisson(0.3, n),
            "channel": rng.choice(["branch", "online", "telesales"], n),
        }
    )
    df["employment_years"] = np.minimum(df.employment_years, df.age - 16)
    logit = (
        -3.0
        + OCC_RISK[occ]
        - 0.9 * (np.log(income) - np.log(1_000_000))
        - 0.03 * (df.age - 35)
        + 2.5 * df.existing_debt_fen / income
        + 0.25 * df.bureau_inquiries_6m
        + 0.8 * df.bureau_delinquencies
        + 0.4 * (df.housing == "rent")
    )
    bad = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return df, bad


@pytest.fixture(scope="module")
def trained():
    df, bad = applications(4000)
    models = fit_origination_models(df, bad, challenger=True, seed=0)
    policy = OriginationPolicy(models, blocklist={"blocked-device"})
    calibrate_quote(policy, df)
    return policy, df, bad


def good_request(**over) -> dict:
    req = {
        "application_id": "A-1",
        "age": 38,
        "monthly_income_fen": 2_500_000,
        "occupation": "civil_servant",
        "city": "Shanghai",
        "education": "master",
        "housing": "own_no_mortgage",
        "employment_years": 10,
        "existing_debt_fen": 0,
        "bureau_inquiries_6m": 0,
        "bureau_delinquencies": 0,
        "channel": "branch",
    }
    req.update(over)
    return req


def test_models_never_use_protected_attributes(trained):
    policy, df, _ = trained
    assert "gender" not in policy.models.champion.feature_names_
    assert "gender" not in policy.models.challenger.feature_names_
    flipped = df.assign(gender=np.where(df.gender == "F", "M", "F"))
    assert policy.decide_frame(df).equals(policy.decide_frame(flipped))


def test_protected_attribute_in_request_is_refused(trained):
    policy, _, _ = trained
    with pytest.raises(InvalidInput, match="protected attributes"):
        policy.decide(good_request(gender="F"))
    with pytest.raises(InvalidInput, match="protected attributes"):
        policy.quote(
            {
                "age": 30,
                "monthly_income_fen": 1_000_000,
                "occupation": "worker",
                "city": "Wuxi",
                "housing": "rent",
                "ethnicity": "x",
            }
        )


def test_strong_applicant_is_approved_with_line_rate_tier_and_reasons(trained):
    policy, _, _ = trained
    d = policy.decide(good_request())
    assert d.action == "APPROVE"
    assert d.risk_grade in ("A", "B", "C") and d.rate_tier is not None
    assert d.credit_limit_fen > 0 and d.credit_limit_fen % 100_000 == 0
    codes = [r.code for r in d.reasons]
    assert codes[0] == "SCORE_APPROVED" and codes[1].startswith("LINE_")
    assert all(r.en and r.zh for r in d.reasons)
    assert d.challenger_pd is not None and 0 < d.challenger_pd < 1


@pytest.mark.parametrize(
    ("over", "code"),
    [
        ({"age": 17, "employment_years": 1}, "AGE_OUT_OF_RANGE"),
        ({"age": 66}, "AGE_OUT_OF_RANGE"),
        ({"monthly_income_fen": 200_000}, "INCOME_BELOW_MINIMUM"),
        ({"existing_debt_fen": 1_800_000}, "DTI_TOO_HIGH"),
        ({"bureau_delinquencies": 3}, "BUREAU_DELINQUENCIES"),
        ({"device_id": "blocked-device"}, "LIST_BLOCK_APPLICANT"),
    ],
)
def test_knockout_rules_decline_with_their_reason_and_adverse_factors(trained, over, code):
    policy, _, _ = trained
    d = policy.decide(good_request(**over))
    assert d.action == "DECLINE"
    assert d.reasons[0].code == code
    assert d.credit_limit_fen is None


def test_weak_applicant_declined_with_top_adverse_factors_in_both_languages(trained):
    policy, _, _ = trained
    d = policy.decide(
        good_request(
            age=22,
            monthly_income_fen=320_000,
            occupation="self_employed",
            housing="rent",
            existing_debt_fen=150_000,
            bureau_inquiries_6m=5,
            bureau_delinquencies=2,
            employment_years=0,
            education="high_school",
            city="Ganzhou",
        )
    )
    assert d.action in ("DECLINE", "REFER")
    factors = [r for r in d.reasons if r.code.startswith("FACTOR_")]
    assert 1 <= len(factors) <= 3
    lost = [r.points_lost for r in factors]
    assert lost == sorted(lost, reverse=True) and lost[0] > 0
    assert "分" in factors[0].zh and "points" in factors[0].en


def test_single_decision_matches_vectorised_policy(trained):
    policy, df, _ = trained
    batch = policy.decide_frame(df.head(300))
    for i, row in df.head(300).reset_index(drop=True).iterrows():
        rec = row.drop(["gender"]).to_dict()
        d = policy.decide(rec)
        assert d.action == batch.action.iloc[i], (i, d.reasons)
        assert d.score == batch.score.iloc[i]
        if d.action == "APPROVE":
            assert d.credit_limit_fen == batch.credit_limit_fen.iloc[i]


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"age": 7}, "age"),
        ({"monthly_income_fen": -5}, "monthly_income_fen"),
        ({"channel": "carrier_pigeon"}, "channel"),
        ({"employment_years": 40}, "employment_years"),
        ({"application_id": "bad id with spaces"}, "application_id"),
    ],
)
def test_impossible_values_are_rejected_with_field_names(trained, over, field):
    policy, _, _ = trained
    with pytest.raises(InvalidInput, match=field):
        policy.decide(good_request(**over))


def test_missing_field_is_named():
    req = good_request()
    del req["monthly_income_fen"]
    with pytest.raises(InvalidInput, match="monthly_income_fen: Field required"):
        ApplicationRequest.parse(req)


def test_quote_needs_housing_or_education_and_answers_a_band_and_line_range(trained):
    policy, _, _ = trained
    with pytest.raises(InvalidInput, match="housing or education"):
        QuoteRequest.parse(
            {"age": 30, "monthly_income_fen": 1_000_000, "occupation": "worker", "city": "Wuxi"}
        )
    strong = policy.quote(
        {
            "age": 40,
            "monthly_income_fen": 3_000_000,
            "occupation": "civil_servant",
            "city": "Shanghai",
            "housing": "own_no_mortgage",
        }
    )
    weak = policy.quote(
        {
            "age": 21,
            "monthly_income_fen": 350_000,
            "occupation": "worker",
            "city": "Ganzhou",
            "education": "high_school",
        }
    )
    assert strong.approval_probability > weak.approval_probability
    assert strong.line_max_fen >= strong.line_min_fen > 0
    assert strong.city_tier == 1 and strong.city_known
    too_young = policy.quote(
        {
            "age": 17,
            "monthly_income_fen": 3_000_000,
            "occupation": "worker",
            "city": "Atlantis",
            "housing": "rent",
        }
    )
    assert not too_young.eligible and too_young.likelihood_band == "very_low"
    assert too_young.line_max_fen == 0 and not too_young.city_known
    assert too_young.reasons[0].code == "AGE_OUT_OF_RANGE"


def test_quote_bands_are_calibrated_against_the_full_policy(trained):
    policy, df, _ = trained
    bands = policy.models.quote_bands
    assert sum(b.n for b in bands) == len(df)
    rates = [b.approval_rate for b in bands]
    assert rates[-1] > rates[0], "higher quote scores must mean more approvals"
    overall = (policy.decide_frame(df).action == "APPROVE").mean()
    assert np.average(rates, weights=[b.n for b in bands]) == pytest.approx(overall)


def test_model_failure_falls_back_to_referral(trained):
    policy, _, _ = trained

    class Broken:
        def points_one(self, record):
            raise RuntimeError("model store down")

    broken = OriginationPolicy(
        OriginationModels(
            champion=Broken(),
            challenger=None,
            quote=policy.models.quote,  # type: ignore[arg-type]
            quote_bands=policy.models.quote_bands,
            city_tiers={},
            version="x",
        )
    )
    d = broken.decide(good_request())
    assert d.action == "REFER" and d.reasons[0].code == "MODEL_UNAVAILABLE"
    assert broken.decide(good_request(age=70)).action == "DECLINE"


def test_bundle_round_trip_gives_identical_decisions(trained, tmp_path):
    policy, df, _ = trained
    policy.models.save(tmp_path / "bundle")
    again = OriginationPolicy(OriginationModels.load(tmp_path / "bundle"))
    assert again.decide_frame(df.head(500)).equals(policy.decide_frame(df.head(500)))
    q = {
        "age": 30,
        "monthly_income_fen": 1_000_000,
        "occupation": "worker",
        "city": "Wuxi",
        "housing": "rent",
    }
    assert again.quote(q).line_max_fen == policy.quote(q).line_max_fen
    assert (tmp_path / "bundle" / "champion.csv").read_text().startswith("characteristic,bin")


def test_config_validation():
    with pytest.raises(ValueError, match="both approve and refer"):
        OriginationConfig(approve_grades=("A", "B"), refer_grades=("B",))
