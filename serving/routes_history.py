"""The account's story over /v1: history, changes, what-if, score breakdown, and movers.

Every answer comes from the story built at start-up (:mod:`serving.story`): the stored score
history plus the served scoring. An account the served data does not know is a 404, as for
``GET /v1/accounts/{account_id}``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Path, Query
from starlette.exceptions import HTTPException

from serving import changes, story_text, whatif
from serving.breakdown import OVERRIDE, Points, components
from serving.deps import ReadyService, errors
from serving.errors import StrictJSONResponse
from serving.schemas import PRINTABLE, AccountChanges, AccountHistory, Breakdown, Lang, Movers, WhatIfOut
from serving.security import ApiKey
from serving.service import Service

router = APIRouter(prefix="/v1", tags=["history"], dependencies=[ApiKey])
AccountId = Annotated[str, Path(min_length=1, max_length=256, pattern=PRINTABLE)]


def _known(service: Service, account_id: str) -> dict[str, Any]:
    served = service.served
    assert served is not None
    position = served.index.get(account_id)
    if position is None:
        raise HTTPException(404, "unknown account id in the served data")
    return served.rows[position]


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) or not np.isfinite(float(value)) else float(value)


@router.get(
    "/accounts/{account_id}/history",
    response_model=AccountHistory,
    responses=errors(401, 404, 422, 500, 503),
    summary="The account's scores over time (one per as_of), oldest first",
)
async def history(service: ReadyService, account_id: AccountId) -> StrictJSONResponse:
    row = _known(service, account_id)
    card = service.scorer.bundle.scorecard
    items = [
        {
            "as_of": pd.Timestamp(r["as_of"]).isoformat(),
            "health_score": _number(r["health_score"]),
            "health_band": r["health_band"] if r["health_band"] in ("red", "yellow", "green") else None,
            "churn_probability": _number(r["churn_probability"]),
            "model_version": str(r["model_version"]),
        }
        for r in service.story.rows(account_id)
    ]
    bands = [[n, float(lo), float(hi)] for n, lo, hi in card.bands] if card is not None else []
    return StrictJSONResponse({"account_id": account_id, "name": row.get("name"), "bands": bands, "items": items})


@router.get(
    "/accounts/{account_id}/changes",
    response_model=AccountChanges,
    responses=errors(401, 404, 422, 500, 503),
    summary="Why the scores changed since a date (default: since the previous scoring), decomposed exactly",
)
async def account_changes(
    service: ReadyService,
    account_id: AccountId,
    since: Annotated[date | None, Query(description="Compare with the latest scoring on or before this date.")] = None,
    lang: Lang = "en",
) -> StrictJSONResponse:
    _known(service, account_id)
    stamp = None if since is None else pd.Timestamp(since, tz="UTC")
    change = service.story.change(account_id, stamp)
    return StrictJSONResponse(
        {"account_id": account_id, "change": None if change is None else changes.as_json(change, lang)}
    )


@router.get(
    "/accounts/{account_id}/what-if",
    response_model=WhatIfOut,
    responses=errors(401, 404, 422, 500, 503),
    summary="What would raise the health score: gains per actionable measure and the plan to the next band",
)
async def what_if(service: ReadyService, account_id: AccountId, lang: Lang = "en") -> StrictJSONResponse:
    _known(service, account_id)
    card = service.scorer.bundle.scorecard
    if card is None:
        raise HTTPException(404, "the model folder has no scorecard")
    result = whatif.what_if(service.story.values(account_id), card, service.targets)
    body = whatif.as_json(result, lang)
    body["health_score"] = _number(body["health_score"])
    body["predicted_score"] = _number(body["predicted_score"])
    return StrictJSONResponse({"account_id": account_id, **body})


@router.get(
    "/accounts/{account_id}/breakdown",
    response_model=Breakdown,
    responses=errors(401, 404, 422, 500, 503),
    summary="The health score by component and measure: points earned of points possible",
)
async def breakdown(service: ReadyService, account_id: AccountId, lang: Lang = "en") -> StrictJSONResponse:
    row = _known(service, account_id)
    story = service.story
    scored = [r for r in story.rows(account_id) if pd.Timestamp(r["as_of"]) == pd.Timestamp(row["as_of"])]
    details = story.point(scored[-1]).details if scored else {}
    typical = dict(zip(service.scorer.signals, service.scorer.typical.tolist(), strict=True))
    points = [
        Points(str(d["component"]), signal, round(float(d["points"]) * 10), round(float(d["possible"]) * 10))
        for signal, d in details.items()
        if not pd.isna(d["points"])
    ]
    out = []
    for name, earned, possible in components(points):
        out.append(
            {
                "component": name,
                "label": story_text.capital(story_text.component(name, lang), lang),
                "points": earned / 10,
                "possible": possible / 10,
                "measures": [
                    {
                        "signal": p.signal,
                        "label": story_text.label(p.signal, lang) if name != OVERRIDE else p.signal,
                        "value": _number(details[p.signal]["value"]),
                        "typical": _number(typical.get(p.signal)),
                        "value_text": story_text.signal_value(p.signal, _number(details[p.signal]["value"]), lang),
                        "typical_text": story_text.signal_value(p.signal, _number(typical.get(p.signal)), lang),
                        "points": p.earned / 10,
                        "possible": p.possible / 10,
                    }
                    for p in points
                    if p.component == name
                ],
            }
        )
    flagged = {f["signal"] for f in [*row.get("red_flags", []), *row.get("green_flags", [])]}
    known = {s: v for s in sorted(flagged) if (v := _number(typical.get(s))) is not None}
    return StrictJSONResponse(
        {
            "account_id": account_id,
            "health_score": _number(row.get("health_score")),
            "components": out,
            "typical": known,
            "typical_text": {s: story_text.signal_value(s, v, lang) for s, v in known.items()},
        }
    )


@router.get(
    "/movers",
    response_model=Movers,
    responses=errors(401, 422, 500, 503),
    summary="The accounts whose health fell most since their previous scoring",
)
async def movers(
    service: ReadyService, n: Annotated[int, Query(ge=1, le=200)] = 20, lang: Lang = "en"
) -> StrictJSONResponse:
    served = service.served
    assert served is not None
    found = [m for m in service.story.movers(len(served.index)) if m.account_id in served.index][:n]
    items = []
    for m in found:
        c = m.change
        items.append(
            {
                "account_id": m.account_id,
                "name": m.name,
                **changes.health_json(c),
                "sentence": changes.health_sentence(c, lang),
            }
        )
    return StrictJSONResponse({"items": items})
