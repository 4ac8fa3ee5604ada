"""``GET /v1/decisions/{auth_id}``: the decision taken for an authorization (analyst role)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from cardmind.api.deps import EngineDep
from cardmind.api.errors import NotFound, error_responses
from cardmind.api.security import AnalystCaller
from cardmind.decisions.types import Decision

router = APIRouter(prefix="/v1", tags=["decisions"])


@router.get(
    "/decisions/{auth_id}",
    summary="Look up a decision (查询授权决策)",
    response_model=Decision,
    responses=error_responses(401, 403, 404, 422, 503),
)
def get_decision(
    auth_id: Annotated[
        str,
        Path(
            pattern=r"^[A-Za-z0-9_.:\-]{1,64}$",
            description="The authorization id.",
            examples=["A20260301-000001"],
        ),
    ],
    _caller: AnalystCaller,
    engine: EngineDep,
) -> Decision:
    """The decision taken for `auth_id` (from memory or the decision log); 404 if none."""
    decision = engine.get_decision(auth_id)
    if decision is None:
        raise NotFound(f"no decision for auth_id {auth_id!r}")
    return decision
