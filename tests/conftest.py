"""Shared fixtures: one local SparkSession for every Spark test of a pytest process."""

from __future__ import annotations

import os
import sys

import pytest

# Two pytest-xdist workers share the two cores: OpenMP (LightGBM's predictions, BLAS) on one thread
# each, as `churn serve` does, instead of spinning threads that wait for each other's cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def spark():
    """A small local SparkSession (UI off, few partitions) pinned to UTC; stopped at the end."""
    pyspark = pytest.importorskip("pyspark.sql")
    # Python workers (UDFs, pyfunc spark_udf) must run this interpreter, with its packages.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        pyspark.SparkSession.builder.master("local[2]")
        .appName("churn-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
