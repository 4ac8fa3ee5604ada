"""``POST /v1/installment-offers``: the best installment offer for a purchase or a statement (分期推荐).

The service opens, at start-up, the persisted offer index of the dataset named by
``CARDMIND_SERVE_DATA`` (``$CARDMIND_HOME/serve/installment-index.duckdb``, written by
``cardmind installment index`` or ``cardmind train installment``; built here once when missing or
made from another dataset) and the model in ``$CARDMIND_HOME/models/installment``. Unknown ids: 404
with a message; closed, frozen, charged-off or past-due accounts, or no profitable term:
``offered: false`` with a reason in English and Chinese; service not configured: 409.
"""

from __future__ import annotations

import os
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from cardmind.api.errors import error_responses
from cardmind.api.security import Principal, require_roles
from cardmind.decisions.installment_offer import (
    InstallmentOfferService,
    OfferDecision,
    UnknownSource,
    default_index_path,
    ensure_offer_index,
)

router = APIRouter(prefix="/v1", tags=["installments"])
Caller = Annotated[Principal, Depends(require_roles("scoring", "analyst", "admin"))]


class OfferRequest(BaseModel):
    """Which purchase (``auth_id``) or statement (``statement_id``) to make an offer for."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["purchase", "statement"]
    source_id: str = Field(min_length=1, max_length=64, examples=["A1"])


class OfferResponse(BaseModel):
    kind: str
    source_id: str
    offered: bool
    periods: int | None = None
    fee_rate_bp: int | None = Field(None, description="Fee per period offered (bp of principal).")
    list_fee_rate_bp: int | None = Field(None, description="Fee per period of the schedule for these periods.")
    discount_pct: int | None = Field(None, description="Percent off the schedule.")
    principal_fen: int | None = None
    fee_total_fen: int | None = None
    p_accept: float | None = Field(None, description="Model P(accept) at these terms.")
    pd_12m: float | None = Field(None, description="The card's PD over a year (behaviour scorecard or portfolio rate).")
    expected_revenue_fen: int | None = Field(None, description="P(accept) x total fee.")
    expected_loss_fen: int | None = Field(None, description="P(accept) x PD over the term x LGD x average outstanding.")
    expected_funding_fen: int | None = Field(None, description="P(accept) x funding cost of the average outstanding.")
    expected_net_fen: int | None = Field(None, description="Expected incremental revenue: revenue - loss - funding.")
    reason_code: str | None = None
    reason: str | None = None
    reason_zh: str | None = None


def setup(app: FastAPI) -> None:
    """Open the offer service when a dataset and a trained model are available."""
    if getattr(app.state, "installment_offers", None) is not None:
        return
    app.state.installment_offers = None
    data = os.environ.get("CARDMIND_SERVE_DATA")
    folder = app.state.settings.home / "models" / "installment"
    if data and (folder / "model.txt").is_file():
        from cardmind.models.installment import InstallmentModel

        index = ensure_offer_index(data, default_index_path(app.state.settings.home))
        app.state.installment_offers = InstallmentOfferService(InstallmentModel.load(folder), index)
        app.state.installment_offers_owned = True


def teardown(app: FastAPI) -> None:
    """Close the offer index when this app opened it."""
    service = getattr(app.state, "installment_offers", None)
    if service is not None and getattr(app.state, "installment_offers_owned", False):
        service.close()
        app.state.installment_offers = None


@router.post("/installment-offers", response_model=OfferResponse, responses=error_responses(400, 401, 403, 404, 409, 422))
def installment_offer(body: OfferRequest, request: Request, _caller: Caller) -> OfferDecision:
    """The best (periods, discount) by expected incremental net revenue, or a refusal with a reason."""
    service: InstallmentOfferService | None = getattr(request.app.state, "installment_offers", None)
    if service is None:
        raise HTTPException(409, detail="installment offers are not configured: set CARDMIND_SERVE_DATA and run "
                                        "`cardmind train installment`")
    try:
        return service.offer(body.kind, body.source_id)
    except UnknownSource as exc:
        raise HTTPException(404, detail=str(exc)) from None
