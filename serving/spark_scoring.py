"""Scoring on Spark: the model folder broadcast to executors, rows scored in pandas batches there.

Each executor rebuilds the very same :class:`serving.scorer.Scorer` from the broadcast
bytes (checksums verified again) and calls it on Arrow batches through ``mapInPandas``,
so Spark and the embedded path give the same numbers. On a cluster, the executors need
this package installed (``pip install`` it on the cluster image, or ship it with
``--py-files``), exactly like any other Python UDF.

:func:`write_spark_scores` is the path for big inputs: it takes a Spark DataFrame of signal
rows and the executors write the scores to Parquet (or a table); nothing but the model
folder (to the executors) and Spark's job status travels through the driver.
:func:`score_on_spark` is a thin wrapper for small in-memory frames (the API, ``score_dataset``):
it sends a pandas frame to Spark and collects the scores back.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
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
TIMESTAMP_TYPE = "spark.sql.parquet.outputTimestampType"
TEXT_INPUTS = (*CONTEXT_COLUMNS, QUOTE_COLUMN)  # string inputs besides account_id, used when present
_EXECUTOR_SCORERS: dict[str, Scorer] = {}  # one per model version per Python worker


def spark_signal_rows(spark: Any, rows: pd.DataFrame, scorer: Scorer) -> Any:
    """A pandas signal frame as the Spark DataFrame :func:`spark_scores` takes (for frames already in memory)."""
    texts = [c for c in TEXT_INPUTS if c in rows]
    frame = rows[["account_id", "as_of", *texts, *scorer.signals]].astype({c: object for c in ("account_id", *texts)})
    for name in texts:  # missing text (most accounts have no quote) as None, not pd.NA, for Spark
        frame[name] = frame[name].where(frame[name].notna(), None)
    frame = frame.assign(as_of=series_micros(frame["as_of"]))
    frame = frame.astype({s: "float64" for s in scorer.signals})
    schema = ", ".join(
        [
            "account_id string",
            "as_of long",
            *(f"`{c}` string" for c in texts),
            *(f"`{s}` double" for s in scorer.signals),
        ]
    )
    return spark.createDataFrame(frame, schema=schema)


def spark_scores(
    rows: Any, scorer: Scorer, *, lang: str = "en", top_k: int | None = None, scored_at: pd.Timestamp | None = None
) -> Any:
    """The scores of ``rows`` as a lazy Spark DataFrame (:data:`SPARK_SCHEMA`), computed on the executors.

    ``rows`` is a Spark DataFrame of signal rows: ``account_id``, ``as_of`` (integer microseconds
    since the epoch, UTC, or a timestamp), the context columns it has (``segment``, ``csm_owner``, ``quote``) and
    every signal of the model; other columns are ignored. Times and flags are stored as
    :func:`serving.outputs.to_storable` stores them (flags as JSON text), times as microseconds.
    """
    spark = rows.sparkSession
    folder = scorer.bundle.path
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
    model_files = _shipped(spark, files)
    when = (scored_at if scored_at is not None else pd.Timestamp.now(tz="UTC")).floor("s")
    stamp = to_micros(when)
    version = scorer.version
    present = set(rows.columns)
    lacking = [s for s in ("account_id", "as_of", *scorer.signals) if s not in present]
    if lacking:
        raise ValueError(f"the signal rows lack {len(lacking)} column(s) the model needs, first: {lacking[0]}")
    texts = [c for c in TEXT_INPUTS if c in present]
    from pyspark.sql import functions as F  # noqa: N812 - PySpark's idiom; imported here: PySpark is optional

    as_of = rows["as_of"]
    if rows.schema["as_of"].dataType.typeName().startswith("timestamp"):  # e.g. `churn features --engine spark`
        as_of = F.unix_micros(as_of.cast("timestamp"))  # a cast to long would give seconds
    selected = rows.select(
        rows["account_id"].cast("string"),
        as_of.cast("long").alias("as_of"),
        *(rows[f"`{c}`"].cast("string") for c in texts),
        *(rows[f"`{s}`"].cast("double") for s in scorer.signals),
    )

    def score_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        executor_scorer = _executor_scorer(version, model_files())
        for batch in batches:
            batch = batch.assign(as_of=from_micros(batch["as_of"]))
            scores = executor_scorer.score(batch, lang=lang, top_k=top_k, scored_at=when)
            out = to_storable(scores)
            yield out.assign(as_of=series_micros(out["as_of"]), scored_at=stamp)

    return selected.mapInPandas(score_batches, schema=SPARK_SCHEMA)


def write_spark_scores(
    rows: Any,
    scorer: Scorer,
    target: str,
    *,
    table: bool = False,
    lang: str = "en",
    top_k: int | None = None,
    scored_at: pd.Timestamp | None = None,
) -> str:
    """Score ``rows`` (a Spark DataFrame, see :func:`spark_scores`) and write the scores from the executors.

    ``target`` is a Parquet folder (a path or URI, replaced) or, with ``table``, a table name
    (``saveAsTable``, replaced). ``as_of`` and ``scored_at`` are written as UTC timestamps, the
    flags as JSON text, as :func:`serving.outputs.write_scores` writes them: :func:`serving.outputs.read_scores`
    reads a part file back, ``pandas.read_parquet`` the folder. Nothing is collected to the driver.
    """
    from pyspark.sql import functions as F  # noqa: N812 - PySpark's idiom; imported here: PySpark is optional

    scores = spark_scores(rows, scorer, lang=lang, top_k=top_k, scored_at=scored_at)
    # Timestamps as Parquet's TIMESTAMP_MICROS (UTC), not Spark's default INT96, which readers other
    # than Spark take for local time or nanoseconds.
    conf = scores.sparkSession.conf
    before = conf.get(TIMESTAMP_TYPE, None)
    conf.set(TIMESTAMP_TYPE, "TIMESTAMP_MICROS")
    try:
        timed = scores.withColumns({c: F.timestamp_micros(c) for c in ("as_of", "scored_at")})
        writer = timed.write.mode("overwrite")
        if table:
            writer.saveAsTable(target)
        else:
            writer.parquet(target)
    finally:  # the caller's session as it was
        if before is None:
            conf.unset(TIMESTAMP_TYPE)
        else:
            conf.set(TIMESTAMP_TYPE, before)
    return target


def score_on_spark(
    rows: pd.DataFrame, scorer: Scorer, *, lang: str = "en", top_k: int | None = None, spark: Any = None
) -> pd.DataFrame:
    """Score an in-memory signal frame on Spark; the result equals ``scorer.score(rows)`` row for row.

    The scores come back one partition at a time (:func:`local_scores`), never in one collect;
    they end up in the driver's Python memory all the same: to keep them on storage, use
    :func:`write_spark_scores`.
    """
    if spark is None:
        spark = spark_session()
    scores = spark_scores(spark_signal_rows(spark, rows, scorer), scorer, lang=lang, top_k=top_k)
    return local_scores(scores)


def local_scores(scores: Any, batch: int = 10_000) -> pd.DataFrame:
    """The scores of :func:`spark_scores` as a pandas frame, sorted by account, as ``Scorer.score`` gives them.

    Read with ``toLocalIterator``: the driver's JVM holds a partition or two at a time, so no single
    result has to fit ``spark.driver.maxResultSize``, and rows become pandas in batches.
    """
    names = list(scores.columns)
    chunks: list[pd.DataFrame] = []
    pending: list[tuple[Any, ...]] = []
    for row in scores.toLocalIterator(prefetchPartitions=True):  # the next partition computes meanwhile
        pending.append(tuple(row))
        if len(pending) == batch:
            chunks.append(pd.DataFrame.from_records(pending, columns=names))
            pending = []
    chunks.append(pd.DataFrame.from_records(pending, columns=names))
    result = pd.concat(chunks, ignore_index=True)
    doubles = [f.name for f in scores.schema.fields if f.dataType.typeName() == "double"]
    result = result.astype({name: "float64" for name in doubles})
    result["as_of"] = from_micros(result["as_of"])
    result["scored_at"] = from_micros(result["scored_at"])
    result = from_storable(result).sort_values("account_id", ignore_index=True)
    return result[list(SCORE_COLUMNS)]


def _shipped(spark: Any, files: dict[str, bytes]) -> Callable[[], dict[str, bytes]]:
    """The model files as the executors get them: a broadcast (read once per executor) on a classic
    session; in the function's closure on Spark Connect, which has no broadcasts."""
    try:
        payload = spark.sparkContext.broadcast(files)
    except Exception:  # noqa: BLE001 - Connect raises its own error type for sparkContext
        return lambda: files
    return lambda: payload.value


def _executor_scorer(version: str, files: dict[str, bytes]) -> Scorer:
    """The worker's scorer of ``version``, loaded once from the shipped files. The folder is only
    where the files are checked and read: the loaded scorer holds everything, so it goes at once
    (Spark may kill a Python worker at any time, and nothing would remove it then)."""
    scorer = _EXECUTOR_SCORERS.get(version)
    if scorer is None:
        with tempfile.TemporaryDirectory(prefix=f"churn-model-{version}-") as unpacked:
            folder = Path(unpacked)
            for name, data in files.items():
                (folder / name).write_bytes(data)
            scorer = _EXECUTOR_SCORERS[version] = Scorer.load(folder)
    return scorer
