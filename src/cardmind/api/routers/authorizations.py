"""``POST /v1/authorizations``: one real-time decision per authorization (scoring role).

The engine's ``decide`` runs in memory in microseconds, so it is called directly on the event
loop: a thread-pool hop would cost more than the decision itself.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from cardmind.api.deps import EngineDep, MetricsDep
from cardmind.api.errors import error_responses
from cardmind.api.security import ScoringCaller
from cardmind.decisions.types import AuthorizationRequest, Decision

router = APIRouter(prefix="/v1", tags=["authorizations"])

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


@router.post(
    "/authorizations",
    summary="Decide one authorization (授权决策)",
    response_model=Decision,
    responses=error_responses(400, 401, 403, 413, 422, 503),
)
async def authorize(
    request: Annotated[
        AuthorizationRequest, Body(openapi_examples={"purchase": {"value": EXAMPLE_REQUEST}})
    ],
    _caller: ScoringCaller,
    engine: EngineDep,
    metrics: MetricsDep,
) -> Decision:
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
    decision: Decision = engine.decide(request)
    metrics.observe_decision(
        action=decision.action, seconds=decision.latency_us / 1e6, stand_in=decision.standin
    )
    return decision
