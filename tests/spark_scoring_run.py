"""Run by tests/test_spark_scoring.py in a fresh process: a Spark driver that may collect only 1 MB.

Arguments: a model folder, a Parquet file of signal rows, the Parquet folder to write the scores
to (and the same name with ``-timestamps``, scored from ``as_of`` as a Spark timestamp), and the
scoring time (ISO). Writes the scores from the executors with
:func:`serving.spark_scoring.write_spark_scores`, then collects the same scores with ``toPandas``
(what scoring on Spark did before), and prints one JSON line: the session's maxResultSize and
the collect's error (null if it did not fail, which would make the test's limit meaningless).
"""

from __future__ import annotations

import json
import sys

import pandas as pd

from features.engine import spark_session
from features.spark_conf import spark_failure
from serving.scorer import Scorer
from serving.spark_scoring import spark_scores, spark_signal_rows, write_spark_scores

# The driver may receive 1 MB per action (Spark's smallest allowed limit); the scores of the
# test's rows are several times that, so any collection of them fails.
LIMIT = "1m"


def main(model: str, rows_file: str, out: str, scored_at: str) -> int:
    # Through spark_session: the project's local defaults, with the test's overrides on top.
    spark = spark_session({"spark.master": "local[2]", "spark.driver.maxResultSize": LIMIT})
    spark.sparkContext.setLogLevel("OFF")
    scorer = Scorer.load(model)
    frame = pd.read_parquet(rows_file)
    rows = spark_signal_rows(spark, frame, scorer).repartition(4)
    write_spark_scores(rows, scorer, out, scored_at=pd.Timestamp(scored_at))
    # as_of as a Spark timestamp (as `churn features --engine spark` writes it) scores the same.
    from pyspark.sql import functions as F  # noqa: N812 - PySpark's idiom

    stamped = rows.withColumn("as_of", F.timestamp_micros("as_of"))
    write_spark_scores(stamped, scorer, out + "-timestamps", scored_at=pd.Timestamp(scored_at))
    try:
        spark_scores(rows, scorer).toPandas()
        refused = None
    except Exception as exc:  # noqa: BLE001 - the error is the result, reported to the test
        refused = spark_failure(exc) or repr(exc)
    print(json.dumps({"maxResultSize": spark.conf.get("spark.driver.maxResultSize"), "collect_error": refused}))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
