"""Score files: Parquet (default), CSV, or a table in a DuckDB file, always written atomically.

Every write goes to a temporary file beside the target, is flushed to disk, then renamed
over the target (:func:`features.atomic_write.atomic_file`), so a crash or a full disk leaves
the previous output whole. Temporary files left by a killed writer are swept by the next
write to the same target. One writer at a time: a second concurrent writer of the same target
gets :class:`features.write_lock.TargetBusy` at once, so neither run's result is silently lost
(for a DuckDB file, the other tables are kept by copying the file, which without the lock
would drop a table written by another process meanwhile). Flags are stored as JSON text (the
same in every format) and parsed back by :func:`read_scores`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd

from features.atomic_write import atomic_file
from features.loader import STRING_DTYPE
from features.times import utc_series
from features.write_lock import write_lock
from serving.columns import FLAG_COLUMNS

FORMATS = {".parquet": "parquet", ".csv": "csv", ".duckdb": "duckdb", ".db": "duckdb"}
TIME_COLUMNS = ("as_of", "scored_at")
STRING_COLUMNS = ("account_id", "segment", "csm_owner", "health_band", "model_version")


def output_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unknown output format; use .parquet, .csv or .duckdb")
    return fmt


def to_storable(scores: pd.DataFrame) -> pd.DataFrame:
    """Flags as JSON text, so every format stores the same values."""
    out = scores.copy()
    for name in FLAG_COLUMNS:
        if name in out:
            out[name] = [json.dumps(v, ensure_ascii=False, allow_nan=False) for v in out[name]]
    return out


def write_scores(scores: pd.DataFrame, target: Path | str, *, table: str = "scores") -> Path:
    """Write scores to ``target`` (format from its suffix) atomically; returns the path."""
    target = Path(target)
    fmt = output_format(target)
    frame = to_storable(scores)
    with write_lock(target), atomic_file(target) as tmp:
        if fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        elif fmt == "csv":
            csv = frame.assign(**{c: frame[c].map(_iso) for c in TIME_COLUMNS if c in frame})
            csv.to_csv(tmp, index=False, encoding="utf-8")
        else:
            _write_duckdb(frame, tmp, target, table)
    return target


def _write_duckdb(frame: pd.DataFrame, tmp: Path, target: Path, table: str) -> None:
    if not table.isidentifier():
        raise ValueError(f"DuckDB table name must be a plain identifier, not {table!r}")
    if target.exists():  # keep the file's other tables: copy, change the copy, swap it in
        shutil.copyfile(target, tmp)
    con = duckdb.connect(str(tmp))
    try:
        con.register("scores_frame", frame)
        con.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT * FROM scores_frame')  # noqa: S608 - identifier checked
        con.execute("CHECKPOINT")
    finally:
        con.close()


def _iso(value: object) -> str:
    return "" if pd.isna(value) else pd.Timestamp(value).isoformat()


def read_scores(source: Path | str, *, table: str = "scores") -> pd.DataFrame:
    """Read a scores file written by :func:`write_scores`, flags back as lists of dicts."""
    source = Path(source)
    fmt = output_format(source)
    if not source.is_file():
        raise FileNotFoundError(f"no scores file at {source}")
    if fmt == "parquet":
        frame = pd.read_parquet(source)
    elif fmt == "csv":
        # Only an empty cell is missing: an account called "NA" stays "NA".
        text = {c: str for c in STRING_COLUMNS + FLAG_COLUMNS}
        frame = pd.read_csv(source, dtype=text, keep_default_na=False, na_values=[""])
    else:
        if not table.isidentifier():
            raise ValueError(f"DuckDB table name must be a plain identifier, not {table!r}")
        con = duckdb.connect(str(source), read_only=True)
        try:
            frame = con.execute(f'SELECT * FROM "{table}"').df()  # noqa: S608 - identifier checked
        finally:
            con.close()
    return from_storable(frame)


def from_storable(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for name in FLAG_COLUMNS:
        if name in out:
            out[name] = [json.loads(v) if isinstance(v, str) and v else [] for v in out[name]]
    for name in TIME_COLUMNS:
        if name in out:
            out[name] = utc_series(out[name])
    for name in STRING_COLUMNS:
        if name in out:
            out[name] = out[name].astype(STRING_DTYPE)
    if "onboarding" in out:
        out["onboarding"] = out["onboarding"].astype(str).str.lower().eq("true")
    return out
