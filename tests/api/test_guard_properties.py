"""Property tests of the sensitive-data guard: a card number or a CVV/PIN/password field anywhere
in any JSON body is refused, and the answer never contains it."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.api.conftest import KEYS, FakeEngine

from cardmind.api import create_app
from cardmind.api.guard import looks_like_pan, refuse_sensitive_bytes
from cardmind.errors import SensitiveDataError

PANS = ["6222021234567894", "4111111111111111", "5500005555555559", "378282246310005"]
SECRET_NAMES = [
    "cvv",
    "cvv2",
    "CVN2",
    "pin",
    "card_pin",
    "password",
    "passwd",
    "track2",
    "支付密码",
]

keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8).filter(
    lambda k: not any(w in k for w in ("cvv", "cvc", "cvn", "csc", "pin", "pass", "pwd", "track"))
)
scalars = st.one_of(
    st.integers(-1000, 1000), st.booleans(), st.none(), st.text("abcxyz ", max_size=6)
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=8,
)


def _plant(doc, value_or_key, as_key: bool, where: int):
    """Put a sensitive key or value somewhere inside ``doc`` (at a container chosen by ``where``)."""
    containers = []

    def walk(node):
        if isinstance(node, dict | list):
            containers.append(node)
            for child in node.values() if isinstance(node, dict) else node:
                walk(child)

    root = {"wrapper": doc}
    walk(root)
    target = containers[where % len(containers)]
    if as_key:
        if isinstance(target, list):
            target.append({value_or_key: "739"})
        else:
            target[value_or_key] = "739"
    elif isinstance(target, list):
        target.append(f"ref {value_or_key} end")
    else:
        target["note"] = f"ref {value_or_key} end"
    return root


@given(
    doc=documents,
    pan=st.sampled_from(PANS),
    sep=st.sampled_from(["", " ", "-"]),
    where=st.integers(0, 50),
)
@settings(max_examples=60, deadline=None)
def test_a_card_number_anywhere_is_refused(doc, pan, sep, where):
    shown = sep.join(pan[i : i + 4] for i in range(0, len(pan), 4))
    body = json.dumps(_plant(doc, shown, False, where), ensure_ascii=False).encode()
    try:
        refuse_sensitive_bytes(body, "application/json")
    except SensitiveDataError as exc:
        assert pan not in str(exc).replace(" ", "").replace("-", "")
    else:
        raise AssertionError("card number not refused")


@given(doc=documents, name=st.sampled_from(SECRET_NAMES), where=st.integers(0, 50))
@settings(max_examples=60, deadline=None)
def test_a_secret_field_anywhere_is_refused(doc, name, where):
    body = json.dumps(_plant(doc, name, True, where), ensure_ascii=False).encode()
    try:
        refuse_sensitive_bytes(body, "application/json")
    except SensitiveDataError as exc:
        assert "739" not in str(exc) and name in str(exc)
    else:
        raise AssertionError(f"field {name!r} not refused")


@given(doc=documents)
@settings(max_examples=60, deadline=None)
def test_harmless_documents_pass(doc):
    refuse_sensitive_bytes(json.dumps({"wrapper": doc}).encode(), "application/json")


@given(token=st.text(alphabet="0123456789abcdef", min_size=32, max_size=32))
def test_card_tokens_are_never_card_numbers(token):
    assert not looks_like_pan(token)


@given(doc=documents, pan=st.sampled_from(PANS), where=st.integers(0, 50))
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_over_http_the_answer_never_echoes_it(doc, pan, where):
    app = _app()
    body = json.dumps(_plant(doc, pan, False, where)).encode()
    with TestClient(app) as client:
        r = client.post(
            "/v1/authorizations",
            content=body,
            headers={"X-API-Key": KEYS["scoring"], "content-type": "application/json"},
        )
    assert r.status_code == 422 and pan not in r.text


_APP = []


def _app():
    if not _APP:
        from cardmind.api.security import KeyStore, parse_env_keys

        keys_ = KeyStore(env_keys=parse_env_keys(f"{KEYS['scoring']}:scoring"))
        _APP.append(create_app(engine=FakeEngine(), keys=keys_))
    return _APP[0]


_FULL_PATTERN = re.compile(  # the guard's first, single-regex pre-filter
    rb"(?:\d[ -]?){12,18}\d|\\u|cvv|cvc|cvn|csc|cav2|pin|pass|pwd|track|"
    + b"|".join(re.escape(w.encode()) for w in ("密码", "安全码", "校验码")),
    re.IGNORECASE,
)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="0123456789 -aApPiInNcCvVsSwWdDtTrRkK\\u\"{}:,密码安全校验", max_size=60))
def test_the_fast_prefilter_lets_through_nothing_the_full_pattern_would_check(text):
    from cardmind.api.guard import _suspect

    body = text.encode()
    if _FULL_PATTERN.search(body):
        assert _suspect(body)
