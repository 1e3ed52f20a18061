"""Request and response models of the REST API, apart from the internal scores frame.

Requests are strict: unknown fields, wrong types (a string for a number, a list for a
scalar), NaN/Infinity and values outside a signal's range are refused with a 422 that names
the field. Every signal of the served model's catalog must be present in a posted account
(``null`` means "no data", which the model handles as missing), so a typo or a forgotten
column is an error rather than a silent missing value. That catalog is the fixed one plus the
signals generated for the event types the model was trained with (``events_30d__<type>``...),
so the request model is built per app (:func:`score_request`), and OpenAPI shows the real
fields. Ranges are declared as data from the signal catalog's units.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    create_model,
)

from features.signals import Signal

MAX_BATCH = 100  # accounts per POST /v1/score; a bigger job belongs to `churn score`
MAX_PAGE_SIZE = 200
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"  # no control characters; IDs are not Unicode-normalized
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")

# Allowed range of each signal by unit, with the exceptions a unit does not cover.
UNIT_RANGES: dict[str, tuple[float, float]] = {
    "users": (0, 1e7),
    "count": (0, 1e7),
    "days": (0, 36_500),
    "hours": (0, 1e6),
    "share": (0, 1),
    "ratio": (-1, 1e6),
    "currency": (0, 1e12),
    "points": (-100, 100),
    "score": (0, 100),
    "polarity": (-1, 1),  # comment sentiment, negative to positive
}
SIGNAL_RANGES: dict[str, tuple[float, float]] = {
    "time_to_value_days": (-36_500, 36_500),
    "days_to_renewal": (-36_500, 36_500),
    "mean_gap_change_days": (-36_500, 36_500),  # a change: the gap between active days may shrink
    "ticket_trend": (-1e7, 1e7),
    "nps_trend": (-200, 200),
    "support_csat": (1, 5),
    "nps_latest": (0, 10),
    "effort_score": (0, 10),
    "csm_sentiment": (0, 2),
}

Lang = Literal["en", "tr"]
Band = Literal["red", "yellow", "green"]
AccountId = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=PRINTABLE), Field(strict=True)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=PRINTABLE), Field(strict=True)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _utc(value: datetime) -> datetime:
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not 1970 <= value.year <= 2199:
        raise ValueError("as_of must be in the years 1970-2199")
    return value


def _iso_text(value: Any) -> Any:
    # Lax pydantic would read 0 or "1700000000" as a Unix time; the API takes ISO 8601 text only.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not ISO_DATE.match(value):
        raise ValueError("as_of must be an ISO 8601 date-time string, e.g. 2025-06-30T00:00:00Z")
    return value


# The year range is in the schema too (as a pattern), so clients and fuzzers know it up front.
YEARS = r"^(19[7-9][0-9]|2[01][0-9][0-9])-"
AsOf = Annotated[
    datetime, BeforeValidator(_iso_text), AfterValidator(_utc), Field(json_schema_extra={"pattern": YEARS})
]


def signal_range(name: str, unit: str) -> tuple[float, float] | None:
    return SIGNAL_RANGES.get(name, UNIT_RANGES.get(unit))


def _signal_field(signal: Signal) -> Any:
    low, high = signal_range(signal.name, signal.unit) or (None, None)
    number = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=low, le=high)]
    return (number | None, Field(description=f"{signal.description} ({signal.unit}); null: no data"))


class AccountContext(Strict):
    """A posted account's fields beside its signals."""

    account_id: AccountId
    as_of: AsOf | None = Field(None, description="Snapshot time (UTC); default: today 00:00 UTC.")
    segment: Label | None = None
    csm_owner: Label | None = None


class ScoreIds(Strict):
    account_ids: list[AccountId] = Field(min_length=1, max_length=MAX_BATCH)


def _request_kind(body: Any) -> str:
    return "ids" if isinstance(body, dict) and "account_ids" in body and "accounts" not in body else "signals"


def score_request(catalog: Sequence[Signal]) -> Any:
    """The body of POST /v1/score for a model whose signal catalog is ``catalog``
    (``features.signals.registry`` under the model's settings): posted accounts with every one
    of those signals (``ScoreSignals``), or known account IDs (:class:`ScoreIds`)."""
    values = create_model("SignalValues", __base__=Strict, **{s.name: _signal_field(s) for s in catalog})
    values.__doc__ = "Every signal of the served model's catalog for one account at as_of; null where there is no data."
    account = create_model("AccountSignals", __base__=AccountContext, signals=(values, ...))
    accounts = create_model(
        "ScoreSignals",
        __base__=Strict,
        accounts=(list[account], Field(min_length=1, max_length=MAX_BATCH)),  # type: ignore[valid-type]
    )
    return Annotated[
        Annotated[accounts, Tag("signals")] | Annotated[ScoreIds, Tag("ids")], Discriminator(_request_kind)
    ]


# --- responses -------------------------------------------------------------------------


class Flag(BaseModel):
    signal: str
    value: float | None
    contribution: float = Field(description="TreeSHAP contribution to the churn log-odds (+ raises risk).")
    sentence: str
    action: str | None = Field(description="What a CSM can do; null for context signals.")


