"""uvicorn's httptools protocol with the authorization fast lane answered in the parser callback.

Under ``cardmind serve``, uvicorn parses each request with httptools and then runs the ASGI app in
a new asyncio task: a scope, a request-response cycle object, an event, a task, two socket writes
(head, then body) and a keep-alive timer per request, which together cost about as much as the
app's own work around ``decide``. :class:`FastLaneProtocol` answers the requests the app's
:class:`~cardmind.api.routers.authorizations.FastLane` takes (``POST /v1/authorizations``) as
soon as their body is complete, from the parser's callback: the lane checks and decides
synchronously (``decide`` runs on the event loop anyway) and the answer goes out in one write.

Everything else is uvicorn's own code path, unchanged: any other request, a request the lane
declines (it then runs as an ASGI task with its body, exactly as without this class), pipelined
requests queued behind one in flight (they start when their turn comes), ``Expect:
100-continue``, a body larger than :data:`MAX_LANE_BODY`, a transport whose write buffer is full
(uvicorn's path waits for it to drain), an app wrapped by uvicorn (proxy headers, trace logging)
or without a lane. The answer's head is the one uvicorn writes for the same ASGI messages
(status line, uvicorn's default headers, then the app's), the access-log line is uvicorn's, and
the HTTP metrics count the request as the metrics middleware would (tested on a real socket).
"""

from __future__ import annotations

import inspect
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

#: Bodies above this size go the ASGI way (uvicorn stops reading at 64 KiB until the app reads).
MAX_LANE_BODY = 16 * 1024

_STATUS_200 = STATUS_LINE[200]
_JSON_HEADER = b"content-type: application/json\r\n"


def uvicorn_mismatch() -> str | None:
    """Why this uvicorn's httptools protocol differs from the one :class:`FastLaneProtocol` was
    written against (``None``: it matches). The class overrides uvicorn internals, so
    ``cardmind serve`` checks them before using it and falls back to uvicorn's own protocol.

    >>> uvicorn_mismatch() is None
    True
    """
    expected = {"_start_asgi_task": ["self", "cycle", "app"], "on_body": ["self", "body"],
                "on_message_complete": ["self"], "connection_lost": ["self", "exc"]}
    for name, params in expected.items():
        method = getattr(HttpToolsProtocol, name, None)
        if method is None:
            return f"HttpToolsProtocol.{name} is gone"
        if list(inspect.signature(method).parameters) != params:
            return f"HttpToolsProtocol.{name} takes {list(inspect.signature(method).parameters)}"
    return None


class FastLaneProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that answers the app's fast lane without an ASGI task."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lane = getattr(self.app, "fast_lane", None)
        self._waiting: tuple[RequestResponseCycle, Any] | None = None

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        lane = self.lane
        if (
            lane is not None
            and app is self.app  # not uvicorn's 503 for an exceeded concurrency limit
            and not cycle.waiting_for_100_continue
            and not self.flow.write_paused
            and lane.takes(cycle.scope)
        ):
            if cycle.more_body:  # the body is still to come: answer when it is complete
                self._waiting = (cycle, app)
                return
            if self._answer(cycle):
                return
        super()._start_asgi_task(cycle, app)

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        waiting = self._waiting
        if waiting is not None and len(waiting[0].body) > MAX_LANE_BODY:
            self._waiting = None
            super()._start_asgi_task(*waiting)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        waiting = self._waiting
        if waiting is not None and waiting[0] is self.cycle:
            self._waiting = None
            if not self._answer(waiting[0]):
                super()._start_asgi_task(*waiting)

    def connection_lost(self, exc: Exception | None) -> None:
        self._waiting = None  # its task never started: nothing to cancel
        super().connection_lost(exc)

    def _answer(self, cycle: RequestResponseCycle) -> bool:
        """Answer ``cycle`` through the lane; False when the lane declines it."""
        started = time.perf_counter()
        scope: Any = cycle.scope
        payload = self.lane.answer(scope, bytes(cycle.body))  # type: ignore[union-attr]
        if payload is None:
            return False
        cycle.response_started = cycle.response_complete = True
        if cycle.disconnected:
            return True
        if self.access_log:
            self.access_logger.info(
                '%s - "%s %s HTTP/%s" %d',
                get_client_addr(scope),
                scope["method"],
                get_path_with_query_string(scope),
                scope["http_version"],
                200,
            )
        head = [_STATUS_200]
        for name, value in self.server_state.default_headers:
            head += [name.lower(), b": ", value, b"\r\n"]
        head += [b"content-length: ", str(len(payload)).encode(), b"\r\n", _JSON_HEADER]
        if not cycle.keep_alive:
            head.append(b"connection: close\r\n")
        head += [b"\r\n", payload]
        self.transport.write(b"".join(head))
        cycle.message_event.set()
        if not cycle.keep_alive:
            self.transport.close()
        self.lane.count(time.perf_counter() - started)  # type: ignore[union-attr]
        cycle.on_response()
        return True
