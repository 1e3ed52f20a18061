"""Load a dataset (folder of CSV/Parquet files, or a DuckDB file) into typed pandas frames.

Every column is converted to the kind the contract declares: IDs become strings (CSV is
read as text, so ``"00123"`` keeps its zeros), timestamps become UTC (naive values are
taken to be UTC), numbers become floats or nullable integers. Values that cannot be
converted are kept as nulls and reported as problems, so validation can list them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.atomic_write import atomic_file
from features.contract import TABLE_SPECS, ColumnSpec, Kind, TableSpec
from features.errors import MAX_EXAMPLES, DataError, Problem

TIMESTAMP_DTYPE = "datetime64[us, UTC]"
STRING_DTYPE = pd.StringDtype("pyarrow")
DUCKDB_SUFFIXES = (".duckdb", ".db", ".ddb")


@dataclass(frozen=True)
class Dataset:
    """The tables of one account history, typed per the contract.

    Attributes:
        tables: present tables by name; each frame holds only the contract's columns
            that the source had, with a fresh 0..n-1 index (row ``i`` is data row ``i+1``).
        source: where the data came from.
        problems: what went wrong while reading (missing tables or columns, values that
            did not parse); validation adds the rest.
        ignored_columns: columns in the source that the contract does not know.
        unparsed: positions of values that did not convert, by (table, column).
    """

    tables: Mapping[str, pd.DataFrame]
    source: str = ""
    problems: tuple[Problem, ...] = ()
    ignored_columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    unparsed: Mapping[tuple[str, str], np.ndarray] = field(default_factory=dict)

    def has(self, table: str, column: str | None = None) -> bool:
        """Whether a table (and optionally a column of it) is present."""
        frame = self.tables.get(table)
        return frame is not None and (column is None or column in frame.columns)

    def get(self, table: str) -> pd.DataFrame | None:
        return self.tables.get(table)


def load_dataset(path: str | Path, *, strict: bool = False) -> Dataset:
    """Read every contract table found at ``path``.

    Args:
        path: a folder holding ``<table>.parquet`` or ``<table>.csv`` files, or a DuckDB
            database file holding tables of those names.
        strict: raise :class:`DataError` on the first problem instead of returning it.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset not found: {path}")
    raw = _read_duckdb(path) if path.is_file() else _read_folder(path)
    tables: dict[str, pd.DataFrame] = {}
    problems: list[Problem] = []
    ignored: dict[str, tuple[str, ...]] = {}
    unparsed: dict[tuple[str, str], np.ndarray] = {}
    for spec in TABLE_SPECS.values():
        if spec.name not in raw:
            if spec.required:
                problems.append(Problem(spec.name, None, "required table is missing"))
            continue
        # pop: the raw Arrow table is freed as soon as its typed frame exists.
        frame, table_problems, extra, bad = coerce_table(spec, raw.pop(spec.name))
        tables[spec.name] = frame
        unparsed.update({(spec.name, col): pos for col, pos in bad.items()})
        problems.extend(table_problems)
        if extra:
            ignored[spec.name] = extra
    dataset = Dataset(tables, str(path), tuple(problems), ignored, unparsed)
    # Hand the raw tables' freed buffers back to the OS now: Arrow's allocator keeps them
    # otherwise, and on 18M events that is ~0.5 GB of resident memory nobody uses.
    pa.default_memory_pool().release_unused()
    if strict and problems:
        raise DataError(problems)
    return dataset


def _read_folder(folder: Path) -> dict[str, pa.Table]:
    raw: dict[str, pa.Table] = {}
    for name in TABLE_SPECS:
        parquet = folder / f"{name}.parquet"
        csv = next((folder / f"{name}{s}" for s in (".csv", ".csv.gz") if (folder / f"{name}{s}").exists()), None)
        if parquet.exists():
            raw[name] = pq.read_table(parquet)
        elif csv is not None:
            # Read every CSV cell as text: the contract, not a guess, decides each type.
            frame = pd.read_csv(csv, dtype=str, keep_default_na=False, na_values=[""])
            raw[name] = pa.Table.from_pandas(frame, preserve_index=False)
    return raw


def _read_duckdb(file: Path) -> dict[str, pa.Table]:
    import duckdb

    if file.suffix not in DUCKDB_SUFFIXES:
        raise DataError([Problem("dataset", None, f"{file} is neither a folder nor a DuckDB file")])
    with duckdb.connect(str(file), read_only=True) as con:
        present = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        # Table names come from the contract's allowlist, never from user input.
        return {name: con.table(name).to_arrow_table() for name in TABLE_SPECS if name in present}


def coerce_table(
    spec: TableSpec, table: pa.Table
) -> tuple[pd.DataFrame, list[Problem], tuple[str, ...], dict[str, np.ndarray]]:
    """Convert one raw table to the contract's types; report what cannot be converted.

    Returns the typed frame, the problems, the columns the contract does not know, and the
    positions of values that did not convert, by column.
    """
    problems: list[Problem] = []
    unparsed: dict[str, np.ndarray] = {}
    present = set(table.column_names)
    for name in spec.required_columns:
        if name not in present:
            problems.append(Problem(spec.name, name, "required column is missing"))
    columns: dict[str, pd.Series] = {}
    for col in spec.columns:
        if col.name not in present:
            continue
        series, bad = _coerce_column(col, table.column(col.name))
        columns[col.name] = series
        if bad is not None and bad.any():
            problems.append(_bad_values(spec, col, table, bad))
            unparsed[col.name] = np.flatnonzero(bad)
    frame = pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows))
    extra = tuple(c for c in table.column_names if c not in spec.column_names)
    return frame, problems, extra, unparsed


