"""Tables that stay in storage: Parquet and CSV files and DuckDB tables, read by the engine itself.

A folder of ``<table>.parquet`` or ``<table>.csv`` files, or a DuckDB file, is opened without
reading its rows into Python: only schemas and row counts are read here (a CSV file is counted
by one streamed pass of DuckDB's reader, which also checks its rows). The engine (DuckDB or Spark) then reads the files
through a view that converts every column to the contract's kind in SQL, the same conversion
:func:`features.loader.coerce_table` does in pandas: IDs and text as strings (whole-number
floats without ``.0``), timestamps as integer microseconds since the epoch (naive values are
UTC; text is ISO 8601 or the configured format), numbers as BIGINT or DOUBLE with NaN and
infinities as nulls. A value that does not convert becomes null, and validation reports it
from the same view (the source value is kept beside it), so memory does not grow with the data.

A small table that a pandas step needs (accounts, free-text comments) is read on demand with
the pandas loader, one table at a time.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from features.contract import MAX_MAGNITUDE, TABLE_SPECS, ColumnSpec, Kind, TableSpec
from features.csv_files import csv_schema, duckdb_csv, is_csv
from features.errors import DataError, Problem

FREE_TEXT = ("name", "note", "comment", "description")  # scored by features.texts, never sent to the engines
ROW = "__row"  # 0-based position of a row in its source (Parquet file row, DuckDB rowid)
RAW = "__raw_"  # prefix of the source value of a column, kept for validation


@dataclass(frozen=True)
class Stored:
    """One contract table in storage and how its columns map onto the contract.

    Attributes:
        table: the contract's table name.
        path: the Parquet or CSV file, or the DuckDB file holding ``source_table``.
        source_table: the table's name inside a DuckDB file; None for a Parquet or CSV file.
        file: how messages name it (``usage_events.parquet``, ``history.duckdb:usage_events``).
        columns: contract column -> the source column it is read from.
        types: contract column -> the stored Arrow type.
        formats: contract timestamp column -> its ``strftime`` format (default ISO 8601).
        rows: number of rows (from the Parquet footer, the database, or a pass over the CSV).
        header: every column of a CSV file, in order (its reader needs them all).
        reader: how Spark reads a table only Spark can reach (:mod:`features.spark_source`):
            ``parquet`` or ``delta`` at the URI ``path``, or ``table``, the catalog table ``path``;
            empty for a local file or DuckDB table, which either engine reads.
    """

    table: str
    path: str
    source_table: str | None
    file: str
    columns: Mapping[str, str]
    types: Mapping[str, pa.DataType]
    formats: Mapping[str, str]
    rows: int
    header: tuple[str, ...] = ()
    reader: str = ""

    @property
    def csv(self) -> bool:
        return self.source_table is None and not self.reader and is_csv(self.path)

    @property
    def on_spark(self) -> bool:
        """Whether only Spark reads it (a URI, a Delta table or a catalog table)."""
        return bool(self.reader)

    @property
    def spec(self) -> TableSpec:
        return TABLE_SPECS[self.table]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.spec.columns if c.name in self.columns)


def stored_schema(file: Path, table: str) -> tuple[pa.Schema, int]:
    """A Parquet or CSV file's schema (a CSV's columns are all text) and row count."""
    return csv_schema(file, table) if is_csv(file) else parquet_schema(file, table)


def parquet_schema(file: Path, table: str) -> tuple[pa.Schema, int]:
    """A Parquet file's schema and row count, from its footer; :class:`DataError` when it is not one."""
    if file.is_dir():
        raise DataError([Problem(table, None, f"{file} is a folder, not a file")])
    if file.stat().st_size == 0:
        raise DataError([Problem(table, None, f"{file} is empty (0 bytes): expected a header row and data")])
    try:
        meta = pq.ParquetFile(file)
        return meta.schema_arrow, meta.metadata.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise DataError([Problem(table, None, f"{file} is not a readable Parquet file ({_first_line(exc)})")]) from exc


def duckdb_schemas(file: Path, tables: Mapping[str, str]) -> dict[str, tuple[pa.Schema, int]]:
    """Schema and row count of each wanted table (contract name -> source name) a DuckDB file holds."""
    with duckdb.connect(str(file), read_only=True) as con:
        present = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        out = {}
        for name, source in tables.items():
            if source not in present:
                continue
            # Only names the database lists are used, quoted.
            schema = con.table(source).limit(0).to_arrow_table().schema
            rows = con.execute(f"SELECT count(*) FROM {_ident(source)}").fetchall()
            out[name] = (schema, int(rows[0][0]))
    return out


