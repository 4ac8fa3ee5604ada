"""``GET /healthz`` (no authentication) and ``GET /metrics`` (Prometheus text)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from cardmind.api.metrics import CONTENT_TYPE

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    """Liveness and readiness of the service."""

    status: str = Field(
        description=(
            "`ok`; `degraded` when the engine runs on stand-in rules (no model) or its decision "
            "log is failing: it still decides; `unavailable` (503) when no engine is loaded."
        ),
        examples=["ok"],
    )
    version: str = Field(examples=["0.1.0"])
    engine: dict[str, Any] = Field(
        default_factory=dict,
        description="Public part of the engine's report: versions, counters, log queue.",
    )


#: Engine health fields safe to show without a key (no error texts, paths or card data).
PUBLIC_FIELDS = (
    "status",
    "model_version",
    "rules_version",
    "accounts",
    "list_entries",
    "decisions",
    "standin",
    "log_depth",
    "log_failures",
    "restored",
)


@router.get(
    "/healthz",
    summary="Health check (no authentication)",
    response_model=Health,
    responses={503: {"model": Health, "description": "No engine loaded, or its check failed"}},
)
def healthz(request: Request) -> JSONResponse:
    """200 while an engine is loaded (`ok` or `degraded`), else 503 `unavailable`."""
    from cardmind import __version__

    engine = request.app.state.engine
    report: dict[str, Any] = {}
    status = "unavailable"
    if engine is not None:
        try:
            raw = engine.health()
            status = str(raw.get("status", "ok")) if isinstance(raw, dict) else "ok"
            report = {k: raw[k] for k in PUBLIC_FIELDS if isinstance(raw, dict) and k in raw}
        except Exception:  # a broken engine is unavailable, not a 500
            status = "unavailable"
    if status not in ("ok", "degraded"):
        status = "unavailable"
    body = Health(status=status, version=__version__, engine=report)
    return JSONResponse(
        body.model_dump(mode="json"), status_code=503 if status == "unavailable" else 200
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (no authentication)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
def metrics(request: Request) -> Response:
    """Request counts by route and status, decisions by action, latency histograms, stand-in count."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)
