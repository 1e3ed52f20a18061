"""Load a dataset (folder of CSV/Parquet files, or a DuckDB file) into typed pandas frames.

Every column is converted to the kind the contract declares: IDs become strings (CSV is
read as text, so ``"00123"`` keeps its zeros), timestamps become UTC (naive values are
taken to be UTC), numbers become floats or nullable integers. Values that cannot be
converted are kept as nulls and reported as problems, so validation can list them all.
"""

from __future__ import annotations

import difflib
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features import messages
from features.atomic_write import atomic_file
from features.contract import MAX_MAGNITUDE, TABLE_SPECS, ColumnSpec, Kind, TableSpec
from features.csv_files import first_line, header_names, not_utf8, ragged, require_file
from features.errors import MAX_EXAMPLES, DataError, Problem
from features.settings import InputMapping
from features.source import Stored, duckdb_schemas, quoted, read_arrow, stored_query, stored_schema
from features.times import TIMESTAMP_DTYPE, stamp_from_micros, to_micros

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
    stored: Mapping[str, Stored] = field(default_factory=dict)

    @property
    def lazy(self) -> bool:
        """Whether the tables stay in storage (Parquet or DuckDB), read by the engine."""
        return bool(self.stored)

    def columns(self, table: str) -> tuple[str, ...]:
        """The contract columns a present table has (no rows are read)."""
        if table in self.stored:
            return self.stored[table].column_names
        frame = self.tables.get(table)
        return () if frame is None else tuple(frame.columns)

    def present_columns(self) -> dict[str, tuple[str, ...]]:
        return {name: self.columns(name) for name in self.tables}

    def has(self, table: str, column: str | None = None) -> bool:
        """Whether a table (and optionally a column of it) is present."""
        return table in self.tables and (column is None or column in self.columns(table))

    def get(self, table: str) -> pd.DataFrame | None:
        return self.tables.get(table)

    def select(self, table: str, columns: tuple[str, ...]) -> pd.DataFrame | None:
        """The present ones of ``columns`` of a table as a pandas frame; a stored table reads only them."""
        if table not in self.tables:
            return None
        present = tuple(c for c in columns if c in self.columns(table))
        if isinstance(self.tables, StoredFrames):
            return self.tables.select(table, present)
        return self.tables[table][list(present)]

    def time_bounds(self, table: str, column: str) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """The oldest and newest value of a timestamp column (None, None when absent or all null)."""
        if not self.has(table, column):
            return None, None
        if table in self.stored:
            stored = self.stored[table]
            name = quoted(stored, column)
            low, high = stored_query(stored, f"min({name}), max({name})")[0]
            return stamp_from_micros(low), stamp_from_micros(high)
        values = self.tables[table][column]
        if not values.notna().any():
            return None, None
        return values.min(), values.max()

    def event_counts(self, before: pd.Timestamp) -> pd.Series:
        """Usage events strictly before ``before`` per event type (empty without usage_events.event)."""
        if not self.has("usage_events", "event") or not self.has("usage_events", "timestamp"):
            return pd.Series(dtype="int64")
        if "usage_events" in self.stored:
            cut = to_micros(before)
            stored = self.stored["usage_events"]
            event, timestamp = quoted(stored, "event"), quoted(stored, "timestamp")
            rows = stored_query(stored, f"{event}, count(*)", f"{timestamp} < {cut} AND {event} IS NOT NULL GROUP BY 1")
            return pd.Series({str(e): int(n) for e, n in rows}, dtype="int64")
        events = self.tables["usage_events"]
        past = events.loc[events["timestamp"] < before, "event"].dropna().astype(str)
        return past.value_counts()


