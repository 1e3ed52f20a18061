"""The same ibis builders on Spark: equal to DuckDB, whatever the host time zone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pit_worlds import DAY_US, assert_frames_match, dataset, ts

from features.builders import build_features
from features.engine import connect

pytestmark = pytest.mark.spark
TESTS = Path(__file__).parent


@pytest.mark.slow
def test_spark_equals_duckdb_on_edge_cases(spark) -> None:
    """It gives on Spark what it gives on DuckDB for unicode IDs, duplicates, nulls and edges."""
    a = 200 * DAY_US
    rows = {
        "accounts": [{"account_id": i, "created_at": 0} for i in ("00123", "🙂", "שלום", "quiet")],
        "usage_events": [
            {
                "account_id": "00123",
                "user_id": "u1",
                "timestamp": a - 30 * DAY_US,
                "event": "report_create",
                "event_id": "e1",
            },
            {
                "account_id": "00123",
                "user_id": "u2",
                "timestamp": a - 1,
                "event": "login",
                "event_id": "e1",
            },
            {
                "account_id": "🙂",
                "user_id": "ユ",
                "timestamp": a,
                "event": "login",
                "event_id": None,
            },
            {
                "account_id": "שלום",
                "user_id": "u",
                "timestamp": a - 61 * DAY_US,
                "event": "export",
                "event_id": None,
            },
        ],
        "support_tickets": [
            {
                "ticket_id": "t",
                "account_id": "🙂",
                "opened_at": a - DAY_US,
                "resolved_at": None,
                "priority": "urgent",
                "contacts": None,
                "csat": None,
            }
        ],
        "surveys": [
            {"account_id": "שלום", "answered_at": a - 5, "kind": "nps", "score": 3, "comment": "Fena değil"},
            {"account_id": "שלום", "answered_at": a - 5, "kind": "nps", "score": 10, "comment": "Rakibe geçiyoruz"},
            {"account_id": "quiet", "answered_at": a - 90 * DAY_US, "kind": "csat", "score": 1, "comment": "Awful"},
        ],
        "referrals": [
            {"referrer_account_id": "00123", "referred_at": a - 365 * DAY_US, "converted_at": a},
            {"referrer_account_id": "00123", "referred_at": a - 1, "referred_account_id": "quiet"},
        ],
        "subscriptions": [
            {
                "account_id": "00123",
                "start_date": 0,
                "end_date": a,
                "arr": 1200.0,
                "seats": 4,
                "plan": "x",
            },
            {
                "account_id": "00123",
                "start_date": a,
                "end_date": None,
                "arr": 5.0,
                "seats": 1,
                "plan": "y",
            },
        ],
        "invoices": [
            {
                "invoice_id": "i",
                "account_id": "quiet",
                "issued_at": 0,
                "due_at": a - DAY_US,
                "amount": 10.0,
                "paid_at": a,
            }
        ],
        "csm_inputs": [{"account_id": "quiet", "recorded_at": a - 2, "sentiment": "yellow"}],
    }
    data = dataset(rows)
    as_of = [ts(a), ts(a + 31 * DAY_US)]
    got = build_features(data, as_of, con=connect("spark"))
    want = build_features(data, as_of, engine="duckdb")
    assert_frames_match(got.frame, want.frame)


@pytest.mark.slow
def test_spark_and_duckdb_agree_with_the_host_in_tokyo() -> None:
    """It gives on Spark, reading the Parquet files itself, the features DuckDB gives from pandas
    frames, for a generated world with TZ=Asia/Tokyo."""
    env = {
        **os.environ,
        "TZ": "Asia/Tokyo",
        "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)]),
    }
    done = subprocess.run(
        [sys.executable, str(TESTS / "spark_parity.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "parity ok" in done.stdout
