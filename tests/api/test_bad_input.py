"""Bad input: a precise 4xx, never a 5xx, and never the sensitive value in the answer or the logs."""

from __future__ import annotations

import json
import logging

import pytest
from tests.api.conftest import GOOD_REQUEST, PAN, headers

CVV = "739"
SCORING = headers("scoring")


class ServerLogs:
    """Every log record of the server side (the test client's own httpx lines excluded)."""

    def __init__(self, caplog):
        self.caplog = caplog

    @property
    def text(self) -> str:
        return "\n".join(
            f"{r.name} {r.getMessage()} {r.exc_text or ''}"
            for r in self.caplog.records
            if not r.name.startswith(("httpx", "httpcore"))
        )


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG)
    return ServerLogs(caplog)


def post(client, body, **kw):
    return client.post("/v1/authorizations", json=body, headers=SCORING, **kw)


def test_malformed_json_is_400_with_position(client):
    r = client.post(
        "/v1/authorizations",
        content=b'{"auth_id": "A1", ',
        headers={**SCORING, "content-type": "application/json"},
    )
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "malformed_json"
    assert "EOF while parsing a value at line 1 column 18" in body["message"]
    assert body["message_zh"] and body["errors"][0]["path"] == "body"


def test_malformed_json_elsewhere_is_400_too(client):
    r = client.post(
        "/v1/labels",
        content=b'{"auth_id": ',
        headers={**headers("analyst"), "content-type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["code"] == "malformed_json"
    assert "at character" in r.json()["message"]


def test_empty_body_and_wrong_content_type(client):
    r = client.post("/v1/authorizations", headers=SCORING)
    assert r.status_code == 400 and r.json()["code"] == "malformed_json"
    r = client.post(
        "/v1/authorizations", content=b"a=1", headers={**SCORING, "content-type": "text/plain"}
    )
    assert r.status_code == 415 and r.json()["code"] == "unsupported_media_type"


def test_missing_field_names_it(client):
    req = {k: v for k, v in GOOD_REQUEST.items() if k != "amount_fen"}
    r = post(client, req)
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert errors == [
        {"path": "body.amount_fen", "reason": "field required", "reason_zh": "缺少必填字段"}
    ]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("amount_fen", -5, "must be > 0"),
        ("amount_fen", 0, "must be > 0"),
        ("amount_fen", 10**15, "must be <= 500000000"),
        ("amount_fen", "12345", "must be an integer"),
        ("amount_fen", 12.5, "must be an integer"),
        ("channel", "telepathy", "must be one of"),
        ("mcc", "54111", "has the wrong format"),
        ("ts", "yesterday", "ISO 8601"),
        ("cross_border", "perhaps", "must be true or false"),
    ],
)
def test_wrong_values_name_the_field_and_rule_not_the_value(client, field, value, reason):
    r = post(client, {**GOOD_REQUEST, field: value})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "validation_error"
    [err] = body["errors"]
    assert err["path"] == f"body.{field}" and reason in err["reason"], err
    assert err["reason_zh"]
    if field != "amount_fen" or value not in (0,):
        assert json.dumps(value) not in json.dumps(body["errors"])  # never echoed


def test_unknown_field_is_refused(client):
    r = post(client, {**GOOD_REQUEST, "surprise": 1})
    assert r.status_code == 422
    assert r.json()["errors"][0] == {
        "path": "body.surprise",
        "reason": "unknown field",
        "reason_zh": "不允许的字段",
    }


def test_body_not_an_object(client):
    r = post(client, [1, 2, 3])
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "body"


@pytest.mark.parametrize("field", ["merchant_id", "city", "terminal_id", "device_id", "auth_id"])
def test_full_card_number_in_any_field_is_refused_unechoed(client, engine, logs, field):
    for pan in (PAN, "6222 0212 3456 7894", "6222-0212-3456-7894"):
        r = post(client, {**GOOD_REQUEST, field: f"x{pan}"})
        assert r.status_code == 422
        body = r.json()
        assert body["code"] == "sensitive_data" and field in body["message"]
        assert body["errors"][0]["path"] == f"body.{field}"
        assert "完整卡号" in body["message"]
        for text in (r.text, logs.text):
            assert PAN not in text.replace(" ", "").replace("-", "")
    assert engine.calls == 0  # nothing reached the engine


def test_card_number_as_card_token_or_nested_is_refused(client, logs):
    r = post(client, {**GOOD_REQUEST, "card_token": PAN})
    assert r.status_code == 422 and PAN not in r.text
    r = post(client, {**GOOD_REQUEST, "extra": {"note": [f"card {PAN}"]}})
    assert r.status_code == 422 and PAN not in r.text
    assert PAN not in logs.text


@pytest.mark.parametrize(
    "name", ["cvv", "cvv2", "CVN2", "card_cvc", "pin", "pin_block", "password", "支付密码"]
)
def test_cvv_pin_password_fields_are_refused_unechoed(client, engine, logs, name):
    r = post(client, {**GOOD_REQUEST, name: CVV})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "sensitive_data"
    assert name in body["message"] and "敏感" in body["message_zh"]
    assert body["errors"][0]["path"] == f"body.{name}"
    assert CVV not in r.text and CVV not in logs.text
    assert engine.calls == 0


