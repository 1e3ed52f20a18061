"""POST /v1/score: score posted signals (micro-batched) or look up accounts known in the data.

The router is built per app (:func:`score_router`) because its request body lists the served
model's signals. No ``from __future__ import annotations`` here: the endpoint's annotations must
be evaluated where it is defined, inside the factory, for FastAPI to see the body model built there.
"""

import asyncio
from collections.abc import Sequence
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Body, Depends
from starlette.exceptions import HTTPException

from features.signals import Signal
from serving.batching import Overloaded
from serving.deps import ReadyService, errors, json_body
from serving.errors import StrictJSONResponse
from serving.results import account_result
from serving.schemas import MAX_BATCH, Lang, ScoreIds, ScoreResponse, score_request
from serving.security import ApiKey
from serving.service import Service


def score_router(catalog: Sequence[Signal]) -> APIRouter:
    """POST /v1/score for a model whose signal catalog is ``catalog`` (``Service.catalog``)."""
    router = APIRouter(prefix="/v1", tags=["scoring"], dependencies=[ApiKey])
    request = score_request(catalog)

    @router.post(
        "/score",
        response_model=ScoreResponse,
        responses=errors(400, 401, 404, 413, 415, 422, 500, 503, 504),
        summary=f"Score up to {MAX_BATCH} accounts",
        description=(
            f"Either `accounts`: up to {MAX_BATCH} accounts with every signal of the served model's catalog "
            "(null = no data), scored now; "
            f"or `account_ids`: up to {MAX_BATCH} accounts known in the served data, with their latest scores. "
            "Returns the three probabilities, health score and band, red and green flags with sentences and "
            "suggested actions, and the model version. `lang=tr` words the flags in Turkish."
        ),
    )
    async def score(
        service: ReadyService,
        body: Annotated[request, Body()],  # type: ignore[valid-type]  # a model built from the catalog
        _json: Annotated[None, Depends(json_body)],
        lang: Lang = "en",
    ) -> StrictJSONResponse:
        if isinstance(body, ScoreIds):
            rows = known(service, body)
        else:
            rows = await scored(service, records(body))
        results = [account_result(row, lang, service.outcomes) for row in rows]
        return StrictJSONResponse({"model_version": service.model_version, "lang": lang, "results": results})

    return router


def known(service: Service, body: ScoreIds) -> list[dict[str, Any]]:
    assert service.served is not None
    ids = body.account_ids
    missing = [i for i in ids if i not in service.served.index]
    if missing:
        shown = ", ".join(repr(i[:40]) for i in missing[:3])
        raise HTTPException(404, f"{len(missing)} unknown account id(s) in the served data: {shown}")
    return [service.served.rows[service.served.index[i]] for i in ids]


def records(body: Any) -> list[dict[str, Any]]:
    """The posted accounts of a ``ScoreSignals`` body as the scorer's rows."""
    today = pd.Timestamp.now(tz="UTC").normalize()
    return [
        {
            "account_id": a.account_id,
            "as_of": a.as_of or today,
            "segment": a.segment,
            "csm_owner": a.csm_owner,
            **a.signals.model_dump(),
        }
        for a in body.accounts
    ]


async def scored(service: Service, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert service.batcher is not None
    try:
        results = await asyncio.wait_for(service.batcher.submit(rows), service.settings.request_timeout_s)
    except Overloaded:
        raise HTTPException(
            503, "too many accounts waiting to be scored; retry shortly", headers={"Retry-After": "1"}
        ) from None
    except TimeoutError:
        raise HTTPException(504, f"scoring took longer than {service.settings.request_timeout_s:g} s") from None
    service.metrics.scored.inc(len(rows))
    return results
