"""Bad input through the real CLI: exit 2, one line naming the file, table and column, never a traceback."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from api_support import make_world_and_model
from typer.testing import CliRunner

from churn.cli import app

ACCOUNTS = "account_id,created_at\nA1,2024-01-01\nA2,2024-01-05\n"
EVENTS = "account_id,user_id,timestamp,event\nA1,u1,2024-02-01 10:00,login\nA2,u2,2024-02-02,login\n"


def refusal(args: list[str]) -> str:
    """Run `churn ARGS`; assert exit 2, no traceback and exactly one error line; return that line."""
    result = CliRunner().invoke(app, args)
    out = result.output
    assert result.exit_code == 2, out
    assert "Traceback" not in out, out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out
    return errors[0]


def folder(tmp_path: Path, **files: str | bytes) -> Path:
    """A dataset folder: ``accounts=...`` writes accounts.csv unless the name has a suffix already."""
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = data / (name if "." in name else f"{name}.csv")
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    return data


def validate(data: Path) -> str:
    return refusal(["validate", "--data", str(data)])


def test_a_misspelt_required_column_names_the_file_the_column_and_the_likely_match(tmp_path: Path) -> None:
    """It refuses `acount_id` in accounts.csv naming accounts.csv, account_id and the close match (no KeyError)."""
    line = validate(folder(tmp_path, accounts="acount_id,created_at\nA1,2024-01-01\n", usage_events=EVENTS))
    assert "accounts.account_id: required column is missing from accounts.csv" in line
    assert "did you mean 'acount_id'" in line


def test_a_semicolon_separated_csv_is_named_as_such(tmp_path: Path) -> None:
    """It says a semicolon-separated file is separated by semicolons."""
    line = validate(folder(tmp_path, accounts="account_id;created_at\nA1;2024-01-01\n"))
    assert "accounts:" in line and "accounts.csv is separated by semicolons" in line


def test_a_zero_byte_file_is_refused(tmp_path: Path) -> None:
    """It refuses an empty accounts.csv by name."""
    line = validate(folder(tmp_path, accounts=b""))
    assert "accounts:" in line and "accounts.csv is empty (0 bytes)" in line


def test_a_folder_named_like_a_table_file_is_refused(tmp_path: Path) -> None:
    """It refuses a folder called accounts.csv."""
    data = folder(tmp_path, usage_events=EVENTS)
    (data / "accounts.csv").mkdir()
    line = validate(data)
    assert "accounts:" in line and "accounts.csv is a folder, not a file" in line


def test_a_csv_gz_that_is_not_gzip_is_refused(tmp_path: Path) -> None:
    """It refuses accounts.csv.gz holding plain text."""
    line = validate(folder(tmp_path, **{"accounts.csv.gz": ACCOUNTS}))
    assert "accounts:" in line and "accounts.csv.gz is not gzip-compressed" in line


def test_latin1_bytes_are_refused_with_their_line(tmp_path: Path) -> None:
    """It refuses Latin-1 text, naming the byte and the line, and reads the same file gzipped the same way."""
    text = "account_id,created_at,name\nA1,2024-01-01,Caf\xe9 Ltd\n".encode("latin-1")
    line = validate(folder(tmp_path, accounts=text))
    assert "accounts:" in line and "accounts.csv is not UTF-8 text (byte 0xe9 on line 2)" in line
    zipped = validate(folder(tmp_path / "gz", **{"accounts.csv.gz": gzip.compress(text)}))
    assert "accounts.csv.gz is not UTF-8 text (byte 0xe9 on line 2)" in zipped


def test_ragged_rows_are_refused_with_the_line(tmp_path: Path) -> None:
    """It refuses a row with more fields than the header, naming the line."""
    line = validate(folder(tmp_path, accounts="account_id,created_at\nA1,2024-01-01\nA2,2024-01-05,extra,more\n"))
    assert "accounts:" in line and "line 3 has 4 fields where the header has 2" in line


def test_a_struct_or_list_in_a_parquet_column_is_refused(tmp_path: Path) -> None:
    """It refuses a list column and a struct column in Parquet, naming table, column and file."""
    data = folder(tmp_path, accounts=ACCOUNTS)
    events = pa.table(
        {
            "account_id": ["A1"],
            "user_id": ["u1"],
            "timestamp": ["2024-02-01"],
            "event": pa.array([["login", "export"]]),
        }
    )
    pq.write_table(events, data / "usage_events.parquet")
    line = validate(data)
    assert "usage_events.event: holds list<" in line and "values in usage_events.parquet" in line
    pq.write_table(events.set_column(3, "event", pa.array([{"kind": "login"}])), data / "usage_events.parquet")
    assert "usage_events.event: holds struct<kind: string> values" in validate(data)


def test_an_integer_too_large_for_int64_is_refused(tmp_path: Path) -> None:
    """It refuses a seat count beyond int64 as a value of subscriptions.seats, with its row."""
    subs = "account_id,start_date,end_date,arr,seats\nA1,2024-01-01,2025-01-01,1200,99999999999999999999\n"
    line = validate(folder(tmp_path, accounts=ACCOUNTS, subscriptions=subs))
    assert "subscriptions.seats:" in line and "too large" in line and "row 1 (account_id='A1'" in line


def test_a_corrupt_duckdb_file_is_refused(tmp_path: Path) -> None:
    """It refuses a .duckdb file that is not a database."""
    file = tmp_path / "history.duckdb"
    file.write_bytes(b"this is not a database" * 100)
    line = validate(file)
    assert "dataset:" in line and f"{file} is not a readable DuckDB database" in line


def test_an_empty_duckdb_file_is_refused(tmp_path: Path) -> None:
    """It refuses a 0-byte .duckdb file."""
    file = tmp_path / "empty.duckdb"
    file.touch()
    assert f"{file} is empty (0 bytes), not a DuckDB database" in validate(file)


def test_a_duckdb_file_without_the_tables_names_the_missing_table(tmp_path: Path) -> None:
    """It names the table a DuckDB file lacks."""
    file = tmp_path / "other.duckdb"
    with duckdb.connect(str(file)) as con:
        con.execute("CREATE TABLE unrelated (x INTEGER)")
    line = validate(file)
    assert "accounts: required table is missing (no table 'accounts' in" in line


def test_the_same_table_as_csv_and_parquet_is_refused(tmp_path: Path) -> None:
    """It refuses accounts.csv beside accounts.parquet instead of silently reading one."""
    data = folder(tmp_path, accounts=ACCOUNTS)
    pq.write_table(pa.table({"account_id": ["A1"], "created_at": ["2024-01-01"]}), data / "accounts.parquet")
    line = validate(data)
    assert "accounts: both accounts.parquet and accounts.csv are in" in line and "keep one" in line


@pytest.fixture(scope="module")
def world_and_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_world_and_model(tmp_path_factory.mktemp("bad-input"), accounts=150)


def test_a_manifest_lacking_a_key_is_refused_by_name(world_and_model: tuple[Path, Path], tmp_path: Path) -> None:
    """It refuses a model folder whose manifest lacks model_version, naming the key."""
    world, model = world_and_model
    broken = tmp_path / "model"
    shutil.copytree(model, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    del manifest["model_version"]
    (broken / "manifest.json").write_text(json.dumps(manifest))
    line = refusal(["score", "--data", str(world), "--model", str(broken), "--out", str(tmp_path / "s.parquet")])
    assert "manifest.json lacks the key 'model_version'" in line


@pytest.mark.parametrize(("as_of", "expected"), [("2010-01-01", "before the data's first"), ("2099-01-01", "after")])
def test_score_refuses_a_date_outside_the_data(
    world_and_model: tuple[Path, Path], tmp_path: Path, as_of: str, expected: str
) -> None:
    """It refuses --as-of before the first event or after the data ends (once a ZeroDivisionError)."""
    world, model = world_and_model
    args = ["score", "--data", str(world), "--model", str(model), "--out", str(tmp_path / "s.parquet")]
    line = refusal([*args, "--as-of", as_of])
    assert f"--as-of {as_of}" in line and expected in line


def test_a_parameter_of_the_wrong_type_is_named(tmp_path: Path) -> None:
    """It names the LightGBM parameter whose value is not a number."""
    data = folder(tmp_path, accounts=ACCOUNTS)
    line = refusal(["train", "--data", str(data), "--out", str(tmp_path / "m"), "--param", "num_leaves=abc"])
    assert "LightGBM parameter num_leaves takes an integer, not 'abc'" in line


def test_an_unknown_linear_start_is_named(tmp_path: Path) -> None:
    """It says which choices --linear-start takes."""
    data = folder(tmp_path, accounts=ACCOUNTS)
    line = refusal(["train", "--data", str(data), "--out", str(tmp_path / "m"), "--linear-start", "maybe"])
    assert "linear_start takes auto, on, off, not 'maybe'" in line
