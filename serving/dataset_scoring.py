"""Score a whole dataset at one as_of: build its features, keep the eligible accounts, score them.

The embedded path calls :meth:`serving.scorer.Scorer.score`; ``engine="spark"`` scores the
same rows on Spark (:func:`serving.spark_scoring.score_on_spark`), with the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import pandas as pd

from features.builders import build_features
from features.errors import DataError, Problem
from features.loader import Dataset
from features.signals import TEXT_SIGNALS
from features.times import utc
from serving.scorer import Progress, Scorer, eligible_features, with_quote_column, with_trend
from serving.spark_scoring import score_on_spark


def score_dataset(
    dataset: Dataset,
    scorer: Scorer,
    as_of: date | datetime | pd.Timestamp,
    *,
    engine: str = "duckdb",
    lang: str = "en",
    top_k: int | None = None,
    previous: pd.DataFrame | None = None,
    progress: Progress | None = None,
    spark: object | None = None,
    keep_rows: Callable[[pd.DataFrame], None] | None = None,
) -> pd.DataFrame:
    """Build features at ``as_of`` and score every eligible account (sorted by account_id).

    ``keep_rows`` receives the scored signal frame (same order as the result), for the history.
    """
    say = progress or (lambda _step, _fraction: None)
    stamp = utc(as_of)
    say("building features", 0.1)
    feature_set = build_features(dataset, [stamp], engine=engine, config=scorer.feature_config)
    lacking = [s for s in scorer.signals if s not in feature_set.frame.columns]
    if lacking:
        reasons = {s.name: s.reason for s in feature_set.skipped}
        detail = "; ".join(f"{s} ({reasons.get(s, 'not computed')})" for s in lacking[:3])
        raise DataError([Problem("dataset", lacking[0], f"the model needs signals this dataset cannot give: {detail}")])
    say("selecting eligible accounts", 0.5)
    rows = eligible_features(dataset, feature_set.frame, scorer.outcome_config)
    if any(s in TEXT_SIGNALS for s in scorer.signals):
        rows = with_quote_column(dataset, rows, stamp)
    if keep_rows is not None:
        keep_rows(rows)
    say(f"scoring {len(rows):,} accounts", 0.6)
    if engine == "spark":
        scores = score_on_spark(rows, scorer, lang=lang, top_k=top_k, spark=spark)
    else:
        scores = scorer.score(rows, lang=lang, top_k=top_k)
    say("done", 1.0)
    return with_trend(scores, previous)
