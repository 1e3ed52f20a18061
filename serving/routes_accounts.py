"""GET /v1/accounts/{account_id} and GET /v1/risk-list: the served scores, by account or ranked."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import APIRouter, Path, Query
from starlette.exceptions import HTTPException

from serving.deps import ReadyService, errors
from serving.errors import StrictJSONResponse
from serving.results import account_result
from serving.schemas import MAX_PAGE_SIZE, PRINTABLE, AccountScore, Band, Lang, RiskList, Sort
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
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=256, pattern=PRINTABLE, description="Name or ID contains this (any case)."),
    ] = None,
    sort: Annotated[
        Sort | None, Query(description="Order by a column, '-' first for descending; default: ARR at risk.")
    ] = None,
) -> StrictJSONResponse:
    served = service.served
    assert served is not None
    frame = served.scores
    keep = np.ones(len(frame), dtype=bool)
    for column, wanted in (("csm_owner", owner), ("segment", segment), ("health_band", band)):
        if wanted is not None:
            keep &= (frame[column] == wanted).fillna(False).to_numpy(dtype=bool)
    if q is not None:
        keep &= matches(frame, q)
    positions = ordered(frame, np.flatnonzero(keep), sort)
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
            "currency": service.settings.currency,
            "arr_at_risk_total": float(np.nansum(at_risk)),
            "owners": served.owners,
            "segments": served.segments,
            "items": items,
        }
    )


def matches(frame: pd.DataFrame, text: str) -> np.ndarray:
    """Rows whose account_id or name contains ``text``, ignoring case."""
    wanted = text.casefold()
    found = np.zeros(len(frame), dtype=bool)
    for column in ("account_id", "name"):
        if column in frame:
            values = frame[column].astype(object).fillna("").astype(str).str.casefold()
            found |= values.str.contains(wanted, regex=False).to_numpy(dtype=bool)
    return found


def ordered(frame: pd.DataFrame, positions: np.ndarray, sort: str | None) -> np.ndarray:
    """``positions`` (in rank order) sorted by a column; missing values last, ties keep the rank order."""
    if sort is None:
        return positions
    column, descending = sort.lstrip("-"), sort.startswith("-")
    if column not in frame:
        return positions
    values = frame[column].iloc[positions]
    numeric = pd.api.types.is_numeric_dtype(values)
    keys = values.astype(float) if numeric else values.astype(object).fillna("").astype(str).str.casefold()
    missing = values.isna().to_numpy()
    order = pd.DataFrame({"missing": missing, "key": keys.to_numpy(), "rank": np.arange(len(positions))})
    order = order.sort_values(["missing", "key", "rank"], ascending=[True, not descending, True], kind="stable")
    return np.asarray(positions[order.index.to_numpy()])
