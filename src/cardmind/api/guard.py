"""The sensitive-data guard: every request is checked for card data before any route sees it.

:class:`SensitiveDataMiddleware` runs before routing and validation, so a refused value never
reaches a model, a log line or an error message, whichever router (ours or a later one) serves the
path. It refuses with 422 (or 413 for an oversized body)

- JSON bodies (any depth) with field names that look like CVV/CVN2, PIN, password or track data,
  or string values holding a 13-19 digit Luhn-valid number (a full card number);
- other bodies (for example rule text) holding a full card number;
- a path or query string holding a full card number, or a query parameter named like a CVV/PIN.

>>> refuse_sensitive_body({"card_token": "ab12", "extra": {"cvv2": "123"}})
Traceback (most recent call last):
...
cardmind.api.guard.SensitiveInput: body.extra: fields ['cvv2'] look like CVV/CVN2, PIN or password data, which cardmind refuses to receive or store (拒绝接收卡片安全码、密码等敏感信息)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cardmind.api.errors import error_json, sensitive_error_response
from cardmind.errors import SensitiveDataError
from cardmind.privacy import contains_pan, is_sensitive_field_name

MAX_BODY_BYTES = 1 << 20  # 1 MiB: rule files fit; an authorization is < 2 KiB

#: Scope key under which the guard leaves the body it checked (and found free of card data).
CHECKED_BODY = "cardmind.checked_body"


class SensitiveInput(SensitiveDataError):
    """Sensitive card data found at ``paths`` (``body.extra.cvv2``, ``query.q``, ``path``)."""

    def __init__(self, message: str, paths: list[str]) -> None:
        super().__init__(message)
        self.paths = paths


#: A card token as cardmind issues them (32 lowercase hex characters), standing on its own.
_TOKEN = re.compile(r"(?<![0-9A-Za-z])[0-9a-f]{32}(?![0-9A-Za-z])")


def looks_like_pan(value: str) -> bool:
    """True when ``value`` holds a full card number. Card tokens are set aside first: their hex
    digits sometimes contain a Luhn-valid run of 13+ decimal digits (about 1 token in 500).

    >>> looks_like_pan("card 6222021234567894"), looks_like_pan("5f4271179424844cfef85a7bf1ea2c6f")
    (True, False)
    >>> looks_like_pan("when: card == '5f4271179424844cfef85a7bf1ea2c6f'")
    False
    """
    return contains_pan(_TOKEN.sub(" ", value))


def refuse_sensitive_url(path: str, query: str) -> None:
    """Refuse a card number in the path or query, or a query parameter named like a CVV/PIN."""
    if any(looks_like_pan(part) for part in unquote(path).split("/")):
        raise SensitiveInput(
            "path: holds what looks like a full card number; use the card token (请勿提交完整卡号)",
            ["path"],
        )
    for name, value in parse_qsl(query, keep_blank_values=True):
        if is_sensitive_field_name(name):
            raise SensitiveInput(
                f"query.{name}: looks like CVV/CVN2, PIN or password data, which cardmind "
                "refuses to receive (拒绝接收卡片安全码、密码等敏感信息)",
                [f"query.{name}"],
            )
        if looks_like_pan(value):
            raise SensitiveInput(
                f"query.{name}: holds what looks like a full card number; send the card token "
                "and last four digits instead (请勿提交完整卡号)",
                [f"query.{name}"],
            )


def refuse_sensitive_body(data: Any, path: str = "body") -> None:
    """Refuse a parsed JSON body holding sensitive field names or a full card number anywhere.

    The error names the path (``body.extra.cvv2``), never the value.
    """
    stack: list[tuple[str, Any]] = [(path, data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, Mapping):
            names = [str(k) for k in value]
            bad = sorted(n for n in names if is_sensitive_field_name(n))
            if bad:
                raise SensitiveInput(
                    f"{where}: fields {bad} look like CVV/CVN2, PIN or password data, which "
                    "cardmind refuses to receive or store (拒绝接收卡片安全码、密码等敏感信息)",
                    [f"{where}.{n}" for n in bad],
                )
            stack.extend((f"{where}.{k}", v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(value))
        elif isinstance(value, str) and looks_like_pan(value):
            raise SensitiveInput(
                f"{where}: holds what looks like a full card number; send the card token and "
                "last four digits instead (请勿提交完整卡号)",
                [where],
            )


# Fast path: a body in which none of these byte patterns occurs cannot hold a card number (13+
# digits, optionally separated) nor a sensitive field name, even after JSON decoding (``\\u``
# escapes, which could spell anything, send the body to the full check). Two simple patterns
# (digit runs; words, on the ASCII-lowercased body) cost ~1/10 of one case-insensitive
# alternation with a counted repeat (~35 us per authorization body).
_SUSPECT_DIGITS = re.compile(rb"\d[\d -]{11,}\d")  # contains every 13-19 digit card number
_SUSPECT_WORDS = re.compile(
    rb"\\u|cvv|cvc|cvn|csc|cav2|pin|pass|pwd|track|"
    + b"|".join(re.escape(w.encode()) for w in ("密码", "安全码", "校验码"))
)


def _suspect(body: bytes) -> bool:
    r"""True when ``body`` might hold card data (then it is parsed and checked in full).

    >>> _suspect(b'{"city": "Shanghai", "amount_fen": 100}'), _suspect(b'{"PIN": 1}')
    (False, True)
    >>> _suspect(b'{"n": "6222 0212 3456 7894"}'), _suspect(b'{"n": "\\u0036"}')
    (True, True)
    """
    return bool(_SUSPECT_DIGITS.search(body) or _SUSPECT_WORDS.search(body.lower()))


def refuse_sensitive_bytes(body: bytes, content_type: str) -> None:
    """Refuse a raw body: parsed as JSON when it is JSON, else scanned as text.

    >>> refuse_sensitive_bytes(b'{"city": "Shanghai", "amount_fen": 100}', "application/json")
    >>> refuse_sensitive_bytes(rb'{"n": "\\u0036222021234567894"}', "application/json")
    Traceback (most recent call last):
    ...
    cardmind.api.guard.SensitiveInput: body.n: holds what looks like a full card number; send the card token and last four digits instead (请勿提交完整卡号)
    """
    if not body or not _suspect(body):
        return
    if not content_type or "json" in content_type:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            data = None  # not JSON (or absurdly nested): the route answers 400; scan the text
        if data is not None:
            refuse_sensitive_body(data)
            return
    if looks_like_pan(body.decode("utf-8", errors="replace")):
        raise SensitiveInput(
            "body: holds what looks like a full card number (请勿提交完整卡号)", ["body"]
        )


class SensitiveDataMiddleware:
    """Pure ASGI middleware: read the body once, check it, then replay it to the app."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            refuse_sensitive_url(
                scope.get("path", ""), scope.get("query_string", b"").decode("latin-1")
            )
        except SensitiveDataError as exc:
            await sensitive_error_response(exc)(scope, receive, send)
            return
        if scope.get("method") not in ("POST", "PUT", "PATCH", "DELETE"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                response = error_json(
                    413,
                    "payload_too_large",
                    f"request body larger than {self.max_body_bytes} bytes",
                    f"请求体超过 {self.max_body_bytes} 字节",
                )
                await response(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        content_type = ""
        for key, value in scope.get("headers", ()):
            if key == b"content-type":
                content_type = value.decode("latin-1").lower()
        try:
            refuse_sensitive_bytes(body, content_type)
        except SensitiveDataError as exc:
            await sensitive_error_response(exc)(scope, receive, send)
            return
        scope[CHECKED_BODY] = body  # routes may skip their own card-data check of this body
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