def _coerce_column(col: ColumnSpec, values: pa.ChunkedArray) -> tuple[pd.Series, np.ndarray | None]:
    """Return the typed column and a mask of values that did not convert (or None)."""
    was_null = values.is_null().to_numpy(zero_copy_only=False)
    if col.kind in (Kind.ID, Kind.TEXT):
        if pa.types.is_floating(values.type):
            # Whole-number floats (IDs stored as 12.0) become "12", not "12.0".
            as_int = pc.cast(values, pa.int64(), safe=False)
            values = pc.if_else(pc.equal(pc.cast(as_int, values.type), values), as_int, values)
        # Arrow-backed strings: no Python object per value, so 10M+ event rows stay compact.
        # pandas stores them as large_string; casting straight to it keeps Parquet strings
        # (written as large_string by pandas) zero-copy instead of copying them twice.
        series = pd.Series(pd.arrays.ArrowStringArray(pc.cast(values, pa.large_string())), dtype=STRING_DTYPE)
        return series, None
    if col.kind is Kind.TIMESTAMP:
        return _to_utc(values, was_null)
    numeric, bad = _to_number(values, was_null)
    if col.kind is Kind.INT:
        fractional = numeric.notna() & (numeric != np.round(numeric))
        bad = bad | fractional.to_numpy()
        numeric = numeric.where(~fractional)
        return numeric.round().astype("Int64"), bad
    return numeric.astype("float64"), bad


def _to_number(values: pa.ChunkedArray, was_null: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type) or pa.types.is_decimal(values.type):
        series = pd.Series(pc.cast(values, pa.float64()).to_pandas(), dtype="float64")
    else:
        text = pd.Series(pc.cast(values, pa.string()).to_pandas(), dtype="object")
        series = pd.to_numeric(text, errors="coerce").astype("float64")
    arr = series.to_numpy()
    # NaN that was not a null in the source, and +-inf, break the contract.
    bad = ~was_null & ~np.isfinite(arr)
    return series.where(np.isfinite(arr)), bad


def _to_utc(values: pa.ChunkedArray, was_null: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    if pa.types.is_timestamp(values.type) or pa.types.is_date(values.type):
        series = pd.Series(values.to_pandas())
        series = pd.to_datetime(series, utc=True)  # naive values are taken as UTC
    else:
        text = pd.Series(pc.cast(values, pa.string()).to_pandas(), dtype="object")
        series = pd.to_datetime(text, utc=True, errors="coerce", format="mixed")
    series = series.astype(TIMESTAMP_DTYPE)
    bad = ~was_null & series.isna().to_numpy()
    return series, bad


def _bad_values(spec: TableSpec, col: ColumnSpec, table: pa.Table, bad: np.ndarray) -> Problem:
    idx = np.flatnonzero(bad)
    what = {
        Kind.TIMESTAMP: "unparseable timestamps",
        Kind.FLOAT: "NaN, infinite or non-numeric values",
        Kind.INT: "non-integer, NaN, infinite or non-numeric values",
    }.get(col.kind, "unconvertible values")
    return Problem(spec.name, col.name, what, int(idx.size), example_rows(spec, table, idx, col.name))


def example_rows(
    spec: TableSpec, table: pa.Table | pd.DataFrame, positions: np.ndarray, *columns: str
) -> tuple[dict[str, object], ...]:
    """Up to five offending rows: 1-based row number, the table's IDs and the named columns."""
    keys = [c.name for c in spec.columns if c.kind is Kind.ID and c.required] + list(columns)
    keys = list(dict.fromkeys(k for k in keys if k in _names(table)))
    rows = []
    for pos in positions[:MAX_EXAMPLES]:
        row: dict[str, object] = {"row": int(pos) + 1}
        for k in keys:
            value = table.column(k)[int(pos)].as_py() if isinstance(table, pa.Table) else table[k].iloc[int(pos)]
            row[k] = None if value is pd.NA or value is pd.NaT else value
        rows.append(row)
    return tuple(rows)


def _names(table: pa.Table | pd.DataFrame) -> list[str]:
    return table.column_names if isinstance(table, pa.Table) else list(table.columns)


def write_frame(frame: pd.DataFrame, target: str | Path) -> Path:
    """Write one frame as Parquet atomically: a temporary file beside the target, then rename."""
    target = Path(target)
    with atomic_file(target) as tmp:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
    return target


def write_dataset(tables: Mapping[str, pd.DataFrame], folder: str | Path) -> None:
    """Write tables as ``<table>.parquet`` files, each atomically."""
    for name, frame in tables.items():
        write_frame(frame, Path(folder) / f"{name}.parquet")
