"""``POST /v1/repayments``: a repayment (还款) credited to a card frees its credit (scoring role).

The core banking system (or the switch) posts each repayment as it is credited; the engine lowers
the card's balance, updates its repayment features and logs it, so that a served engine's
available credit goes up again and a restarted engine restores it
(:meth:`~cardmind.decisions.authorize.AuthorizationEngine.repay`). The engine computes in memory in
microseconds, so it is called on the event loop (as ``decide`` is). Requests are counted by the
metrics middleware (``cardmind_http_requests_total{route="/v1/repayments"}``); the engine's
``health()`` counts repayments applied, repeats and the amount.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request

from cardmind.api.deps import EngineDep
from cardmind.api.errors import error_responses
from cardmind.api.security import ScoringCaller
from cardmind.decisions.types import RepaymentRequest, RepaymentResult

router = APIRouter(prefix="/v1", tags=["repayments"])

EXAMPLE_REPAYMENT = {
    "repayment_id": "R20260305-000001",
    "card_token": "3f1c9e0a7b5d4e2f8a6c1b0d9e7f5a3c",
    "ts": "2026-03-05T09:30:00+08:00",
    "amount_fen": 500_000,
    "channel": "mobile_banking",
    "payer_is_cardholder": True,
}


async def _json_body(request: Request) -> None:
    """415 for a body that is not JSON (checked after the key, before the body is validated)."""
    ctype = request.headers.get("content-type")
    if ctype and "json" not in ctype.lower():
        raise HTTPException(415, detail="send the repayment as application/json")


@router.post(
    "/repayments",
    summary="Apply a repayment: the card's credit is freed (还款入账)",
    response_model=RepaymentResult,
    responses=error_responses(400, 401, 403, 413, 415, 422, 503),
)
async def repay(
    repayment: Annotated[RepaymentRequest, Body(
        openapi_examples={"repayment": {"value": EXAMPLE_REPAYMENT}})],
    _caller: ScoringCaller,
    _json: Annotated[None, Depends(_json_body)],
    engine: EngineDep,
) -> Any:
    """Lower the card's balance by `amount_fen` and answer its available credit before and after
    (temporary credit is neither consumed nor cleared: it stays until it expires).

    - A repeated `repayment_id` returns the first answer and frees nothing twice (also after a
      restart); the same `repayment_id` with another card or amount is refused with 422.
    - An unknown card is refused with 422 (unlike an authorization, a repayment is not a
      network message the issuer must answer with a response code).
    - Logged with the decisions and replayed when the engine restarts (ADR 0021).
    """
    return engine.repay(repayment)
