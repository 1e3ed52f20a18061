"""Point-in-time guarantees and edge cases of the feature builders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas_oracle import reference_features
from pit_worlds import DAY_US, assert_frames_match, dataset, ts, typed
from test_features_oracle import histories

from features.builders import build_features, monthly_as_of, to_timestamps
from features.config import KEY_EVENTS, FeatureConfig
from features.engine import connect
from features.signals import KEY_EVENT_SIGNALS, SIGNAL_NAMES, SIGNALS_BY_NAME

AS_OF_US = 200 * DAY_US
AS_OF = ts(AS_OF_US)
KEYED = FeatureConfig(key_events=KEY_EVENTS)
LATER = st.integers(0, 30 * DAY_US)  # offsets on or after as_of


@pytest.fixture(scope="module")
def duck():
    return connect("duckdb")


def _future_rows(draw: st.DrawFn, a: int, ids: list[str]) -> dict[str, list[dict[str, object]]]:
    """Rows of every table dated exactly at or after ``a`` (microseconds after 2024-01-01)."""
    at = st.builds(lambda d: a + d, st.one_of(st.just(0), LATER))
    acct = st.sampled_from(ids)
    n = st.integers(1, 4)
    return {
        "accounts": [{"account_id": f"new{k}", "created_at": draw(at)} for k in range(draw(n))],
        "usage_events": [
            {
                "account_id": draw(acct),
                "user_id": draw(st.sampled_from(("u1", "u9"))),
                "timestamp": draw(at),
                "event": draw(st.sampled_from(("login", "report_create"))),
                "event_id": draw(st.sampled_from((None, "e1", "e2", "e9"))),
            }
            for _ in range(draw(n))
        ],
        "support_tickets": [
            {
                "ticket_id": f"late{k}",
                "account_id": draw(acct),
                "opened_at": draw(at),
                "resolved_at": None,
                "priority": "urgent",
                "contacts": 1,
                "csat": 1,
            }
            for k in range(draw(n))
        ],
        "surveys": [
            {"account_id": draw(acct), "answered_at": draw(at), "kind": "nps", "score": 0, "comment": "Berbat, iptal"}
            for _ in range(draw(n))
        ],
        "subscriptions": [
            {
                "account_id": draw(acct),
                "start_date": draw(at),
                "end_date": None,
                "arr": 99999.0,
                "seats": 1,
                "plan": "other",
            }
            for _ in range(draw(n))
        ],
        "invoices": [
            {
                "invoice_id": f"late{k}",
                "account_id": draw(acct),
                "issued_at": draw(at),
                "due_at": draw(at),
                "amount": 5.0,
                "paid_at": None,
            }
            for k in range(draw(n))
        ],
        "csm_inputs": [
            {"account_id": draw(acct), "recorded_at": draw(at), "sentiment": "red", "note": "We will cancel"}
            for _ in range(draw(n))
        ],
        "referrals": [
            {"referrer_account_id": draw(acct), "referred_at": draw(at), "converted_at": None} for _ in range(draw(n))
        ],
    }


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=histories(), data=st.data())
def test_rows_on_or_after_as_of_change_nothing(duck, case, data) -> None:
    """It leaves features bitwise unchanged when rows dated at or after as_of are appended."""
    before, dates = case
    a = dates[0]
    a_us = int((a - ts(0)) / pd.Timedelta(microseconds=1))
    ids = list(before.tables["accounts"]["account_id"])
    extra = _future_rows(data.draw, a_us, ids)
    tables = {}
    for name, frame in before.tables.items():
        tables[name] = pd.concat([frame, typed(name, extra[name], frame.columns)], ignore_index=True)
    after = dataset(tables)
    want = build_features(before, [a], con=duck, config=KEYED).frame
    got = build_features(after, [a], con=duck, config=KEYED).frame
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_a_row_exactly_at_as_of_is_excluded(duck) -> None:
    """It excludes a row dated exactly at as_of and includes one a microsecond earlier."""
    a = 200 * DAY_US
    rows = {
        "accounts": [{"account_id": "a", "created_at": 0}],
        "usage_events": [{"account_id": "a", "user_id": "u1", "timestamp": a, "event": "login"}],
    }
    out = build_features(dataset(rows), [ts(a)], con=duck).frame
    assert out["active_users_30d"].tolist() == [0.0]
    assert np.isnan(out["days_since_last_activity"][0])
    rows["usage_events"][0]["timestamp"] = a - 1
    out = build_features(dataset(rows), [ts(a)], con=duck).frame
    assert out["active_users_30d"].tolist() == [1.0]
    assert out["days_since_last_activity"][0] == 1 / DAY_US


def test_window_edges_follow_the_convention(duck) -> None:
    """It counts a row exactly 30 days before as_of in the 30-day window, not one 1 µs older."""
    a = 200 * DAY_US
    events = [
        {"account_id": "a", "user_id": "in", "timestamp": a - 30 * DAY_US, "event": "login"},
        {"account_id": "a", "user_id": "out", "timestamp": a - 30 * DAY_US - 1, "event": "login"},
    ]
    out = build_features(
        dataset({"accounts": [{"account_id": "a", "created_at": 0}], "usage_events": events}),
        [ts(a)],
        con=duck,
    ).frame
    assert out["active_users_30d"].tolist() == [1.0]
    assert out["active_users_90d"].tolist() == [2.0]


def test_empty_optional_tables_give_zero_counts_and_null_values(duck) -> None:
    """It returns a row per account, zero counts and null values when optional tables are empty."""
    tables = {
        n: []
        for n in (
            "usage_events",
            "support_tickets",
            "surveys",
            "subscriptions",
            "invoices",
            "csm_inputs",
            "referrals",
        )
    }
    tables["accounts"] = [
        {"account_id": "a", "created_at": 0},
        {"account_id": "b", "created_at": DAY_US},
    ]
    result = build_features(dataset(tables), [AS_OF], con=duck, config=KEYED)
    frame = result.frame
    # Key events no event has: their signals are skipped, never computed on names the data lacks.
    assert {s.name for s in result.skipped} == set(KEY_EVENT_SIGNALS)
    assert all("none of the key events" in s.reason for s in result.skipped)
    assert list(frame.columns[2:]) == [n for n in SIGNAL_NAMES if n not in KEY_EVENT_SIGNALS]
    assert len(frame) == 2
    zero = ["active_users_30d", "tickets_90d", "open_tickets", "arr", "overdue_amount", "risk_phrases_90d"]
    assert (frame[[*zero, "referrals_365d"]] == 0).all().all()
    nulls = ["nps", "nps_latest", "days_since_last_activity", "csm_sentiment", "days_to_renewal"]
    assert frame[[*nulls, "comment_sentiment_90d", "days_since_negative_comment"]].isna().all().all()
    assert_frames_match(frame, reference_features(dataset(tables), [AS_OF], config=KEYED).frame)


def test_without_key_events_their_signals_are_skipped_with_a_reason(duck) -> None:
    """It skips key-feature adoption, key users and time to value when no key events are named, and
    the engagement score drops the key-feature activity instead of counting an unknown event."""
    rows = {
        "accounts": [{"account_id": "a", "created_at": 0}],
        "usage_events": [
            {"account_id": "a", "user_id": "u", "timestamp": AS_OF_US - DAY_US, "event": "report_create"},
        ],
    }
    result = build_features(dataset(rows), [AS_OF], con=duck)
    skipped = {s.name: s.reason for s in result.skipped}
    assert set(KEY_EVENT_SIGNALS) <= set(skipped)
    assert "no key events are configured" in skipped["time_to_value_days"]
    assert "engagement_score" in result.frame and "key_feature_adoption" not in result.frame
    keyed = build_features(dataset(rows), [AS_OF], con=duck, config=KEYED)
    assert keyed.frame["key_feature_adoption"].tolist() == [0.5]


def test_vocabulary_signals_count_the_top_event_types_before_as_of(duck) -> None:
    """It counts the most frequent event types (chosen on rows strictly before the newest as_of)
    over 30 and 90 days with their trend, and long-window events, weeks, gaps and quantity."""
    day = DAY_US
    a = AS_OF_US
    rows = {
        "accounts": [{"account_id": "a", "created_at": 0}],
        "usage_events": [
            {"account_id": "a", "user_id": "u", "timestamp": a - 45 * day, "event": "win opportunity"},
            {"account_id": "a", "user_id": "u", "timestamp": a - 40 * day, "event": "win opportunity"},
            {"account_id": "a", "user_id": "u", "timestamp": a - 10 * day, "event": "win opportunity"},
            {"account_id": "a", "user_id": "u", "timestamp": a - 100 * day, "event": "call", "quantity": 3},
            {"account_id": "a", "user_id": "u", "timestamp": a, "event": "late", "quantity": 100},
            {"account_id": "a", "user_id": "u", "timestamp": a + day, "event": "late"},
        ],
    }
    result = build_features(dataset(rows), [AS_OF], con=duck, config=FeatureConfig(event_types_top_k=5))
    row = result.frame.iloc[0]
    assert row["events_30d__win_opportunity"] == 1 and row["events_90d__win_opportunity"] == 3
    assert row["events_trend__win_opportunity"] == pytest.approx(-0.5)
    assert "events_30d__late" not in result.frame  # only seen at or after as_of
    assert row["events_all"] == 4 and row["events_180d"] == 4 and row["quantity_all"] == 3
    assert row["mean_gap_days"] == pytest.approx(30.0)  # active days at -100, -45, -40, -10
    assert row["mean_gap_change_days"] == pytest.approx(17.5 - 30.0)
    signal = SIGNALS_BY_NAME["events_trend__win_opportunity"]
    assert signal.sentence(-0.4) == "'win_opportunity' events fell 40% over the last 30 days"
    assert signal.sentence(-0.4, lang="tr") == "'win_opportunity' etkinlikleri son 30 günde %40 azaldı"
    assert_frames_match(result.frame, reference_features(dataset(rows), [AS_OF], config=FeatureConfig()).frame)


def test_missing_tables_and_columns_skip_signals_and_say_why(duck) -> None:
    """It skips the signals whose table or column is absent and reports the reason for each."""
    tickets = typed(
        "support_tickets",
        [{"ticket_id": "t", "account_id": "a", "opened_at": DAY_US}],
        ["ticket_id", "account_id", "opened_at", "resolved_at"],
    )
    data = dataset({"accounts": [{"account_id": "a", "created_at": 0}], "support_tickets": tickets})
    result = build_features(data, [AS_OF], con=duck)
    skipped = {s.name: s.reason for s in result.skipped}
    assert skipped["open_high_priority_tickets"] == "support_tickets has no column priority"
    assert skipped["nps"] == "table surveys is absent"
    assert skipped["active_users_30d"] == "table usage_events is absent"
    assert "open_tickets" in result.frame and "nps" not in result.frame
    assert set(result.signal_names) | set(skipped) == set(SIGNAL_NAMES)  # no usage events: no vocabulary
    assert result.frame["open_tickets"].tolist() == [1.0]


def test_accounts_without_events_and_with_a_single_event(duck) -> None:
    """It gives an account with no events zeros and nulls, and one with one event its values."""
    rows = {
        "accounts": [
            {"account_id": "quiet", "created_at": 0},
            {"account_id": "once", "created_at": 0},
        ],
        "usage_events": [
            {
                "account_id": "once",
                "user_id": "u",
                "timestamp": 199 * DAY_US,
                "event": "report_create",
            }
        ],
    }
    frame = build_features(dataset(rows), [AS_OF], con=duck, config=KEYED).frame.set_index("account_id")
    assert frame.loc["quiet", "active_users_7d"] == 0 and np.isnan(frame.loc["quiet", "days_since_last_activity"])
    assert frame.loc["once", "active_users_7d"] == 1 and frame.loc["once", "days_since_last_activity"] == 1.0
    assert frame.loc["once", "time_to_value_days"] == 199.0
    assert frame.loc["once", "key_feature_adoption"] == 0.5


def test_duplicate_event_ids_count_once(duck) -> None:
    """It counts two events with the same event_id once, at the earlier time."""
    base = {"account_id": "a", "event": "login", "event_id": "e1"}
    once = [{**base, "user_id": "u1", "timestamp": 190 * DAY_US}]
    twice = once + [{**base, "user_id": "u2", "timestamp": 195 * DAY_US}]
    acc = [{"account_id": "a", "created_at": 0}]
    one = build_features(dataset({"accounts": acc, "usage_events": once}), [AS_OF], con=duck).frame
    two = build_features(dataset({"accounts": acc, "usage_events": twice}), [AS_OF], con=duck).frame
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    assert one["active_users_30d"].tolist() == [1.0]


def test_unicode_and_zero_padded_ids_survive(duck) -> None:
    """It keeps emoji, right-to-left and zero-padded account IDs as the same strings."""
    ids = ["00123", "123", "🙂-co", "שלום"]
    rows = {
        "accounts": [{"account_id": i, "created_at": 0} for i in ids],
        "usage_events": [
            {"account_id": i, "user_id": i, "timestamp": 150 * DAY_US + k, "event": "login"} for k, i in enumerate(ids)
        ],
    }
    frame = build_features(dataset(rows), [AS_OF], con=duck).frame
    assert str(frame["account_id"].dtype) == "string"
    assert sorted(frame["account_id"]) == sorted(ids)
    assert (frame["active_users_90d"] == 1).all()


def test_output_types_and_order(duck) -> None:
    """It returns string account_id, UTC microsecond as_of and float64 signals in order."""
    rows = {"accounts": [{"account_id": "a", "created_at": 0}]}
    frame = build_features(dataset(rows), ["2024-08-01", "2024-07-01T00:00:00+02:00"], con=duck).frame
    assert str(frame["as_of"].dtype) == "datetime64[us, UTC]"
    assert frame["as_of"].tolist() == to_timestamps(["2024-06-30T22:00:00Z", "2024-08-01"])
    assert all(str(frame[c].dtype) == "float64" for c in frame.columns[2:])


def test_monthly_as_of_gives_month_starts() -> None:
    """It lists the first day of each month at midnight UTC between two dates."""
    months = monthly_as_of("2024-01-15", "2024-04-01")
    assert [m.isoformat() for m in months] == [
        "2024-02-01T00:00:00+00:00",
        "2024-03-01T00:00:00+00:00",
        "2024-04-01T00:00:00+00:00",
    ]
