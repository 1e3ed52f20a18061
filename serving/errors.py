"""One error schema for every 4xx/5xx, strict JSON everywhere, and no traceback in any body.

Every error body is an :class:`serving.schemas.ErrorBody`: status, a short code, a
message, the request id (also in the ``X-Request-ID`` header) and, for 422, the fields at
fault. Validation messages never echo the rejected input, so a client's data (or a key
pasted into the wrong field) is not reflected back or logged.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from serving.security import request_refusal

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
    504: "timeout",
}
REQUEST_TAGS = ("signals", "ids")  # the discriminator tags of schemas.score_request, not field names


class StrictJSONResponse(JSONResponse):
    """JSON with NaN and Infinity refused at render time: a stray one is a 500, never an invalid token."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", "-"))


def error_body(status: int, message: str, rid: str, details: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {
        "status": status,
        "error": CODES.get(status, "error"),
        "message": message,
        "request_id": rid,
        "details": details or [],
    }


def error_response(
    status: int,
    message: str,
    rid: str,
    details: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> StrictJSONResponse:
    return StrictJSONResponse(error_body(status, message, rid, details), status_code=status, headers=headers)


def field_name(loc: tuple[Any, ...]) -> str:
    """('body', 'signals', 'accounts', 0, 'signals', 'nps') -> 'accounts[0].signals.nps'."""
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
        if parts and parts[0] in REQUEST_TAGS and len(parts) > 1:
            parts = parts[1:]
    elif parts and parts[0] in ("query", "path", "header"):
        parts = parts[1:]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def _validation(request: Request, exc: RequestValidationError) -> StrictJSONResponse:
    details = [
        {"field": field_name(tuple(e.get("loc", ()))), "message": str(e.get("msg", "invalid"))}
        for e in exc.errors()[:20]
    ]
    first = details[0] if details else {"field": "body", "message": "invalid"}
    message = f"{first['field']}: {first['message']}"
    return error_response(422, message, request_id(request), details)


def _http(request: Request, exc: HTTPException) -> StrictJSONResponse:
    if exc.status_code == 404 and "endpoint" not in request.scope and request.url.path.startswith("/v1"):
        # No route matched (a typo, a trailing slash): the key is still checked first, so a
        # caller without it learns nothing about which paths exist.
        exc = request_refusal(request) or exc
    status = exc.status_code
    if status < 400:  # not an error (never raised by this app); keep the schema honest anyway
        status = 500
    message = exc.detail if isinstance(exc.detail, str) else CODES.get(status, "error").replace("_", " ")
    details = exc.detail if isinstance(exc.detail, list) else None
    return error_response(status, message, request_id(request), details, headers=dict(exc.headers or {}))


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http)  # type: ignore[arg-type]
