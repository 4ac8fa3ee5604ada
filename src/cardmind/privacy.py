"""Card data protection: keyed-hash tokens for card numbers, refusal of CVV/PIN/passwords.

A full card number (PAN) never reaches storage or logs. It is replaced at the edge by an HMAC
token plus its last four digits. CVV/CVN2, PIN and passwords are refused wherever they appear.

>>> token, last4 = tokenize_pan("6222 0212 3456 7894", key=b"k")
>>> last4, len(token)
('7894', 32)
>>> tokenize_pan("6222021234567894", key=b"k")[0] == token
True
>>> luhn_valid("6222021234567894")
True
>>> is_sensitive_field_name("cvn2"), is_sensitive_field_name("card_cvv"), is_sensitive_field_name("amount")
(True, True, False)
>>> contains_pan("refund to card 6222021234567894 please")
True
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Any

from cardmind.errors import InvalidInput, SensitiveDataError

TOKEN_HEX_CHARS = 32
_DIGITS_ONLY = re.compile(r"[\s-]")
_SENSITIVE_CJK = ("密码", "安全码", "校验码")
_PAN_CANDIDATE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_SENSITIVE_NAME = re.compile(
    r"(^|[_\-\s.])(cvv2?|cvc2?|cvn2?|csc|cav2|pin|pinblock|pin_block|password|passwd|pwd|passcode|"
    r"track1|track2|track_data)($|[_\-\s.])",
    re.IGNORECASE,
)


def luhn_valid(digits: str) -> bool:
    """True when a digit string passes the Luhn check (as every real card number does)."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def normalize_pan(pan: str) -> str:
    """Strip spaces and dashes; raise ``InvalidInput`` unless 13-19 digits passing Luhn."""
    digits = _DIGITS_ONLY.sub("", str(pan))
    if not (13 <= len(digits) <= 19 and digits.isdigit()):
        raise InvalidInput("card number must have 13 to 19 digits")
    if not luhn_valid(digits):
        raise InvalidInput("card number fails the Luhn check")
    return digits


def tokenize_pan(pan: str, *, key: bytes) -> tuple[str, str]:
    """Return ``(token, last4)`` for a card number: HMAC-SHA256 with ``key``, 32 hex chars."""
    digits = normalize_pan(pan)
    digest = hmac.new(key, digits.encode(), hashlib.sha256).hexdigest()
    return digest[:TOKEN_HEX_CHARS], digits[-4:]


def contains_pan(text: str) -> bool:
    """True when ``text`` holds a 13-19 digit Luhn-valid sequence (spaces or dashes allowed)."""
    for match in _PAN_CANDIDATE.finditer(str(text)):
        digits = _DIGITS_ONLY.sub("", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return True
    return False


def is_sensitive_field_name(name: str) -> bool:
    """True for names of fields that may hold CVV/CVN2, PIN, passwords or track data."""
    text = str(name).strip()
    return bool(_SENSITIVE_NAME.search(text)) or any(w in text for w in _SENSITIVE_CJK)


def refuse_sensitive_fields(names: Iterable[str], *, where: str = "input") -> None:
    """Raise ``SensitiveDataError`` naming every sensitive field (never its value)."""
    bad = sorted({n for n in names if is_sensitive_field_name(n)})
    if bad:
        raise SensitiveDataError(
            f"{where}: fields {bad} look like CVV/CVN2, PIN or password data, which cardmind "
            "refuses to receive or store (拒绝接收卡片安全码、密码等敏感信息)"
        )


def refuse_sensitive_payload(payload: Mapping[str, Any], *, where: str = "request") -> None:
    """Refuse a nested payload holding a sensitive field name or a full card number anywhere."""
    stack: list[tuple[str, Any]] = [("", payload)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, Mapping):
            refuse_sensitive_fields([str(k) for k in value], where=f"{where}{path}")
            stack.extend((f"{path}.{k}", v) for k, v in value.items())
        elif isinstance(value, list | tuple):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(value))
        elif isinstance(value, str) and contains_pan(value):
            raise SensitiveDataError(
                f"{where}{path or ''}: holds what looks like a full card number; send the card "
                "token and last four digits instead (请勿提交完整卡号)"
            )
