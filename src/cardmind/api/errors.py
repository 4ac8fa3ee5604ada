"""Error answers: one JSON shape for every 4xx/5xx, with nothing of the input echoed.

FastAPI's default 422 body repeats the offending input; a card number or CVV sent by mistake would
come straight back (and land in client logs). Here every error is::

    {"code": "validation_error", "message": "...", "message_zh": "...",
     "errors": [{"path": "body.amount_fen", "reason": "...", "reason_zh": "..."}]}

Reasons name the field and the rule, never the value. Anything unexpected becomes a 500 whose body
says only that: the type and a redacted traceback go to the server log.

>>> redact("card 6222021234567894 declined")
'card [redacted] declined'
>>> field_path(("body", "merchant", "mcc"))
'body.merchant.mcc'
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cardmind.errors import CardmindError, InvalidInput, SensitiveDataError
from cardmind.privacy import luhn_valid

logger = logging.getLogger("cardmind.api")

_DIGIT_RUN = re.compile(r"(?<!\d)(?:\d[ -]?){11,18}\d(?!\d)")


class FieldError(BaseModel):
    """One rejected field: where (``body.amount_fen``) and why, in English and Chinese."""

    path: str = Field(examples=["body.amount_fen"])
    reason: str = Field(examples=["must be greater than 0"])
    reason_zh: str = Field(examples=["必须大于 0"])


class ErrorResponse(BaseModel):
    """The body of every error answer. Never contains the submitted values."""

    code: str = Field(examples=["validation_error"])
    message: str = Field(examples=["1 field is invalid"])
    message_zh: str = Field(examples=["1 个字段无效"])
    errors: list[FieldError] = Field(default_factory=list)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting the error model for ``statuses`` in OpenAPI."""
    text = {
        400: "Malformed JSON (请求体不是合法 JSON)",
        401: "Missing or unknown API key (缺少或无效的 API 密钥)",
        403: "The key's role may not call this endpoint (角色无权限)",
        404: "Not found (未找到)",
        409: "Conflict (冲突)",
        413: "Request body too large (请求体过大)",
        422: "Invalid input: field path and reason, never the value (输入无效)",
        503: "Engine not ready (引擎未就绪)",
    }
    return {s: {"model": ErrorResponse, "description": text.get(s, "Error")} for s in statuses}


