"""``cardmind serve`` (the HTTP API under uvicorn) and ``cardmind apikeys`` (hashed API keys)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from cardmind.cli import app
from cardmind.errors import InvalidInput

apikeys_app = typer.Typer(
    help="HTTP API keys stored hashed in the database (API 密钥).", no_args_is_help=True
)
app.add_typer(apikeys_app, name="apikeys")


def _event_loop() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def _http_protocol() -> Any:
    """cardmind's httptools protocol (authorizations answered without an ASGI task, see
    :mod:`cardmind.api.server`); uvicorn's own httptools protocol when this uvicorn's internals
    differ from those it was written against (with a warning); h11 without httptools."""
    try:
        from cardmind.api.server import FastLaneProtocol, uvicorn_mismatch
    except ImportError:
        return "h11"
    why = uvicorn_mismatch()
    if why is not None:
        typer.echo(f"warning: authorization fast lane off, this uvicorn differs ({why}); "
                   "serving through uvicorn's own protocol / 快速通道已关闭", err=True)
        return "httptools"
    return FastLaneProtocol


@app.command("serve")
def serve_command(
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    data: Annotated[
        Path | None,
        typer.Option(
            exists=True, file_okay=False, help="Dataset folder to bootstrap accounts and features."
        ),
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Rule file (default: the packaged rules)."),
    ] = None,
    log_level: str = typer.Option("info", help="uvicorn log level."),
    access_log: bool = typer.Option(True, help="Log one line per request (card numbers redacted)."),
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs) with uvicorn. 启动 HTTP 服务。

    One worker process: the engine keeps card accounts (available credit), idempotency and
    online feature state in memory, so several workers would each hold part of every card's
    state; several workers (--workers) are not yet supported. The event loop is uvloop and the HTTP parser
    httptools when installed (both faster than the pure-Python defaults), with authorizations
    answered straight from the parser (``cardmind.api.server``), and native code runs one OpenMP
    thread (one-row predictions gain nothing from threads).
    """
    import uvicorn

    from cardmind.api.app import SERVE_DATA_ENV, SERVE_RULES_ENV
    from cardmind.api.security import ENV_VARIABLE, KeyStore
    from cardmind.settings import get_settings
    from cardmind.storage.base import make_engine

    settings = get_settings()
    if data is not None:
        from cardmind.dataset import Dataset

        dataset = Dataset(data)  # a one-line error now rather than a failed start-up later
        if not dataset.has("cards"):
            raise InvalidInput(f"--data {data}: the dataset has no cards table to bootstrap from")
    if rules is not None:
        from cardmind.decisions.rules import parse_rules

        parse_rules(rules.read_text(encoding="utf-8"), source=str(rules))
    store = KeyStore.from_environment(db_engine=make_engine(settings.db_url_resolved()))
    if len(store) == 0:
        typer.echo(
            f"warning: no API keys: set {ENV_VARIABLE} or run `cardmind apikeys create --role admin`; "
            "every /v1 call will answer 401 (未配置 API 密钥)",
            err=True,
        )
    os.environ[SERVE_DATA_ENV] = str(data.resolve()) if data else ""
    os.environ[SERVE_RULES_ENV] = str(rules.resolve()) if rules else ""
    uvicorn.run(
        "cardmind.api.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        loop=_event_loop(),
        http=_http_protocol(),
        log_level=log_level,
        access_log=access_log,
        proxy_headers=False,
        server_header=False,
    )


def _db():  # type: ignore[no-untyped-def]
    from cardmind.settings import get_settings
    from cardmind.storage.base import make_engine

    return make_engine(get_settings().db_url_resolved())


@apikeys_app.command("create")
def apikeys_create(
    role: str = typer.Option(..., help="scoring, analyst or admin."),
    label: str = typer.Option("", help="Who or what uses the key."),
) -> None:
    """Create a key: printed once, only its SHA-256 is stored. 创建密钥（仅显示一次）。"""
    from cardmind.api.security import create_db_key, parse_role

    key = create_db_key(_db(), role=parse_role(role), label=label)
    typer.echo(key)
    typer.echo("store it now: it is shown only once (密钥仅显示一次，请妥善保存)", err=True)


@apikeys_app.command("list")
def apikeys_list() -> None:
    """List keys (id, role, label, dates), never the keys. 列出密钥。"""
    from cardmind.api.security import list_db_keys

    rows = list_db_keys(_db())
    if not rows:
        typer.echo("no API keys in the database")
    for r in rows:
        state = f"revoked {r['revoked_at']:%Y-%m-%d %H:%M}" if r["revoked_at"] else "active"
        typer.echo(f"{r['key_id']}  {r['role']:<8} {state:<24} {r['label']}")


@apikeys_app.command("revoke")
def apikeys_revoke(key_id: str = typer.Argument(..., help="The 8-character key id.")) -> None:
    """Revoke a key (effective on running servers within 30 s). 吊销密钥。"""
    from cardmind.api.security import revoke_db_key

    if revoke_db_key(_db(), key_id) == 0:
        raise InvalidInput(f"no active API key with id {key_id!r}")
    typer.echo(f"revoked {key_id}")
