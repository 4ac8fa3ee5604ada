import pytest

from cardmind.decisions.reasons import CATALOGUE
from cardmind.errors import InvalidInput
from cardmind.models.cashout import pipeline
from cardmind.models.cashout.risk import ADVICE, CashoutRiskTable

CYCLER = f"{0:032x}"
ORDINARY = f"{40:032x}"


@pytest.fixture(scope="module")
def risk(cashout_ds, fitted):
    return pipeline.detect(cashout_ds, fitted[0]).risk


def test_cycled_card_is_high_risk_with_reasons(risk):
    r = risk.cashout_risk(CYCLER)
    assert r.level == "high" and r.score > 0.5
    assert r.reasons and all(x["en"] and x["zh"] for x in r.reasons)
    assert all(code in CATALOGUE for code in r.reason_codes)
    assert r.advice(suspect_merchant=True) == "decline"
    assert r.advice(suspect_merchant=False) == "challenge"


def test_ordinary_card_and_unknown_card_are_not(risk):
    assert risk.cashout_risk(ORDINARY).level == "none"
    assert risk.cashout_risk(ORDINARY).advice() == "none"
    unknown = risk.cashout_risk("f" * 32)
    assert (unknown.level, unknown.score, unknown.reason_codes) == ("none", 0.0, ())
    assert unknown.advice(suspect_merchant=True) == "no_temp_credit"


def test_watch_level_means_no_temporary_credit():
    t = CashoutRiskTable.from_rows(
        [{"card_token": "c", "cycle_end": "2026-01-01", "score": 0.6, "alert": False, "rules": []}],
        threshold=0.9,
    )
    r = t.cashout_risk("c")
    assert r.level == "watch" and r.advice() == "no_temp_credit"
    assert r.advice(suspect_merchant=True) == "challenge"
    assert r.reason_codes == ("CASHOUT_NO_TEMP_CREDIT",)
    assert set(ADVICE) >= {r.advice(), r.advice(suspect_merchant=True)}


def test_save_load_round_trip(risk, tmp_path):
    risk.save(tmp_path / "risk.parquet")
    back = CashoutRiskTable.load(tmp_path / "risk.parquet")
    assert len(back) == len(risk) and back.threshold == risk.threshold
    assert back.cashout_risk(CYCLER) == risk.cashout_risk(CYCLER)
    with pytest.raises(InvalidInput):
        CashoutRiskTable.load(tmp_path / "nope.parquet")
