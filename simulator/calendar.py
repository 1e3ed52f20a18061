"""The month grid (day numbers since 1970-01-01) and the small converters from arrays to typed table columns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.loader import TIMESTAMP_DTYPE
from simulator.config import _FUTURE, _PAST

# --- calendar ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Calendar:
    """Month starts as day numbers (days since 1970-01-01); global index g = k + _PAST."""

    ms: np.ndarray  # month start day numbers, len = _PAST + months + _FUTURE + 1
    months: int

    @classmethod
    def build(cls, start: date, months: int) -> _Calendar:
        first = np.datetime64(f"{start.year:04d}-{start.month:02d}", "M")
        grid = np.arange(first - _PAST, first + months + _FUTURE + 1, dtype="datetime64[M]")
        return cls(grid.astype("datetime64[D]").astype(np.int64), months)

    def start(self, k: int | np.ndarray) -> np.ndarray:
        return self.ms[np.asarray(k) + _PAST]

    def days(self, k: int | np.ndarray) -> np.ndarray:
        k = np.asarray(k) + _PAST
        return self.ms[k + 1] - self.ms[k]

    @property
    def begin(self) -> int:
        return int(self.ms[_PAST])

    @property
    def end(self) -> int:
        return int(self.ms[_PAST + self.months])

    def month_of(self, day: np.ndarray) -> np.ndarray:
        """Period month index (k) of day numbers."""
        return np.searchsorted(self.ms, day, side="right") - 1 - _PAST


def _ts(day_us: np.ndarray) -> pd.Series:
    """Microseconds since the epoch (int64, -1 for null) as a UTC timestamp series."""
    arr = np.asarray(day_us, dtype=np.int64)
    values = arr.astype("datetime64[us]")
    out = pd.Series(pd.to_datetime(values, utc=True)).astype(TIMESTAMP_DTYPE)
    if (arr < 0).any():
        out = out.where(arr >= 0)
    return out


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pd.Series:
    """Zero-padded string IDs like A000123, built in Arrow."""
    text = pc.utf8_lpad(pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()), width, "0")
    return pd.Series(pd.arrays.ArrowStringArray(pc.binary_join_element_wise(prefix, text, "")).astype("string"))


def _strings(values: np.ndarray | list[str]) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=object), dtype="string")


def _choose(rng: np.random.Generator, options: tuple[str, ...], probs: np.ndarray | list[float], n: int) -> np.ndarray:
    return np.asarray(options, dtype=object)[rng.choice(len(options), size=n, p=probs)]


_OPEN = np.int64(10**9)  # "no end" day number
