"""Request models: precise errors, card data refused, values never echoed."""

from __future__ import annotations

import pytest

from cardmind.decisions.types import MAX_AMOUNT_FEN, AuthorizationRequest, Label
from cardmind.errors import InvalidInput, SensitiveDataError

PAN = "6222021234567894"
BASE = dict(auth_id="a1", card_token="c" * 32, merchant_id="m1", terminal_id="t1",
            ts="2026-03-01T12:00:00", amount_fen=100, mcc="5411", channel="pos_chip", city="SH")


@pytest.mark.parametrize(("change", "message"), [
    ({"amount_fen": 0}, "amount_fen: Input should be greater than 0"),
    ({"amount_fen": MAX_AMOUNT_FEN + 1}, "amount_fen: Input should be less than or equal"),
    ({"amount_fen": 1.5}, "amount_fen: Input should be a valid integer"),
    ({"mcc": "54a1"}, "mcc: String should match pattern"),
    ({"channel": "fax"}, "channel: Input should be"),
    ({"ts": "yesterday"}, "ts: must be an ISO 8601 timestamp"),
    ({"message_type": "reversal"}, "a reversal needs original_auth_id"),
    ({"original_auth_id": "a0"}, "original_auth_id is only for reversals and refunds"),
    ({"color": "red"}, "color: Extra inputs are not permitted"),
    ({"merchant_id": "m 1"}, "merchant_id must be 1-64 characters"),
])
def test_bad_requests_have_precise_messages(change, message):
    with pytest.raises(InvalidInput) as err:
        AuthorizationRequest.parse({**BASE, **change})
    assert message in str(err.value)


@pytest.mark.parametrize("change", [
    {"card_token": PAN}, {"card_token": "6222-0212-3456-7894"}, {"city": f"at {PAN}"},
    {"cvv2": "123"}, {"pin": "0000"}, {"card_password": "x"}, {"密码": "x"},
])
def test_card_data_is_refused_and_never_echoed(change):
    with pytest.raises(SensitiveDataError) as err:
        AuthorizationRequest.parse({**BASE, **change})
    text = str(err.value)
    assert PAN not in text and "6222-0212" not in text and "123" not in text and "0000" not in text


def test_direct_construction_also_refuses_without_echo():
    with pytest.raises(ValueError) as err:
        AuthorizationRequest(**{**BASE, "card_token": PAN})
    assert PAN not in str(err.value)


def test_a_hex_token_with_a_luhn_digit_run_is_accepted():
    token = "a7a8" + PAN + "b0c1d2e3f4"
    assert AuthorizationRequest.parse({**BASE, "card_token": token}).card_token == token


def test_naive_time_is_shanghai_and_aware_time_converted():
    r = AuthorizationRequest.parse({**BASE, "ts": "2026-03-01T04:00:00Z"})
    assert r.ts.hour == 12 and r.ts.tzinfo.key == "Asia/Shanghai"
    assert Label.parse({"auth_id": "a1", "label": "chargeback",
                        "reported_at": "2026-03-02T00:00:00"}).reported_at.utcoffset().seconds == 8 * 3600
