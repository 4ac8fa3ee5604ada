"""Request, decision and label models of real-time authorization (Pydantic v2).

These are the shapes the HTTP API accepts and returns. A request never carries a full card number,
CVV/CVN2, PIN or password: such a field or value is refused with a message that names the field and
never echoes its value.

>>> req = AuthorizationRequest(auth_id="a1", card_token="c" * 32, merchant_id="m1",
...     terminal_id="t1", ts="2026-03-01T12:00:00", amount_fen=12_345, mcc="5411",
...     channel="pos_chip", city="Shanghai")
>>> req.ts.tzinfo.key, req.message_type
('Asia/Shanghai', 'purchase')
>>> try:
...     AuthorizationRequest.parse({**req.model_dump(), "cvv2": "123"})
... except InvalidInput as e:
...     print(str(e)[:60])
request: fields ['cvv2'] look like CVV/CVN2, PIN or password
>>> Decision.model_fields["action"].annotation
typing.Literal['APPROVE', 'APPROVE_WITH_TEMP_CREDIT', 'CHALLENGE', 'DECLINE']
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cardmind.errors import InvalidInput, SensitiveDataError
from cardmind.privacy import luhn_valid, refuse_sensitive_payload
from cardmind.schema import CHANNELS, LABEL_KINDS, MESSAGE_TYPES, REPAYMENT_CHANNELS
from cardmind.units import TZ

#: Validation-context key: the body was already checked for card data (by the HTTP guard).
GUARDED = "card_data_checked"

#: Largest single authorization accepted: 5,000,000 CNY (anything above is an input error).
MAX_AMOUNT_FEN = 500_000_000

Action = Literal["APPROVE", "APPROVE_WITH_TEMP_CREDIT", "CHALLENGE", "DECLINE"]
ACTIONS: tuple[str, ...] = ("APPROVE", "APPROVE_WITH_TEMP_CREDIT", "CHALLENGE", "DECLINE")
Channel = Literal[CHANNELS]  # type: ignore[valid-type]
MessageType = Literal[MESSAGE_TYPES]  # type: ignore[valid-type]
LabelKind = Literal[LABEL_KINDS]  # type: ignore[valid-type]
RepaymentChannel = Literal[REPAYMENT_CHANNELS]  # type: ignore[valid-type]
ListKind = Literal["card", "merchant", "device", "category", "terminal"]
LIST_KINDS: tuple[str, ...] = ("card", "merchant", "device", "category", "terminal")
#: ``watch``: a value under suspicion (a cash-out ring merchant, a card under review) — decisions
#: go on, but the default rules give it no temporary credit (观察名单).
ListType = Literal["block", "trust", "watch"]
LIST_TYPES: tuple[str, ...] = ("block", "trust", "watch")

#: ISO 8583-style response codes used by cardmind (field 39).
RESPONSE_CODES: dict[str, str] = {
    "00": "approved",
    "05": "do not honour",
    "14": "invalid card number (unknown card)",
    "1A": "additional customer authentication required (step-up)",
    "51": "insufficient funds / over credit limit",
    "57": "transaction not permitted to cardholder",
    "59": "suspected fraud",
    "62": "restricted card",
    "91": "issuer unavailable",
}

_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


def to_shanghai(value: Any) -> Any:
    """Naive timestamps are Asia/Shanghai; aware ones are converted to it (ISO strings parsed,
    ``Z`` is UTC); anything else is returned as given.

    >>> to_shanghai("2026-03-01T04:00:00Z").isoformat()
    '2026-03-01T12:00:00+08:00'
    >>> to_shanghai(datetime(2026, 3, 1, 12)).isoformat()
    '2026-03-01T12:00:00+08:00'
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("must be an ISO 8601 timestamp, e.g. 2026-03-01T12:00:00+08:00") from None
    if isinstance(value, datetime):
        return value.replace(tzinfo=TZ) if value.tzinfo is None else value.astimezone(TZ)
    return value


