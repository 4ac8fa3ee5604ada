"""The FastAPI application: middleware, error handlers and the router list.

Routers are modules of :mod:`cardmind.api.routers` listed in :data:`ROUTERS`, one line each. A
router module defines ``router`` (an ``APIRouter``) and may define ``setup(app)`` / ``teardown(app)``
called at start-up and shut-down (for example to build its own engine into ``app.state``).

>>> from fastapi.testclient import TestClient
>>> client = TestClient(create_app(engine=None, build_engine=False))
>>> client.get("/healthz").status_code
503
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.types import Message, Receive, Scope, Send

from cardmind.api.errors import CatchAllMiddleware, install_error_handlers, install_log_redaction
from cardmind.api.guard import MAX_BODY_BYTES, SensitiveDataMiddleware
from cardmind.api.metrics import ApiMetrics, MetricsMiddleware
from cardmind.api.routers.authorizations import FAST_LANE, FastLane
from cardmind.api.security import KeyStore
from cardmind.settings import Settings, get_settings

# One line per router module of cardmind.api.routers (each exposes ``router``).
ROUTERS: tuple[str, ...] = (
    "health",
    "authorizations",
    "decisions",
    "labels",
    "repayments",
    "lists",
    "rules",
    "applications",
    "installment_offers",
)

DESCRIPTION = """
The cardmind HTTP API (智能信用卡大脑): real-time authorization decisions and their operations.

**Authentication**: header `X-API-Key`. Roles: `scoring` (the authorization switch), `analyst`
(fraud/credit operations) and `admin` (everything, and the only role that changes rules).
Missing or unknown key: 401; a role that may not call the endpoint: 403.

**Card data**: send a card token (HMAC) and last four digits, never a full card number. Any full
card number in any field, and any field named like CVV/CVN2, PIN or password, is refused with 422
before anything else looks at the request; refused values are never echoed, stored or logged.

