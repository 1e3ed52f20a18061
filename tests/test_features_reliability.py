"""Reliability cases E47 (late events), E49 (time zones) and E51 (lazy validation recall).

The datasets go through files and :func:`features.loader.load_dataset`, so the tests cover
what a run sees: Arrow-backed strings and UTC timestamps straight from Parquet or CSV.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pytest
from pandas_oracle import reference_features
from pit_worlds import assert_frames_match

from features.builders import build_features
from features.contract import TABLE_SPECS
from features.engine import connect
from features.loader import Dataset, load_dataset, write_dataset
from features.validation import build_schema, validate_dataset
from simulator import GeneratorConfig, generate_world

DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def duck():
    return connect("duckdb")


@pytest.fixture(scope="module")
def world() -> dict[str, pd.DataFrame]:
    """A small generated world: every table, clean, typed as the loader returns it."""
    return generate_world(GeneratorConfig(accounts=40, months=8, seed=5, gt_paths=4)).tables


def _through_parquet(tables: dict[str, pd.DataFrame], folder: Path) -> Dataset:
    """The tables as the loader returns them after writing them as Parquet."""
    write_dataset(tables, folder)
    return load_dataset(folder)


# --- E47: a late event ----------------------------------------------------------------------


def test_late_event_same_snapshot_reproduces_and_later_snapshot_includes_it(
    tmp_path: Path, world: dict[str, pd.DataFrame], duck
) -> None:
    """A rebuild from the same data snapshot is bitwise identical; the next snapshot counts the late event.

    The contract has no ingestion-time column: a data snapshot is an immutable copy of the
    input files. The late event is dated before the cutoff but lands only in the later copy.
    """
    cutoff = pd.Timestamp("2024-07-01", tz="UTC")
    write_dataset(world, tmp_path / "snapshot_1")
    first = build_features(load_dataset(tmp_path / "snapshot_1"), [cutoff], con=duck).frame

    events = world["usage_events"]
    accounts = world["accounts"]
    account = str(accounts.loc[accounts["created_at"] < cutoff - 90 * DAY, "account_id"].iloc[0])
    late = pd.DataFrame(
        {
            "account_id": [account],
            "user_id": ["late-user-never-seen"],
            "timestamp": pd.Series([cutoff - pd.Timedelta(microseconds=1)], dtype=events["timestamp"].dtype),
            "event": [events["event"].iloc[0]],
            "quantity": [1.0],
            "event_id": ["late-event-1"],
        }
    ).astype(events.dtypes.to_dict())
    write_dataset({**world, "usage_events": pd.concat([events, late], ignore_index=True)}, tmp_path / "snapshot_2")

    again = build_features(load_dataset(tmp_path / "snapshot_1"), [cutoff], con=duck).frame
    pd.testing.assert_frame_equal(again, first, check_exact=True)

    later_data = load_dataset(tmp_path / "snapshot_2")
    later = build_features(later_data, [cutoff], con=duck).frame
    assert_frames_match(later, reference_features(later_data, [cutoff]).frame)
    row = (later["account_id"] == account).to_numpy()
    for signal in ("active_users_7d", "active_users_30d", "active_users_90d"):
        assert later.loc[row, signal].item() == first.loc[row, signal].item() + 1, signal
    assert later.loc[row, "days_since_last_activity"].item() == pytest.approx(1 / 86_400_000_000)
    others = ~row
    pd.testing.assert_frame_equal(later[others].reset_index(drop=True), first[others].reset_index(drop=True))


# --- E49: offsets, DST and naive timestamps ---------------------------------------------------

# (local text as written, the same instant in UTC). Naive text is UTC by the contract.
INSTANTS = [
    ("2024-03-10T01:30:00-05:00", "2024-03-10 06:30"),  # New York, just before the spring gap
    ("2024-03-10T03:30:00-04:00", "2024-03-10 07:30"),  # New York, just after it
    ("2024-03-31T01:59:00+01:00", "2024-03-31 00:59"),  # Berlin, just before the switch
    ("2024-03-31T03:01:00+02:00", "2024-03-31 01:01"),  # Berlin, just after it
    ("2024-11-03T01:30:00-04:00", "2024-11-03 05:30"),  # New York 01:30, first time
    ("2024-11-03T01:30:00-05:00", "2024-11-03 06:30"),  # New York 01:30, second time
    ("2024-03-25T10:00:00+14:00", "2024-03-24 20:00"),  # Kiritimati: a day earlier in UTC
    ("2024-03-31T23:30:00+14:00", "2024-03-31 09:30"),
    ("2024-03-31T13:00:00-12:00", "2024-04-01 01:00"),  # Baker Island: the next UTC day
    ("2024-10-31T12:00:00-12:00", "2024-11-01 00:00"),  # exactly at a snapshot: the future
    ("2024-03-31 23:59:59", "2024-03-31 23:59:59"),  # naive: UTC
    ("2024-11-02 23:00", "2024-11-02 23:00"),
    ("2024-03-24T12:00:00-14:00", "2024-03-25 02:00"),  # -14:00: inside a 7-day window only in UTC
]
AS_OF_MIDNIGHT = ["2024-03-11", "2024-04-01", "2024-11-01", "2024-11-04"]
AS_OF_HOURS = ["2024-03-10 07:00", "2024-03-31 01:00", "2024-11-03 06:00"]  # between the pairs above


def _zoned_world(folder: Path) -> Path:
    """CSV tables whose event times carry offsets across DST and at -14:00 to +14:00, or none."""
    folder.mkdir()
    (folder / "accounts.csv").write_text("account_id,created_at\n00123,2024-01-01T09:00:00+14:00\n0042,2024-01-01\n")
    rows = ["account_id,user_id,timestamp,event"] + [
        f"{'00123' if i % 3 else '0042'},u{i % 4},{text},{'login' if i % 2 else 'report_create'}"
        for i, (text, _) in enumerate(INSTANTS)
    ]
    (folder / "usage_events.csv").write_text("\n".join(rows) + "\n")
    return folder


def _expected_users(as_of: pd.Timestamp, days: int) -> dict[str, int]:
    """Distinct users per account with an event in [as_of - days, as_of), from the UTC instants."""
    users: dict[str, set[str]] = {"00123": set(), "0042": set()}
    for i, (_, utc) in enumerate(INSTANTS):
        if as_of - days * DAY <= pd.Timestamp(utc, tz="UTC") < as_of:
            users["00123" if i % 3 else "0042"].add(f"u{i % 4}")
    return {k: len(v) for k, v in users.items()}


def test_offsets_are_read_as_instants(tmp_path: Path) -> None:
    """It reads every offset, on both sides of DST and at +-14:00, as its UTC instant; naive text as UTC."""
    events = load_dataset(_zoned_world(tmp_path / "w")).tables["usage_events"]
    want = pd.Series([pd.Timestamp(utc, tz="UTC") for _, utc in INSTANTS], dtype="datetime64[us, UTC]")
    pd.testing.assert_series_equal(events["timestamp"], want, check_names=False)
    assert events["account_id"].iloc[0] == "0042"


@pytest.mark.parametrize("as_of", [AS_OF_MIDNIGHT, AS_OF_HOURS], ids=["midnight", "hours"])
def test_window_counts_across_offsets_equal_the_oracle(tmp_path: Path, duck, as_of: list[str]) -> None:
    """Window counts over offset and naive timestamps equal the oracle and a count on the UTC instants."""
    data = load_dataset(_zoned_world(tmp_path / "w"))
    got = build_features(data, as_of, con=duck).frame
    assert_frames_match(got, reference_features(data, as_of).frame)
    for stamp in as_of:
        at = pd.Timestamp(stamp, tz="UTC")
        rows = got[got["as_of"] == at].set_index("account_id")
        for days in (7, 30, 90):
            assert rows[f"active_users_{days}d"].to_dict() == _expected_users(at, days), (stamp, days)


def test_zoned_parquet_columns_are_converted_to_utc(tmp_path: Path, duck) -> None:
    """A Parquet column stored in a named zone, and a naive one, load as the same UTC instants."""
    utc = pd.Series([pd.Timestamp(u, tz="UTC") for _, u in INSTANTS], dtype="datetime64[us, UTC]")
    for name, stamps in (("zoned", utc.dt.tz_convert("America/New_York")), ("naive", utc.dt.tz_localize(None))):
        folder = tmp_path / name
        write_dataset(
            {
                "accounts": pd.DataFrame({"account_id": ["a"], "created_at": stamps.iloc[:1].to_numpy()}),
                "usage_events": pd.DataFrame(
                    {
                        "account_id": "a",
                        "user_id": [f"u{i}" for i in range(len(utc))],
                        "timestamp": stamps,
                        "event": "x",
                    }
                ),
            },
            folder,
        )
        data = load_dataset(folder)
        pd.testing.assert_series_equal(data.tables["usage_events"]["timestamp"], utc, check_names=False)
        got = build_features(data, AS_OF_MIDNIGHT, con=duck).frame
        assert_frames_match(got, reference_features(data, AS_OF_MIDNIGHT).frame)


# --- E51: lazy validation lists every seeded failure ------------------------------------------


# How validation words pandera's built-in checks; its own checks keep their names.
MESSAGES = {"not_nullable": "null values in a required column", "field_uniqueness": "duplicate values in a unique key"}


def _seed(frame: pd.DataFrame, rng: np.random.Generator, n: int) -> np.ndarray:
    return np.sort(rng.choice(len(frame), size=n, replace=False))


def _seeded(
    world: dict[str, pd.DataFrame], seed: int
) -> tuple[dict[str, pd.DataFrame], set[tuple[str, str, str, int]]]:
    """Copies of the tables with failures planted at random rows, and the (table, column, check, row) planted."""
    rng = np.random.default_rng(seed)
    tables = {name: frame.copy() for name, frame in world.items()}
    planted: set[tuple[str, str, str, int]] = set()

    def plant(table: str, column: str, check: str, rows: np.ndarray, value: object) -> None:
        tables[table].loc[rows, column] = value
        planted.update((table, column, check, int(r)) for r in rows)

    subs, tickets, surveys = tables["subscriptions"], tables["support_tickets"], tables["surveys"]
    plant("accounts", "created_at", "not_nullable", _seed(tables["accounts"], rng, 3), pd.NaT)
    plant("usage_events", "event", "not_nullable", _seed(tables["usage_events"], rng, 4), None)
    plant("subscriptions", "arr", "negative values", _seed(subs, rng, 3), -1.0)
    plant("support_tickets", "csat", "values above 5", _seed(tickets, rng, 2), 6.0)
    plant("support_tickets", "priority", "values not in {low, normal, high, urgent}", _seed(tickets, rng, 2), "p0")
    plant("invoices", "amount", "negative values", _seed(tables["invoices"], rng, 2), -5.0)
    plant("csm_inputs", "sentiment", "values not in {red, yellow, green}", _seed(tables["csm_inputs"], rng, 2), "??")
    nps = np.flatnonzero((surveys["kind"] == "nps").to_numpy())
    plant("surveys", "score", "score out of range for its kind", np.sort(rng.choice(nps, 2, replace=False)), 11.0)
    open_rows = np.flatnonzero(subs["end_date"].notna().to_numpy())
    backwards = np.sort(rng.choice(open_rows, 2, replace=False))
    subs.loc[backwards, "end_date"] = subs.loc[backwards, "start_date"] - DAY
    planted.update(("subscriptions", "end_date", "end_date before start_date", int(r)) for r in backwards)
    dup = _seed(tickets, rng, 2)
    tickets.loc[dup[1], "ticket_id"] = tickets.loc[dup[0], "ticket_id"]
    planted.update(("support_tickets", "ticket_id", "field_uniqueness", int(r)) for r in dup)
    return tables, planted


def _pandera_failures(tables: dict[str, pd.DataFrame]) -> set[tuple[str, str, str, int]]:
    found: set[tuple[str, str, str, int]] = set()
    for name, frame in tables.items():
        try:
            build_schema(TABLE_SPECS[name], set(frame.columns)).validate(frame, lazy=True)
        except pandera.errors.SchemaErrors as err:
            cases = err.failure_cases.dropna(subset=["index"])
            for row in cases.itertuples():
                check = str(row.check).split(" (")[0]
                found.add((name, _rule_column(check, str(row.column), row.schema_context), check, int(row.index)))
    return found


def _rule_column(check: str, column: str, context: str) -> str:
    """The column a failure is about; pandera repeats a frame-level failure once per column."""
    if context != "DataFrameSchema":
        return column
    return "score" if check.startswith("score out of range") else check.split(" before ")[0]


def test_clean_fixtures_pass(tmp_path: Path, world: dict[str, pd.DataFrame]) -> None:
    """It finds nothing wrong in a generated world, by schema or by the full validation."""
    assert _pandera_failures(world) == set()
    assert validate_dataset(_through_parquet(world, tmp_path)).errors == ()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lazy_validation_lists_every_seeded_failure(tmp_path: Path, world: dict[str, pd.DataFrame], seed: int) -> None:
    """Every planted null, duplicate key, out-of-range and disordered value is listed, at its row (recall 100%).

    Out-of-range values are data-level checks: finding them shows pandera ran them on pandas.
    """
    tables, planted = _seeded(world, seed)
    found = _pandera_failures(tables)
    assert planted <= found, sorted(planted - found)[:5]
    assert found <= planted, sorted(found - planted)[:5]  # and nothing clean was flagged
    report = validate_dataset(_through_parquet(tables, tmp_path))
    counts = {(p.table, p.column, p.message.split(" (")[0]): p.count for p in report.errors}
    want: dict[tuple[str, str, str], int] = {}
    for table, column, check, _ in planted:
        key = (table, column, MESSAGES.get(check, check))
        want[key] = want.get(key, 0) + 1
    assert counts == want


def test_wrong_types_are_listed_with_the_rest(tmp_path: Path) -> None:
    """Text in a number or time column is listed alongside nulls and range failures, each at its row."""
    (tmp_path / "accounts.csv").write_text("account_id,created_at\n001,2024-01-01\n002,not a date\n003,\n")
    (tmp_path / "subscriptions.csv").write_text(
        "account_id,start_date,end_date,arr,seats\n001,2024-01-01,,ten,2\n002,2024-01-01,,-3,2.5\n003,2024-01-01,,7,x\n"
    )
    report = validate_dataset(load_dataset(tmp_path))
    got = {(p.table, p.column, p.message.split(":")[0]): [r["row"] for r in p.rows] for p in report.errors}
    assert got == {
        ("accounts", "created_at", "unparseable timestamps"): [2],
        ("accounts", "created_at", "null values in a required column"): [3],
        ("subscriptions", "arr", "NaN, infinite or non-numeric values"): [1],
        ("subscriptions", "arr", "negative values"): [2],
        ("subscriptions", "seats", "non-integer, NaN, infinite or non-numeric values"): [2, 3],
    }