class _Strict(BaseModel):
    """Common config: unknown fields refused, input values never echoed in error text."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, frozen=True)
    #: Identifier fields: checked as a whole (a 32-hex card token may contain a Luhn-valid run
    #: of digits by chance, so a substring search would refuse genuine tokens).
    _id_fields: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _refuse_card_secrets(cls, data: Any, info: ValidationInfo) -> Any:
        # The HTTP API's guard refuses card data in the raw body before routing and says so in
        # the validation context (``GUARDED``); every other caller gets the check here.
        if isinstance(data, Mapping) and not (info.context and info.context.get(GUARDED)):
            refuse_card_data(data, id_fields=cls._id_fields, where=cls.__name__)
        return data

    @classmethod
    def parse(cls, payload: Mapping[str, Any]) -> Any:
        """Validate a plain mapping; raise :class:`InvalidInput` with a precise, value-free message."""
        if not isinstance(payload, Mapping):
            raise InvalidInput(f"{cls.__name__}: expected a JSON object, got {type(payload).__name__}")
        refuse_card_data(payload, id_fields=cls._id_fields, where="request")
        try:
            return cls.model_validate(dict(payload))
        except ValidationError as exc:
            raise InvalidInput(f"{cls.__name__}: {describe_errors(exc)}") from None


def describe_errors(exc: ValidationError) -> str:
    """One line naming every bad field and why, without the offending values.

    >>> try:
    ...     Label(auth_id="a", label="maybe", reported_at="2026-01-01T00:00:00")
    ... except ValidationError as e:
    ...     print(describe_errors(e))
    label: Input should be 'fraud', 'chargeback' or 'genuine'
    """
    parts = []
    for err in exc.errors(include_input=False, include_url=False, include_context=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(body)"
        parts.append(f"{loc}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def is_pan(value: str) -> bool:
    """True when the whole value is a card number (13-19 digits, spaces/dashes, Luhn-valid).

    >>> is_pan("6222 0212 3456 7894"), is_pan("a7a8806222021234567894b0")
    (True, False)
    """
    digits = re.sub(r"[\s-]", "", value)
    return 13 <= len(digits) <= 19 and digits.isdigit() and luhn_valid(digits)


def refuse_card_data(payload: Mapping[str, Any], *, id_fields: frozenset[str] = frozenset(),
                     where: str = "request") -> None:
    """Refuse sensitive field names anywhere, a card number inside any free-text value, and an
    identifier field that *is* a card number. Messages name the field, never the value."""
    for name in id_fields:
        value = payload.get(name)
        if isinstance(value, str) and is_pan(value):
            raise SensitiveDataError(
                f"{where}.{name}: looks like a full card number; send the card token and last "
                "four digits instead (请勿提交完整卡号)"
            )
    rest = {k: ("" if k in id_fields and isinstance(v, str) else v) for k, v in payload.items()}
    refuse_sensitive_payload(rest, where=where)


def _check_id(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    if is_pan(value):
        raise ValueError(f"{name} looks like a full card number; send the token instead")
    if not _ID.match(value):
        raise ValueError(f"{name} must be 1-64 characters of letters, digits and _.:-")
    return value


class AuthorizationRequest(_Strict):
    """One authorization message as the card network (or a test client) sends it."""

    _id_fields: ClassVar[frozenset[str]] = frozenset({
        "auth_id", "card_token", "customer_id", "merchant_id", "terminal_id", "device_id",
        "original_auth_id",
    })

    auth_id: str = Field(description="Unique authorization id (idempotency key).")
    card_token: str = Field(description="HMAC token of the card number (never the number).")
    pan_last4: str | None = Field(default=None, pattern=r"^\d{4}$")
    customer_id: str | None = None
    merchant_id: str
    terminal_id: str
    device_id: str | None = None
    ts: datetime = Field(description="When requested; naive means Asia/Shanghai.")
    amount_fen: int = Field(gt=0, le=MAX_AMOUNT_FEN, strict=True, description="Amount in fen.")
    mcc: str = Field(pattern=r"^\d{4}$", description="ISO 18245 merchant category code.")
    channel: Channel
    city: str = Field(min_length=1, max_length=64)
    cross_border: bool = False
    message_type: MessageType = "purchase"
    original_auth_id: str | None = None

    @field_validator(
        "auth_id", "card_token", "customer_id", "merchant_id", "terminal_id", "device_id",
        "original_auth_id",
    )
    @classmethod
    def _ids(cls, v: str | None, info: Any) -> str | None:
        return _check_id(v, info.field_name)

    @field_validator("ts", mode="before")
    @classmethod
    def _ts(cls, v: Any) -> Any:
        return to_shanghai(v)

    @model_validator(mode="after")
    def _original(self) -> AuthorizationRequest:
        if self.message_type != "purchase" and not self.original_auth_id:
            raise ValueError(f"a {self.message_type} needs original_auth_id (the purchase it undoes)")
        if self.message_type == "purchase" and self.original_auth_id:
            raise ValueError("original_auth_id is only for reversals and refunds")
        return self

    def as_event(self) -> dict[str, Any]:
        """The request as a plain dict in the ``authorizations`` table's vocabulary (a copy).

        Same as ``model_dump()`` (every field is a plain value), without its cost on the hot path.
        """
        return dict(self.__dict__)


class RepaymentRequest(_Strict):
    """One repayment (还款) credited to a card, as the core banking system sends it: a row of
    the ``repayments`` table (``cardmind.schema.REPAYMENTS``). It lowers the balance and feeds the
    card's and customer's repayment features.

    >>> r = RepaymentRequest(repayment_id="R1", card_token="c" * 32, amount_fen=50_000,
    ...     ts="2026-03-05T09:00:00", channel="third_party_app", payer_is_cardholder=False)
    >>> r.ts.isoformat(), r.customer_id
    ('2026-03-05T09:00:00+08:00', None)
    >>> try:
    ...     RepaymentRequest.parse({**r.model_dump(), "amount_fen": -1})
    ... except InvalidInput as e:
    ...     print(e)
    RepaymentRequest: amount_fen: Input should be greater than 0
    """

    _id_fields: ClassVar[frozenset[str]] = frozenset({"repayment_id", "card_token", "customer_id"})

    repayment_id: str = Field(description="Unique repayment id (idempotency key).")
    card_token: str = Field(description="HMAC token of the card number (never the number).")
    customer_id: str | None = Field(default=None, description="Card owner; default: the card's.")
    ts: datetime = Field(description="When the repayment was credited; naive means Asia/Shanghai.")
    amount_fen: int = Field(gt=0, le=MAX_AMOUNT_FEN, strict=True, description="Amount in fen.")
    channel: RepaymentChannel
    payer_is_cardholder: bool = Field(
        default=True, description="False when a third party's account paid (a cash-out signal).")

    @field_validator("repayment_id", "card_token", "customer_id")
    @classmethod
    def _ids(cls, v: str | None, info: Any) -> str | None:
        return _check_id(v, info.field_name)

    @field_validator("ts", mode="before")
    @classmethod
    def _ts(cls, v: Any) -> Any:
        return to_shanghai(v)

    def as_event(self) -> dict[str, Any]:
        """The request as a plain dict in the ``repayments`` table's vocabulary (a copy)."""
        return dict(self.__dict__)


