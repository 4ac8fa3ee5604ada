"""Shared FastAPI dependencies: the engine and the metrics of the running app.

They are ``async`` so that FastAPI calls them inline instead of in its thread pool.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from cardmind.api.metrics import ApiMetrics


async def get_engine(request: Request) -> Any:
    """The app's authorization engine; 503 while none is loaded."""
    engine = request.app.state.engine
    if engine is None:
        raise HTTPException(503, detail="authorization engine not loaded yet")
    return engine


async def get_metrics(request: Request) -> ApiMetrics:
    """The app's Prometheus collectors."""
    return request.app.state.metrics


#: Annotated dependencies for endpoint signatures.
EngineDep = Annotated[Any, Depends(get_engine)]
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]
