"""Outcomes follow DESIGN.md section 4 on hand-written subscriptions and events.

Every label the engine computes (ibis on DuckDB) is also checked against the independent
pandas oracle (``tests/outcomes_oracle.py``): on each hand-written case, on random histories
(Hypothesis) and on a generated world.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from outcomes_oracle import build_labels as oracle_labels
from outcomes_oracle import eligible as oracle_eligible
from outcomes_oracle import spine

from features.errors import DataError
from features.loader import Dataset
from simulator import GeneratorConfig, generate_world
from training.outcomes import OutcomeConfig, build_labels, eligible

T = lambda s: pd.Timestamp(s, tz="UTC")  # noqa: E731


def dataset(subs: list[tuple], events: list[tuple] | None = None, end: str = "2026-06-01") -> Dataset:
    ids = sorted({r[0] for r in subs} | {e[0] for e in events or []})
    accounts = pd.DataFrame({"account_id": pd.Series(ids, dtype="string"), "created_at": T("2023-01-01")})
    subscriptions = pd.DataFrame(subs, columns=["account_id", "start_date", "end_date", "arr", "seats"])
    subscriptions["account_id"] = subscriptions["account_id"].astype("string")
    for c in ("start_date", "end_date"):
        subscriptions[c] = pd.to_datetime(subscriptions[c], utc=True)
    subscriptions["seats"] = subscriptions["seats"].astype("Int64")
    usage = pd.DataFrame(events or [], columns=["account_id", "timestamp"])
    usage = pd.concat([usage, pd.DataFrame({"account_id": [ids[0]], "timestamp": [end]})], ignore_index=True)
    usage = usage.assign(
        account_id=usage["account_id"].astype("string"),
        timestamp=pd.to_datetime(usage["timestamp"], utc=True),
        user_id="u",
        event="login",
    )
    return Dataset({"accounts": accounts, "subscriptions": subscriptions, "usage_events": usage})


def labels(ds: Dataset, account: str, as_of: str, **config) -> pd.Series:
    snaps = pd.DataFrame({"account_id": pd.Series([account], dtype="string"), "as_of": [T(as_of)]})
    return checked_labels(ds, snaps, ["churn", "renewal", "upsell"], OutcomeConfig(**config)).iloc[0]


def checked_labels(ds: Dataset, snaps: pd.DataFrame, outcomes: list[str], config: OutcomeConfig) -> pd.DataFrame:
    """The engine's labels, after checking they equal the pandas oracle's."""
    got = build_labels(ds, snaps, outcomes, config)
    pd.testing.assert_frame_equal(got, oracle_labels(ds, snaps, outcomes, config), check_dtype=False)
    return got


def test_annual_term_renewed_is_not_churn() -> None:
    """It labels a renewed annual term renewal=1 and churn=0."""
    ds = dataset([("A", "2024-01-01", "2025-01-01", 1200, 5), ("A", "2025-01-01", "2026-01-01", 1200, 5)])
    row = labels(ds, "A", "2024-11-01")
    assert (row["churn"], row["renewal"], row["upsell"], row["arr_at_as_of"]) == (0.0, 1.0, 0.0, 1200.0)


def test_annual_term_not_renewed_is_churn_only_inside_window() -> None:
    """It labels churn=1 when the term ends inside the window and 0 when it ends after."""
    ds = dataset([("B", "2024-01-01", "2025-01-01", 1200, 5)])
    assert labels(ds, "B", "2024-11-01")[["churn", "renewal"]].tolist() == [1.0, 0.0]
    inside = labels(ds, "B", "2024-09-01")
    assert inside["churn"] == 0.0 and np.isnan(inside["renewal"])  # term ends after the window


def test_short_gap_is_not_churn() -> None:
    """It bridges a gap shorter than the grace period, and counts a longer gap as churn."""
    ds = dataset([("C", "2024-01-01", "2024-06-10", 100, 1), ("C", "2024-06-25", None, 100, 1)])
    assert labels(ds, "C", "2024-05-01")["churn"] == 0.0
    assert labels(ds, "C", "2024-05-01", grace_days=10)["churn"] == 1.0


def test_inactive_or_unsettled_snapshots_have_no_label() -> None:
    """It leaves snapshots without an active subscription, or whose window passes the data, unlabelled."""
    ds = dataset([("D", "2024-01-01", "2024-03-15", 100, 1)], end="2024-07-01")
    assert labels(ds, "D", "2024-02-01")["churn"] == 1.0  # window + grace ends 2024-06-01 <= data end
    assert np.isnan(labels(ds, "D", "2024-04-01")["churn"])  # not active
    assert np.isnan(labels(ds, "D", "2024-04-02")["upsell"])
    late = dataset([("D", "2024-01-01", None, 100, 1)], end="2024-05-01")
    assert np.isnan(labels(late, "D", "2024-02-15")["churn"])  # 2024-02-15 + 120 days > data end


def test_monthly_cancellation_is_no_renewal_population() -> None:
    """It keeps short open-ended terms out of the renewal population."""
    ds = dataset([("D", "2024-01-01", "2024-03-15", 100, 1)])
    assert np.isnan(labels(ds, "D", "2024-02-01")["renewal"])


def test_upsell_on_arr_or_seats_rise() -> None:
    """It labels upsell=1 when ARR or seats rise inside the window."""
    ds = dataset([("E", "2024-01-01", "2024-04-10", 1000, 5), ("E", "2024-04-10", None, 2000, 10)])
    row = labels(ds, "E", "2024-03-01")
    assert (row["upsell"], row["churn"]) == (1.0, 0.0)
    assert labels(ds, "E", "2024-05-01")["upsell"] == 0.0
    seats = dataset([("F", "2024-01-01", "2024-04-10", 1000, 5), ("F", "2024-04-10", None, 1000, 6)])
    assert labels(seats, "F", "2024-03-01")["upsell"] == 1.0


def test_renewal_boundary_row_starting_at_as_of_counts_as_active() -> None:
    """It treats a snapshot taken on the renewal day as active, not churned."""
    ds = dataset([("A", "2024-01-01", "2025-01-01", 1200, 5), ("A", "2025-01-01", "2026-01-01", 1300, 5)])
    assert labels(ds, "A", "2025-01-01")["churn"] == 0.0


def test_activity_churn() -> None:
    """It labels activity churn from usage only, for accounts active in the year before as_of."""
    events = [("G", "2024-01-05"), ("G", "2024-02-10"), ("H", "2024-01-20"), ("H", "2024-06-01"), ("I", "2022-01-01")]
    ds = dataset([("G", "2024-01-01", None, 1, 1)], events, end="2025-01-01")
    snaps = spine(ds, [T("2024-02-01")])
    out = checked_labels(ds, snaps, ["churn"], OutcomeConfig(churn_definition="activity")).set_index("account_id")[
        "churn"
    ]
    assert out["G"] == 0.0  # event on 2024-02-10 inside the window
    assert out["H"] == 1.0  # next event after the 90-day window
    assert np.isnan(out["I"])  # not active in the year before


def test_activity_event_exactly_at_as_of_is_in_window() -> None:
    """It counts an event exactly at as_of as inside the outcome window, not as history."""
    ds = dataset([("G", "2024-01-01", None, 1, 1)], [("G", "2024-01-05"), ("G", "2024-02-01")], end="2025-01-01")
    out = checked_labels(ds, spine(ds, [T("2024-02-01")]), ["churn"], OutcomeConfig(churn_definition="activity"))
    assert out.set_index("account_id").loc["G", "churn"] == 0.0


def test_missing_table_is_a_clear_error() -> None:
    """It refuses contract outcomes without subscriptions, naming the table."""
    ds = dataset([("A", "2024-01-01", None, 1, 1)])
    ds = Dataset({k: v for k, v in ds.tables.items() if k != "subscriptions"})
    with pytest.raises(DataError, match="subscriptions"):
        build_labels(ds, spine(ds, [T("2024-02-01")]), ["churn"])


DAYS = pd.Timestamp("2024-01-01", tz="UTC")


@st.composite
def histories(draw: st.DrawFn) -> tuple[Dataset, pd.DataFrame]:
    """A few accounts with random terms (ties, gaps, overlaps, open ends), events and snapshot dates."""
    subs, events = [], []
    for account in ("A", "B", "C"):
        for _ in range(draw(st.integers(0, 4))):
            start = draw(st.integers(0, 500))
            length = draw(st.one_of(st.none(), st.sampled_from([1, 29, 30, 31, 90, 179, 180, 365])))
            end = None if length is None else DAYS + pd.Timedelta(days=start + length)
            seats = draw(st.one_of(st.none(), st.integers(1, 20)))
            subs.append((account, DAYS + pd.Timedelta(days=start), end, float(draw(st.integers(0, 3))) * 100, seats))
        for day in draw(st.lists(st.integers(0, 700), max_size=8)):
            events.append((account, DAYS + pd.Timedelta(days=day, hours=draw(st.sampled_from([0, 0, 5])))))
    ds = dataset(subs or [("A", DAYS, None, 100.0, 1)], events, end=str(DAYS + pd.Timedelta(days=700)))
    dates = sorted({DAYS + pd.Timedelta(days=d) for d in draw(st.lists(st.integers(1, 640), min_size=1, max_size=6))})
    return ds, spine(ds, dates)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.sampled_from([0, 10, 30]), st.sampled_from([30, 90]))
def test_engine_labels_equal_the_oracle_on_random_histories(
    history: tuple[Dataset, pd.DataFrame], grace: int, horizon: int
) -> None:
    """It gives the oracle's churn, renewal, upsell, activity churn, ARR and eligibility on any history."""
    ds, snaps = history
    for definition in ("contract", "activity"):
        config = OutcomeConfig(grace_days=grace, horizon_days=horizon, churn_definition=definition)
        outcomes = ["churn", "renewal", "upsell"] if definition == "contract" else ["churn"]
        checked_labels(ds, snaps, outcomes, config)
        assert (eligible(ds, snaps, config) == oracle_eligible(ds, snaps, config)).all()


def test_engine_labels_equal_the_oracle_on_a_generated_world() -> None:
    """It gives the oracle's labels on every monthly snapshot of a small generated world."""
    world = generate_world(GeneratorConfig(accounts=150, months=12, seed=4))
    ds = Dataset(world.tables)
    dates = pd.date_range("2024-03-01", periods=8, freq="MS", tz="UTC")
    snaps = spine(ds, list(dates))
    got = checked_labels(ds, snaps, ["churn", "renewal", "upsell"], OutcomeConfig())
    assert got["churn"].notna().sum() > 500 and got["churn"].sum() > 10  # a real population, with churners
    checked_labels(ds, snaps, ["churn"], OutcomeConfig(churn_definition="activity"))
