"""Shared request dependencies: the loaded service (503 until ready), JSON-only bodies, error docs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from serving.schemas import ErrorBody
from serving.service import Service

DESCRIPTIONS = {
    400: "The body could not be read as text (not UTF-8 JSON).",
    401: "Missing or wrong API key.",
    404: "Unknown account.",
    413: "Request body over the size limit.",
    415: "The body is not JSON.",
    422: "Invalid input; `details` names each field at fault.",
    500: "Internal error; quote the request id.",
    503: "Not ready yet, or too busy; retry later.",
    504: "Scoring took too long.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error responses, all with the one error schema."""
    return {code: {"model": ErrorBody, "description": DESCRIPTIONS[code]} for code in codes}


async def ready_service(request: Request) -> Service:
    service: Service = request.app.state.service
    if not service.ready:
        raise HTTPException(503, f"not ready: {service.status}", headers={"Retry-After": "5"})
    request.scope["state"]["model_version"] = service.model_version
    return service


async def json_body(request: Request) -> None:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json" and not (kind.startswith("application/") and kind.endswith("+json")):
        raise HTTPException(415, "send the body as JSON (Content-Type: application/json)")


ReadyService = Annotated[Service, Depends(ready_service)]
