"""FastLaneProtocol on a real socket: the same bytes as uvicorn's own path, and HTTP/1.1 kept."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from tests.api.conftest import GOOD_REQUEST, KEYS, PAN, FakeEngine

from cardmind.api import create_app
from cardmind.api.server import MAX_LANE_BODY, FastLaneProtocol

pytest.importorskip("httptools")


@contextmanager
def serving(app, http, **options) -> Iterator[int]:  # type: ignore[no-untyped-def]
    """Run ``app`` under uvicorn (protocol ``http``) in a thread; yield its port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http=http, loop="asyncio",
                            **{"log_level": "warning", "lifespan": "on", "proxy_headers": False,
                               **options})
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def request(body: object, headers: dict[str, str] | None = None, path: str = "/v1/authorizations",
            extra: str = "") -> bytes:
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json",
            **({"X-API-Key": KEYS["scoring"]} if headers is None else headers)}
    head = f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(data)}\r\n{extra}"
    head += "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
    return head.encode() + b"\r\n" + data


def exchange(port: int, *chunks: bytes, answers: int = 1, pause: float = 0.0) -> list[bytes]:
    """Send ``chunks`` on one connection (``pause`` between them); read ``answers`` answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for i, chunk in enumerate(chunks):
            if i and pause:
                time.sleep(pause)
            sock.sendall(chunk)
        buf = b""
        out: list[bytes] = []
        while len(out) < answers:
            while b"\r\n\r\n" not in buf:
                more = sock.recv(65536)
                assert more, f"connection closed after {len(out)} answers"
                buf += more
            head, _, rest = buf.partition(b"\r\n\r\n")
            length = int(next((line.split(b":")[1] for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length")), b"0"))
            while len(rest) < length:
                more = sock.recv(65536)
                assert more
                rest += more
            out.append(head + b"\r\n\r\n" + rest[:length])
            buf = rest[length:]
        return out


def without_date(answer: bytes) -> bytes:
    return b"\r\n".join(line for line in answer.split(b"\r\n") if not line.startswith(b"date:"))


CASES = [
    request(GOOD_REQUEST),
    request({**GOOD_REQUEST, "auth_id": "A2", "amount_fen": 2_000_000}),
    request({**GOOD_REQUEST, "auth_id": "A3"}, {"X-API-Key": KEYS["admin"]}),
    request(GOOD_REQUEST),  # repeated
    request(GOOD_REQUEST, {}),  # 401
    request(GOOD_REQUEST, {"X-API-Key": KEYS["analyst"]}),  # 403
    request({**GOOD_REQUEST, "amount_fen": 0}),  # 422
    request({**GOOD_REQUEST, "cvv2": "123"}),  # 422 (guard)
    request({**GOOD_REQUEST, "merchant_id": PAN}),  # 422 (guard)
    request("{not json"),  # 400
    request(GOOD_REQUEST, {"X-API-Key": KEYS["scoring"], "Content-Type": "text/plain"}),  # 415
    request(GOOD_REQUEST, path="/v1/authorizations?x=1"),  # query: the app's path
]


def test_lane_answers_byte_for_byte_as_uvicorn_and_the_route(keystore, monkeypatch):
    answered = []
    real = FastLaneProtocol._answer

    def counting(self, cycle):  # type: ignore[no-untyped-def]
        answered.append(real(self, cycle))
        return answered[-1]

    monkeypatch.setattr(FastLaneProtocol, "_answer", counting)
    engine = FakeEngine()  # shared: a repeated auth_id returns the same stored decision
    plain = create_app(engine=engine, keys=keystore, fast_path=False)
    lane = create_app(engine=engine, keys=keystore)
    with serving(plain, "httptools") as p1, serving(lane, FastLaneProtocol) as p2:
        first = [exchange(p1, c)[0] for c in CASES]
        calls = engine.calls
        second = [exchange(p2, c)[0] for c in CASES]
        metrics = exchange(p2, b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")[0].decode()
    assert [a.split(b" ")[1] for a in second] == [
        b"200", b"200", b"200", b"200", b"401", b"403", b"422", b"422", b"422", b"400", b"415",
        b"200"]
    assert [without_date(a) for a in second] == [without_date(a) for a in first]
    assert engine.calls - calls == 5  # valid requests only, each decided once
    assert answered == [True] * 4 + [False] * 8  # the lane declines the others (and a query)
    assert 'route="/v1/authorizations",status="200"} 5.0' in metrics


def test_pipelined_requests_are_answered_in_order(keystore, engine):
    app = create_app(engine=engine, keys=keystore)
    batch = [request({**GOOD_REQUEST, "auth_id": f"P{i}", "amount_fen": 100 + i}) for i in range(3)]
    batch.insert(1, request({**GOOD_REQUEST, "amount_fen": -5}))
    with serving(app, FastLaneProtocol) as port:
        answers = exchange(port, b"".join(batch), answers=4)
    assert [a.split(b" ")[1] for a in answers] == [b"200", b"422", b"200", b"200"]
    bodies = [json.loads(a.partition(b"\r\n\r\n")[2]) for a in answers]
    assert [b.get("auth_id") for b in bodies] == ["P0", None, "P1", "P2"]


def test_body_in_pieces_close_and_expect_continue(keystore, engine):
    app = create_app(engine=engine, keys=keystore)
    whole = request({**GOOD_REQUEST, "auth_id": "S1"})
    head, _, body = whole.partition(b"\r\n\r\n")
    with serving(app, FastLaneProtocol) as port:
        split = exchange(port, head + b"\r\n\r\n" + body[:10], body[10:], pause=0.05)
        closing = exchange(port, request({**GOOD_REQUEST, "auth_id": "S2"},
                                         extra="Connection: close\r\n"))
        expect = request({**GOOD_REQUEST, "auth_id": "S3"}, extra="Expect: 100-continue\r\n")
        continued = exchange(port, expect, answers=2)
    assert json.loads(split[0].partition(b"\r\n\r\n")[2])["auth_id"] == "S1"
    assert b"\r\nconnection: close\r\n" in closing[0] and closing[0].startswith(b"HTTP/1.1 200")
    assert continued[0].startswith(b"HTTP/1.1 100") and continued[1].startswith(b"HTTP/1.1 200")
    assert engine.calls == 3


def test_large_body_goes_the_asgi_way(keystore, engine):
    app = create_app(engine=engine, keys=keystore)
    big = {**GOOD_REQUEST, "auth_id": "L1", "city": "x" * (MAX_LANE_BODY + 10)}
    with serving(app, FastLaneProtocol) as port:
        answer = exchange(port, request(big))[0]
    assert answer.startswith(b"HTTP/1.1 422") and b"body.city" in answer


def test_engine_failure_is_a_bare_500_and_the_access_log_is_uvicorns(keystore, engine):
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    access = logging.getLogger("uvicorn.access")
    handler = Keep()
    access.addHandler(handler)
    try:
        app = create_app(engine=engine, keys=keystore)
        with serving(app, FastLaneProtocol, log_config=None, log_level="info") as port:
            ok = exchange(port, request({**GOOD_REQUEST, "auth_id": "F1"}))[0]
            engine.fail_with = RuntimeError("boom " + GOOD_REQUEST["card_token"])
            failed = exchange(port, request({**GOOD_REQUEST, "auth_id": "F2"}))[0]
    finally:
        access.removeHandler(handler)
    assert ok.startswith(b"HTTP/1.1 200")
    assert failed.startswith(b"HTTP/1.1 500") and b"internal_error" in failed
    assert GOOD_REQUEST["card_token"].encode() not in failed
    assert [r.split(" - ", 1)[1] for r in records] == [
        '"POST /v1/authorizations HTTP/1.1" 200', '"POST /v1/authorizations HTTP/1.1" 500']


def test_serve_falls_back_to_uvicorns_protocol_when_its_internals_change(monkeypatch, capsys):
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from cardmind.cli.serve import _http_protocol

    assert _http_protocol() is FastLaneProtocol
    monkeypatch.setattr(HttpToolsProtocol, "_start_asgi_task", lambda self, cycle: None)
    assert _http_protocol() == "httptools"
    assert "fast lane off" in capsys.readouterr().err
