"""``GET /v1/decisions/{auth_id}``: the decision taken for an authorization, and
``GET /v1/decisions/{auth_id}/factors``: the fraud model's top factors of that decision, for any
logged decision, approvals included (analyst role)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from cardmind.api.deps import EngineDep
from cardmind.api.errors import NotFound, error_responses
from cardmind.api.security import AnalystCaller
from cardmind.decisions.types import Decision
from cardmind.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["decisions"])

AuthId = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9_.:\-]{1,64}$",
        description="The authorization id.",
        examples=["A20260301-000001"],
    ),
]


class Factor(BaseModel):
    """One feature that raised the fraud score: its value, its tree-SHAP contribution (log-odds)
    and a sentence in English and Chinese."""

    feature: str = Field(examples=["card_amount_sum_24h"])
    value: float | None = Field(description="The value the model saw (null: no history).")
    contribution: float = Field(description="Tree SHAP contribution in log-odds (> 0).")
    direction: str = Field(examples=["high"])
    en: str
    zh: str


class DecisionFactors(BaseModel):
    """The model's top risk-raising factors of one logged decision."""

    auth_id: str
    model_version: str | None = Field(description="Null: decided without the model (stand-in).")
    factors: list[Factor]


@router.get(
    "/decisions/{auth_id}",
    summary="Look up a decision (查询授权决策)",
    response_model=Decision,
    responses=error_responses(401, 403, 404, 422, 503),
)
def get_decision(
    auth_id: AuthId,
    _caller: AnalystCaller,
    engine: EngineDep,
) -> Decision:
    """The decision taken for `auth_id` (from memory or the decision log); 404 if none."""
    return _decision_or_404(engine, auth_id)


@router.get(
    "/decisions/{auth_id}/factors",
    summary="Explain a decision with the model's top factors (决策原因)",
    response_model=DecisionFactors,
    responses=error_responses(401, 403, 404, 422, 503),
)
def get_decision_factors(
    auth_id: AuthId,
    _caller: AnalystCaller,
    engine: EngineDep,
    top: Annotated[int, Query(ge=1, le=20, description="How many factors.")] = 3,
) -> DecisionFactors:
    """The fraud model's top risk-raising factors of the logged decision `auth_id`, recomputed
    exactly from the model inputs and model version stored with it (challenges and declines
    carry the same factors in their answer; approvals are explained here, on demand). 404 if
    there is no such decision or its model version is no longer in the registry."""
    decision = _decision_or_404(engine, auth_id)
    try:
        factors = engine.explain_decision(auth_id, top=top) or []
    except InvalidInput as exc:  # the model version is no longer in the registry
        raise NotFound(f"cannot explain {auth_id!r}: {exc}") from None
    return DecisionFactors(
        auth_id=auth_id,
        model_version=decision.model_version,
        factors=[Factor(feature=f.feature, value=f.value, contribution=f.contribution,
                        direction=f.direction, en=f.en, zh=f.zh) for f in factors],
    )


def _decision_or_404(engine: EngineDep, auth_id: str) -> Decision:
    decision = engine.get_decision(auth_id)
    if decision is None:
        raise NotFound(f"no decision for auth_id {auth_id!r}")
    return decision
