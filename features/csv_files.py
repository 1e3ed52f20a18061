"""CSV files of a dataset: what is wrong with one, and how the engines read it where it lies.

A CSV table is read as text, every cell a string (the contract, not a guess, decides each
type), comma-separated with double quotes, UTF-8, optionally gzip-compressed. The same file
is read by pandas (:func:`features.loader.read_csv_file`, the reference kept for tests and
for frames) and by DuckDB's reader with the options below, which stream it under the memory
cap. Both refuse the same files with the same one-line messages: empty, a folder, not gzip,
not UTF-8, separated by something other than commas, or ragged.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from features.errors import DataError, Problem

CSV_SUFFIXES = (".csv", ".csv.gz")


def is_csv(path: str | Path) -> bool:
    return str(path).endswith(CSV_SUFFIXES)


def require_file(file: Path, table: str) -> None:
    if file.is_dir():
        raise DataError([Problem(table, None, f"{file} is a folder, not a file")])
    if file.stat().st_size == 0:
        raise DataError([Problem(table, None, f"{file} is empty (0 bytes): expected a header row and data")])


def header_names(file: Path, table: str) -> list[str]:
    """The header row's column names, duplicates numbered as pandas does (``a``, ``a.1``);
    :class:`DataError` when the file is not gzip, not UTF-8, has no header or other separators."""
    require_file(file, table)
    try:
        header = _header_line(file)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            [Problem(table, None, f"{file} is not gzip-compressed (or is truncated) although named .gz")]
        ) from exc
    except UnicodeDecodeError as exc:
        raise DataError([not_utf8(file, table)]) from exc
    if not header.strip():
        raise DataError([Problem(table, None, f"{file} has no header row (the first line is empty)")])
    separator = _other_separator(header)
    if separator is not None:
        raise DataError(
            [Problem(table, None, f"{file} is separated by {separator}, not commas: export it comma-separated")]
        )
    names: list[str] = []
    for name in next(csv.reader([header])):
        taken, n = name, 0
        while taken in names:
            n += 1
            taken = f"{name}.{n}"
        names.append(taken)
    return names


def _open_text(file: Path) -> io.TextIOBase:
    if file.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(file, "rb"), encoding="utf-8")
    return file.open(encoding="utf-8")


def _header_line(file: Path) -> str:
    with _open_text(file) as handle:
        return handle.readline().lstrip("\ufeff").rstrip("\r\n")


def _other_separator(header: str) -> str | None:
    """'semicolons' or 'tabs' when the header row is split by them and holds no comma."""
    if "," in header:
        return None
    for char, name in ((";", "semicolons (;)"), ("\t", "tabs"), ("|", "vertical bars (|)")):
        if char in header:
            return name
    return None


def not_utf8(file: Path, table: str) -> Problem:
    """The message for a file that is not UTF-8, with the first bad byte and its line (read line by line)."""
    where = ""
    with gzip.open(file, "rb") if file.suffix == ".gz" else file.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                where = f" (byte 0x{line[exc.start]:02x} on line {number})"
                break
    return Problem(
        table, None, f"{file} is not UTF-8 text{where}: save it as UTF-8 (Latin-1 or Windows-1252 is not read)"
    )


def ragged(message: str) -> str:
    """pandas' "Expected 3 fields in line 4, saw 5" (or DuckDB's words for it) as a sentence about the file."""
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if found:
        expected, line, saw = found.groups()
    elif found := re.search(r"Error on Line: (\d+)\nOriginal Line: (.*?)\nExpected Number of Columns: (\d+)", message):
        # DuckDB stops counting one field past the header, so count the line's fields here
        line, original, expected = found.groups()
        saw = str(len(next(csv.reader([original]))))
    else:
        return f"cannot be parsed as CSV ({first_line(message)})"
    return f"line {line} has {saw} fields where the header has {expected} (ragged rows; quote values that hold commas)"


def first_line(exc: object) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def duckdb_csv(path: str, names: Sequence[str]) -> str:
    """DuckDB's reader of one CSV file, every column as text.

    No sniffing: the header is read here, so the reader neither guesses a dialect nor takes
    ``#`` for a comment. Short rows are padded with nulls and an empty cell is null, as in
    pandas; a row with more fields than the header is an error.
    """
    columns = "{" + ", ".join(f"{_literal(n)}: 'VARCHAR'" for n in names) + "}"
    return (
        f"read_csv({_literal(Path(path).as_posix())}, columns = {columns}, header = true, auto_detect = false, "
        "delim = ',', quote = '\"', escape = '\"', null_padding = true, compression = 'auto')"
    )


def csv_schema(file: Path, table: str) -> tuple[pa.Schema, int]:
    """A CSV file's columns (all text) and row count, from one streamed pass of DuckDB's reader,
    which also finds ragged rows and bytes that are not UTF-8."""
    names = header_names(file, table)
    every = ", ".join(f"count({_ident(n)})" for n in names)  # reading every column checks its bytes
    try:
        with duckdb.connect() as con:
            rows = con.execute(f"SELECT count(*), {every} FROM {duckdb_csv(str(file), names)}").fetchall()  # noqa: S608
    except duckdb.Error as exc:
        raise DataError([csv_error(file, table, exc)]) from exc
    return pa.schema([(n, pa.string()) for n in names]), int(rows[0][0])


def csv_error(file: Path, table: str, exc: Any) -> Problem:
    """DuckDB's error while reading a CSV file, as the one-line problem pandas' would give."""
    text = str(exc)
    if "Invalid unicode" in text:
        return not_utf8(file, table)
    return Problem(table, None, f"{file}: {ragged(text)}")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
