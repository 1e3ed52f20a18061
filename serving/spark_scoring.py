"""Scoring on Spark: the model folder broadcast to executors, rows scored in pandas batches.

Each executor rebuilds the very same :class:`serving.scorer.Scorer` from the broadcast
bytes (checksums verified again) and calls it on Arrow batches through ``mapInPandas``,
so Spark and the embedded path give the same numbers. On a cluster, the executors need
this package installed (``pip install`` it on the cluster image, or ship it with
``--py-files``), exactly like any other Python UDF.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from features.engine import spark_session
from features.times import from_micros, series_micros, to_micros
from serving.columns import CONTEXT_COLUMNS, QUOTE_COLUMN, SCORE_COLUMNS
from serving.outputs import from_storable, to_storable
from serving.scorer import Scorer

SPARK_SCHEMA = (
    "account_id string, as_of long, segment string, csm_owner string, churn_probability double, "
    "renewal_probability double, upsell_probability double, health_score double, health_band string, "
    "health_trend double, onboarding boolean, arr double, arr_at_risk double, red_flags string, "
    "green_flags string, model_version string, scored_at long"
)
_EXECUTOR_SCORERS: dict[str, Scorer] = {}  # one per model version per Python worker


def score_on_spark(
    rows: pd.DataFrame, scorer: Scorer, *, lang: str = "en", top_k: int | None = None, spark: Any = None
) -> pd.DataFrame:
    """Score ``rows`` (a signal frame) on Spark; the result equals ``scorer.score(rows)`` row for row."""
    if spark is None:
        spark = spark_session()
    folder = scorer.bundle.path
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
    payload = spark.sparkContext.broadcast(files)
    scored_at = pd.Timestamp.now(tz="UTC").floor("s")
    stamp = to_micros(scored_at)
    texts = [c for c in (*CONTEXT_COLUMNS, QUOTE_COLUMN) if c in rows]
    columns = ["account_id", "as_of", *texts, *scorer.signals]
    frame = rows[columns].astype({c: object for c in ("account_id", *texts)})
    if QUOTE_COLUMN in frame:  # most accounts have no quote: None, not pd.NA, for Spark
        frame[QUOTE_COLUMN] = frame[QUOTE_COLUMN].where(frame[QUOTE_COLUMN].notna(), None)
    frame = frame.assign(as_of=series_micros(frame["as_of"]))
    frame = frame.astype({s: "float64" for s in scorer.signals})
    version = scorer.version

    def score_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        executor_scorer = _executor_scorer(version, payload.value)
        for batch in batches:
            batch = batch.assign(as_of=from_micros(batch["as_of"]))
            scores = executor_scorer.score(batch, lang=lang, top_k=top_k, scored_at=scored_at)
            out = to_storable(scores)
            yield out.assign(as_of=series_micros(out["as_of"]), scored_at=stamp)

    result = spark.createDataFrame(frame).mapInPandas(score_batches, schema=SPARK_SCHEMA).toPandas()
    result["as_of"] = from_micros(result["as_of"])
    result["scored_at"] = from_micros(result["scored_at"])
    result = from_storable(result).sort_values("account_id", ignore_index=True)
    return result[list(SCORE_COLUMNS)]


def _executor_scorer(version: str, files: dict[str, bytes]) -> Scorer:
    scorer = _EXECUTOR_SCORERS.get(version)
    if scorer is None:
        folder = Path(tempfile.mkdtemp(prefix=f"churn-model-{version}-"))
        for name, data in files.items():
            (folder / name).write_bytes(data)
        scorer = _EXECUTOR_SCORERS[version] = Scorer.load(folder)
    return scorer
