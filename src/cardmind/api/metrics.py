"""Prometheus metrics of the HTTP API, one registry per app.

- ``cardmind_http_requests_total{method,route,status}``: requests by route template (never the raw
  path, which could hold an id or a mistyped card number) and status;
- ``cardmind_http_request_duration_seconds{route}``: latency histogram (server side);
- ``cardmind_decisions_total{action}``: authorization decisions by action;
- ``cardmind_decision_latency_seconds``: engine decision latency histogram;
- ``cardmind_standin_total``: decisions taken by the stand-in (fallback) rules.

>>> m = ApiMetrics()
>>> m.observe_decision(action="APPROVE", seconds=0.0004, stand_in=False)
>>> b'cardmind_decisions_total{action="APPROVE"} 1.0' in m.render()
True
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Buckets fit a millisecond-level decision path: 100 µs .. 1 s.
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip

CONTENT_TYPE = CONTENT_TYPE_LATEST


class ApiMetrics:
    """The collectors of one app, in their own registry (so several apps can coexist)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "cardmind_http_requests",
            "HTTP requests by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "cardmind_http_request_duration_seconds",
            "HTTP request latency in the server, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "cardmind_decisions",
            "Authorization decisions by action.",
            ["action"],
            registry=self.registry,
        )
        self.decision_seconds = Histogram(
            "cardmind_decision_latency_seconds",
            "Latency of the authorization engine's decide(), as measured by the engine.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.stand_in = Counter(
            "cardmind_standin",
            "Decisions taken by stand-in (fallback) rules because a model or store failed or was late.",
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._actions: dict[str, Counter] = {}

    def observe_request(self, *, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        key = (method, route, status)
        pair = self._children.get(key)
        if pair is None:  # labels() is slow-ish: cache the children (bounded by routes x statuses)
            pair = (
                self.requests.labels(method, route, str(status)),
                self.request_seconds.labels(route),
            )
            self._children[key] = pair
        pair[0].inc()
        pair[1].observe(seconds)

    def observe_decision(self, *, action: str, seconds: float | None, stand_in: bool) -> None:
        """Count one authorization decision."""
        child = self._actions.get(action)
        if child is None:  # labels() is slow-ish: cache the children (one per action)
            child = self._actions[action] = self.decisions.labels(action)
        child.inc()
        if seconds is not None:
            self.decision_seconds.observe(seconds)
        if stand_in:
            self.stand_in.inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every collector."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware timing every HTTP request and counting it by route template."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def _send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe_request(
                method=scope.get("method", ""),
                route=route,
                status=status,
                seconds=time.perf_counter() - start,
            )
