"""The outermost layer of every request: request id, body limit, security headers, access log, metrics.

Pure ASGI (no per-request ``BaseHTTPMiddleware`` task) to keep the request path lean. It
refuses a declared ``Content-Length`` over the limit before the app runs, and counts the
bytes of chunked bodies as they are read (413 once over). An exception that escapes the
app becomes a generic 500 with the request id; the traceback goes to the log only. The
access log has the route template, never the query string or headers (a key pasted into a
URL stays out of the logs).
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.errors import error_response

log = logging.getLogger("churn.serve")
access = logging.getLogger("churn.serve.access")
# Request ids: a random per-process prefix and a counter (uuid4 per request reads os.urandom each time).
_PREFIX, _COUNTER = os.urandom(6).hex(), itertools.count(1)
CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")  # a caller's X-Request-ID is kept only if it is this tame
COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the {limit:,}-byte limit")


class Metrics:
    """Prometheus metrics in a registry of their own (one per app, so tests can build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "churn_http_requests",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "churn_http_request_seconds",
            "Request latency by route template",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=self.registry,
        )
        self.scored = Counter("churn_accounts_scored", "Accounts scored from posted signals", registry=self.registry)
        self.ready = Gauge("churn_ready", "1 when the model is loaded and checked", registry=self.registry)
        self.in_flight = Gauge("churn_http_requests_in_flight", "HTTP requests being handled", registry=self.registry)


class Guard:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: Metrics) -> None:
        self.app, self.limit, self.metrics = app, max_body_bytes, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = given if CLIENT_ID.match(given) else f"{_PREFIX}-{next(_COUNTER):x}"
        scope.setdefault("state", {})["request_id"] = rid
        status, sent = 500, False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status, sent = message["status"], True
                extra = [(b"x-request-id", rid.encode()), *COMMON_HEADERS]
                if scope["path"].startswith("/v1/"):
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        self.metrics.in_flight.inc()
        try:
            if _declared_length(headers) > self.limit:
                await error_response(413, f"request body over the {self.limit:,}-byte limit", rid)(
                    scope, receive, send_with_headers
                )
            else:
                await self.app(scope, receive_limited, send_with_headers)
        except Exception:  # noqa: BLE001 - the last line of defence: a generic 500, the traceback to the log
            log.exception("request %s failed", rid)
            if not sent:
                await error_response(500, "internal error; quote the request id when reporting it", rid)(
                    scope, receive, send_with_headers
                )
        finally:
            self.metrics.in_flight.dec()
            self._record(scope, rid, status, time.perf_counter() - started_at)

    def _record(self, scope: Scope, rid: str, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        self.metrics.requests.labels(scope["method"], route, str(status)).inc()
        self.metrics.latency.labels(route).observe(seconds)
        if access.isEnabledFor(logging.INFO):
            access.info(
                "request",
                extra={
                    "fields": {
                        "request_id": rid,
                        "method": scope["method"],
                        "route": route,
                        "status": status,
                        "ms": round(seconds * 1000, 2),
                        "model_version": scope.get("state", {}).get("model_version"),
                    }
                },
            )


def _declared_length(headers: dict[bytes, bytes]) -> int:
    try:
        return int(headers.get(b"content-length", b"0"))
    except ValueError:
        return 0


def state_of(scope: Scope) -> dict[str, Any]:
    state: dict[str, Any] = scope.setdefault("state", {})
    return state