class StoredFrames(Mapping[str, pd.DataFrame]):
    """The stored tables as typed pandas frames, each read from storage when first asked for.

    Only steps that need a table in pandas (accounts, free-text comments) read one; the
    engine reads the stored tables itself (:func:`features.engine.register_tables`).
    """

    def __init__(self, stored: Mapping[str, Stored], mapping: InputMapping):
        self._stored, self._mapping = stored, mapping
        self._frames: dict[str, pd.DataFrame] = {}
        self.read: list[str] = []  # which tables were read into pandas, in order (tests check it)

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._frames:
            stored = self._stored[name]  # KeyError for an absent table, as a dict
            spec = TABLE_SPECS[name]
            frame, _, _, _ = coerce_table(
                spec, read_arrow(stored), formats=dict(stored.formats), file=stored.file, mapping=self._mapping
            )
            self._frames[name] = frame
            self.read.append(name)
        return self._frames[name]

    def __contains__(self, name: object) -> bool:  # Mapping's own would read the table
        return name in self._stored

    def select(self, name: str, columns: tuple[str, ...]) -> pd.DataFrame:
        """Some columns of one table, read from storage (the whole table if already read)."""
        if name in self._frames:
            return self._frames[name][list(columns)]
        stored = self._stored[name]
        arrow = read_arrow(stored, columns)
        frame, _, _, _ = coerce_table(
            TABLE_SPECS[name], arrow, formats=dict(stored.formats), file=stored.file, mapping=self._mapping
        )
        return frame[[c for c in columns if c in frame.columns]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._stored)

    def __len__(self) -> int:
        return len(self._stored)


def load_dataset(
    path: str | Path, *, strict: bool = False, mapping: InputMapping | None = None, lazy: bool = True
) -> Dataset:
    """Read every contract table found at ``path``.

    Args:
        path: a folder holding ``<table>.parquet`` or ``<table>.csv`` files, or a DuckDB
            database file holding tables of those names (a URI or a catalog prefix, which
            only Spark reads: :func:`features.spark_source.open_spark_dataset`).
        strict: raise :class:`DataError` on the first problem instead of returning it.
        mapping: the user's table and column names and date formats (a settings file's
            ``[input]``); by default the contract's names and ISO 8601 dates.
        lazy: keep the tables in storage, read by the engine (:mod:`features.source`), the
            default; False reads every table into pandas (the reference the tests compare with).

    A file that cannot be read at all (empty, not UTF-8, not gzip, ragged, separated by
    semicolons, a struct column, a corrupt DuckDB file) raises :class:`DataError` with one
    line naming the file, the table and the column.
    """
    mapping = mapping or InputMapping()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset not found: {path}")
    if path.is_file():
        _check_duckdb_file(path)
    found = {} if path.is_file() else _folder_files(path, mapping)
    if lazy:
        dataset = _open_stored(path, found, mapping)
        if strict and dataset.problems:
            raise DataError(dataset.problems)
        return dataset
    raw, files = _read_duckdb(path, mapping) if path.is_file() else _read_folder(found)
    tables: dict[str, pd.DataFrame] = {}
    problems: list[Problem] = []
    ignored: dict[str, tuple[str, ...]] = {}
    unparsed: dict[tuple[str, str], np.ndarray] = {}
    for spec in TABLE_SPECS.values():
        if spec.name not in raw:
            if spec.required:
                problems.append(missing_table(spec.name, _looked_for(path, spec.name, mapping)))
            continue
        # pop: the raw Arrow table is freed as soon as its typed frame exists.
        table, _ = rename_columns(raw.pop(spec.name), mapping.renames(spec.name))
        frame, table_problems, extra, bad = coerce_table(
            spec, table, formats=_formats(spec, mapping), file=files[spec.name], mapping=mapping
        )
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


def missing_table(table: str, looked_for: str) -> Problem:
    """A required table that is not there, and where it was looked for."""
    return Problem(table, None, f"required table is missing ({looked_for})")


def _looked_for(path: Path, table: str, mapping: InputMapping) -> str:
    stem = mapping.source_table(table)
    if path.is_file():
        return f"no table {stem!r} in {path}"
    return f"no {stem}.csv, {stem}.csv.gz or {stem}.parquet in {path}"


def _formats(spec: TableSpec, mapping: InputMapping) -> dict[str, str]:
    return {
        c.name: fmt
        for c in spec.columns
        if c.kind is Kind.TIMESTAMP and (fmt := mapping.date_format(spec.name, c.name))
    }


def rename_columns(table: pa.Table, renames: Mapping[str, str]) -> tuple[pa.Table, dict[str, str]]:
    """The table with the user's column names replaced by the contract's (``renames``: source -> contract).

    A source column that already has the name a mapped column takes is kept apart as
    ``"<name> (unmapped)"`` (and reported as ignored). Returns the table and {contract -> source}
    for the columns renamed.
    """
    if not renames:
        return table, {}
    targets = set(renames.values())
    names = [renames.get(c, f"{c} (unmapped)" if c in targets else c) for c in table.column_names]
    return table.rename_columns(names), {renames[c]: c for c in table.column_names if c in renames}


