"""Snapshot cadence and the rolling-origin backtest plan (pure functions on dates).

A training run picks snapshot dates at a cadence (``1M``, ``2W``, ``1W``, ``7D``, or ``auto``),
then plans a rolling-origin backtest over them: an expanding window with several cut-offs. Each
fold tests a block of consecutive dates (about a month of snapshots, so one account's correlated
fine-cadence snapshots of the same period stay in one fold) and trains on the dates whose whole
outcome window ends at or before the block's first date: a gap of one horizon, so no training
label's window overlaps the test period.

>>> d = [pd.Timestamp(f"2024-{m:02d}-01", tz="UTC") for m in range(1, 13)]
>>> [f"{f.test[0]:%m}" for f in plan_folds(d, 30, pd.Timedelta(days=90), folds=3)]
['10', '11', '12']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.builders import monthly_as_of

CADENCES: dict[str, int] = {"1M": 30, "2W": 14, "1W": 7, "7D": 7}  # nominal days between snapshot dates
AUTO_ORDER = ("1M", "2W", "1W")  # coarsest first: monthly when the history allows it
MIN_TRAIN_DATES = 1


@dataclass(frozen=True)
class Fold:
    """One cut-off of the backtest: the dates it trains on and the dates it tests."""

    index: int
    train: tuple[pd.Timestamp, ...]
    test: tuple[pd.Timestamp, ...]

    def describe(self) -> dict[str, object]:
        return {
            "fold": self.index,
            "train_from": f"{self.train[0]:%Y-%m-%d}",
            "train_to": f"{self.train[-1]:%Y-%m-%d}",
            "train_dates": len(self.train),
            "test_from": f"{self.test[0]:%Y-%m-%d}",
            "test_to": f"{self.test[-1]:%Y-%m-%d}",
            "test_dates": len(self.test),
        }


def check_cadence(every: str) -> str:
    if every != "auto" and every not in CADENCES:
        raise ValueError(f"--every must be auto or one of {', '.join(CADENCES)}, not {every!r}")
    return every


def cadence_dates(first: pd.Timestamp, last: pd.Timestamp, every: str) -> list[pd.Timestamp]:
    """Snapshot dates (UTC midnight) from ``first`` to ``last`` inclusive at cadence ``every``."""
    if last < first:
        return []
    if every == "1M":
        return monthly_as_of(first, last)
    start = first.tz_convert("UTC").ceil("D")
    return list(pd.date_range(start, last, freq=f"{CADENCES[every]}D"))


def block_size(step_days: int) -> int:
    """Dates per test fold: about a month of snapshots."""
    return max(1, round(30 / step_days))


def plan_folds(
    dates: Sequence[pd.Timestamp], step_days: int, gap: pd.Timedelta, folds: int, min_train: int = MIN_TRAIN_DATES
) -> list[Fold]:
    """Up to ``folds`` expanding-window folds, oldest first; fewer when the dates do not allow more.

    Fold k tests a block of dates; it trains on every date ``d`` with ``d + gap <= first test
    date`` (``gap``: the outcome horizon).
    """
    ordered = sorted(dates)
    size = block_size(step_days)
    planned: list[Fold] = []
    for k in range(folds):
        hi = len(ordered) - k * size
        lo = hi - size
        if lo < 1:
            break
        test = tuple(ordered[lo:hi])
        train = tuple(d for d in ordered[:lo] if d + gap <= test[0])
        if len(train) < min_train:
            break
        planned.append(Fold(0, train, test))
    planned.reverse()
    return [Fold(i + 1, f.train, f.test) for i, f in enumerate(planned)]


def dates_needed(step_days: int, gap: pd.Timedelta, folds: int, min_train: int = MIN_TRAIN_DATES) -> int:
    """Snapshot dates a backtest with ``folds`` folds needs at this cadence (evenly spaced dates)."""
    steps = math.ceil(gap / pd.Timedelta(days=step_days))
    return folds * block_size(step_days) + steps + min_train - 1


def history_needed(step_days: int, gap: pd.Timedelta, folds: int = 1) -> str:
    """How long a span of snapshot dates one (or ``folds``) backtest folds need, in words."""
    days = (dates_needed(step_days, gap, folds) - 1) * step_days
    return f"about {days / 30.4:.1f} months of snapshot dates"


def account_halves(account_ids: pd.Series, share: float = 0.2, salt: int = 0) -> np.ndarray:
    """A stable True/False per row from the account id: all of one account's snapshots on one side.

    Used to early-stop and cross-fit within a period without splitting an account's correlated
    snapshots across the two sides. ``share`` of the accounts get True.
    """
    hashed = pd.util.hash_pandas_object(account_ids.astype("string").reset_index(drop=True), index=False)
    buckets = ((hashed.to_numpy(dtype="uint64") + np.uint64(salt)) % np.uint64(1000)).astype(int)
    return buckets < int(share * 1000)
