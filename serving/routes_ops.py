"""Operations: /healthz (alive), /readyz (model loaded and checked), /metrics (Prometheus, with the key)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving.deps import errors
from serving.errors import StrictJSONResponse, error_response, request_id
from serving.schemas import Alive, Readiness
from serving.security import ApiKey
from serving.service import Service

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Alive, summary="The process is alive (no key needed)")
async def healthz() -> StrictJSONResponse:
    return StrictJSONResponse({"status": "alive"})


@router.get(
    "/readyz",
    response_model=Readiness,
    responses=errors(503),
    summary="The model is loaded and verified and the scores are served (no key needed)",
)
async def readyz(request: Request) -> StrictJSONResponse:
    service: Service = request.app.state.service
    if service.ready:
        return StrictJSONResponse({"status": "ready", "model_version": service.model_version, "reason": None})
    # The full reason is in the server log; an unauthenticated caller only learns the state.
    message = {"loading": "not ready: loading", "failed": "not ready: start-up failed, see the server log"}.get(
        service.status, "not ready: the scoring process stopped, see the server log"
    )
    return error_response(503, message, request_id(request), headers={"Retry-After": "5"})


@router.get(
    "/metrics",
    dependencies=[ApiKey],
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format."},
        **errors(401),
    },
    summary="Prometheus metrics (needs the key, like /v1)",
    response_class=Response,
)
async def metrics(request: Request) -> Response:
    service: Service = request.app.state.service
    service.metrics.ready.set(1 if service.ready else 0)
    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)