def _folder_files(folder: Path, mapping: InputMapping) -> dict[str, Path]:
    """The file holding each contract table in ``folder``; two files for one table are refused."""
    files: dict[str, Path] = {}
    for name in TABLE_SPECS:
        stem = mapping.source_table(name)
        found = [folder / f"{stem}{s}" for s in (".parquet", ".csv", ".csv.gz") if (folder / f"{stem}{s}").exists()]
        if len(found) > 1:
            raise DataError(
                [Problem(name, None, f"both {found[0].name} and {found[1].name} are in {folder}: keep one of them")]
            )
        if found:
            files[name] = found[0]
    return files


def _read_folder(found: Mapping[str, Path]) -> tuple[dict[str, pa.Table], dict[str, str]]:
    raw = {
        name: read_parquet_file(file, name) if file.suffix == ".parquet" else read_csv_file(file, name)
        for name, file in found.items()
    }
    return raw, {name: file.name for name, file in found.items()}


def _open_stored(path: Path, found: Mapping[str, Path], mapping: InputMapping) -> Dataset:
    """The dataset with its tables left in storage: schemas and row counts only."""
    where: dict[str, tuple[str, str | None, str]]  # path, table inside a DuckDB file, name in messages
    if path.is_file():
        wanted = {name: mapping.source_table(name) for name in TABLE_SPECS}
        schemas = duckdb_schemas(path, wanted)
        where = {name: (str(path), wanted[name], f"{path.name}:{wanted[name]}") for name in schemas}
    else:
        schemas = {name: stored_schema(file, name) for name, file in found.items()}
        where = {name: (str(file), None, file.name) for name, file in found.items()}
    stored: dict[str, Stored] = {}
    problems: list[Problem] = []
    ignored: dict[str, tuple[str, ...]] = {}
    for spec in TABLE_SPECS.values():
        if spec.name not in schemas:
            if spec.required:
                problems.append(missing_table(spec.name, _looked_for(path, spec.name, mapping)))
            continue
        schema, rows = schemas[spec.name]
        file, source_table, label = where[spec.name]
        entry, table_problems, extra = stored_entry(spec, schema, rows, file, source_table, label, mapping)
        stored[spec.name] = entry
        problems += table_problems
        if extra:
            ignored[spec.name] = extra
    return Dataset(StoredFrames(stored, mapping), str(path), tuple(problems), ignored, stored=stored)


def stored_entry(
    spec: TableSpec,
    schema: pa.Schema,
    rows: int,
    path: str,
    source_table: str | None,
    label: str,
    mapping: InputMapping,
    *,
    reader: str = "",
) -> tuple[Stored, list[Problem], tuple[str, ...]]:
    """One stored table from its schema: how its columns map onto the contract, the required
    columns it lacks, and the columns the contract does not know; a struct or list column is refused."""
    renames = mapping.renames(spec.name)
    targets = set(renames.values())
    names = [renames.get(c, f"{c} (unmapped)" if c in targets else c) for c in schema.names]
    columns = {new: old for new, old in zip(names, schema.names, strict=True) if new in spec.column_names}
    types = {new: schema.field(old).type for new, old in columns.items()}
    for name, kind in types.items():
        if pa.types.is_nested(kind):
            col = spec.column(name)
            raise DataError(
                [
                    Problem(
                        spec.name,
                        name,
                        f"holds {kind} values in {label}: the contract needs {col.kind} values, not a struct or list",
                    )
                ]
            )
    problems = [
        Problem(spec.name, name, _missing_column(spec.name, name, names, label, mapping))
        for name in spec.required_columns
        if name not in columns
    ]
    local_file = source_table is None and not reader
    header = tuple(schema.names) if local_file else ()
    entry = Stored(spec.name, path, source_table, label, columns, types, _formats(spec, mapping), rows, header, reader)
    return entry, problems, tuple(c for c in names if c not in spec.column_names)


