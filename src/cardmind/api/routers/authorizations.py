"""``POST /v1/authorizations``: one real-time decision per authorization (scoring role).

This is the hot path, so it skips FastAPI's generic machinery (dependency solving, body
parsing into a dict and validating the dict, response re-validation) and does the same work
directly: check the key, validate the raw JSON with Pydantic's Rust parser, decide, serialise the
decision with Pydantic. Errors go through the same handlers as every other route, and the OpenAPI
document describes the body, the security and the answers as for any other route.

The engine's ``decide`` runs in memory in microseconds, so it is called on the event loop: a
thread-pool hop would cost more than the decision itself.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from cardmind.api.errors import error_responses
from cardmind.api.security import Role, authenticate, roles
from cardmind.decisions.types import AuthorizationRequest, Decision

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


def parse_request(body: bytes) -> AuthorizationRequest:
    """Validate a raw JSON body; errors become FastAPI validation errors located in ``body``."""
    try:
        return AuthorizationRequest.model_validate_json(body)
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
    auth = parse_request(await request.body())
    decision: Decision = engine.decide(auth)
    request.app.state.metrics.observe_decision(
        action=decision.action, seconds=decision.latency_us / 1e6, stand_in=decision.standin
    )
    return Response(decision.model_dump_json(), media_type=_JSON)
