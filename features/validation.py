"""Check a loaded dataset against the contract and report every problem found.

Column rules (nulls, ranges, every number within +-``MAX_MAGNITUDE`` so computed sums
stay finite, allowed values, unique keys, ordered timestamps, survey score ranges) are
pandera schemas built from the contract's declarations and run lazily, so one pass lists
every failure. Cross-table rules (unknown accounts) and warnings
(rows in the future, accounts with no events) are plain pandas.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pandera.pandas as pa

from features import messages
from features.contract import (
    ACCOUNT_REFERENCES,
    FUTURE_TOLERANCE_DAYS,
    MAX_MAGNITUDE,
    SURVEY_RANGES,
    TABLE_SPECS,
    Kind,
    TableSpec,
)
from features.errors import DataError, Problem
from features.loader import Dataset, example_rows
from features.validation_stored import stored_problems, summaries

FUTURE_TOLERANCE = pd.Timedelta(days=FUTURE_TOLERANCE_DAYS)


@dataclass(frozen=True)
class TableSummary:
    name: str
    rows: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None


@dataclass(frozen=True)
class ValidationReport:
    """What `churn validate` prints: a summary per table, errors and warnings."""

    source: str
    tables: tuple[TableSummary, ...]
    problems: tuple[Problem, ...] = field(default=())
    skipped_tables: tuple[str, ...] = field(default=())
    ignored_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    @property
    def ok(self) -> bool:
        return not self.errors


def validate_dataset(dataset: Dataset, *, now: datetime | None = None) -> ValidationReport:
    """Run every contract rule on ``dataset``; never raises for bad data, only reports."""
    if dataset.lazy:
        return _validate_stored(dataset, now or datetime.now(UTC))
    problems = list(dataset.problems)
    for name, frame in dataset.tables.items():
        spec = TABLE_SPECS[name]
        if spec.required and frame.empty:
            problems.append(Problem(name, None, "required table is empty"))
        problems.extend(_schema_problems(spec, frame, dataset.unparsed))
    problems.extend(_unknown_accounts(dataset))
    problems.extend(_warnings(dataset, now or datetime.now(UTC)))
    summaries = tuple(_summary(TABLE_SPECS[n], f) for n, f in dataset.tables.items())
    skipped = tuple(n for n in TABLE_SPECS if n not in dataset.tables)
    return ValidationReport(dataset.source, summaries, tuple(problems), skipped, dict(dataset.ignored_columns))


def _validate_stored(dataset: Dataset, now: datetime) -> ValidationReport:
    """The same rules as engine queries on tables left in storage (:mod:`features.validation_stored`)."""
    stored = dict(dataset.stored)
    problems = [*dataset.problems, *stored_problems(stored, data_end(dataset), now)]
    found = summaries(stored)
    tables = tuple(TableSummary(n, found[n].rows, found[n].first, found[n].last) for n in stored)
    skipped = tuple(n for n in TABLE_SPECS if n not in stored)
    return ValidationReport(dataset.source, tables, tuple(problems), skipped, dict(dataset.ignored_columns))


def require_valid(dataset: Dataset) -> ValidationReport:
    """Validate and raise :class:`DataError` (one line, first problem first) on any error."""
    report = validate_dataset(dataset)
    if not report.ok:
        raise DataError(report.errors)
    return report


# --- column and row rules, as pandera schemas -------------------------------------------


def build_schema(spec: TableSpec, present: set[str]) -> pa.DataFrameSchema:
    """A pandera schema for the columns of ``spec`` that are present."""
    columns = {}
    for col in spec.columns:
        if col.name not in present:
            continue
        checks = []
        if col.min_value is not None:
            low = col.min_value
            name = "negative values" if low == 0 else f"values below {low:g}"
            checks.append(pa.Check(lambda s, v=low: s >= v, element_wise=False, name=name))
        if col.max_value is not None:
            high = col.max_value
            checks.append(pa.Check(lambda s, v=high: s <= v, element_wise=False, name=f"values above {high:g}"))
        if col.kind in (Kind.FLOAT, Kind.INT):
            checks.append(
                pa.Check(
                    lambda s: s.abs() <= MAX_MAGNITUDE,
                    element_wise=False,
                    name=messages.MAGNITUDE,
                )
            )
        if col.allowed is not None:
            allowed = col.allowed
            checks.append(pa.Check(lambda s, a=allowed: s.isin(a), name=f"values not in {{{', '.join(allowed)}}}"))
        columns[col.name] = pa.Column(
            nullable=col.nullable, unique=col.name == spec.unique_key, checks=checks, required=False
        )
    frame_checks = [
        _row_check(f"{later} before {earlier}", lambda df, e=earlier, late=later: ~(df[late] < df[e]).fillna(False))  # type: ignore[misc]
        for earlier, later in spec.ordered_pairs
        if {earlier, later} <= present
    ]
    if spec.name == "surveys" and {"kind", "score"} <= present:
        frame_checks.append(_row_check(_SURVEY_RULE, _survey_in_range))
    return pa.DataFrameSchema(columns, checks=frame_checks)


_SURVEY_RULE = messages.SURVEY_RULE


def _survey_in_range(df: pd.DataFrame) -> pd.Series:
    ok = pd.Series(True, index=df.index)
    for kind, (low, high) in SURVEY_RANGES.items():
        rows = df["kind"] == kind
        ok &= ~(rows & ~df["score"].between(low, high)).fillna(False)
    return ok


def _row_check(name: str, fn: Callable[[pd.DataFrame], pd.Series]) -> pa.Check:
    return pa.Check(fn, name=name)


# Which columns a frame-level rule is about: the first is named in the message.
def _rule_columns(spec: TableSpec, check: str) -> tuple[str, ...]:
    if check == _SURVEY_RULE:
        return ("score", "kind")
    for earlier, later in spec.ordered_pairs:
        if check == f"{later} before {earlier}":
            return (later, earlier)
    return ()


def _schema_problems(
    spec: TableSpec, frame: pd.DataFrame, unparsed: Mapping[tuple[str, str], np.ndarray]
) -> list[Problem]:
    schema = build_schema(spec, set(frame.columns))
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        return _problems_from_failures(spec, frame, err.failure_cases, unparsed)
    return []


_CHECK_MESSAGES = {
    "not_nullable": "null values in a required column",
    "field_uniqueness": "duplicate values in a unique key",
}


def _problems_from_failures(
    spec: TableSpec, frame: pd.DataFrame, failures: pd.DataFrame, unparsed: Mapping[tuple[str, str], np.ndarray]
) -> list[Problem]:
    problems = []
    failures = failures.dropna(subset=["index"])
    for (column, check), group in failures.groupby(["column", "check"], sort=False, dropna=False):
        frame_level = group["schema_context"].iloc[0] == "DataFrameSchema"
        shown = _rule_columns(spec, str(check)) if frame_level else (str(column),)
        col = shown[0] if shown else None
        positions = np.array(sorted(set(group["index"].astype(int))))
        if frame_level and column != col:
            continue  # pandera repeats a frame-level failure for every column; keep one
        if check == "not_nullable":
            # A value that did not parse became null; it is already reported as unparseable.
            positions = np.setdiff1d(positions, unparsed.get((spec.name, str(col)), np.array([], dtype=int)))
            if positions.size == 0:
                continue
        message = _CHECK_MESSAGES.get(str(check), str(check))
        problems.append(
            Problem(spec.name, col, message, int(positions.size), example_rows(spec, frame, positions, *shown))
        )
    return problems


# --- cross-table rules and warnings --------------------------------------------------------


def _unknown_accounts(dataset: Dataset) -> list[Problem]:
    accounts = dataset.get("accounts")
    if accounts is None or "account_id" not in accounts:
        return []
    known = pd.Index(accounts["account_id"].dropna().unique())
    problems = []
    for name, frame in dataset.tables.items():
        if name == "accounts":
            continue
        for column in ACCOUNT_REFERENCES.get(name, ("account_id",)):
            if column not in frame:
                continue
            orphan = frame[column].notna() & ~frame[column].isin(known)
            if orphan.any():
                positions = np.flatnonzero(orphan.to_numpy())
                problems.append(
                    Problem(
                        name,
                        column,
                        f"{column} not found in accounts",
                        int(positions.size),
                        example_rows(TABLE_SPECS[name], frame, positions, column),
                    )
                )
    return problems


def data_end(dataset: Dataset) -> pd.Timestamp | None:
    """The newest activity timestamp: the newest usage event, else the newest dated row."""
    return _activity_bound(dataset, 1, max)


def data_start(dataset: Dataset) -> pd.Timestamp | None:
    """The oldest activity timestamp: the oldest usage event, else the oldest dated row."""
    return _activity_bound(dataset, 0, min)


def _activity_bound(
    dataset: Dataset, side: int, pick: Callable[[list[pd.Timestamp]], pd.Timestamp]
) -> pd.Timestamp | None:
    usage = dataset.time_bounds("usage_events", "timestamp")[side]
    if usage is not None:
        return usage
    found = [
        bound
        for spec in TABLE_SPECS.values()
        if spec.time_column is not None
        and (bound := dataset.time_bounds(spec.name, spec.time_column)[side]) is not None
    ]
    return pick(found) if found else None


def _warnings(dataset: Dataset, now: datetime) -> list[Problem]:
    warnings: list[Problem] = []
    end = data_end(dataset)
    if end is not None:
        limit = min(end + FUTURE_TOLERANCE, pd.Timestamp(now))
        for spec in TABLE_SPECS.values():
            frame = dataset.get(spec.name)
            if frame is None or spec.time_column not in frame:
                continue
            future = (frame[spec.time_column] > limit).fillna(False).to_numpy()
            if future.any():
                warnings.append(
                    Problem(
                        spec.name,
                        spec.time_column,
                        f"rows dated after the newest usage event ({end:%Y-%m-%d %H:%M})",
                        int(future.sum()),
                        example_rows(spec, frame, np.flatnonzero(future), str(spec.time_column)),
                        "warning",
                    )
                )
    accounts, usage = dataset.get("accounts"), dataset.get("usage_events")
    if accounts is not None and usage is not None and "account_id" in usage and "account_id" in accounts:
        silent = ~accounts["account_id"].isin(pd.Index(usage["account_id"].unique()))
        if silent.any():
            warnings.append(
                Problem(
                    "accounts",
                    "account_id",
                    "accounts with no usage events",
                    int(silent.sum()),
                    example_rows(TABLE_SPECS["accounts"], accounts, np.flatnonzero(silent.to_numpy())),
                    "warning",
                )
            )
    return warnings


def _summary(spec: TableSpec, frame: pd.DataFrame) -> TableSummary:
    times = frame[spec.time_column].dropna() if spec.time_column in frame else pd.Series(dtype=object)
    return TableSummary(spec.name, len(frame), times.min() if len(times) else None, times.max() if len(times) else None)
