"""Datasets only Spark reads: a folder at a URI, or a prefix of the Spark catalog.

With ``--engine spark``, ``--data`` may name

* a folder at a URI Spark's file systems know (``s3a://bucket/crm``, ``abfss://...``,
  ``hdfs://...``, ``file:///data/crm``): each contract table is ``<table>.parquet`` there (a
  file, or a folder of part files as Spark writes them), or a Delta table in the folder
  ``<table>`` (it has a ``_delta_log``; reading it needs ``delta-spark`` on the session);
* a ``catalog.schema`` prefix (``spark_catalog.crm`` for a schema of Spark's own catalog):
  each contract table is the catalog table ``<catalog>.<schema>.<table>`` (Hive, Unity, Glue or
  Delta tables alike).

The settings file's ``[input]`` names apply (``tables.usage_events = "events_export"`` reads
``events_export.parquet`` or ``<prefix>.events_export``). Only schemas and row counts are read
here, by Spark; validation, features, labels and scores then run on Spark
(:func:`features.source.query_engine`), and only the small tables a pandas step needs (accounts,
comments) reach the driver. Checking whether a path exists uses the session's Hadoop file
system, which a classic session has; on Spark Connect, use catalog tables.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from features.contract import TABLE_SPECS
from features.errors import DataError, Problem
from features.loader import Dataset, StoredFrames, missing_table, stored_entry
from features.settings import InputMapping
from features.source import Stored, spark_source
from features.spark_session import spark_session

URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
PREFIX = re.compile(r"^[A-Za-z_]\w*\.[A-Za-z_]\w*$")  # catalog.schema: the dot tells it from a folder name


def is_spark_location(data: str | Path) -> bool:
    """Whether ``--data`` names a URI or a catalog prefix rather than a local folder or file."""
    text = str(data)
    return bool(URI.match(text)) or (bool(PREFIX.match(text)) and not Path(text).exists())


def open_spark_dataset(location: str, mapping: InputMapping | None = None) -> Dataset:
    """The dataset at ``location`` with every table left where Spark reads it."""
    mapping = mapping or InputMapping()
    spark = spark_session()
    catalog = not URI.match(location)
    base = location.rstrip("/")
    stored: dict[str, Stored] = {}
    problems: list[Problem] = []
    ignored: dict[str, tuple[str, ...]] = {}
    for spec in TABLE_SPECS.values():
        stem = mapping.source_table(spec.name)
        found = _catalog_table(spark, f"{base}.{stem}") if catalog else _at_uri(spark, f"{base}/{stem}")
        if found is None:
            if spec.required:
                where = f"no table {base}.{stem} in Spark's catalog" if catalog else f"no {stem}.parquet in {base}"
                problems.append(missing_table(spec.name, where))
            continue
        reader, path, label = found
        probe = Stored(spec.name, path, None, label, {}, {}, {}, 0, reader=reader)
        frame = spark_source(spark, probe)
        schema = frame.limit(0).toArrow().schema
        entry, table_problems, extra = stored_entry(
            spec, schema, int(frame.count()), path, None, label, mapping, reader=reader
        )
        stored[spec.name] = entry
        problems += table_problems
        if extra:
            ignored[spec.name] = extra
    return Dataset(StoredFrames(stored, mapping), location, tuple(problems), ignored, stored=stored)


def _catalog_table(spark: Any, name: str) -> tuple[str, str, str] | None:
    return ("table", name, name) if spark.catalog.tableExists(name) else None


def _at_uri(spark: Any, stem: str) -> tuple[str, str, str] | None:
    """``<stem>.parquet`` (file or folder), else a Delta table in the folder ``<stem>``."""
    if _exists(spark, f"{stem}.parquet"):
        return "parquet", f"{stem}.parquet", f"{stem}.parquet"
    if _exists(spark, f"{stem}/_delta_log"):
        return "delta", stem, f"{stem} (Delta)"
    return None


def _exists(spark: Any, uri: str) -> bool:
    """Whether ``uri`` exists, asked of the session's Hadoop file system."""
    jvm = getattr(spark, "_jvm", None)
    if jvm is None:  # Spark Connect: no JVM on this side
        message = f"cannot look for files at {uri} on Spark Connect: give a catalog prefix instead"
        raise DataError([Problem("dataset", None, message)])
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return bool(path.getFileSystem(spark._jsc.hadoopConfiguration()).exists(path))
