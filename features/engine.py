"""Where the feature builders run: a DuckDB or PySpark ibis backend, and the tables in it.

Both engines get the same tables in the same shape. Timestamps travel as integer
microseconds since the Unix epoch (UTC), so every window bound and every "days since"
is exact integer arithmetic that cannot depend on a session or host time zone. Both
sessions are still pinned to UTC, so anything that does touch a timestamp type agrees.

Pointing at a Spark cluster:
    * set ``SPARK_REMOTE`` (for example ``sc://spark-connect.example:15002``) and
      ``connect("spark")`` opens a Spark Connect session there;
    * or create and configure your own ``SparkSession`` first (``spark-submit``,
      Databricks, ``SparkSession.builder.master("yarn")...getOrCreate()``): ``connect``
      reuses the active session instead of starting a local one;
    * otherwise it starts a local session with the defaults of ``features.spark_conf``
      (``local[*]``, 2 GB driver, UI off, a JVM that exits on running out of memory).
In every case ``spark.sql.session.timeZone`` is set to ``UTC``.
"""

from __future__ import annotations

from collections.abc import Mapping

import ibis
import pandas as pd
import pyarrow as pa
from ibis.backends import BaseBackend

from features.contract import TABLE_SPECS, Kind
from features.loader import Dataset
from features.source import FREE_TEXT, Stored, configure_duckdb, create_duckdb_view, dialect_of, spark_frame
from features.spark_session import spark_session
from features.times import utc_series

ENGINES = ("duckdb", "spark")


def connect(engine: str = "duckdb") -> BaseBackend:
    """An ibis backend for ``engine`` ("duckdb" or "spark"), with its time zone pinned to UTC.

    DuckDB is an in-memory database. Spark is the active session, a Spark Connect
    session when ``SPARK_REMOTE`` is set, or a new local session (see the module doc).
    """
    if engine == "duckdb":
        con = ibis.duckdb.connect()
        # A memory cap makes DuckDB stream and spill big aggregations instead of holding
        # them; it was both faster and smaller on the 10k-account benchmark.
        configure_duckdb(con.con)
        return con
    if engine == "spark":
        return ibis.pyspark.connect(spark_session())
    raise ValueError(f"unknown engine {engine!r}; use one of {ENGINES}")


def engine_for(dataset: Dataset, engine: str) -> str:
    """``engine``, or "spark" when a table of the dataset is one only Spark reads (a URI, a catalog
    table): a step that defaults to DuckDB (the scoring population, labels, KPIs) follows the data."""
    return "spark" if dialect_of(dataset.stored.values()) == "spark" else engine


def to_micros(values: pd.Series) -> pa.Array:
    """UTC timestamps as int64 microseconds since the epoch (nulls stay null)."""
    return pa.Array.from_pandas(utc_series(values)).cast(pa.int64())


def _arrow(values: pd.Series, kind: Kind, zero_copy: bool) -> pa.Array | pa.ChunkedArray:
    if kind is Kind.TIMESTAMP:
        return to_micros(values)
    target = {Kind.ID: pa.string(), Kind.TEXT: pa.string(), Kind.INT: pa.int64()}.get(kind, pa.float64())
    array = pa.Array.from_pandas(values)
    if zero_copy and pa.types.is_large_string(array.type) and target == pa.string():
        # The loader's strings are pandas' large_string chunks; DuckDB scans them as they
        # are. Casting to string and combining chunks would copy every ID of every event.
        return array
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array if array.type == target else array.cast(target)


def engine_table(name: str, frame: pd.DataFrame, *, zero_copy: bool = False) -> pa.Table:
    """One dataset table as the builders see it: contract columns, times as int64 micros.

    Free-text columns (names, notes, comments) are left out: no signal reads them. Strings
    are plain Arrow strings, unless ``zero_copy``: then Arrow-backed string columns keep
    their large_string chunks and share the frame's buffers (for DuckDB, which reads both).
    Timestamps are shared with the frame either way (int64 micros is a reinterpretation).
    """
    spec = TABLE_SPECS[name]
    arrays = {
        col.name: _arrow(frame[col.name], col.kind, zero_copy)
        for col in spec.columns
        if col.name in frame.columns and col.name not in FREE_TEXT
    }
    return pa.table(arrays) if arrays else pa.table({})


def register_tables(con: BaseBackend, dataset: Dataset, *, prefix: str = "pit_") -> dict[str, ibis.Table]:
    """Put the dataset's tables into ``con`` and return them as ibis tables by name.

    DuckDB gets views over Arrow tables, Spark temporary views, named ``prefix + table``;
    re-registering replaces them, so one connection can serve many datasets in turn.
    """
    tables: dict[str, ibis.Table] = {}
    for name in dataset.tables:
        if name not in TABLE_SPECS:
            continue
        stored = dataset.stored.get(name)
        if stored is not None and stored.on_spark and con.name != "pyspark":
            raise ValueError(f"{stored.file} is read by Spark only: use the spark engine (--engine spark)")
        # Parquet is read by either engine from its path; a DuckDB file only by DuckDB, so on
        # Spark its tables pass through Arrow like a folder of CSV files.
        if stored is not None and (con.name == "duckdb" or stored.source_table is None):
            tables[name] = _register_stored(con, prefix + name, stored)
            continue
        arrow = engine_table(name, dataset.tables[name], zero_copy=con.name == "duckdb")
        tables[name] = _register(con, prefix + name, arrow)
    return tables


def _register_stored(con: BaseBackend, name: str, stored: Stored) -> ibis.Table:
    """A stored table as a view the engine reads from its file: no row passes through Python."""
    if con.name == "duckdb":
        create_duckdb_view(con.con, name, stored)
    else:
        spark_frame(con._session, stored).createOrReplaceTempView(name)
    return con.table(name)


def _register(con: BaseBackend, name: str, arrow: pa.Table) -> ibis.Table:
    if con.name == "duckdb":
        # A zero-copy view over the Arrow table (DuckDB keeps a reference to it): no second
        # copy of the events in memory.
        con.con.execute(f'DROP VIEW IF EXISTS "{name}"')  # a view of a stored table, from an earlier dataset
        con.con.register(name, arrow)
        return con.table(name)
    return con.create_view(name, ibis.memtable(arrow), overwrite=True)


def register_frame(con: BaseBackend, name: str, frame: pd.DataFrame | Mapping[str, object]) -> ibis.Table:
    """Register a small helper frame (snapshot dates) under ``name``."""
    arrow = pa.Table.from_pandas(pd.DataFrame(frame), preserve_index=False)
    return _register(con, name, arrow)