def redact(text: str) -> str:
    """Replace every card-number-like digit run (13-19 digits, Luhn valid) with ``[redacted]``."""

    def _sub(match: re.Match[str]) -> str:
        digits = re.sub(r"[ -]", "", match.group())
        return "[redacted]" if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group()

    return _DIGIT_RUN.sub(_sub, text)


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """Dotted path of a Pydantic error location; list indexes as ``[i]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# Pydantic error type -> (English, Chinese) reason without the value.
_REASONS: dict[str, tuple[str, str]] = {
    "missing": ("field required", "缺少必填字段"),
    "extra_forbidden": ("unknown field", "不允许的字段"),
    "int_type": ("must be an integer", "必须是整数"),
    "int_parsing": ("must be an integer", "必须是整数"),
    "int_from_float": ("must be a whole number (integer fen)", "必须是整数（单位：分）"),
    "float_type": ("must be a number", "必须是数字"),
    "float_parsing": ("must be a number", "必须是数字"),
    "bool_type": ("must be true or false", "必须是布尔值"),
    "bool_parsing": ("must be true or false", "必须是布尔值"),
    "string_type": ("must be a string", "必须是字符串"),
    "string_too_short": ("is too short", "过短"),
    "string_too_long": ("is too long", "过长"),
    "string_pattern_mismatch": ("has the wrong format", "格式不正确"),
    "literal_error": ("is not one of the allowed values", "不是允许的取值"),
    "enum": ("is not one of the allowed values", "不是允许的取值"),
    "greater_than": ("is too small", "数值过小"),
    "greater_than_equal": ("is too small", "数值过小"),
    "less_than": ("is too large", "数值过大"),
    "less_than_equal": ("is too large", "数值过大"),
    "datetime_type": ("must be an ISO 8601 date-time", "必须是 ISO 8601 日期时间"),
    "datetime_parsing": ("must be an ISO 8601 date-time", "必须是 ISO 8601 日期时间"),
    "datetime_from_date_parsing": ("must be an ISO 8601 date-time", "必须是 ISO 8601 日期时间"),
    "timezone_aware": ("must carry a time zone offset", "必须带时区"),
    "date_type": ("must be an ISO 8601 date", "必须是 ISO 8601 日期"),
    "date_parsing": ("must be an ISO 8601 date", "必须是 ISO 8601 日期"),
    "dict_type": ("must be a JSON object", "必须是 JSON 对象"),
    "model_type": ("must be a JSON object", "必须是 JSON 对象"),
    "model_attributes_type": ("must be a JSON object", "必须是 JSON 对象"),
    "list_type": ("must be a JSON array", "必须是 JSON 数组"),
    "too_short": ("has too few items", "元素过少"),
    "too_long": ("has too many items", "元素过多"),
    "json_invalid": ("is not valid JSON", "不是合法 JSON"),
    "value_error": ("is invalid", "取值无效"),
    "assertion_error": ("is invalid", "取值无效"),
    "union_tag_invalid": ("has an unknown kind", "类型标签无效"),
    "union_tag_not_found": ("needs its kind field", "缺少类型标签"),
}

# Context keys that describe the rule (limits, patterns), never the input.
_SAFE_CTX = ("gt", "ge", "lt", "le", "min_length", "max_length", "expected", "pattern")


def _reason(err: dict[str, Any]) -> tuple[str, str]:
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    en, zh = _REASONS.get(kind, ("is invalid", "取值无效"))
    bound = next((k for k in ("gt", "ge", "lt", "le") if k in ctx), None)
    if bound is not None:
        sym = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}[bound]
        en, zh = f"must be {sym} {ctx[bound]}", f"必须 {sym} {ctx[bound]}"
    elif kind in ("literal_error", "enum") and "expected" in ctx:
        en = f"must be one of {ctx['expected']}"
        zh = f"必须是 {ctx['expected']} 之一"
    elif kind in ("string_too_short", "string_too_long", "too_short", "too_long"):
        limit = ctx.get("min_length", ctx.get("max_length"))
        if limit is not None:
            en, zh = f"{en} (limit {limit})", f"{zh}（限制 {limit}）"
    elif kind in ("value_error", "assertion_error"):
        # Our own validators write messages that name the rule, not the value; redact anyway.
        message = str(ctx.get("error") or err.get("msg") or "").removeprefix("Value error, ")
        if message:
            en = zh = redact(message)
    return en, zh


def validation_errors(errors: list[dict[str, Any]] | tuple[Any, ...]) -> list[FieldError]:
    """Pydantic/FastAPI errors as :class:`FieldError` items (``input`` and values dropped)."""
    out = []
    for err in errors:
        en, zh = _reason(err)
        out.append(FieldError(path=field_path(err.get("loc", ())), reason=en, reason_zh=zh))
    return out


class NotFound(CardmindError, LookupError):
    """A resource asked for by id does not exist: answered with 404."""


def error_json(
    status: int, code: str, message: str, message_zh: str, errors: list[FieldError] | None = None
) -> JSONResponse:
    """A JSON error response in the shared shape."""
    body = ErrorResponse(code=code, message=message, message_zh=message_zh, errors=errors or [])
    return JSONResponse(body.model_dump(), status_code=status)


async def _on_validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
    raw = list(exc.errors())
    if raw and all(e.get("type") == "json_invalid" for e in raw):
        detail = str((raw[0].get("ctx") or {}).get("error", "")) or "JSON decode error"
        where = raw[0].get("loc", ("body",))
        if len(where) > 1 and isinstance(where[1], int):
            detail = f"{detail} at character {where[1]}"
        return error_json(
            400,
            "malformed_json",
            f"request body is not valid JSON: {detail}",
            f"请求体不是合法 JSON：{detail}",
            [FieldError(path="body", reason="is not valid JSON", reason_zh="不是合法 JSON")],
        )
    fields = validation_errors(raw)
    n = len(fields)
    summary = "; ".join(f"{f.path}: {f.reason}" for f in fields[:5])
    return error_json(
        422,
        "validation_error",
        f"{n} field{'s' if n != 1 else ''} invalid: {summary}",
        f"{n} 个字段无效：" + "；".join(f"{f.path}：{f.reason_zh}" for f in fields[:5]),
        fields,
    )


async def _on_sensitive(_request: Request, exc: SensitiveDataError) -> JSONResponse:
    return sensitive_error_response(exc)


def sensitive_error_response(exc: SensitiveDataError) -> JSONResponse:
    """422 naming where sensitive card data was found (never the data)."""
    message = redact(str(exc))
    paths = getattr(exc, "paths", None) or [message.split(":", 1)[0] if ":" in message else "body"]
    return error_json(
        422,
        "sensitive_data",
        message,
        "请求包含完整卡号、卡片安全码或密码等敏感信息，已拒绝且未存储",
        [
            FieldError(path=p, reason="sensitive card data refused", reason_zh="拒绝敏感卡片数据")
            for p in paths
        ],
    )


async def _on_invalid(_request: Request, exc: InvalidInput) -> JSONResponse:
    message = redact(str(exc))
    return error_json(422, "invalid_input", message, f"输入无效：{message}")


async def _on_not_found(_request: Request, exc: LookupError) -> JSONResponse:
    message = redact(str(exc.args[0]) if exc.args else "not found")
    return error_json(404, "not_found", message, f"未找到：{message}")


_HTTP_CODES = {
    400: ("bad_request", "请求有误"),
    401: ("unauthorized", "未认证"),
    403: ("forbidden", "无权限"),
    404: ("not_found", "未找到"),
    405: ("method_not_allowed", "不支持的请求方法"),
    406: ("not_acceptable", "不可接受的格式"),
    409: ("conflict", "冲突"),
    413: ("payload_too_large", "请求体过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
    503: ("unavailable", "服务暂不可用"),
}


async def _on_http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code, zh = _HTTP_CODES.get(exc.status_code, ("error", "错误"))
    detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code == 404 and detail == "Not Found":
        detail = "no such endpoint"
    elif exc.status_code == 400 and detail == "There was an error parsing the body":
        code, zh = "malformed_json", "请求体不是 UTF-8 编码的合法 JSON，或嵌套过深"
        detail = "request body is not valid UTF-8 JSON, or is nested too deeply"
    message = redact(detail)
    body = ErrorResponse(code=code, message=message, message_zh=f"{zh}：{message}")
    return JSONResponse(body.model_dump(), status_code=exc.status_code, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler on ``app`` (called by :func:`cardmind.api.app.create_app`)."""
    app.add_exception_handler(RequestValidationError, _on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(SensitiveDataError, _on_sensitive)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidInput, _on_invalid)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http)  # type: ignore[arg-type]
    app.add_exception_handler(NotFound, _on_not_found)  # type: ignore[arg-type]