def read_parquet_file(file: Path, table: str) -> pa.Table:
    """One Parquet file as an Arrow table; :class:`DataError` naming the file when it is not one."""
    require_file(file, table)
    try:
        return pq.read_table(file)
    except (pa.ArrowException, OSError) as exc:
        raise DataError([Problem(table, None, f"{file} is not a readable Parquet file ({first_line(exc)})")]) from exc


def read_csv_file(file: Path, table: str) -> pa.Table:
    """One CSV file (UTF-8, comma-separated, ``.csv.gz`` gzip-compressed), every cell as text.

    The contract, not a guess, decides each type, so the cells are read as text; a file that
    cannot be read raises :class:`DataError` naming the file and what is wrong with it.
    """
    header_names(file, table)
    try:
        frame = pd.read_csv(file, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError([not_utf8(file, table)]) from exc
    except pd.errors.ParserError as exc:
        raise DataError([Problem(table, None, f"{file}: {ragged(str(exc))}")]) from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError([Problem(table, None, f"{file} holds no columns")]) from exc
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError([Problem(table, None, f"{file} cannot be read ({first_line(exc)})")]) from exc
    return pa.Table.from_pandas(frame, preserve_index=False)


def _check_duckdb_file(file: Path) -> None:
    """A dataset given as a file must be a DuckDB database that opens."""
    if file.suffix not in DUCKDB_SUFFIXES:
        raise DataError([Problem("dataset", None, f"{file} is neither a folder nor a DuckDB file")])
    if file.stat().st_size == 0:
        raise DataError([Problem("dataset", None, f"{file} is empty (0 bytes), not a DuckDB database")])
    try:
        duckdb.connect(str(file), read_only=True).close()
    except duckdb.Error as exc:
        raise DataError(
            [Problem("dataset", None, f"{file} is not a readable DuckDB database ({first_line(exc)})")]
        ) from exc


def _read_duckdb(file: Path, mapping: InputMapping) -> tuple[dict[str, pa.Table], dict[str, str]]:
    try:
        con = duckdb.connect(str(file), read_only=True)
    except duckdb.Error as exc:  # pragma: no cover - _check_duckdb_file opened it a moment ago
        raise DataError([Problem("dataset", None, f"{file} cannot be read ({first_line(exc)})")]) from exc
    with con:
        present = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        wanted = {name: mapping.source_table(name) for name in TABLE_SPECS}
        # Table names come from the contract's allowlist or the settings file, and only names
        # that the database lists are read (con.table quotes them), never SQL built from text.
        raw = {name: con.table(source).to_arrow_table() for name, source in wanted.items() if source in present}
    return raw, {name: f"{file.name}:{wanted[name]}" for name in raw}


def coerce_table(
    spec: TableSpec,
    table: pa.Table,
    *,
    formats: Mapping[str, str] | None = None,
    file: str | None = None,
    mapping: InputMapping | None = None,
) -> tuple[pd.DataFrame, list[Problem], tuple[str, ...], dict[str, np.ndarray]]:
    """Convert one raw table to the contract's types; report what cannot be converted.

    ``formats`` gives a timestamp column's ``strftime`` format (default ISO 8601), ``file``
    and ``mapping`` name the source in messages. Returns the typed frame, the problems, the
    columns the contract does not know, and the positions of values that did not convert, by
    column.
    """
    formats = formats or {}
    mapping = mapping or InputMapping()
    where = file or spec.name
    problems: list[Problem] = []
    unparsed: dict[str, np.ndarray] = {}
    present = set(table.column_names)
    for name in spec.required_columns:
        if name not in present:
            problems.append(
                Problem(spec.name, name, _missing_column(spec.name, name, table.column_names, where, mapping))
            )
    columns: dict[str, pd.Series] = {}
    for col in spec.columns:
        if col.name not in present:
            continue
        values = table.column(col.name)
        if pa.types.is_nested(values.type):
            raise DataError(
                [
                    Problem(
                        spec.name,
                        col.name,
                        f"holds {values.type} values in {where}: the contract needs {col.kind} values, "
                        "not a struct or list",
                    )
                ]
            )
        series, bad = _coerce_column(col, values, formats.get(col.name))
        columns[col.name] = series
        if bad is not None and bad.any():
            problems.extend(_bad_values(spec, col, table, bad, formats.get(col.name)))
            unparsed[col.name] = np.flatnonzero(bad)
    frame = pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows))
    extra = tuple(c for c in table.column_names if c not in spec.column_names)
    return frame, problems, extra, unparsed


