"""Scoring runs that feed the history: one date, or a backfill of past dates scored point-in-time.

Each date is scored exactly as `churn score --as-of DATE` scores it (features use only rows
strictly before the date), explained for the history (:func:`serving.history.explain`) and
recorded. A backfill therefore gives a new install the history it would have had.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from features.loader import Dataset
from serving.dataset_scoring import score_dataset
from serving.history import explain
from serving.scorer import Scorer

EVERY = {"week": pd.DateOffset(weeks=1), "month": pd.DateOffset(months=1)}


@dataclass(frozen=True)
class Scored:
    """One date's scores frame and its history rows."""

    scores: pd.DataFrame
    history_scores: pd.DataFrame
    history_details: pd.DataFrame


def backfill_dates(start: pd.Timestamp, end: pd.Timestamp, every: str = "month") -> list[pd.Timestamp]:
    """``start``, then every week or month after it, up to and including ``end`` (always the last date)."""
    if every not in EVERY:
        raise ValueError(f"--every must be one of {', '.join(EVERY)}, not {every!r}")
    if end < start:
        raise ValueError(f"the backfill ends ({end:%Y-%m-%d}) before it starts ({start:%Y-%m-%d})")
    dates = list(pd.date_range(start, end, freq=EVERY[every]))
    return [*dates, end] if not dates or dates[-1] != end else dates


def score_explained(
    dataset: Dataset,
    scorer: Scorer,
    as_of: pd.Timestamp,
    *,
    previous: pd.DataFrame | None = None,
    progress: Callable[[str, float], None] | None = None,
    **options: Any,
) -> Scored:
    """Score one date (as :func:`serving.dataset_scoring.score_dataset`) and build its history rows."""
    kept: list[pd.DataFrame] = []
    scores = score_dataset(
        dataset, scorer, as_of, previous=previous, progress=progress, keep_rows=kept.append, **options
    )
    rows = with_names(dataset, kept[0])
    history_scores, details = explain(scorer, rows, scores)
    return Scored(scores, history_scores, details)


def with_names(dataset: Dataset, rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with the accounts table's ``name`` (when it has one), for search and display."""
    accounts = dataset.tables["accounts"]
    if "name" not in accounts.columns or "name" in rows:
        return rows
    names = accounts[["account_id", "name"]].drop_duplicates("account_id").set_index("account_id")["name"]
    return rows.assign(name=rows["account_id"].map(names))
