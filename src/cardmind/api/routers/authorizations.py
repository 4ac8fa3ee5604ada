"""``POST /v1/authorizations``: one real-time decision per authorization (scoring role).

This is the hot path, so it skips FastAPI's generic machinery (dependency solving, body
parsing into a dict and validating the dict, response re-validation) and does the same work
directly: check the key, validate the raw JSON with Pydantic's Rust parser, decide, serialise the
decision with Pydantic. Errors go through the same handlers as every other route, and the OpenAPI
document describes the body, the security and the answers as for any other route.

:class:`AuthorizationFastPath` (installed by ``create_app`` inside the sensitive-data guard)
answers a well-formed, authorised request before routing: same key check, same validation, same
``decide``, same bytes out, without Starlette's router and FastAPI's request handling (~100 us).
Anything else (no engine, a bad key, a body that does not validate) is passed on unchanged to the
route, which produces the error answer, so errors have one implementation. The card-data check
of the body is done once, by the guard, which leaves the checked body in the scope.

The engine's ``decide`` runs in memory in microseconds, so it is called on the event loop: a
thread-pool hop would cost more than the decision itself.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from cardmind.api.errors import error_responses
from cardmind.api.guard import CHECKED_BODY
from cardmind.api.security import API_KEY_HEADER, Role, authenticate, roles
from cardmind.decisions.types import GUARDED, AuthorizationRequest, Decision

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
    return Response(_decide(request.app.state, auth), media_type=_JSON)


class AuthorizationFastPath:
    """Pure ASGI middleware answering valid ``POST /v1/authorizations`` before routing.

    Only the answer a valid, authorised request gets from the route is produced here; any other
    request goes to the route untouched (the guard replays its body), which answers the error.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._route: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != _PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        fastapi_app = scope.get("app")
        state = getattr(fastapi_app, "state", None)
        engine = getattr(state, "engine", None)
        key = ctype = None
        for name, value in scope["headers"]:
            if name == _KEY_HEADER:
                key = value.decode("latin-1")
            elif name == b"content-type":
                ctype = value
        principal = state.keys.principal(key) if engine is not None and key else None
        if principal is None or not principal.role.allows(_SCORING) or (
                ctype is not None and b"json" not in ctype.lower()):
            await self.app(scope, receive, send)  # the route answers 401/403/415/503
            return
        body = scope.get(CHECKED_BODY)  # read and checked by the guard, which wraps this app
        if body is None:
            await self.app(scope, receive, send)
            return
        try:
            auth = _validate(body, body)
        except ValidationError:
            await self.app(scope, receive, send)  # the route answers 400/422
            return
        if self._route is None:
            self._route = next(r for r in router.routes if getattr(r, "path", None) == _PATH)
        scope["route"] = self._route  # route template for the metrics middleware
        try:
            payload = _decide(state, auth)
        except Exception as exc:  # as the route would: the app's handler for it, if any
            await _handle(fastapi_app, scope, receive, send, exc)
            return
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-length", str(len(payload)).encode()), (b"content-type", b"application/json"),
        ]})
        await send({"type": "http.response.body", "body": payload})


async def _handle(app: Any, scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
    """Answer ``exc`` with the app's exception handler for its type, or re-raise it."""
    for cls in type(exc).__mro__:
        handler = app.exception_handlers.get(cls)
        if handler is not None:
            response = await handler(Request(scope, receive), exc)
            await response(scope, receive, send)
            return
    raise exc
