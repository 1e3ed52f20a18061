"""The REST API and risk-list page as one FastAPI app: ``create_app(Settings(...))``.

Wiring only: settings, the service (model + served scores), the request guard, error
handlers and one router per resource. The model and the scores load in a worker thread
at start-up, so ``/healthz`` answers at once and ``/readyz`` turns 200 only after the
model's checksums are verified and the scores are in memory; /v1 answers 503 until then.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from serving import errors, routes_accounts, routes_history, routes_ops, routes_page, routes_score
from serving.errors import StrictJSONResponse
from serving.middleware import Guard, Metrics
from serving.schemas import MAX_BATCH
from serving.security import REDACT, key_digest
from serving.service import Service
from serving.settings import Settings

LOGGERS = ("churn.serve", "churn.serve.access")

DESCRIPTION = f"""Account health and churn risk for customer-success teams.

Every `/v1` route and `/metrics` need `Authorization: Bearer <key>` (the server's `CHURN_API_KEY`).
`POST /v1/score` takes up to {MAX_BATCH} accounts per request. Bodies over the size limit get 413,
invalid input 422 naming the field, and every error has the same JSON schema (`ErrorBody`) with the
request id that is also in the `X-Request-ID` header. Account IDs are opaque strings (1-256 characters,
no control characters), compared byte for byte: no Unicode normalization.
"""


def create_app(settings: Settings, *, service: Service | None = None) -> FastAPI:
    """The app for ``settings``; pass a ``service`` already loaded (tests) to skip loading at start-up."""
    owned = service is None  # a service handed in (tests) outlives the app's lifespan
    metrics = service.metrics if service is not None else Metrics()
    service = service or Service(settings, metrics)

    async def load() -> None:
        await asyncio.to_thread(service.load)
        # The model and the served scores live as long as the server: keep them out of every GC
        # pass (full collections over them were the worst latency spikes under load).
        gc.freeze()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(load()) if service.status == "loading" else None
        yield
        if task is not None and not task.done():
            task.cancel()
        if owned:
            service.close()
            gc.unfreeze()

    app = FastAPI(
        title="churn-health API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,  # the Swagger/ReDoc pages load assets from a CDN; /openapi.json is enough
        default_response_class=StrictJSONResponse,
        # No 307 to the slash-less path (its Location came from the request's Host header, before
        # the key was checked): /v1/accounts/A1/ gets the usual 401 or 404 error body instead.
        redirect_slashes=False,
    )
    app.state.service = service
    key = settings.key_bytes()
    app.state.key_digest = key_digest(key) if key is not None else None
    errors.install(app)
    for router in (
        routes_score.score_router(service.catalog),  # the request schema lists the served model's signals
        routes_accounts.router,
        routes_history.router,
        routes_ops.router,
        routes_page.router,
    ):
        app.include_router(router)
    app.add_middleware(Guard, max_body_bytes=settings.max_body_bytes, metrics=metrics)
    REDACT.add(key)
    for name in LOGGERS:
        logging.getLogger(name).addFilter(REDACT)  # adding the same filter twice is a no-op
    return app


class JsonLines(logging.Formatter):
    """One JSON object per log line: time, level, logger, message and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """JSON-lines logs to stderr for the server's own loggers (uvicorn keeps its own format)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines())
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False
