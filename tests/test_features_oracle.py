"""The ibis builders against the pandas oracle on many small generated histories."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas_oracle import reference_features
from pit_worlds import DAY_US, assert_frames_match, dataset, ts

from features.builders import build_features
from features.config import FeatureConfig
from features.contract import PRIORITIES, SENTIMENTS
from features.engine import connect

ACCOUNT_IDS = ("00123", "123", "acme", "🙂-co", "שלום", "ÇĞİÖŞÜ")
USER_IDS = ("u1", "u2", "00123", "🙂", "ユーザー")
EVENTS = ("login", "report_create", "integration_sync", "export", "api_call")
# Snapshot dates, as days after 2024-01-01, mostly at midnight (the fast path).
AS_OF_DAYS = (200, 230, 260, 400)
# Offsets that sit on or next to a window edge: exactly at as_of, 1 microsecond before it,
# and on both sides of 7, 30, 60, 90, 180 and 360 days before it.
# About 0.2 s per case; raise it (e.g. PIT_ORACLE_EXAMPLES=600) for a deeper nightly run.
ORACLE_EXAMPLES = int(os.environ.get("PIT_ORACLE_EXAMPLES", "120"))
EDGE_DAYS = (0, 7, 30, 60, 90, 180, 360, 365)
# Comments and notes: blank, positive, negative, Turkish, with risk phrases.
TEXTS = (
    None,
    "",
    "Great product",
    "Too slow, we may cancel",
    "Fena değil",
    "Rakibe geçiyoruz, çok pahalı",
    "ok",
)


@st.composite
def instants(draw: st.DrawFn, as_of_days: list[int]) -> int:
    """Microseconds after 2024-01-01: near a window edge of some as_of, or anywhere."""
    if draw(st.booleans()):
        a = draw(st.sampled_from(as_of_days)) * DAY_US
        edge = draw(st.sampled_from(EDGE_DAYS)) * DAY_US
        nudge = draw(st.sampled_from((0, -1, 1, -3_600_000_000)))
        return a - edge + nudge
    return draw(st.integers(0, 420 * DAY_US))


def _maybe(draw: st.DrawFn, strategy: st.SearchStrategy) -> object:
    return draw(st.one_of(st.none(), strategy))


@st.composite
def histories(draw: st.DrawFn) -> tuple[object, list[object]]:
    """A small dataset with nulls and edge timestamps, and its snapshot dates."""
    days = sorted(draw(st.sets(st.sampled_from(AS_OF_DAYS), min_size=1, max_size=3)))
    at = instants(days)
    hour = draw(st.sampled_from((0, 0, 0, 13)))  # sometimes snapshot dates are not at midnight
    as_of = [ts(d * DAY_US + hour * 3_600_000_000) for d in days]
    ids = draw(st.lists(st.sampled_from(ACCOUNT_IDS), min_size=1, max_size=4, unique=True))
    acct = st.sampled_from(ids + ["unknown"])
    tables: dict[str, list[dict[str, object]]] = {
        "accounts": [{"account_id": i, "created_at": draw(at)} for i in ids],
    }
    n = st.integers(0, 8)
    if draw(st.integers(0, 4)) > 0:
        tables["usage_events"] = [
            {
                "account_id": draw(acct),
                "user_id": draw(st.sampled_from(USER_IDS)),
                "timestamp": draw(at),
                "event": draw(st.sampled_from(EVENTS)),
                "event_id": _maybe(draw, st.sampled_from(("e1", "e2", "e3"))),
            }
            for _ in range(draw(st.integers(0, 12)))
        ]
    if draw(st.booleans()):
        rows = []
        for k in range(draw(n)):
            opened = draw(at)
            resolved = _maybe(draw, st.sampled_from((0, 1, 3_600_000_000, 40 * DAY_US)))
            rows.append(
                {
                    "ticket_id": f"t{k}",
                    "account_id": draw(acct),
                    "opened_at": opened,
                    "resolved_at": None if resolved is None else opened + resolved,
                    "priority": _maybe(draw, st.sampled_from(PRIORITIES)),
                    "contacts": _maybe(draw, st.integers(0, 3)),
                    "csat": _maybe(draw, st.integers(1, 5)),
                }
            )
        tables["support_tickets"] = rows
    if draw(st.booleans()):
        rows = []
        for _ in range(draw(n)):
            kind = draw(st.sampled_from(("nps", "csat", "ces")))
            top = {"nps": 10, "csat": 5, "ces": 7}[kind]
            rows.append(
                {
                    "account_id": draw(acct),
                    "answered_at": draw(at),
                    "kind": kind,
                    "score": draw(st.integers(0 if kind == "nps" else 1, top)),
                    "comment": draw(st.sampled_from(TEXTS)),
                }
            )
        tables["surveys"] = rows
    if draw(st.booleans()):
        rows = []
        for _ in range(draw(n)):
            start = draw(at)
            length = _maybe(draw, st.sampled_from((30 * DAY_US, 90 * DAY_US, 365 * DAY_US)))
            rows.append(
                {
                    "account_id": draw(acct),
                    "start_date": start,
                    "end_date": None if length is None else start + length,
                    "arr": draw(st.sampled_from((0.0, 1200.0, 5000.5))),
                    "seats": _maybe(draw, st.integers(0, 10)),
                    "plan": _maybe(draw, st.sampled_from(("starter", "growth"))),
                }
            )
        tables["subscriptions"] = rows
    if draw(st.booleans()):
        rows = []
        for k in range(draw(n)):
            due = draw(at)
            paid = _maybe(draw, st.sampled_from((-DAY_US, 0, 1, 20 * DAY_US)))
            rows.append(
                {
                    "invoice_id": f"i{k}",
                    "account_id": draw(acct),
                    "issued_at": due - 30 * DAY_US,
                    "due_at": due,
                    "amount": draw(st.sampled_from((10.0, 99.9))),
                    "paid_at": None if paid is None else due + paid,
                }
            )
        tables["invoices"] = rows
    if draw(st.booleans()):
        tables["csm_inputs"] = [
            {
                "account_id": draw(acct),
                "recorded_at": draw(at),
                "sentiment": draw(st.sampled_from(SENTIMENTS)),
                "note": draw(st.sampled_from(TEXTS)),
            }
            for _ in range(draw(n))
        ]
    if draw(st.booleans()):
        rows = []
        for _ in range(draw(n)):
            referred = draw(at)
            rows.append(
                {
                    "referrer_account_id": draw(acct),
                    "referred_at": referred,
                    "referred_account_id": _maybe(draw, st.sampled_from(ids)),
                    "converted_at": _maybe(draw, st.sampled_from((referred, referred + 30 * DAY_US))),
                }
            )
        tables["referrals"] = rows
    return dataset(tables), as_of


@pytest.fixture(scope="module")
def duck():
    return connect("duckdb")


@settings(
    max_examples=ORACLE_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=histories())
def test_builders_match_the_pandas_oracle(duck, case) -> None:
    """It computes exactly what the pandas oracle computes, on histories with edge timestamps."""
    data, as_of = case
    config = FeatureConfig(key_events=("report_create", "integration_sync"), event_types_top_k=3)
    got = build_features(data, as_of, con=duck, config=config)
    want = reference_features(data, as_of, config=config)
    assert got.signal_names == want.signal_names
    assert got.skipped == want.skipped
    assert_frames_match(got.frame, want.frame)
