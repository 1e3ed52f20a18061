"""Tables left in storage (issue 12): the engine reads Parquet, CSV and DuckDB files itself.

The pandas loader is the oracle: the same data read both ways gives the same problems, word
for word, the same features and the same labels; and building features and labels from
storage reads no table but ``accounts`` into pandas.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from test_validation import with_change, write
from typer.testing import CliRunner
from worlds import generated_world

from churn.cli import app
from features import builders
from features.builders import build_features, monthly_as_of, write_features
from features.contract import TABLE_SPECS
from features.loader import StoredFrames, load_dataset
from features.validation import validate_dataset
from training.outcomes import build_labels

CASES = [
    with_change(accounts="account_id,created_at\n00123,2024-01-01\n00123,2024-01-02\n00124,2024-01-01\n"),
    with_change(
        usage_events="account_id,user_id,timestamp,event\n00123,u1,yesterday-ish,login\n00999,u2,2024-02-01,x\n"
    ),
    with_change(
        subscriptions="account_id,start_date,end_date,arr\n00123,2024-02-01,2024-01-01,10\n00123,2024-01-01,,inf\n"
    ),
    with_change(subscriptions="account_id,start_date,end_date,arr,seats\n00123,2024-01-01,2024-02-01,-10,2.5\n"),
    with_change(surveys="account_id,answered_at,kind,score\n00123,2024-01-20,nps,11\n00124,2024-01-20,csat,NaN\n"),
    with_change(csm_inputs="account_id,recorded_at,sentiment\n00123,2024-01-15,purple\n,2024-01-16,red\n"),
    with_change(referrals="referrer_account_id,referred_at,converted_at\n00123,2024-02-01,2024-01-01\n00123,soon,\n"),
    with_change(
        support_tickets="ticket_id,account_id,opened_at,contacts\nT1,00123,2024-01-10,99999999999999999999\nT1,00124,2030-01-11,1\n"
    ),
]


def as_text_parquet(csv_folder: Path, out: Path) -> Path:
    """Every CSV of ``csv_folder`` as a Parquet file of text columns (the cells as they were written)."""
    out.mkdir()
    for file in csv_folder.glob("*.csv"):
        names = file.read_text().splitlines()[0].split(",")
        options = pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True, null_values=[""]
        )
        pq.write_table(pacsv.read_csv(file, convert_options=options), out / f"{file.stem}.parquet")
    return out


@pytest.mark.parametrize("tables", CASES, ids=range(len(CASES)))
def test_stored_tables_report_the_same_problems_as_the_pandas_loader(tmp_path: Path, tables: dict[str, str]) -> None:
    """It finds every problem of the pandas loader, with the same words, counts and example rows,
    in the CSV files read by DuckDB where they lie and in Parquet files of the same cells."""
    folder = write(tmp_path / "csv", tables)
    eager = validate_dataset(load_dataset(folder, lazy=False))
    assert eager.problems, "each case breaks a rule"
    want = [
        (t.name, t.rows, t.first, t.last) for t in sorted(eager.tables, key=lambda t: list(TABLE_SPECS).index(t.name))
    ]
    for stored in (folder, as_text_parquet(folder, tmp_path / "pq")):
        lazy_data = load_dataset(stored)
        assert lazy_data.lazy
        lazy = validate_dataset(lazy_data)
        assert sorted(str(p).replace(".parquet", ".csv") for p in lazy.problems) == sorted(
            str(p) for p in eager.problems
        )
        assert [(t.name, t.rows, t.first, t.last) for t in lazy.tables] == want
        assert isinstance(lazy_data.tables, StoredFrames) and "usage_events" not in lazy_data.tables.read


def test_a_duckdb_file_is_validated_in_place(tmp_path: Path) -> None:
    """It checks the tables of a DuckDB file where they are, naming the file and table."""
    db = tmp_path / "history.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(
            "CREATE TABLE accounts AS SELECT * FROM (VALUES ('A1', TIMESTAMP '2024-01-01')) t(account_id, created_at)"
        )
        con.execute(
            "CREATE TABLE surveys AS SELECT * FROM (VALUES ('A1', TIMESTAMP '2024-01-02', 'nps', 12.0), "
            "('A2', TIMESTAMP '2024-01-03', 'nps', 5.0)) t(account_id, answered_at, kind, score)"
        )
    dataset = load_dataset(db)
    assert dataset.lazy and dataset.stored["surveys"].file == "history.duckdb:surveys"
    found = [str(p) for p in validate_dataset(dataset).errors]
    assert found == [
        "surveys.score: score out of range for its kind (nps 0-10, csat 1-5, ces 1-7) (1 row); "
        "e.g. row 1 (account_id='A1', score=12.0, kind='nps')",
        "surveys.account_id: account_id not found in accounts (1 row); e.g. row 2 (account_id='A2')",
    ]
    assert isinstance(dataset.tables, StoredFrames) and dataset.tables.read == []


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_world(tmp_path_factory, accounts=120, months=14, seed=11)


def test_features_and_labels_from_storage_equal_the_pandas_path(world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It computes the same signals and labels from the files as from pandas frames, reading
    only the accounts table and the comments' columns into pandas; written by the engine or
    returned to pandas, in one query or in slices of the accounts, they are the same rows."""
    lazy, eager = load_dataset(world), load_dataset(world, lazy=False)
    assert lazy.lazy and not eager.lazy
    dates = monthly_as_of("2024-05-01", "2025-01-01")
    got, want = build_features(lazy, dates), build_features(eager, dates)
    assert got.signal_names == want.signal_names
    pd.testing.assert_frame_equal(got.frame, want.frame, check_exact=False, rtol=1e-12, atol=0)
    snaps = want.frame[["account_id", "as_of"]]
    outcomes = ["churn", "renewal", "upsell"]
    pd.testing.assert_frame_equal(build_labels(lazy, snaps, outcomes), build_labels(eager, snaps, outcomes))
    written = write_features(lazy, dates, world.parent / "features.parquet")
    assert written.rows == len(want.frame) and written.signals == want.signals
    back = pd.read_parquet(written.path)
    back["account_id"] = back["account_id"].astype("string")  # DuckDB's Parquet has no pandas dtype note
    pd.testing.assert_frame_equal(back, want.frame, check_exact=False, rtol=1e-12, atol=0)
    monkeypatch.setattr(builders, "EVENTS_PER_BATCH", 1 + lazy.stored["usage_events"].rows // 4)
    assert builders.account_batches(lazy) == 4
    batched = write_features(lazy, dates, world.parent / "batched.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(batched.path), pd.read_parquet(written.path))
    pd.testing.assert_frame_equal(build_features(lazy, dates).frame, got.frame)  # training's frame, in slices
    cut = pd.Timestamp("2024-09-15 12:00", tz="UTC")  # the vocabulary is chosen strictly before a date
    pd.testing.assert_series_equal(
        lazy.event_counts(cut).sort_index(), eager.event_counts(cut).sort_index(), check_names=False
    )
    assert lazy.event_counts(cut).sum() < lazy.event_counts(pd.Timestamp("2030-01-01", tz="UTC")).sum()
    assert isinstance(lazy.tables, StoredFrames)
    assert lazy.tables.read == [], "no whole table was read into pandas"


def test_csv_files_are_read_by_the_engine_where_they_lie(world: Path, tmp_path: Path) -> None:
    """The same world as gzipped CSV files gives the same signals as its Parquet files, and
    only the accounts table and the comments reach pandas."""
    csv_world = tmp_path / "csv"
    csv_world.mkdir()
    for file in world.glob("*.parquet"):
        pd.read_parquet(file).to_csv(csv_world / f"{file.stem}.csv.gz", index=False)
    lazy = load_dataset(csv_world)
    assert (
        lazy.stored["usage_events"].csv
        and lazy.stored["usage_events"].rows == pq.read_metadata(world / "usage_events.parquet").num_rows
    )
    dates = monthly_as_of("2024-09-01", "2024-12-01")
    got, want = build_features(lazy, dates), build_features(load_dataset(world), dates)
    pd.testing.assert_frame_equal(got.frame, want.frame, check_exact=False, rtol=1e-12, atol=0)
    assert isinstance(lazy.tables, StoredFrames) and "usage_events" not in lazy.tables.read


def test_a_query_beyond_duckdbs_memory_cap_is_one_line(
    world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It reports DuckDB running out of its memory cap as one line naming the setting, exit 1,
    and writes nothing."""
    monkeypatch.setenv("CHURN_DUCKDB_MEMORY_LIMIT", "2MB")
    out = tmp_path / "f.parquet"
    run = CliRunner().invoke(app, ["features", "--data", str(world), "--as-of", "2024-09-01", "--out", str(out)])
    lines = [line for line in run.output.strip().splitlines() if not line.startswith("settings:")]
    assert run.exit_code == 1 and len(lines) == 1, run.output
    assert lines[0].startswith("error: DuckDB ran out of its memory cap (2MB; set CHURN_DUCKDB_MEMORY_LIMIT")
    assert not out.exists()
