"""``POST /v1/labels``: fraud reports, chargebacks and confirmed-genuine outcomes (analyst role)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field

from cardmind.api.deps import EngineDep
from cardmind.api.errors import error_responses
from cardmind.api.security import AnalystCaller
from cardmind.decisions.types import Label

router = APIRouter(prefix="/v1", tags=["labels"])

EXAMPLE_LABEL = {
    "auth_id": "A20260301-000001",
    "label": "fraud",
    "reported_at": "2026-03-05T09:30:00+08:00",
}


class LabelRecorded(BaseModel):
    """Acknowledgement of a recorded label."""

    auth_id: str = Field(examples=["A20260301-000001"])
    label: str = Field(examples=["fraud"])
    status: str = Field(default="recorded", examples=["recorded"])


@router.post(
    "/labels",
    summary="Report a fraud, chargeback or genuine outcome (标注欺诈/拒付/正常)",
    status_code=201,
    response_model=LabelRecorded,
    responses=error_responses(400, 401, 403, 413, 422, 503),
)
def add_label(
    label: Annotated[Label, Body(openapi_examples={"fraud report": {"value": EXAMPLE_LABEL}})],
    _caller: AnalystCaller,
    engine: EngineDep,
) -> LabelRecorded:
    """Record what was learned later about an authorization; it feeds label-aware features and
    model evaluation. An `auth_id` the engine does not know is refused with 422."""
    engine.add_label(label)
    return LabelRecorded(auth_id=label.auth_id, label=label.label)
