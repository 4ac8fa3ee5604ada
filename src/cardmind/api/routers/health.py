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
        description="`ok` when the engine is loaded and healthy, else `unavailable`.",
        examples=["ok"],
    )
    version: str = Field(examples=["0.1.0"])
    engine: dict[str, Any] = Field(
        default_factory=dict,
        description="The engine's own health report (model and rule versions, stores, stand-in).",
    )


@router.get(
    "/healthz",
    summary="Health check (no authentication)",
    response_model=Health,
    responses={503: {"model": Health, "description": "Engine not loaded or unhealthy"}},
)
def healthz(request: Request) -> JSONResponse:
    """200 when the authorization engine is loaded and reports itself healthy, else 503."""
    from cardmind import __version__

    engine = request.app.state.engine
    report: dict[str, Any] = {}
    ok = engine is not None
    if engine is not None:
        try:
            raw = engine.health()
        except Exception:  # a broken engine is unhealthy, not a 500
            raw, ok = {"error": "health check failed"}, False
        report = raw if isinstance(raw, dict) else _as_dict(raw)
        ok = ok and bool(report.get("ok", report.get("healthy", True)))
    body = Health(status="ok" if ok else "unavailable", version=__version__, engine=report)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ok else 503)


def _as_dict(value: Any) -> dict[str, Any]:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(value)
    return {"status": str(value)}


@router.get(
    "/metrics",
    summary="Prometheus metrics (no authentication)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
def metrics(request: Request) -> Response:
    """Request counts by route and status, decisions by action, latency histograms, stand-in count."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)