class RepaymentResult(BaseModel):
    """The answer to one repayment: what was credited and the card's available credit after it.

    A repayment lowers the balance; temporary credit is neither consumed nor cleared by it (it
    stays until it expires), so ``available_credit_fen`` counts it while it is active."""

    model_config = ConfigDict(frozen=True)

    repayment_id: str
    card_token: str
    amount_fen: int
    status: Literal["applied"] = "applied"
    balance_fen: int = Field(description="The card's balance after the repayment.")
    available_credit_before_fen: int = Field(description="Open-to-buy at ``ts`` before it.")
    available_credit_fen: int = Field(description="Open-to-buy at ``ts`` after it.")
    temp_credit_fen: int = Field(default=0, ge=0,
                                 description="Temporary credit active at ``ts`` (unchanged).")
    received_at: datetime = Field(description="When the engine applied it (its log order).")


class Reason(BaseModel):
    """A reason code with its English and Chinese text."""

    model_config = ConfigDict(frozen=True)

    code: str
    en: str
    zh: str


class Decision(BaseModel):
    """The answer to one authorization: action, response code, scores, reasons, audit fields."""

    model_config = ConfigDict(frozen=True)

    auth_id: str
    action: Action
    response_code: str = Field(description="ISO 8583-style code, see RESPONSE_CODES.")
    temp_credit_fen: int = Field(default=0, ge=0, description="Temporary credit granted.")
    temp_credit_expires_at: datetime | None = None
    fraud_score: float | None = Field(default=None, description="Model fraud probability.")
    cashout_score: float | None = Field(default=None, description="Cash-out risk when known.")
    reasons: list[Reason] = Field(default_factory=list)
    model_version: str | None = None
    rules_version: str
    standin: bool = False
    standin_reason: str | None = None
    available_credit_fen: int | None = Field(default=None, description="Before this request.")
    latency_us: int = 0
    decided_at: datetime

    @property
    def approved(self) -> bool:
        return self.action in ("APPROVE", "APPROVE_WITH_TEMP_CREDIT")

    @property
    def reason_codes(self) -> list[str]:
        return [r.code for r in self.reasons]


class Label(_Strict):
    """What the issuer learned later about an authorization: fraud, chargeback or genuine."""

    _id_fields: ClassVar[frozenset[str]] = frozenset({"auth_id"})

    auth_id: str
    label: LabelKind
    reported_at: datetime
    scenario: str | None = Field(default=None, max_length=64)

    @field_validator("auth_id")
    @classmethod
    def _id(cls, v: str) -> str:
        return _check_id(v, "auth_id")  # type: ignore[return-value]

    @field_validator("reported_at", mode="before")
    @classmethod
    def _ts(cls, v: Any) -> Any:
        return to_shanghai(v)


class ListEntry(_Strict):
    """One entry of a block, trust or watch list."""

    _id_fields: ClassVar[frozenset[str]] = frozenset({"value"})

    kind: ListKind
    value: str = Field(min_length=1, max_length=64)
    list_type: ListType
    reason: str | None = Field(default=None, max_length=200)
    added_by: str | None = Field(default=None, max_length=64)
    added_at: datetime | None = None
    expires_at: datetime | None = None

    @field_validator("value")
    @classmethod
    def _value(cls, v: str) -> str:
        if is_pan(v):
            raise ValueError("value looks like a full card number; list the card token instead")
        return v

    @field_validator("added_at", "expires_at", mode="before")
    @classmethod
    def _ts(cls, v: Any) -> Any:
        return to_shanghai(v)


class RulesInfo(BaseModel):
    """The rule set in force: version, checksum, rule names, where it came from."""

    model_config = ConfigDict(frozen=True)

    version: str
    checksum: str
    rules: list[str]
    source: str
    loaded_at: datetime