def _first_line(exc: object) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


def _ident(name: str, dialect: str = "duckdb") -> str:
    if dialect == "spark":
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --- the typed view, in SQL ------------------------------------------------------------------


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def _is_time(t: pa.DataType) -> bool:
    return pa.types.is_timestamp(t) or pa.types.is_date(t)


def typed_expr(col: ColumnSpec, source: str, stored_type: pa.DataType, fmt: str | None, dialect: str) -> str:
    """SQL for one column in the contract's kind, as the engines hold it; null where it does not convert."""
    s = _ident(source, dialect)
    spark = dialect == "spark"
    text = "STRING" if spark else "VARCHAR"
    try_cast = "TRY_CAST" if not spark else "try_cast"
    if col.kind in (Kind.ID, Kind.TEXT):
        if pa.types.is_floating(stored_type):
            whole = f"{try_cast}({s} AS BIGINT)"
            return f"CASE WHEN {s} = {whole} THEN CAST({whole} AS {text}) ELSE CAST({s} AS {text}) END"
        return f"CAST({s} AS {text})"
    if col.kind is Kind.TIMESTAMP:
        micros = "unix_micros" if spark else "epoch_us"
        zoned = "TIMESTAMP" if spark else "TIMESTAMPTZ"  # Spark's TIMESTAMP is zoned (session zone: UTC)
        if _is_time(stored_type):
            return f"{micros}(CAST({s} AS {zoned}))"
        value = f"CAST({s} AS {text})"
        if fmt is None:
            return f"{micros}({try_cast}({value} AS {zoned}))"
        if spark:
            return f"{micros}(try_to_timestamp({value}, {_literal(java_pattern(fmt))}))"
        return f"{micros}(CAST(try_strptime({value}, {_literal(fmt)}) AS TIMESTAMPTZ))"
    number = f"CAST({s} AS DOUBLE)" if _is_number(stored_type) else f"{try_cast}(CAST({s} AS {text}) AS DOUBLE)"
    finite = f"NOT isnan({number}) AND abs({number}) < double('inf')" if spark else f"isfinite({number})"
    if col.kind is Kind.INT:
        if pa.types.is_integer(stored_type):  # beyond +-MAX_MAGNITUDE an integer is refused, as in pandas
            return f"CASE WHEN abs(CAST({s} AS DOUBLE)) <= {MAX_MAGNITUDE:.0f} THEN {try_cast}({s} AS BIGINT) END"
        whole = f"{finite} AND {number} = round({number}) AND abs({number}) <= {MAX_MAGNITUDE:.0f}"
        return f"CASE WHEN {whole} THEN CAST(round({number}) AS BIGINT) END"
    return f"CASE WHEN {finite} THEN {number} END"


_JAVA = {"%Y": "yyyy", "%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm", "%S": "ss", "%y": "yy", "%b": "MMM", "%z": "Z"}


def java_pattern(fmt: str) -> str:
    """A ``strftime`` format as Spark's datetime pattern (the common codes; others are refused)."""
    out, i = [], 0
    while i < len(fmt):
        code = fmt[i : i + 2]
        if code in _JAVA:
            out.append(_JAVA[code])
            i += 2
        elif fmt[i] == "%":
            raise ValueError(f"the date format {fmt!r} uses {code}, which the spark engine does not translate")
        else:
            out.append(f"'{fmt[i]}'" if fmt[i].isalpha() else fmt[i])
            i += 1
    return "".join(out)


def typed_select(stored: Stored, dialect: str, *, keep: tuple[str, ...] = (), raw: bool = False) -> str:
    """The SELECT list of the typed view: engine columns, then ``keep`` columns, then the sources."""
    spec = stored.spec
    parts = []
    for col in spec.columns:
        if col.name not in stored.columns or (col.name in FREE_TEXT and col.name not in keep):
            continue
        expr = typed_expr(col, stored.columns[col.name], stored.types[col.name], stored.formats.get(col.name), dialect)
        parts.append(f"{expr} AS {_ident(col.name, dialect)}")
    if raw:
        parts.append(f"{ROW}")
        parts += [f"{_ident(src, dialect)} AS {_ident(RAW + name, dialect)}" for name, src in stored.columns.items()]
    return ", ".join(parts)


