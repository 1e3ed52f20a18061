"""The input contract: loading keeps types, and validation reports every broken rule."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from churn.cli import app
from features.errors import DataError
from features.loader import load_dataset
from features.validation import require_valid, validate_dataset

GOOD = {
    "accounts": "account_id,created_at,segment\n00123,2024-01-01,SMB\n00124,2024-01-05T10:00:00+02:00,enterprise\n",
    "subscriptions": "account_id,start_date,end_date,arr,seats\n00123,2024-01-01,2025-01-01,1200,5\n00124,2024-01-05,,5000,20\n",
    "usage_events": "account_id,user_id,timestamp,event\n00123,u1,2024-02-01 10:00,login\n00124,u9,2024-02-02,login\n",
    "support_tickets": "ticket_id,account_id,opened_at,resolved_at,priority,contacts,csat\nT1,00123,2024-01-10,2024-01-11,high,1,5\n",
    "surveys": "account_id,answered_at,kind,score\n00123,2024-01-20,nps,9\n00124,2024-01-20,ces,7\n",
    "invoices": "invoice_id,account_id,issued_at,due_at,amount,paid_at\nI1,00123,2024-01-01,2024-01-31,1200,\n",
    "csm_inputs": "account_id,recorded_at,sentiment\n00123,2024-01-15,green\n",
}


def write(folder: Path, tables: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in tables.items():
        (folder / f"{name}.csv").write_text(text)
    return folder


def problems_of(folder: Path) -> list[str]:
    return [str(p) for p in validate_dataset(load_dataset(folder)).errors]


def with_change(**changes: str) -> dict[str, str]:
    return {**GOOD, **changes}


def test_clean_dataset_is_valid(tmp_path: Path) -> None:
    """It accepts a dataset that keeps every rule."""
    report = validate_dataset(load_dataset(write(tmp_path, GOOD)))
    assert report.ok, report.errors
    assert {s.name: s.rows for s in report.tables}["accounts"] == 2


def test_ids_stay_strings_and_times_are_utc(tmp_path: Path) -> None:
    """It keeps leading zeros in IDs and converts offsets and naive times to UTC."""
    accounts = load_dataset(write(tmp_path, GOOD)).tables["accounts"]
    assert list(accounts["account_id"]) == ["00123", "00124"]
    assert str(accounts["created_at"].dtype) == "datetime64[us, UTC]"
    assert accounts["created_at"].iloc[0] == pd.Timestamp("2024-01-01", tz="UTC")  # naive -> UTC
    assert accounts["created_at"].iloc[1] == pd.Timestamp("2024-01-05 08:00", tz="UTC")


def test_ids_survive_parquet_and_duckdb(tmp_path: Path) -> None:
    """It reads the same IDs back from Parquet and from a DuckDB file, and numeric IDs lose no digits."""
    frame = pd.DataFrame({"account_id": ["00123", "9007199254740993", "ü🙂\u200d"], "created_at": ["2024-01-01"] * 3})
    (tmp_path / "pq").mkdir()
    frame.to_parquet(tmp_path / "pq" / "accounts.parquet")
    assert list(load_dataset(tmp_path / "pq").tables["accounts"]["account_id"]) == list(frame["account_id"])
    db = tmp_path / "data.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE accounts AS SELECT * FROM frame")
        con.execute(
            "CREATE TABLE surveys AS SELECT 123 AS account_id, TIMESTAMP '2024-01-02' AS answered_at, 'nps' AS kind, 9 AS score"
        )
    dataset = load_dataset(db)
    assert list(dataset.tables["accounts"]["account_id"]) == list(frame["account_id"])
    assert dataset.tables["surveys"]["account_id"].iloc[0] == "123"


def test_optional_tables_and_columns_may_be_absent(tmp_path: Path) -> None:
    """It accepts accounts alone, and says which tables are absent."""
    report = validate_dataset(load_dataset(write(tmp_path, {"accounts": GOOD["accounts"]})))
    assert report.ok
    assert "usage_events" in report.skipped_tables


@pytest.mark.parametrize(
    ("tables", "expected"),
    [
        ({k: v for k, v in GOOD.items() if k != "accounts"}, "accounts: required table is missing"),
        (
            with_change(surveys="account_id,answered_at,kind\n00123,2024-01-20,nps\n"),
            "surveys.score: required column is missing",
        ),
        (with_change(accounts="account_id,created_at\n"), "accounts: required table is empty"),
        (
            with_change(usage_events="account_id,user_id,timestamp,event\n00123,u1,yesterday-ish,login\n"),
            "usage_events.timestamp: unparseable timestamps: not ISO 8601",
        ),
        (
            with_change(accounts="account_id,created_at\n00123,2024-01-01\n00123,2024-01-02\n00124,2024-01-01\n"),
            "accounts.account_id: duplicate values in a unique key (2 rows); e.g. row 1 (account_id='00123'); row 2",
        ),
        (
            with_change(support_tickets="ticket_id,account_id,opened_at\nT1,00123,2024-01-10\nT1,00124,2024-01-11\n"),
            "support_tickets.ticket_id: duplicate values in a unique key (2 rows)",
        ),
        (
            with_change(
                invoices="invoice_id,account_id,issued_at,due_at,amount\nI1,00123,2024-01-01,2024-01-31,1\nI1,00123,2024-02-01,2024-02-28,1\n"
            ),
            "invoices.invoice_id: duplicate values in a unique key (2 rows)",
        ),
        (
            with_change(csm_inputs="account_id,recorded_at,sentiment\n00999,2024-01-15,green\n"),
            "csm_inputs.account_id: account_id not found in accounts (1 row); e.g. row 1 (account_id='00999')",
        ),
        (
            with_change(subscriptions="account_id,start_date,end_date,arr\n00123,2024-02-01,2024-01-01,10\n"),
            "subscriptions.end_date: end_date before start_date (1 row); e.g. row 1 (account_id='00123', end_date=2024-01-01",
        ),
        (
            with_change(subscriptions="account_id,start_date,end_date,arr\n00123,2024-01-01,2024-02-01,-10\n"),
            "subscriptions.arr: negative values (1 row); e.g. row 1 (account_id='00123', arr=-10.0)",
        ),
        (
            with_change(invoices="invoice_id,account_id,issued_at,due_at,amount\nI1,00123,2024-01-01,2024-01-31,-1\n"),
            "invoices.amount: negative values (1 row)",
        ),
        (
            with_change(surveys="account_id,answered_at,kind,score\n00123,2024-01-20,nps,11\n"),
            "surveys.score: score out of range for its kind (nps 0-10, csat 1-5, ces 1-7) (1 row); e.g. row 1 (account_id='00123', score=11.0, kind='nps')",
        ),
        (
            with_change(surveys="account_id,answered_at,kind,score\n00123,2024-01-20,csat,0\n"),
            "surveys.score: score out of range",
        ),
        (
            with_change(surveys="account_id,answered_at,kind,score\n00123,2024-01-20,ces,8\n"),
            "surveys.score: score out of range",
        ),
        (
            with_change(surveys="account_id,answered_at,kind,score\n00123,2024-01-20,nps,NaN\n"),
            "surveys.score: NaN, infinite or non-numeric values (1 row); e.g. row 1 (account_id='00123', score='NaN')",
        ),
        (
            with_change(subscriptions="account_id,start_date,end_date,arr\n00123,2024-01-01,,inf\n"),
            "subscriptions.arr: NaN, infinite or non-numeric values (1 row)",
        ),
        (
            with_change(csm_inputs="account_id,recorded_at,sentiment\n00123,2024-01-15,purple\n"),
            "csm_inputs.sentiment: values not in {red, yellow, green} (1 row)",
        ),
        (
            with_change(referrals="referrer_account_id,referred_at\n00999,2024-02-01\n"),
            "referrals.referrer_account_id: referrer_account_id not found in accounts (1 row); "
            "e.g. row 1 (referrer_account_id='00999')",
        ),
        (
            with_change(referrals="referrer_account_id,referred_at,referred_account_id\n00123,2024-02-01,X9\n"),
            "referrals.referred_account_id: referred_account_id not found in accounts (1 row); "
            "e.g. row 1 (referrer_account_id='00123', referred_account_id='X9')",
        ),
        (
            with_change(referrals="referrer_account_id,referred_at,converted_at\n00123,2024-02-01,2024-01-01\n"),
            "referrals.converted_at: converted_at before referred_at (1 row); e.g. row 1 (referrer_account_id='00123'",
        ),
        (
            with_change(referrals="referrer_account_id,referred_at\n00123,soon\n"),
            "referrals.referred_at: unparseable timestamps: not ISO 8601",
        ),
        (
            with_change(referrals="referrer_account_id\n00123\n"),
            "referrals.referred_at: required column is missing",
        ),
    ],
)
def test_each_broken_rule_is_reported(tmp_path: Path, tables: dict[str, str], expected: str) -> None:
    """It names the table, the column and example rows for every broken rule."""
    found = problems_of(write(tmp_path, tables))
    assert any(p.startswith(expected) for p in found), found


def test_a_clean_referrals_table_is_valid(tmp_path: Path) -> None:
    """It accepts referrals whose accounts exist and that convert after they are made."""
    referrals = "referrer_account_id,referred_at,referred_account_id,converted_at\n00123,2024-01-10,00124,2024-01-20\n"
    report = validate_dataset(load_dataset(write(tmp_path, with_change(referrals=referrals))))
    assert report.ok, report.errors
    assert {s.name: s.rows for s in report.tables}["referrals"] == 1


def test_all_problems_are_listed_at_once(tmp_path: Path) -> None:
    """It reports every problem in one pass, not only the first."""
    tables = with_change(
        surveys="account_id,answered_at,kind,score\n00123,2024-01-20,nps,11\n00999,2024-01-20,nps,3\n",
        subscriptions="account_id,start_date,end_date,arr\n00123,2024-01-01,,-1\n",
    )
    found = problems_of(write(tmp_path, tables))
    assert len(found) == 3, found


def test_examples_are_capped_at_five(tmp_path: Path) -> None:
    """It shows at most five offending rows but counts them all."""
    rows = "".join(f"00123,2024-01-20,nps,{11 + i}\n" for i in range(8))
    report = validate_dataset(
        load_dataset(write(tmp_path, with_change(surveys="account_id,answered_at,kind,score\n" + rows)))
    )
    (problem,) = report.errors
    assert problem.count == 8 and len(problem.rows) == 5


def test_warnings_do_not_fail(tmp_path: Path) -> None:
    """It warns about rows after the newest usage event and accounts with no events, and stays valid."""
    tables = with_change(
        accounts=GOOD["accounts"] + "00125,2024-01-01,SMB\n",
        csm_inputs="account_id,recorded_at,sentiment\n00123,2030-01-15,green\n",
    )
    report = validate_dataset(load_dataset(write(tmp_path, tables)))
    assert report.ok
    messages = [str(w) for w in report.warnings]
    assert any(m.startswith("csm_inputs.recorded_at: rows dated after the newest usage event") for m in messages)
    assert any(
        m.startswith("accounts.account_id: accounts with no usage events (1 row); e.g. row 3 (account_id='00125')")
        for m in messages
    )


def test_require_valid_raises_one_line(tmp_path: Path) -> None:
    """It raises a one-line DataError naming the first problem."""
    dataset = load_dataset(
        write(tmp_path, with_change(surveys="account_id,answered_at,kind,score\n00123,2024-01-20,nps,11\n"))
    )
    with pytest.raises(DataError, match=r"^surveys\.score: score out of range .*row 1") as info:
        require_valid(dataset)
    assert "\n" not in str(info.value)


def test_cli_validate_exit_codes(tmp_path: Path) -> None:
    """`churn validate` exits 0 on clean data and 2 with a one-line reason on bad data."""
    runner = CliRunner()
    ok = runner.invoke(app, ["validate", "--data", str(write(tmp_path / "ok", GOOD))])
    assert ok.exit_code == 0, ok.output
    assert "valid" in ok.output
    bad = write(tmp_path / "bad", with_change(surveys="account_id,answered_at,kind,score\n00123,2024-01-20,nps,11\n"))
    result = runner.invoke(app, ["validate", "--data", str(bad)])
    assert result.exit_code == 2
    assert "surveys.score" in result.output
    missing = runner.invoke(app, ["validate", "--data", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "dataset not found" in missing.output
