"""UTC timestamps and int64 microseconds: the one place that converts between them.

Every table's times are UTC (a naive value is taken as UTC) at microsecond resolution
(``datetime64[us, UTC]``); the ibis builders and Spark see them as int64 microseconds
since the epoch.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import TypeAlias

import pandas as pd

TIMESTAMP_DTYPE = "datetime64[us, UTC]"  # every timestamp of a loaded table


MICROS_PER_DAY = 86_400_000_000
Stamp: TypeAlias = str | date | datetime | pd.Timestamp


def utc(value: Stamp) -> pd.Timestamp:
    """``value`` as a UTC timestamp: a naive value is taken as UTC, an aware one converted."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def to_micros(value: Stamp) -> int:
    """Microseconds since the epoch of ``value`` (naive taken as UTC)."""
    return int(utc(value).as_unit("ns").value // 1000)


def micros_list(values: Iterable[Stamp]) -> list[int]:
    """:func:`to_micros` of each value."""
    return [to_micros(v) for v in values]


def utc_series(values: pd.Series) -> pd.Series:
    """A column of times as ``datetime64[us, UTC]`` (naive values taken as UTC)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) and str(values.dtype) == TIMESTAMP_DTYPE:
        return values
    return pd.to_datetime(values, utc=True).astype(TIMESTAMP_DTYPE)


def series_micros(values: pd.Series) -> list[int]:
    """A column of times (no nulls) as microseconds since the epoch."""
    return [int(v) for v in utc_series(values).astype("int64")]


def stamp_from_micros(micros: int | None) -> pd.Timestamp | None:
    """One value in microseconds since the epoch as a UTC timestamp (None stays None)."""
    return None if micros is None else pd.Timestamp(int(micros), unit="us", tz="UTC")


def from_micros(values: pd.Series) -> pd.Series:
    """Microseconds since the epoch back to ``datetime64[us, UTC]``."""
    return pd.to_datetime(values, unit="us", utc=True).astype(TIMESTAMP_DTYPE)