def duckdb_relation(con: Any, stored: Stored) -> str:
    """The source as a DuckDB relation with a ``__row`` column (the DuckDB file is attached read-only)."""
    if stored.csv:  # the reader keeps the file's order, and an unused row number is never computed
        return f"(SELECT *, row_number() OVER () - 1 AS {ROW} FROM {duckdb_csv(stored.path, stored.header)})"
    if stored.source_table is None:
        path = _literal(Path(stored.path).as_posix())
        return f"(SELECT *, file_row_number AS {ROW} FROM read_parquet({path}, file_row_number = true))"
    alias = "src_" + hashlib.sha256(stored.path.encode()).hexdigest()[:10]
    attached = {row[0] for row in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()}
    if alias not in attached:
        con.execute(f"ATTACH {_literal(stored.path)} AS {alias} (READ_ONLY)")
    return f"(SELECT *, rowid AS {ROW} FROM {alias}.main.{_ident(stored.source_table)})"


def create_duckdb_view(con: Any, name: str, stored: Stored, *, raw: bool = False) -> None:
    """``name`` as a DuckDB view of ``stored`` in the engine's shape (``raw``: with sources and rows)."""
    relation = duckdb_relation(con, stored)
    select = typed_select(stored, "duckdb", raw=raw)
    con.unregister(name)  # a connection that held an in-memory table of that name before
    con.execute(f"CREATE OR REPLACE TEMP VIEW {_ident(name)} AS SELECT {select} FROM {relation}")


def spark_source(spark: Any, stored: Stored) -> Any:
    """``stored`` as Spark reads it, its source columns as they are (a CSV file's as text)."""
    if stored.source_table is not None:
        raise ValueError(f"the spark engine reads Parquet, CSV, Delta and catalog tables, not DuckDB ({stored.file})")
    from pyspark.sql import functions as f  # only the spark engine needs it installed

    if stored.reader == "table":
        return spark.table(stored.path)
    if stored.reader == "delta":
        return spark.read.format("delta").load(stored.path)
    uri = stored.path if stored.reader else Path(stored.path).resolve().as_uri()
    if stored.csv:  # every cell as text; an empty quoted cell is null, as in DuckDB's reader and pandas
        read = spark.read.options(header=True, sep=",", quote='"', escape='"', encoding="UTF-8", mode="FAILFAST")
        text = read.csv(uri).toDF(*stored.header)  # the names pandas and DuckDB give duplicates
        return text.select(*[f.nullif(f.col(_ident(c, "spark")), f.lit("")).alias(c) for c in stored.header])
    return spark.read.parquet(uri)


def spark_frame(spark: Any, stored: Stored, *, raw: bool = False) -> Any:
    """``stored`` as a Spark DataFrame in the engine's shape, read by Spark where it lies
    (``raw``: with the source values and row numbers, for validation)."""
    source = spark_source(spark, stored)
    if raw:  # a Parquet file's row, as DuckDB numbers it; other sources have no row order to tell
        parquet = not stored.csv and stored.reader in ("", "parquet")
        number = "_metadata.row_index" if parquet else "CAST(NULL AS BIGINT)"
        source = source.selectExpr("*", f"{number} AS {ROW}")
    view = f"churn_raw_{stored.table}"
    source.createOrReplaceTempView(view)
    return spark.sql(f"SELECT {typed_select(stored, 'spark', raw=raw)} FROM {_ident(view, 'spark')}")


# --- reading one stored table into pandas, for the small tables a pandas step needs -----------


