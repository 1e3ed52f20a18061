"""The input contract: the tables of an account history, declared once as data.

Every other module (loader, validation, feature builders, the simulator) reads these
declarations instead of repeating column names. Timestamps are UTC; naive timestamps
are taken to be UTC. IDs are strings, so ``"00123"`` keeps its leading zeros.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

CONTRACT_VERSION = "1.0"


class Kind(StrEnum):
    """The logical type of a column; the loader converts every column to its kind."""

    ID = "id"  # string identifier, never a number
    TEXT = "text"  # free or categorical text
    TIMESTAMP = "timestamp"  # UTC, microseconds
    FLOAT = "float"
    INT = "int"  # nullable integer


# Every numeric value must lie within +-MAX_MAGNITUDE: sums over every account, products
# (churn probability x ARR) and ratios of such values then stay finite in float64. 1e15 is
# far above any real amount (a trillion in the smallest-unit currencies), far below overflow.
MAX_MAGNITUDE = 1e15
# A row dated more than this many days after the newest usage event is "in the future" (a warning).
FUTURE_TOLERANCE_DAYS = 1


@dataclass(frozen=True)
class ColumnSpec:
    """One column: its kind, whether it must exist, whether it may hold nulls, and its rules."""

    name: str
    kind: Kind
    required: bool = True
    nullable: bool = False
    min_value: float | None = None
    max_value: float | None = None
    allowed: tuple[str, ...] | None = None  # allowed values for categorical text
    description: str = ""


@dataclass(frozen=True)
class TableSpec:
    """One table: its columns, unique key, whether it must exist, and its row-level rules."""

    name: str
    columns: tuple[ColumnSpec, ...]
    required: bool = False
    unique_key: str | None = None
    time_column: str | None = None  # the column that places a row in time
    ordered_pairs: tuple[tuple[str, str], ...] = field(default=())  # (earlier, later)
    description: str = ""

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


def _id(name: str, **kw: object) -> ColumnSpec:
    return ColumnSpec(name, Kind.ID, **kw)  # type: ignore[arg-type]


def _ts(name: str, **kw: object) -> ColumnSpec:
    return ColumnSpec(name, Kind.TIMESTAMP, **kw)  # type: ignore[arg-type]


def _opt(name: str, kind: Kind, **kw: object) -> ColumnSpec:
    return ColumnSpec(name, kind, required=False, nullable=True, **kw)  # type: ignore[arg-type]


SURVEY_KINDS = ("nps", "csat", "ces")
# Score range per survey kind: NPS 0-10, CSAT 1-5, customer effort 1-7.
SURVEY_RANGES: dict[str, tuple[float, float]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
SENTIMENTS = ("red", "yellow", "green")
PRIORITIES = ("low", "normal", "high", "urgent")
SEGMENTS = ("SMB", "mid-market", "enterprise")

TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        "accounts",
        (
            _id("account_id"),
            _ts("created_at", description="signup or trial start"),
            _opt("name", Kind.TEXT),
            _opt("segment", Kind.TEXT),
            _opt("industry", Kind.TEXT),
            _opt("region", Kind.TEXT),
            _opt("csm_owner", Kind.TEXT),
            _opt("trial_converted_at", Kind.TIMESTAMP, description="first paid day of a trial"),
        ),
        required=True,
        unique_key="account_id",
        time_column="created_at",
        description="one row per customer account",
    ),
    TableSpec(
        "subscriptions",
        (
            _id("account_id"),
            _ts("start_date"),
            # The term end as agreed when the term started (monthly plans: one row per month).
            # A cancellation is the absence of a next term; writing a cancellation date into
            # end_date leaks the future into every feature that looks at the term end.
            _ts("end_date", nullable=True, description="term end, known at start_date; null while open-ended"),
            ColumnSpec("arr", Kind.FLOAT, min_value=0, description="annual recurring revenue"),
            _opt("seats", Kind.INT, min_value=0),
            _opt("plan", Kind.TEXT),
        ),
        time_column="start_date",
        ordered_pairs=(("start_date", "end_date"),),
        description="one row per contract term (or add-on), its end known when it starts",
    ),
    TableSpec(
        "usage_events",
        (
            _id("account_id"),
            _id("user_id"),
            _ts("timestamp"),
            ColumnSpec("event", Kind.TEXT),
            _opt("quantity", Kind.FLOAT),
            _opt("event_id", Kind.ID, description="unique id; duplicates are counted once"),
        ),
        time_column="timestamp",
        description="one row per product event",
    ),
    TableSpec(
        "support_tickets",
        (
            _id("ticket_id"),
            _id("account_id"),
            _ts("opened_at"),
            _opt("first_response_at", Kind.TIMESTAMP),
            _opt("resolved_at", Kind.TIMESTAMP),
            _opt("priority", Kind.TEXT, allowed=PRIORITIES),
            _opt("contacts", Kind.INT, min_value=0, description="contacts until resolution"),
            _opt("csat", Kind.FLOAT, min_value=1, max_value=5),
            _opt("description", Kind.TEXT, description="the ticket's text (subject or first message)"),
        ),
        unique_key="ticket_id",
        time_column="opened_at",
        ordered_pairs=(("opened_at", "resolved_at"), ("opened_at", "first_response_at")),
        description="one row per support ticket",
    ),
    TableSpec(
        "surveys",
        (
            _id("account_id"),
            _ts("answered_at"),
            ColumnSpec("kind", Kind.TEXT, allowed=SURVEY_KINDS),
            ColumnSpec("score", Kind.FLOAT),
            _opt("user_id", Kind.ID),
            _opt("comment", Kind.TEXT),
        ),
        time_column="answered_at",
        description="one row per survey answer (NPS 0-10, CSAT 1-5, effort 1-7)",
    ),
    TableSpec(
        "invoices",
        (
            _id("invoice_id"),
            _id("account_id"),
            _ts("issued_at"),
            _ts("due_at"),
            ColumnSpec("amount", Kind.FLOAT, min_value=0),
            _opt("paid_at", Kind.TIMESTAMP),
        ),
        unique_key="invoice_id",
        time_column="issued_at",
        ordered_pairs=(("issued_at", "due_at"),),
        description="one row per invoice; unpaid while paid_at is null",
    ),
    TableSpec(
        "csm_inputs",
        (
            _id("account_id"),
            _ts("recorded_at"),
            ColumnSpec("sentiment", Kind.TEXT, allowed=SENTIMENTS),
            _opt("note", Kind.TEXT),
        ),
        time_column="recorded_at",
        description="one row per CSM health check-in",
    ),
    TableSpec(
        "referrals",
        (
            _id("referrer_account_id", description="the account that made the referral"),
            _ts("referred_at"),
            _opt("referred_account_id", Kind.ID, description="the referred prospect's account, once it has one"),
            _opt("converted_at", Kind.TIMESTAMP, description="when the referred prospect bought; null if not (yet)"),
        ),
        time_column="referred_at",
        ordered_pairs=(("referred_at", "converted_at"),),
        description="one row per referral an account made (seed metric 15)",
    ),
)
# Columns that name an account and must be found in accounts (besides account_id).
ACCOUNT_REFERENCES: dict[str, tuple[str, ...]] = {"referrals": ("referrer_account_id", "referred_account_id")}

TABLE_SPECS: dict[str, TableSpec] = {t.name: t for t in TABLES}
TABLE_NAMES: tuple[str, ...] = tuple(TABLE_SPECS)