**Errors** all share one shape: `code`, `message`, `message_zh` and `errors[]` (field `path` and
`reason` in English and Chinese), never the submitted values.
"""


SERVE_DATA_ENV = "CARDMIND_SERVE_DATA"
SERVE_RULES_ENV = "CARDMIND_SERVE_RULES"


def default_engine_factory(
    settings: Settings, *, data_dir: Path | None = None, rules_path: Path | None = None
) -> Any:
    """Build the authorization engine from settings: the registry's production model, the rule
    file (``rules_path`` or the packaged default), lists and decision log in the configured
    database, and, with ``data_dir``, accounts and feature state bootstrapped from a dataset and
    brought up to date with the decisions logged since its end (one start-up log line says how
    many, how fast; ``/healthz`` shows it under ``restored``)."""
    from cardmind.decisions import AuthorizationEngine, EngineConfig

    config = EngineConfig(db_url=settings.db_url_resolved(), rules_path=rules_path)
    model = serving_model()
    if data_dir is not None:
        engine = AuthorizationEngine.from_dataset(data_dir, config=config, model=model)
        if engine.restored is not None:  # the server's own log (uvicorn configures this one)
            logging.getLogger("uvicorn.error").info("%s", engine.restored.summary())
        return engine
    return AuthorizationEngine(config, model=model)


def serving_model(name: str = "fraud") -> Any:
    """The compiled production model (see ``decisions.authorize.load_serving_model``), or
    ``"registry"`` when there is none, so that the engine records why and decides with its
    stand-in rules."""
    from cardmind.decisions.authorize import load_serving_model

    model, _why = load_serving_model(name)
    return "registry" if model is None else model


def single_threaded_native_code() -> None:
    """One OpenMP thread per server process (LightGBM's predict and tree SHAP use OpenMP).

    A decision scores one row: threads cannot speed that up, and idle OpenMP threads busy-wait on
    the cores the event loop needs (measured: ~11 ms instead of ~0.3 ms per explanation on a
    loaded 2-core machine).
    """
    from threadpoolctl import threadpool_limits

    os.environ["OMP_NUM_THREADS"] = "1"  # libraries loaded later
    threadpool_limits(limits=1, user_api="openmp")  # libraries already loaded


def app_from_environment() -> FastAPI:
    """The app ``cardmind serve`` runs (a uvicorn factory, also usable with ``uvicorn --factory``).

    Options travel in ``CARDMIND_SERVE_DATA`` / ``CARDMIND_SERVE_RULES`` (set by the CLI).
    Card numbers are redacted from the server's own log lines.
    """
    install_log_redaction("uvicorn", "uvicorn.access", "uvicorn.error")
    single_threaded_native_code()
    data = os.environ.get(SERVE_DATA_ENV) or None
    rules = os.environ.get(SERVE_RULES_ENV) or None
    factory = partial(
        default_engine_factory,
        data_dir=Path(data) if data else None,
        rules_path=Path(rules) if rules else None,
    )
    return create_app(build_engine=factory, freeze_gc=True)


def create_app(
    engine: Any | None = None,
    settings: Settings | None = None,
    *,
    keys: KeyStore | None = None,
    build_engine: bool | Callable[[Settings], Any] = True,
    freeze_gc: bool = False,
    fast_path: bool = True,
) -> FastAPI:
    """The cardmind API over ``engine`` (an ``AuthorizationEngine``).

    With ``engine=None`` the engine is built at start-up from ``settings`` (by ``build_engine``
    when it is a callable, else :func:`default_engine_factory`; ``build_engine=False`` keeps none,
    so engine endpoints answer 503) and closed at shut-down. An engine passed in is not closed:
    its owner closes it. Keys default to ``CARDMIND_API_KEYS`` plus the database's ``api_keys``.

    ``freeze_gc`` (set by ``cardmind serve``) moves everything built at start-up into the garbage
    collector's permanent generation: the engine's bootstrapped state is hundreds of thousands of
    objects, and a full collection over them pauses the server for ~0.1-0.4 s, which would show
    as p99 latency. It also installs :func:`freeze_survivors`, for the state the engine keeps
    while serving (idempotency and reversal caches).

    ``fast_path`` answers valid authorizations before the middleware and routing
    (:class:`~cardmind.api.routers.authorizations.FastLane`; same answers, tested).
    """
    settings = settings or get_settings()
    if keys is None:
        from cardmind.storage.base import make_engine

        keys = KeyStore.from_environment(db_engine=make_engine(settings.db_url_resolved()))
    modules = [importlib.import_module(f"cardmind.api.routers.{name}") for name in ROUTERS]
    factory = build_engine if callable(build_engine) else default_engine_factory

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = None
        if app.state.engine is None and build_engine:
            owned = app.state.engine = factory(settings)
        for module in modules:
            if hasattr(module, "setup"):
                module.setup(app)
        if freeze_gc:
            gc.collect()
            gc.freeze()
            gc.callbacks.append(freeze_survivors)
        try:
            yield
        finally:
            if freeze_survivors in gc.callbacks:
                gc.callbacks.remove(freeze_survivors)
            for module in reversed(modules):
                if hasattr(module, "teardown"):
                    module.teardown(app)
            if owned is not None:
                owned.close()
                app.state.engine = None

    app = CardmindAPI(
        title="cardmind API",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.settings = settings
    app.state.keys = keys
    app.state.metrics = metrics = ApiMetrics()
    install_error_handlers(app)
    # Added last = outermost: metrics see every answer, the guard runs before routing.
    if fast_path:
        app.fast_lane = FastLane(app.state)
    app.add_middleware(SensitiveDataMiddleware)
    app.add_middleware(CatchAllMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    for module in modules:
        app.include_router(module.router)
    _document_extra_models(app, [m for mod in modules for m in getattr(mod, "OPENAPI_MODELS", ())])
    return app


class CardmindAPI(FastAPI):
    """The FastAPI app, with the authorization fast lane in front of its middleware.

    With a ``fast_lane`` (:class:`~cardmind.api.routers.authorizations.FastLane`), a
    ``POST /v1/authorizations`` is read here and answered by the lane when it is valid; the lane
    counts it in the HTTP metrics itself. Otherwise (and for every other request) the request,
    body replayed, goes through the app as usual. FastAPI's own OpenTelemetry instrumentation,
    active only with an OpenTelemetry provider configured, does not see the requests the lane
    answers.
    """

    fast_lane: FastLane | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self.fast_lane
        if lane is None or scope["type"] != "http" or not lane.takes(scope):
            await super().__call__(scope, receive, send)
            return
        started = time.perf_counter()
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > MAX_BODY_BYTES or not message.get("more_body", False):
                break
        payload = None
        if size <= MAX_BODY_BYTES and messages[-1]["type"] == "http.request":
            payload = lane.answer(scope, b"".join(m.get("body", b"") for m in messages))
        if payload is None:
            scope.setdefault(FAST_LANE, None)
            pending = iter(messages)

            async def replay() -> Message:
                return next(pending, None) or await receive()

            await super().__call__(scope, replay, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-length", str(len(payload)).encode()), (b"content-type", b"application/json"),
        ]})
        await send({"type": "http.response.body", "body": payload})
        lane.count(time.perf_counter() - started)


def freeze_survivors(phase: str, info: dict[str, int]) -> None:
    """``gc.callbacks`` hook: after each full collection, move what survived it to the permanent
    generation, so that the next full collection scans only objects made since.

    The engine keeps every recent decision and purchase (idempotency, reversals): without this,
    full collections rescan them all and their pauses grow with uptime (measured in process at
    ~2,000 authorizations/s: 31, 49, 78, 107, 138, 188, 238 ms over 60,000 requests). The cost:
    an object frozen here that later becomes part of a reference cycle is never freed; the
    engine's caches drop entries by reference count (no cycles). Measured: after 60,000
    requests, unfreezing and collecting found no cyclic garbage among the 889,000 frozen objects;
    the largest full-collection pause was 27 ms (214 ms without).
    """
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


def _document_extra_models(app: FastAPI, models: list[type[BaseModel]]) -> None:
    """Add ``models`` to the OpenAPI components (for routes that read their body themselves)."""
    if not models:
        return
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = build()
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas.setdefault(model.__name__, schema)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _version() -> str:
    from cardmind import __version__

    return str(__version__)
