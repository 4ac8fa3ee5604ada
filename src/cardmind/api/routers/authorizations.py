"""``POST /v1/authorizations``: one real-time decision per authorization (scoring role).

This is the hot path, so it skips FastAPI's generic machinery (dependency solving, body
parsing into a dict and validating the dict, response re-validation) and does the same work
directly: check the key, validate the raw JSON with Pydantic's Rust parser, decide, serialise the
decision with Pydantic. Errors go through the same handlers as every other route, and the OpenAPI
document describes the body, the security and the answers as for any other route.

:class:`FastLane` answers a valid, authorised request before the app's middleware and routing
(installed by ``create_app``): the same checks as the guard, the key check and the route, the same
``decide``, the same bytes out, without the middleware chain, Starlette's router and FastAPI's
request handling. Anything else (no engine, a bad key, card data, a body that does not validate)
is passed on unchanged to the app, whose guard and route produce the error answer, so errors have
one implementation.

The engine's ``decide`` runs in memory in microseconds, so it is called on the event loop: a
thread-pool hop would cost more than the decision itself.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.types import Scope

from cardmind.api.errors import error_responses
from cardmind.api.guard import CHECKED_BODY, MAX_BODY_BYTES, refuse_sensitive_bytes
from cardmind.api.security import API_KEY_HEADER, Role, authenticate, roles
from cardmind.decisions.types import GUARDED, AuthorizationRequest, Decision
from cardmind.errors import SensitiveDataError

router = APIRouter(prefix="/v1", tags=["authorizations"])

#: Models the OpenAPI document must define although no route signature names them.
OPENAPI_MODELS = (AuthorizationRequest,)

EXAMPLE_REQUEST = {
    "auth_id": "A20260301-000001",
    "card_token": "3f1c9e0a7b5d4e2f8a6c1b0d9e7f5a3c",
    "pan_last4": "7894",
    "merchant_id": "M000123",
    "terminal_id": "T000456",
    "ts": "2026-03-01T12:00:00+08:00",
    "amount_fen": 12345,
    "mcc": "5411",
    "channel": "pos_chip",
    "city": "Shanghai",
}

_SCORING = roles(Role.SCORING)
_JSON = "application/json"


_GUARDED = {GUARDED: True}
_PATH = "/v1/authorizations"
_KEY_HEADER = API_KEY_HEADER.lower().encode()
_SERIALIZE = Decision.__pydantic_serializer__.to_json

#: Scope key set by :class:`FastLane` on a request it did not answer: ``None``, or the exception
#: ``decide`` raised (the route raises it again).
FAST_LANE = "cardmind.fast_lane"


def _validate(body: bytes, checked: bytes | None) -> AuthorizationRequest:
    """Pydantic validation of a raw body (``ValidationError`` on failure), skipping the model's
    card-data check when ``checked`` (the guard's checked body) is this body."""
    return AuthorizationRequest.model_validate_json(
        body, context=_GUARDED if checked is not None and checked == body else None)


def _decide(state: Any, auth: AuthorizationRequest) -> bytes:
    """Decide ``auth`` with the app's engine, record its metrics, and return the JSON answer."""
    decision: Decision = state.engine.decide(auth)
    state.metrics.observe_decision(
        action=decision.action, seconds=decision.latency_us / 1e6, stand_in=decision.standin
    )
    return _SERIALIZE(decision)


def parse_request(body: bytes, checked: bytes | None = None) -> AuthorizationRequest:
    """Validate a raw JSON body; errors become FastAPI validation errors located in ``body``.

    ``checked`` is the body the sensitive-data guard already checked; when it is this body, the
    model does not check it for card data a second time.
    """
    try:
        return _validate(body, checked)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


@router.post(
    "/authorizations",
    summary="Decide one authorization (授权决策)",
    response_model=Decision,
    responses=error_responses(400, 401, 403, 413, 415, 422, 503),
    openapi_extra={
        "security": [{"APIKeyHeader": []}],
        "requestBody": {
            "required": True,
            "content": {
                _JSON: {
                    "schema": {"$ref": "#/components/schemas/AuthorizationRequest"},
                    "examples": {"purchase": {"value": EXAMPLE_REQUEST}},
                }
            },
        },
    },
)
async def authorize(request: Request) -> Any:
    """Score fraud, apply rules and lists, decide smart credit; return one decision.

    Actions: `APPROVE` (00), `APPROVE_WITH_TEMP_CREDIT` (00, with amount and expiry),
    `CHALLENGE` (1A, step-up verification), `DECLINE` (05, 14, 51, 57, 59, 62, ...).

    - A repeated `auth_id` returns the first decision unchanged (idempotent).
    - An unknown card is not an HTTP error: the engine answers `DECLINE` with response code `14`
      (invalid card number), as an issuer answers the network. HTTP errors are for malformed
      requests only.
    - If the model or the feature store fails or is late, stand-in rules decide and
      `standin` is true.
    """
    authenticate(request, _SCORING)
    engine = request.app.state.engine
    if engine is None:
        raise HTTPException(503, detail="authorization engine not loaded yet")
    ctype = request.headers.get("content-type")
    if ctype and "json" not in ctype.lower():
        raise HTTPException(415, detail="send the authorization as application/json")
    auth = parse_request(await request.body(), request.scope.get(CHECKED_BODY))
    failed = request.scope.get(FAST_LANE)
    if failed is not None:  # decide raised in the fast lane: answered as if raised here
        raise failed
    return Response(_decide(request.app.state, auth), media_type=_JSON)


class FastLane:
    """Answers valid ``POST /v1/authorizations`` requests before the app's middleware and routing.

    :meth:`answer` does, synchronously, what the guard, the key check and the route do for a valid
    request (no card data in the URL or body, a key with the scoring role, a JSON body that
    validates), then decides and returns the JSON answer. For anything else it returns ``None`` and
    the caller passes the request, body unchanged, to the app, whose guard, handlers and route
    answer it: errors have one implementation. If ``decide`` itself raises, the exception is left
    in the scope and the route raises it, so the app's handlers answer as they would on the route.

    Two callers: :class:`cardmind.api.app.CardmindAPI` (any ASGI server, the test client) and, under
    ``cardmind serve``, :class:`cardmind.api.server.FastLaneProtocol`, which calls it from the
    HTTP parser's callback without an ASGI task.
    """

    path = _PATH

    def __init__(self, state: Any) -> None:
        self.state = state

    def takes(self, scope: Scope) -> bool:
        """True for the requests the lane may answer (the method and path of an authorization)."""
        return scope["path"] == _PATH and scope["method"] == "POST" and FAST_LANE not in scope

    def answer(self, scope: Scope, body: bytes) -> bytes | None:
        """The JSON answer to a valid, authorised authorization, else ``None`` (marks ``scope``)."""
        scope[FAST_LANE] = None
        state = self.state
        if state.engine is None or scope["query_string"] or len(body) > MAX_BODY_BYTES:
            return None
        key = ctype = None
        for name, value in scope["headers"]:
            if name == _KEY_HEADER:
                if key is None:  # the first, as ``request.headers.get`` reads it
                    key = value.decode("latin-1")
            elif name == b"content-type" and ctype is None:
                ctype = value.decode("latin-1").lower()
        if not key or (ctype is not None and "json" not in ctype):
            return None
        principal = state.keys.principal(key)
        if principal is None or not principal.role.allows(_SCORING):
            return None
        try:
            refuse_sensitive_bytes(body, ctype or "")
            auth = _validate(body, body)
        except (SensitiveDataError, ValidationError):
            return None
        try:
            return _decide(state, auth)
        except Exception as exc:  # the route raises it again: the app's handlers answer
            scope[FAST_LANE] = exc
            return None

    def count(self, seconds: float) -> None:
        """Record an answered request in the HTTP metrics, as the metrics middleware would."""
        self.state.metrics.observe_request(
            method="POST", route=_PATH, status=200, seconds=seconds
        )
