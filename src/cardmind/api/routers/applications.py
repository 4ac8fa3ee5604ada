"""``POST /v1/applications`` (decision), ``POST /v1/applications/quote`` (5-field quick quote),
``GET /v1/applications/{application_id}`` (the logged decision).

The origination models are loaded at start-up from ``$CARDMIND_HOME/models/credit/origination``
(written by ``cardmind train credit``); until they exist the policy runs on its stand-in rules
(knock-outs decline, everything else is referred, ``MODEL_UNAVAILABLE``). Decisions are
logged in the configured database, idempotently: a repeated application id returns the first
decision with ``replayed: true``. A ``device_id`` on the block list (``/v1/lists``, kind
``device``) is declined.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Request

from cardmind.api.errors import error_responses
from cardmind.api.security import Principal, require_roles
from cardmind.decisions.origination import (
    ApplicationDecision,
    ApplicationRequest,
    OriginationPolicy,
    Quote,
    QuoteRequest,
)
from cardmind.settings import Settings, get_settings

router = APIRouter(prefix="/v1", tags=["applications"])

Caller = Annotated[Principal, Depends(require_roles("scoring", "analyst", "admin"))]
AnalystCaller = Annotated[Principal, Depends(require_roles("analyst", "admin"))]

EXAMPLE_APPLICATION = {
    "application_id": "APP-20260301-000001",
    "age": 32,
    "monthly_income_fen": 1_500_000,
    "occupation": "private_employee",
    "city": "Hangzhou",
    "education": "bachelor",
    "housing": "mortgage",
    "employment_years": 5,
    "existing_debt_fen": 300_000,
    "bureau_inquiries_6m": 1,
    "bureau_delinquencies": 0,
    "channel": "online",
}
EXAMPLE_QUOTE = {
    "age": 28,
    "monthly_income_fen": 1_200_000,
    "occupation": "private_employee",
    "city": "Shanghai",
    "housing": "rent",
}


def setup(app: FastAPI) -> None:
    """Load the origination models and open the application log with the app's settings."""
    _ensure(app, app.state.settings)


def _ensure(app: FastAPI, settings: Settings | None = None) -> None:
    """Set up on first use when the app runs without its lifespan (e.g. an ASGI test harness):
    then the process settings apply (the lifespan, when it runs, uses the app's settings)."""
    from cardmind.models.credit.application import OriginationModels, default_bundle_dir
    from cardmind.storage.applications import (
        ApplicationDecisionRow,
        ApplicationLog,
        DeviceBlocklist,
    )
    from cardmind.storage.base import make_engine

    settings = settings or get_settings()
    if getattr(app.state, "origination", None) is None:
        folder = default_bundle_dir(settings.home)
        models = OriginationModels.load(folder) if (folder / "bundle.json").is_file() else None
        # Without trained models the policy answers on its stand-in rules (REFER / DECLINE).
        engine = make_engine(settings.db_url_resolved())
        app.state.origination = OriginationPolicy(models, blocklist=DeviceBlocklist(engine))
    if getattr(app.state, "application_log", None) is None:
        engine = make_engine(settings.db_url_resolved())
        ApplicationDecisionRow.__table__.create(engine, checkfirst=True)
        app.state.application_log = ApplicationLog(engine)


def _policy(request: Request) -> OriginationPolicy:
    _ensure(request.app)
    return request.app.state.origination


def _log(request: Request) -> Any:
    _ensure(request.app)
    return request.app.state.application_log


PolicyDep = Annotated[OriginationPolicy, Depends(_policy)]
LogDep = Annotated[Any, Depends(_log)]


@router.post(
    "/applications",
    summary="Decide a card application (申请审批)",
    response_model=ApplicationDecision,
    responses=error_responses(400, 401, 403, 422, 503),
)
def decide_application(
    application: Annotated[
        ApplicationRequest, Body(openapi_examples={"applicant": {"value": EXAMPLE_APPLICATION}})
    ],
    _caller: Caller,
    policy: PolicyDep,
    log: LogDep,
) -> ApplicationDecision:
    """APPROVE (line and rate tier), DECLINE or REFER (manual review), with reasons in English and
    Chinese: the policy rules that fired and the top adverse factors of the scorecard (points lost
    against the best bin of each characteristic). Protected attributes (gender, ethnicity, ...)
    are refused as fields. A repeated `application_id` returns the first decision unchanged."""
    return log.decide_once(
        application.application_id,
        application.model_dump(mode="json"),
        lambda: policy.decide(application),
    )


@router.post(
    "/applications/quote",
    summary="Quick quote from five fields (额度预估)",
    response_model=Quote,
    responses=error_responses(400, 401, 403, 422, 503),
)
def quote(
    request: Annotated[QuoteRequest, Body(openapi_examples={"quote": {"value": EXAMPLE_QUOTE}})],
    _caller: Caller,
    policy: PolicyDep,
) -> Quote:
    """Age, monthly income, occupation, city and housing or education -> approval likelihood band
    and an indicative line range (not logged, not a decision)."""
    return policy.quote(request)


@router.get(
    "/applications/{application_id}",
    summary="The logged decision of an application (申请决策记录)",
    response_model=ApplicationDecision,
    responses=error_responses(401, 403, 404),
)
def get_application(
    application_id: str, _caller: AnalystCaller, log: LogDep
) -> ApplicationDecision:
    """The decision as first made and logged."""
    decision = log.get(application_id)
    if decision is None:
        raise HTTPException(404, detail=f"no decision for application {application_id!r}")
    return decision
