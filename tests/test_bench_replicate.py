"""bench.replicate: a world copied k times keeps its foreign keys inside each copy and no ID collides."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from bench.replicate import ID_COLUMNS, replicate_world
from features.contract import ACCOUNT_REFERENCES, TABLE_SPECS, Kind
from features.loader import load_dataset
from features.validation import validate_dataset
from tests.worlds import generated_world

COPIES = 3


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = generated_world(tmp_path_factory, accounts=25, months=8, seed=3)
    return base, replicate_world(base, tmp_path_factory.mktemp("replica") / "x3", COPIES)


def _tables(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.parquet"))


def _scalar(sql: str) -> object:
    (row,) = duckdb.sql(sql).fetchall()
    return row[0]


def _columns(path: Path) -> list[str]:
    return [row[0] for row in duckdb.sql(f"DESCRIBE SELECT * FROM '{path}'").fetchall()]


def test_every_table_has_k_times_its_rows_and_the_same_columns(worlds: tuple[Path, Path]) -> None:
    base, replica = worlds
    assert _tables(replica) == _tables(base)
    assert "ground_truth" in _tables(replica)  # files beside the contract tables are replicated too
    (base / "notes.txt").write_text("copied as it is")  # e.g. churn.toml, which `churn generate` writes
    assert (replicate_world(base, replica.with_name("x1"), 1) / "notes.txt").read_text() == "copied as it is"
    for table in _tables(base):
        rows = [_scalar(f"SELECT count(*) FROM '{folder / table}.parquet'") for folder in (base, replica)]
        assert rows[1] == COPIES * rows[0], table
        assert _columns(replica / f"{table}.parquet") == _columns(base / f"{table}.parquet"), table


def test_no_id_collides_across_copies(worlds: tuple[Path, Path]) -> None:
    base, replica = worlds
    renamed = 0
    for table in _tables(base):
        for column in set(_columns(base / f"{table}.parquet")) & ID_COLUMNS:
            distinct = [
                _scalar(f"SELECT count(DISTINCT \"{column}\") FROM '{folder / table}.parquet'")
                for folder in (base, replica)
            ]
            assert distinct[1] == COPIES * distinct[0], (table, column)
            renamed += 1
    # account_id in every table, plus user_id, event_id, ticket_id, invoice_id and both referral IDs
    assert renamed >= len(TABLE_SPECS) + 6
    accounts = replica / "accounts.parquet"
    assert _scalar(f"SELECT count(*) - count(DISTINCT account_id) FROM '{accounts}'") == 0


def test_every_account_reference_is_an_account_of_the_same_copy(worlds: tuple[Path, Path]) -> None:
    _, replica = worlds
    accounts = replica / "accounts.parquet"
    for name, spec in TABLE_SPECS.items():
        ids = [c.name for c in spec.columns if c.kind is Kind.ID]
        references = [c for c in ids if c == "account_id" or c in ACCOUNT_REFERENCES.get(name, ())]
        path = replica / f"{name}.parquet"
        for column in references:
            orphans = _scalar(
                f"SELECT count(*) FROM '{path}' WHERE \"{column}\" IS NOT NULL "
                f"AND \"{column}\" NOT IN (SELECT account_id FROM '{accounts}')"
            )
            assert orphans == 0, (name, column)
        # every ID of a row carries the same copy suffix, so a ticket of copy 2 names copy 2's account
        suffix = "regexp_extract({}, '\\.r[0-9]+$')"
        for column in ids[1:]:
            mixed = _scalar(
                f"SELECT count(*) FROM '{path}' WHERE \"{column}\" IS NOT NULL "
                f"AND {suffix.format(column)} <> {suffix.format(ids[0])}"
            )
            assert mixed == 0, (name, column)


def test_copy_zero_is_the_base_world_and_values_are_copied_unchanged(worlds: tuple[Path, Path]) -> None:
    base, replica = worlds
    events = "usage_events.parquet"
    order = "ORDER BY event_id, timestamp, user_id"
    original = duckdb.sql(f"SELECT * FROM '{base / events}' {order}").fetchall()
    copy0 = duckdb.sql(f"SELECT * FROM '{replica / events}' WHERE account_id NOT LIKE '%.r%' {order}").fetchall()
    assert copy0 == original
    amounts = [_scalar(f"SELECT sum(amount) FROM '{folder / 'invoices.parquet'}'") for folder in (base, replica)]
    assert isinstance(amounts[0], float) and isinstance(amounts[1], float)
    assert amounts[1] == pytest.approx(COPIES * amounts[0])


def test_the_replica_validates_as_the_base_world_does(worlds: tuple[Path, Path]) -> None:
    reports = [validate_dataset(load_dataset(folder)) for folder in worlds]
    assert reports[1].ok and reports[1].errors == ()
    found = [{(p.table, p.column, p.severity) for p in report.problems} for report in reports]
    assert found[1] == found[0]


def test_a_completed_replica_is_reused_and_copies_must_be_positive(worlds: tuple[Path, Path], tmp_path: Path) -> None:
    base, replica = worlds
    stamp = (replica / "accounts.parquet").stat().st_mtime_ns
    assert replicate_world(base, replica, COPIES) == replica
    assert (replica / "accounts.parquet").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="at least 1"):
        replicate_world(base, tmp_path / "none", 0)