def read_arrow(stored: Stored, columns: tuple[str, ...] | None = None) -> pa.Table:
    """The stored table (or some of its contract columns) as Arrow, its columns renamed to the
    contract's; the pandas loader does the rest."""
    wanted = stored.column_names if columns is None else [c for c in stored.column_names if c in columns]
    sources = list(dict.fromkeys(stored.columns[c] for c in wanted))
    if stored.on_spark:
        from features.spark_session import spark_session  # PySpark is optional

        table = spark_source(spark_session(), stored).select(*[_ident(s, "spark") for s in sources]).toArrow()
    elif stored.csv:
        with duckdb.connect() as con:
            cols = ", ".join(_ident(s) for s in sources)
            table = con.sql(f"SELECT {cols} FROM {duckdb_csv(stored.path, stored.header)}").to_arrow_table()  # noqa: S608 - quoted names
    elif stored.source_table is None:
        table = pq.read_table(stored.path, columns=sources)
    else:
        with duckdb.connect(stored.path, read_only=True) as con:
            table = con.table(stored.source_table).select(*[_ident(s) for s in sources]).to_arrow_table()
    by_source = {src: name for name, src in stored.columns.items()}
    return table.rename_columns([by_source[c] for c in table.column_names])


DUCKDB_MEMORY_LIMIT = "1GB"  # override with the CHURN_DUCKDB_MEMORY_LIMIT environment variable


def memory_setting(value: str) -> str:
    """A DuckDB memory size such as ``2GB`` or ``1500MB``; anything else is refused."""
    if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", value.strip()):
        raise ValueError(f"CHURN_DUCKDB_MEMORY_LIMIT must look like 2GB or 1500MB, not {value!r}")
    return value.strip()


def duckdb_memory_limit() -> str:
    """DuckDB's memory cap: ``CHURN_DUCKDB_MEMORY_LIMIT``, else :data:`DUCKDB_MEMORY_LIMIT`."""
    return memory_setting(os.environ.get("CHURN_DUCKDB_MEMORY_LIMIT", DUCKDB_MEMORY_LIMIT))


def configure_duckdb(con: Any) -> None:
    """UTC, and a memory cap with a spill folder, so big scans stream and spill instead of growing."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = '{duckdb_memory_limit()}'")
    spill = Path(tempfile.gettempdir()) / "churn-duckdb-spill"
    con.execute(f"SET temp_directory = {_literal(spill.as_posix())}")


@dataclass(frozen=True)
class QueryEngine:
    """Where queries on stored tables run: a scratch DuckDB connection, or Spark for the tables
    only Spark reads. ``view`` makes a typed view of a table (``raw``: with sources and rows),
    ``rows`` runs a query whose answer is small (counts, example rows)."""

    dialect: str
    view: Callable[[str, Stored, bool], None]
    rows: Callable[[str], list[tuple[Any, ...]]]

    def q(self, name: str) -> str:
        """``name`` quoted as an identifier of the dialect."""
        return _ident(name, self.dialect)

    @property
    def text(self) -> str:
        return "STRING" if self.dialect == "spark" else "VARCHAR"


def dialect_of(tables: Iterable[Stored]) -> str:
    """The engine that reads ``tables``: "spark" when one of them is only Spark's, else "duckdb"."""
    return "spark" if any(t.on_spark for t in tables) else "duckdb"


@contextmanager
def query_engine(tables: Iterable[Stored]) -> Iterator[QueryEngine]:
    """The engine that reads ``tables`` (:func:`dialect_of`), for queries on them."""
    if dialect_of(tables) == "spark":
        from features.spark_session import spark_session  # PySpark is optional

        spark = spark_session()

        def spark_view(name: str, stored: Stored, raw: bool) -> None:
            spark_frame(spark, stored, raw=raw).createOrReplaceTempView(name)

        yield QueryEngine("spark", spark_view, lambda sql: [tuple(r) for r in spark.sql(sql).collect()])
        return
    with duckdb.connect() as con:
        configure_duckdb(con)

        def duckdb_view(name: str, stored: Stored, raw: bool) -> None:
            create_duckdb_view(con, name, stored, raw=raw)

        yield QueryEngine("duckdb", duckdb_view, lambda sql: con.execute(sql).fetchall())


def stored_query(stored: Stored, select: str, where: str = "") -> list[tuple[Any, ...]]:
    """``SELECT select FROM <stored, typed> [WHERE where]``, on DuckDB or (a table only Spark
    reads) on Spark; names in ``select`` and ``where`` are quoted with :func:`quoted`."""
    with query_engine([stored]) as engine:
        engine.view("t", stored, False)
        return engine.rows(f"SELECT {select} FROM t" + (f" WHERE {where}" if where else ""))


def quoted(stored: Stored, name: str) -> str:
    """A column name quoted for the engine :func:`stored_query` runs ``stored`` on."""
    return _ident(name, dialect_of([stored]))