def test_sensitive_data_refused_on_every_route_even_unknown_ones(client):
    for method, path in [
        ("POST", "/v1/labels"),
        ("POST", "/v1/lists"),
        ("PUT", "/v1/rules"),
        ("POST", "/v1/nowhere"),
    ]:
        r = client.request(
            method, path, json={"password": "hunter2hunter2"}, headers=headers("admin")
        )
        assert r.status_code == 422 and "hunter2" not in r.text, path
    r = client.put(
        "/v1/rules",
        json={"text": f"rules:\n  - name: x\n    when: card == '{PAN}'\n"},
        headers=headers("admin"),
    )
    assert r.status_code == 422 and PAN not in r.text


def test_card_number_in_path_or_query_is_refused(client, logs):
    r = client.get(f"/v1/decisions/{PAN}", headers=headers("analyst"))
    assert r.status_code == 422 and PAN not in r.text
    r = client.get("/v1/lists", params={"kind": PAN}, headers=headers("analyst"))
    assert r.status_code == 422 and PAN not in r.text
    r = client.get("/v1/lists", params={"cvv2": CVV}, headers=headers("analyst"))
    assert r.status_code == 422 and CVV not in r.text
    assert PAN not in logs.text


def test_non_json_body_with_card_number_is_refused(client):
    r = client.post(
        "/v1/authorizations",
        content=f"pan={PAN}".encode(),
        headers={**SCORING, "content-type": "text/plain"},
    )
    assert r.status_code == 422 and PAN not in r.text


def test_oversized_body_is_413(client):
    r = post(client, {**GOOD_REQUEST, "city": "x" * (2 << 20)})
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"


def test_unhandled_engine_error_is_500_without_internals(client, engine, logs):
    engine.fail_with = RuntimeError(f"database exploded near card {PAN} in /srv/secret/path.py")
    r = post(client, GOOD_REQUEST)
    assert r.status_code == 500
    assert r.json()["code"] == "internal_error"
    for leak in ("exploded", "secret", "RuntimeError", PAN, "Traceback"):
        assert leak not in r.text
    assert "RuntimeError" in logs.text and PAN not in logs.text  # logged, redacted


def test_wrong_methods_and_paths_are_4xx(client):
    assert client.get("/v1/authorizations", headers=SCORING).status_code == 405
    r = client.get("/v1/nowhere", headers=SCORING)
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_reversal_needs_original(client):
    r = post(client, {**GOOD_REQUEST, "message_type": "reversal"})
    assert r.status_code == 422
    assert "original_auth_id" in r.json()["message"]


FUZZ_VALUES = [
    None,
    True,
    -1,
    0,
    2**63,
    -(2**63),
    1e308,
    "",
    " ",
    "\x00",
    "💳",
    "a" * 5000,
    [],
    {},
    [None],
    {"$ne": 1},
]


@pytest.mark.parametrize("field", list(GOOD_REQUEST))
def test_fuzzed_fields_never_give_a_server_error(client, field):
    for value in FUZZ_VALUES:
        r = post(client, {**GOOD_REQUEST, "auth_id": "F1", field: value})
        assert r.status_code < 500, (field, value, r.text)
        assert r.headers["content-type"].startswith("application/json")


def test_card_tokens_that_contain_a_luhn_run_are_not_card_numbers(client, engine):
    token = "5f4271179424844cfef85a7bf1ea2c6f"  # '4271179424844' is 13 digits and Luhn-valid
    entry = {"kind": "card", "value": token, "list_type": "block"}
    assert client.post("/v1/lists", json=entry, headers=headers("analyst")).status_code == 201
    r = client.delete(f"/v1/lists/block/card/{token}", headers=headers("analyst"))
    assert r.status_code == 204
    r = client.get("/v1/lists", params={"kind": "card", "note": token}, headers=headers("analyst"))
    assert r.status_code == 200


ODD_BODIES = [
    b"[" * 100_000,  # nesting deeper than any parser's recursion limit
    b"[" * 50_000 + b'"\\u0041"',  # the same, with an escape that forces the guard to parse
    b"\xff\xfe\x00",  # not UTF-8
    b'{"a": 1e999999}',
    b"null",
    b'"' + b"1" * 20 + b'"',
    b'{"auth_id": "\\ud800"}',  # lone surrogate
]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/authorizations"),
        ("POST", "/v1/labels"),
        ("POST", "/v1/lists"),
        ("PUT", "/v1/rules"),
    ],
)
def test_odd_bodies_are_4xx_with_our_error_shape(client, method, path):
    hdrs = {**headers("admin"), "content-type": "application/json"}
    for body in ODD_BODIES:
        r = client.request(method, path, content=body, headers=hdrs)
        assert 400 <= r.status_code < 500, (path, body[:10], r.status_code)
        assert set(r.json()) == {"code", "message", "message_zh", "errors"}
