"""GET /v1/accounts/{account_id} and GET /v1/risk-list: the served scores, by account or ranked."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Path, Query
from starlette.exceptions import HTTPException

from serving.deps import ReadyService, errors
from serving.errors import StrictJSONResponse
from serving.results import account_result
from serving.schemas import MAX_PAGE_SIZE, PRINTABLE, AccountScore, Band, Lang, RiskList
from serving.security import ApiKey

router = APIRouter(prefix="/v1", tags=["accounts"], dependencies=[ApiKey])
Text = Annotated[str | None, Query(min_length=1, max_length=256, pattern=PRINTABLE)]


@router.get(
    "/accounts/{account_id}",
    response_model=AccountScore,
    responses=errors(401, 404, 422, 500, 503),
    summary="Latest score and flags of one account",
)
async def account(
    service: ReadyService,
    account_id: Annotated[str, Path(min_length=1, max_length=256, pattern=PRINTABLE)],
    lang: Lang = "en",
) -> StrictJSONResponse:
    served = service.served
    assert served is not None
    position = served.index.get(account_id)
    if position is None:
        raise HTTPException(404, "unknown account id in the served data")
    return StrictJSONResponse(account_result(served.rows[position], lang, service.outcomes))


@router.get(
    "/risk-list",
    response_model=RiskList,
    responses=errors(401, 422, 500, 503),
    summary="Accounts ranked by ARR at risk, filtered and paginated",
)
async def risk_list(
    service: ReadyService,
    owner: Text = None,
    segment: Text = None,
    band: Band | None = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    lang: Lang = "en",
) -> StrictJSONResponse:
    served = service.served
    assert served is not None
    frame = served.scores
    keep = np.ones(len(frame), dtype=bool)
    for column, wanted in (("csm_owner", owner), ("segment", segment), ("health_band", band)):
        if wanted is not None:
            keep &= (frame[column] == wanted).fillna(False).to_numpy(dtype=bool)
    positions = np.flatnonzero(keep)
    at_risk = frame["arr_at_risk"].to_numpy(dtype=float)[positions]
    start = (page - 1) * page_size
    items = [account_result(served.rows[i], lang, service.outcomes) for i in positions[start : start + page_size]]
    return StrictJSONResponse(
        {
            "as_of": None if served.as_of is None else served.as_of.isoformat(),
            "model_version": service.model_version,
            "lang": lang,
            "total": int(len(positions)),
            "page": page,
            "page_size": page_size,
            "arr_at_risk_total": float(np.nansum(at_risk)),
            "owners": served.owners,
            "segments": served.segments,
            "items": items,
        }
    )