def _missing_column(table: str, name: str, present: list[str], where: str, mapping: InputMapping) -> str:
    source = mapping.source_column(table, name)
    if source != name:
        return f"required column is missing: {where} has no column {source!r} (input.{table}.{name} in the settings)"
    close = difflib.get_close_matches(name, present, n=1, cutoff=0.6)
    hint = (
        f"; did you mean {close[0]!r}? (rename it, or map it: input.{table}.{name} = {close[0]!r})"
        if close
        else f"; its columns: {', '.join(present[:8])}"
    )
    return f"required column is missing from {where}{hint}"


def _coerce_column(
    col: ColumnSpec, values: pa.ChunkedArray, date_format: str | None = None
) -> tuple[pd.Series, np.ndarray | None]:
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
        return _to_utc(values, was_null, date_format)
    numeric, bad = _to_number(values, was_null)
    if col.kind is Kind.INT:
        # Beyond +-MAX_MAGNITUDE an integer is refused as a value (and far beyond it, int64 overflows).
        fractional = numeric.notna() & ((numeric != np.round(numeric)) | (numeric.abs() > MAX_MAGNITUDE))
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


def _to_utc(
    values: pa.ChunkedArray, was_null: np.ndarray, date_format: str | None = None
) -> tuple[pd.Series, np.ndarray]:
    if pa.types.is_timestamp(values.type) or pa.types.is_date(values.type):
        series = pd.Series(values.to_pandas())
        series = pd.to_datetime(series, utc=True)  # naive values are taken as UTC
    else:
        strings = pc.cast(values, pa.string())
        aware = None
        if date_format is None:  # which ISO values carry an offset (Arrow's regex: fast on millions of rows)
            aware = pc.fill_null(pc.match_substring_regex(strings, ISO_OFFSET), False).to_numpy(zero_copy_only=False)
        series = parse_timestamps(pd.Series(strings.to_pandas(), dtype="object"), date_format, aware)
    series = series.astype(TIMESTAMP_DTYPE)
    bad = ~was_null & series.isna().to_numpy()
    return series, bad


ISO_OFFSET = r"(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"  # a UTC offset at the end of an ISO 8601 value


def parse_timestamps(text: pd.Series, date_format: str | None = None, aware: np.ndarray | None = None) -> pd.Series:
    """Text to UTC timestamps with ONE format for every row: ISO 8601 by default, else ``date_format``.

    One format for the whole column, never a guess per row: ``10/02/2025`` would otherwise
    read as 2 October in one row and 10 February in the next. Values that do not match are
    NaT (the loader reports them). Naive values are taken to be UTC; ``aware`` marks the ISO
    values that carry an offset, parsed apart because pandas would give a naive value that
    follows an offset value the same offset.
    """
    fmt = date_format or "ISO8601"
    if aware is None or not aware.any() or aware.all():
        return pd.to_datetime(text, utc=True, errors="coerce", format=fmt)
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    for rows in (aware, ~aware):
        out[rows] = pd.to_datetime(text[rows], utc=True, errors="coerce", format=fmt)
    return out


def _bad_values(
    spec: TableSpec, col: ColumnSpec, table: pa.Table, bad: np.ndarray, date_format: str | None = None
) -> list[Problem]:
    """One problem per cause: values that do not convert, and (integers) values too large to hold."""
    what = messages.unparsed(spec.name, col, date_format)
    huge = np.zeros(len(bad), dtype=bool)
    if col.kind is Kind.INT:
        values = table.column(col.name)
        numeric, _ = _to_number(values, values.is_null().to_numpy(zero_copy_only=False))
        huge = bad & (numeric.abs() > MAX_MAGNITUDE).to_numpy()
    problems = []
    for mask, message in (
        (bad & ~huge, what),
        (huge, messages.TOO_LARGE),
    ):
        idx = np.flatnonzero(mask)
        if idx.size:
            problems.append(
                Problem(spec.name, col.name, message, int(idx.size), example_rows(spec, table, idx, col.name))
            )
    return problems


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