_INTERNAL = (
    ErrorResponse(
        code="internal_error",
        message="internal error; the incident was logged without request data",
        message_zh="服务器内部错误，已记录（不含请求数据）",
    )
    .model_dump_json()
    .encode()
)


class CatchAllMiddleware:
    """Turn any exception that escaped the handlers into a bare 500 and log it redacted.

    Unlike Starlette's server-error middleware it does not re-raise, so the ASGI server never
    prints the exception (whose message might quote the request) to its own log.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def _send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, _send)
        except Exception as exc:  # the whole point: nothing escapes
            route = getattr(scope.get("route"), "path", "unmatched")
            logger.error(
                "unhandled %s on %s %s\n%s",
                type(exc).__name__,
                scope.get("method"),
                route,
                redact("".join(traceback.format_exception(exc))),
            )
            if started:
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(_INTERNAL)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _INTERNAL})


class RedactingFilter(logging.Filter):
    """A logging filter that redacts card numbers from messages and their arguments.

    Installed on the ASGI server's access and error loggers by ``cardmind serve``: an access-log
    line quotes the request path and query, where a caller might have put a card number.

    >>> record = logging.LogRecord("uvicorn.access", 20, "", 0, '%s "%s"', ("1.2.3.4", "GET /v1/decisions/6222021234567894"), None)
    >>> RedactingFilter().filter(record), record.getMessage()
    (True, '1.2.3.4 "GET /v1/decisions/[redacted]"')
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def install_log_redaction(*names: str) -> None:
    """Add :class:`RedactingFilter` to the named loggers (once each)."""
    for name in names:
        log = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in log.filters):
            log.addFilter(RedactingFilter())
