"""Replicate a generated world k times with renamed IDs, streaming in DuckDB.

A bigger world for the out-of-core benchmark without running the simulator for hours:
every Parquet table of the base world is copied k times, and every ID column gets the
copy's suffix (copy 0 keeps its IDs, copy r > 0 appends ``.r<r>``). Because the same
suffix is appended to the account ID and to every column that refers to an account (or
to a ticket, an invoice, a user...), foreign keys stay inside their copy and no ID of one
copy equals an ID of another. The copies are written by DuckDB's ``COPY ... TO`` from a
``CROSS JOIN range(k)``, so no table passes through pandas and the benchmark itself
stays small however big the replica.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from features.contract import TABLE_SPECS, Kind

# Every column the contract declares as an ID, in any table: account_id, user_id, event_id,
# ticket_id, invoice_id, referrer_account_id, referred_account_id. Files beside the contract
# tables (the generator's ground_truth.parquet) are renamed by the same names.
ID_COLUMNS: frozenset[str] = frozenset(
    column.name for spec in TABLE_SPECS.values() for column in spec.columns if column.kind is Kind.ID
)
COMPLETE_MARKER = ".replicated"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def copy_sql(source: Path, target: Path, columns: list[str], copies: int) -> str:
    """The ``COPY`` statement writing ``copies`` renamed copies of one Parquet table."""
    # Copy 0 keeps its IDs, so a replica x1 is the base world itself; NULL IDs stay NULL.
    suffix = "CASE WHEN copy_no = 0 THEN '' ELSE '.r' || copy_no::VARCHAR END"
    select = ", ".join(f"{_quote(c)} || {suffix} AS {_quote(c)}" if c in ID_COLUMNS else _quote(c) for c in columns)
    return (
        f"COPY (SELECT {select} FROM read_parquet({_literal(str(source))}) "
        f"CROSS JOIN range({int(copies)}) AS copies(copy_no)) "
        f"TO {_literal(str(target))} (FORMAT parquet, COMPRESSION zstd)"
    )


def replicate_world(base: Path, out: Path, copies: int, *, memory_limit: str = "1GB") -> Path:
    """Write ``copies`` renamed copies of every table of ``base`` to ``out``; other files are copied.

    ``out`` is reused when an earlier call completed it (a marker file says so), so
    re-running the benchmark is cheap; a half-written folder is started over.
    """
    if copies < 1:
        raise ValueError(f"copies must be at least 1, not {copies}")
    if (out / COMPLETE_MARKER).exists():
        return out
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    con = duckdb.connect(config={"memory_limit": memory_limit, "preserve_insertion_order": False})
    try:
        con.execute(f"SET temp_directory = {_literal(str(partial / '.tmp'))}")
        for source in sorted(base.iterdir()):
            if source.suffix != ".parquet":
                shutil.copy2(source, partial / source.name)  # churn.toml: the world's settings
                continue
            query = f"DESCRIBE SELECT * FROM read_parquet({_literal(str(source))})"
            columns = [row[0] for row in con.execute(query).fetchall()]
            con.execute(copy_sql(source, partial / source.name, columns, copies))
    finally:
        con.close()
    shutil.rmtree(partial / ".tmp", ignore_errors=True)
    (partial / COMPLETE_MARKER).write_text(f"{copies} copies of {base}\n")
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return out


def count_rows(path: Path) -> int:
    """Rows of one Parquet file, from its footer."""
    with duckdb.connect() as con:
        row = con.execute(f"SELECT count(*) FROM read_parquet({_literal(str(path))})").fetchone()
    return int(row[0]) if row else 0
