"""The Spark session every Spark step uses: the active one, Spark Connect, or a new local one.

Apart from :mod:`features.engine` so that the modules that read stored tables on Spark
(:mod:`features.source`, :mod:`features.spark_source`) need not import the engine. PySpark is
imported inside :func:`spark_session`: the default install has no Spark.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from features.spark_conf import SESSION_SETTINGS, local_conf, spark_defaults_file, spark_defaults_keys


def spark_session(conf: Mapping[str, str] | None = None) -> Any:
    """The active Spark session, a Spark Connect session (``SPARK_REMOTE``), or a new local one.

    A new local session gets :func:`features.spark_conf.local_conf`: the defaults, with ``conf``
    (the settings file's ``[spark]`` table) over them and Spark's own configuration
    (``spark-defaults.conf``, ``spark-submit --conf``) over both. ``conf`` does not change an
    active or remote session, except its ``spark.sql.*`` runtime settings on a remote one.
    """
    try:  # imported here: PySpark is an optional extra (`.[spark]`), absent from the default install
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("the spark engine needs PySpark: pip install 'churn-health[spark]'") from exc
    active = SparkSession.getActiveSession()
    if active is not None:
        session = active
    elif os.environ.get("SPARK_REMOTE"):
        session = SparkSession.builder.remote(os.environ["SPARK_REMOTE"]).getOrCreate()
        for key, value in (conf or {}).items():
            if key.startswith("spark.sql."):  # the rest is the server's, fixed when it started
                session.conf.set(key, value)
    else:
        # Local Python workers must run this interpreter, which has the project's packages.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = SparkSession.builder
        for key, value in local_conf(conf or {}, _spark_own_keys()).items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
    for key, value in SESSION_SETTINGS.items():
        session.conf.set(key, value)
    return session


def _spark_own_keys() -> set[str]:
    """The keys Spark's own configuration sets for a session about to start (they win over ours)."""
    keys = set()
    found = spark_defaults_file()
    if found is not None:
        keys |= spark_defaults_keys(found.read_text(encoding="utf-8"))
    if os.environ.get("PYSPARK_GATEWAY_PORT"):  # under spark-submit: its JVM runs, with its --conf
        from pyspark import SparkConf, SparkContext

        # Connects to spark-submit's JVM (starts none), so that SparkConf reads the JVM's settings.
        SparkContext._ensure_initialized()
        keys |= {key for key, _ in SparkConf().getAll()}
    return keys
