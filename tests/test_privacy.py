import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardmind import privacy
from cardmind.errors import InvalidInput, SensitiveDataError


def _luhn_complete(body: str) -> str:
    for check in "0123456789":
        if privacy.luhn_valid(body + check):
            return body + check
    raise AssertionError


@given(st.text(alphabet="0123456789", min_size=15, max_size=18))
def test_every_luhn_valid_number_tokenizes_to_32_hex_and_last_four(body):
    pan = _luhn_complete(body)
    token, last4 = privacy.tokenize_pan(pan, key=b"k")
    assert last4 == pan[-4:]
    assert len(token) == 32 and int(token, 16) >= 0
    assert pan not in token


def test_token_depends_on_key():
    pan = "6222021234567894"
    assert privacy.tokenize_pan(pan, key=b"a")[0] != privacy.tokenize_pan(pan, key=b"b")[0]


@pytest.mark.parametrize("bad", ["1234", "6222021234567895", "62220212345678x4"])
def test_invalid_card_numbers_are_refused(bad):
    with pytest.raises(InvalidInput):
        privacy.tokenize_pan(bad, key=b"k")


@pytest.mark.parametrize(
    "name", ["cvv", "CVN2", "card_cvc", "pin", "pin_block", "password", "登录密码"]
)
def test_sensitive_field_names_are_detected(name):
    assert privacy.is_sensitive_field_name(name)


@pytest.mark.parametrize(
    "name", ["amount_fen", "pan_last4", "shipping", "pinyin_name", "spin_count"]
)
def test_ordinary_field_names_pass(name):
    assert not privacy.is_sensitive_field_name(name)


def test_payload_refusal_names_field_but_never_value():
    with pytest.raises(SensitiveDataError) as info:
        privacy.refuse_sensitive_payload({"card": {"token": "t", "cvv": "123"}})
    assert "cvv" in str(info.value) and "123" not in str(info.value)
    with pytest.raises(SensitiveDataError) as info:
        privacy.refuse_sensitive_payload({"note": ["pay 6222-0212-3456-7894 now"]})
    assert "6222" not in str(info.value)
    privacy.refuse_sensitive_payload({"amount_fen": 6222021234567894, "note": "ok"})
