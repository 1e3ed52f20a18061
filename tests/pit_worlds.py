"""Tiny typed datasets for the point-in-time feature tests, and a frame comparison."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import TABLE_SPECS, Kind
from features.loader import TIMESTAMP_DTYPE, Dataset, load_dataset, write_dataset

DAY_US = 86_400_000_000
T0 = pd.Timestamp("2024-01-01", tz="UTC")


def ts(value: object) -> pd.Timestamp | None:
    """A UTC timestamp from a string, or from microseconds after 2024-01-01."""
    if value is None:
        return None
    if isinstance(value, int | np.integer):
        return T0 + pd.Timedelta(microseconds=int(value))
    return pd.Timestamp(value).tz_convert("UTC") if pd.Timestamp(value).tzinfo else pd.Timestamp(value, tz="UTC")


def typed(name: str, rows: Iterable[Mapping[str, object]], columns: Iterable[str] | None = None) -> pd.DataFrame:
    """A frame typed like the loader's output, with the given (or all) contract columns."""
    spec = TABLE_SPECS[name]
    rows = list(rows)
    names = list(columns) if columns is not None else [c.name for c in spec.columns]
    data: dict[str, pd.Series] = {}
    for col in spec.columns:
        if col.name not in names:
            continue
        values = [r.get(col.name) for r in rows]
        if col.kind is Kind.TIMESTAMP:
            data[col.name] = pd.Series([ts(v) for v in values], dtype=TIMESTAMP_DTYPE)
        elif col.kind in (Kind.ID, Kind.TEXT):
            data[col.name] = pd.Series(values, dtype="string")
        elif col.kind is Kind.INT:
            data[col.name] = pd.Series(values, dtype="Int64")
        else:
            data[col.name] = pd.Series([np.nan if v is None else v for v in values], dtype="float64")
    return pd.DataFrame(data, index=pd.RangeIndex(len(rows)))


def dataset(tables: Mapping[str, Iterable[Mapping[str, object]] | pd.DataFrame], *, stored: bool = True) -> Dataset:
    """A Dataset from rows (or ready frames) per table name.

    By default the tables are written as Parquet files and left in storage, as a user's
    Parquet export is (the engine reads the files); ``stored=False`` keeps them as frames.
    """
    frames = {n: t if isinstance(t, pd.DataFrame) else typed(n, t) for n, t in tables.items()}
    if not stored:
        return Dataset(frames, "test")
    folder = Path(tempfile.mkdtemp(prefix="churn-pit-", dir=_FOLDER))
    write_dataset(frames, folder)
    data = load_dataset(folder)
    assert data.lazy
    return data


_FOLDER = tempfile.mkdtemp(prefix="churn-pit-worlds-")
atexit.register(shutil.rmtree, _FOLDER, ignore_errors=True)


def assert_frames_match(got: pd.DataFrame, want: pd.DataFrame, tol: float = 1e-9) -> None:
    """Same keys and columns; counts exactly equal, floats within ``tol``, NaN where NaN."""
    assert list(got.columns) == list(want.columns)
    assert got["account_id"].tolist() == want["account_id"].tolist()
    assert (got["as_of"].to_numpy() == want["as_of"].to_numpy()).all()
    for c in got.columns[2:]:
        x, y = got[c].to_numpy(dtype=float), want[c].to_numpy(dtype=float)
        same_nan = np.isnan(x) == np.isnan(y)
        close = np.isnan(x) | (np.abs(x - np.nan_to_num(y)) <= tol * np.maximum(1.0, np.abs(np.nan_to_num(y))))
        bad = ~(same_nan & close)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise AssertionError(
                f"{c}: {int(bad.sum())} mismatches, first at {got['account_id'].iloc[i]!r} "
                f"{got['as_of'].iloc[i]}: got {x[i]!r}, want {y[i]!r}"
            )