class AccountScore(BaseModel):
    account_id: str
    name: str | None = None
    renewal_date: datetime | None = Field(None, description="as_of + days to renewal.")
    days_to_renewal: float | None = None
    as_of: datetime
    segment: str | None
    csm_owner: str | None
    churn_probability: float | None = Field(ge=0, le=1)
    renewal_probability: float | None = Field(ge=0, le=1)
    upsell_probability: float | None = Field(ge=0, le=1)
    health_score: float | None = Field(ge=0, le=100)
    health_band: Band | None
    health_trend: float | None = Field(description="Change of the health score since the previous scoring.")
    onboarding: bool
    arr: float | None
    arr_at_risk: float | None = Field(description="ARR x churn probability.")
    red_flags: list[Flag]
    green_flags: list[Flag]
    model_version: str


class ScoreResponse(BaseModel):
    model_version: str
    lang: Lang
    results: list[AccountScore]


class RiskList(BaseModel):
    as_of: datetime | None
    model_version: str
    lang: Lang
    total: int = Field(description="Accounts matching the filters.")
    page: int
    page_size: int
    currency: str = Field(description="ISO 4217 code of the ARR figures.")
    arr_at_risk_total: float = Field(description="ARR at risk of all accounts matching the filters.")
    owners: list[str] = Field(description="Every CSM owner, for filter menus.")
    segments: list[str] = Field(description="Every segment, for filter menus.")
    items: list[AccountScore]


class Alive(BaseModel):
    status: Literal["alive"]


class Readiness(BaseModel):
    status: Literal["ready", "loading", "failed"]
    model_version: str | None = None
    reason: str | None = None


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    """The one error schema of every 4xx/5xx response."""

    status: int
    error: str = Field(description="Short code, e.g. unauthorized, invalid_request, payload_too_large.")
    message: str
    request_id: str
    details: list[ErrorDetail] = Field(default_factory=list)


# --- the account's story (history, changes, what-if, movers) ------------------------------------

SORT_FIELDS = (
    "arr_at_risk",
    "arr",
    "health_score",
    "health_trend",
    "churn_probability",
    "renewal_probability",
    "upsell_probability",
    "days_to_renewal",
    "name",
    "account_id",
    "segment",
    "csm_owner",
)
if TYPE_CHECKING:  # the checker sees a string; FastAPI validates (and documents) the literal values
    Sort: TypeAlias = str
else:
    Sort = Literal[tuple(f"{sign}{name}" for name in SORT_FIELDS for sign in ("", "-"))]


class HistoryPoint(BaseModel):
    as_of: datetime
    health_score: float | None
    health_band: Band | None
    churn_probability: float | None
    model_version: str


class AccountHistory(BaseModel):
    account_id: str
    name: str | None
    bands: list[tuple[str, float, float]] = Field(description="Band name, lowest and highest score.")
    items: list[HistoryPoint] = Field(description="Oldest first, one per as_of.")


class MeasureChangeOut(BaseModel):
    component: str
    signal: str
    points_before: float
    points_after: float
    change: float
    value_before: float | None
    value_after: float | None


class SignalChangeOut(BaseModel):
    signal: str = Field(description="A catalog signal, or _base (the model's base value, when the model changed).")
    log_odds_change: float = Field(description="Change of the signal's TreeSHAP contribution to the churn log-odds.")
    value_before: float | None
    value_after: float | None


class ComponentChange(BaseModel):
    component: str
    change: float


class ChangeOut(BaseModel):
    since: datetime
    as_of: datetime
    health_before: float
    health_after: float
    health_change: float = Field(description="Exactly the sum of the measures' changes.")
    band_before: Band | None
    band_after: Band | None
    components: list[ComponentChange]
    measures: list[MeasureChangeOut]
    churn_before: float
    churn_after: float
    log_odds_change: float = Field(description="The sum of the signals' log_odds_change (within 1e-6).")
    signals: list[SignalChangeOut]
    health_sentence: str
    churn_sentence: str


class AccountChanges(BaseModel):
    account_id: str
    change: ChangeOut | None = Field(description="null when the history has fewer than two scorings.")


class WhatIfOption(BaseModel):
    component: str
    signal: str
    label: str
    value: float
    target: float = Field(description="The typical healthy (green) account's value.")
    gain: float = Field(description="Health points gained at the target, all else equal.")
    text: str


class WhatIfOut(BaseModel):
    account_id: str
    health_score: float | None
    health_band: Band | None
    next_band: Band | None
    options: list[WhatIfOption]
    plan: list[WhatIfOption] = Field(description="The fewest changes that reach next_band.")
    predicted_score: float | None = Field(description="The scorecard's score of the account with the plan applied.")
    predicted_band: Band | None
    reachable: bool
    sentence: str


class MeasurePoints(BaseModel):
    signal: str
    label: str
    value: float | None
    typical: float | None = Field(description="The typical account's value (the training data's median).")
    value_text: str = Field(description="The value as the sentences write it.")
    typical_text: str
    points: float
    possible: float


class ComponentPoints(BaseModel):
    component: str
    label: str
    points: float
    possible: float
    measures: list[MeasurePoints]


class Breakdown(BaseModel):
    account_id: str
    health_score: float | None
    components: list[ComponentPoints] = Field(description="Points add up exactly to health_score.")
    typical: dict[str, float] = Field(description="The typical account's value of each flagged signal.")
    typical_text: dict[str, str] = Field(description="The same values as the sentences write them.")


class Mover(BaseModel):
    account_id: str
    name: str | None
    since: datetime
    as_of: datetime
    health_before: float
    health_after: float
    health_change: float
    band_before: Band | None
    band_after: Band | None
    sentence: str


class Movers(BaseModel):
    items: list[Mover] = Field(description="Accounts whose health fell most since their previous scoring.")
