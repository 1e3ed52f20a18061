"""The synthetic world: deterministic, valid, realistic, and with the planted drivers visible."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from features.contract import TABLE_SPECS, Kind
from features.loader import load_dataset
from features.validation import validate_dataset
from simulator import (
    CHURN_DRIVERS,
    GeneratorConfig,
    World,
    generate_world,
    write_world,
)

SMALL = GeneratorConfig(accounts=200, months=10, seed=7)
DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def small() -> World:
    return generate_world(SMALL)


@pytest.fixture(scope="module")
def medium() -> World:
    """Big enough for stable rates and AUC (about 15,000 labelled snapshots), still fast."""
    return generate_world(GeneratorConfig(accounts=1500, months=24, seed=3))


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.parquet"))}


def test_same_seed_gives_byte_identical_files(tmp_path: Path, small: World) -> None:
    """It writes byte-identical files for the same seed."""
    write_world(small, tmp_path / "a")
    write_world(generate_world(SMALL), tmp_path / "b")
    first, second = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert set(first) == {f"{t}.parquet" for t in TABLE_SPECS} | {"ground_truth.parquet"}
    assert first == second
    assert not list((tmp_path / "a").glob("*.tmp"))


def test_another_seed_gives_other_data(small: World) -> None:
    """It generates different data for a different seed."""
    other = generate_world(GeneratorConfig(accounts=200, months=10, seed=8))
    for name in ("usage_events", "support_tickets", "subscriptions"):
        assert not small.tables[name].equals(other.tables[name])


def test_world_passes_validation_without_future_rows(tmp_path: Path, small: World) -> None:
    """Its files pass the project's validation, with no rows dated in the future."""
    write_world(small, tmp_path)
    report = validate_dataset(load_dataset(tmp_path))
    assert report.ok, [str(p) for p in report.errors]
    assert not [w for w in report.warnings if "dated after" in w.message]


def test_tables_are_typed_as_the_loader_types_them(tmp_path: Path, small: World) -> None:
    """Its in-memory tables hold only contract columns, typed as the loader would type them."""
    write_world(small, tmp_path)
    loaded = load_dataset(tmp_path)
    for name, frame in small.tables.items():
        spec = TABLE_SPECS[name]
        assert set(frame.columns) <= set(spec.column_names)
        assert set(spec.required_columns) <= set(frame.columns)
        for col in frame.columns:
            kind = spec.column(col).kind
            expected = {
                Kind.ID: "string",
                Kind.TEXT: "string",
                Kind.TIMESTAMP: "datetime64[us, UTC]",
                Kind.FLOAT: "float64",
                Kind.INT: "Int64",
            }[kind]
            assert frame[col].dtype == expected, (name, col, frame[col].dtype)
            assert loaded.tables[name][col].dtype == expected
        pd.testing.assert_frame_equal(
            frame.reset_index(drop=True), loaded.tables[name], check_dtype=False, check_exact=True
        )


def test_ids_are_strings(small: World) -> None:
    """It writes IDs as zero-padded strings, never numbers."""
    accounts = small.tables["accounts"]["account_id"]
    assert accounts.str.fullmatch(r"A\d{6}").all()
    assert small.tables["usage_events"]["user_id"].str.fullmatch(r"A\d{6}-U\d{4}").all()
    assert small.tables["support_tickets"]["ticket_id"].str.startswith("T").all()
    assert small.tables["invoices"]["invoice_id"].str.startswith("INV").all()


def test_world_has_the_expected_texture(small: World) -> None:
    """It has trials, both plans, all segments, open tickets, unpaid invoices and duplicates."""
    t = small.tables
    assert t["accounts"]["trial_converted_at"].notna().any()
    assert {"SMB", "mid-market", "enterprise"} <= set(t["accounts"]["segment"])
    plans = t["subscriptions"]["plan"].str.split("-").str[0]
    assert {"monthly", "annual"} <= set(plans)
    assert t["subscriptions"]["end_date"].notna().all()  # every term's end is agreed at its start
    assert t["support_tickets"]["resolved_at"].isna().any()
    assert set(t["support_tickets"]["priority"]) == {"low", "normal", "high", "urgent"}
    assert t["invoices"]["paid_at"].isna().any()
    assert set(t["surveys"]["kind"]) == {"nps", "csat", "ces"}
    assert set(t["csm_inputs"]["sentiment"]) == {"red", "yellow", "green"}
    usage = t["usage_events"]
    assert usage["event_id"].duplicated().any()
    assert usage.duplicated().sum() == usage["event_id"].duplicated().sum()
    weekday = usage["timestamp"].dt.dayofweek
    assert (weekday >= 5).mean() < 0.15  # fewer events at weekends


def test_ground_truth_covers_every_active_account_month(small: World) -> None:
    """It gives one ground-truth row per account with an active subscription at a month start."""
    subs = small.tables["subscriptions"]
    start = pd.Timestamp(SMALL.start, tz="UTC")
    months = pd.date_range(start, periods=SMALL.months, freq="MS").astype("datetime64[us, UTC]")
    pairs = subs.merge(pd.DataFrame({"as_of": months}), how="cross")
    end = pairs["end_date"].fillna(pd.Timestamp.max.tz_localize("UTC"))
    active = pairs[(pairs["start_date"] <= pairs["as_of"]) & (pairs["as_of"] < end)]
    expected = set(zip(active["account_id"], active["as_of"], strict=True))
    gt = small.ground_truth
    assert set(zip(gt["account_id"], gt["as_of"], strict=True)) == expected
    assert not gt.duplicated(["account_id", "as_of"]).any()
    assert gt["churn_probability"].between(0, 1).all() and gt["upsell_probability"].between(0, 1).all()
    assert set(gt["top_driver"]) <= {"none", *CHURN_DRIVERS}
    # Outcomes are unknown where the 90-day window passes the end of the data.
    horizon_end = gt["as_of"] + pd.Timedelta(days=SMALL.horizon_days)
    data_end = start + pd.DateOffset(months=SMALL.months)
    assert gt.loc[horizon_end > data_end, "churned"].isna().all()
    assert gt.loc[horizon_end <= data_end, "churned"].notna().all()


def test_churn_rate_and_ground_truth_auc_are_realistic(medium: World) -> None:
    """Its 90-day churn rate is 5-12% and the ground truth's churn AUC is 0.80-0.92."""
    gt = medium.ground_truth.dropna(subset=["churned"])
    y = gt["churned"].to_numpy(bool)
    assert 0.05 <= y.mean() <= 0.12
    auc = roc_auc_score(y, gt["churn_probability"].to_numpy())
    assert 0.80 <= auc <= 0.92
    assert auc == pytest.approx(medium.summary.ground_truth_auc)
    # The probabilities are calibrated on average.
    assert gt["churn_probability"].mean() == pytest.approx(y.mean(), abs=0.015)


def _snapshot_signals(world: World) -> pd.DataFrame:
    """Simple point-in-time signals (rows strictly before as_of) for every labelled snapshot."""
    t = world.tables
    gt = world.ground_truth.dropna(subset=["churned"]).copy()
    usage = t["usage_events"][["account_id", "user_id", "timestamp"]]
    parts = []
    for as_of, snap in gt.groupby("as_of"):
        recent = usage[(usage["timestamp"] >= as_of - 30 * DAY) & (usage["timestamp"] < as_of)]
        earlier = usage[(usage["timestamp"] >= as_of - 90 * DAY) & (usage["timestamp"] < as_of - 60 * DAY)]
        f = snap.set_index("account_id")[["churned", "upsell_probability"]]
        f["users_now"] = recent.groupby("account_id")["user_id"].nunique()
        f["users_before"] = earlier.groupby("account_id")["user_id"].nunique()
        tickets = t["support_tickets"]
        open_high = tickets[
            (tickets["opened_at"] < as_of)
            & ~(tickets["resolved_at"] < as_of)
            & tickets["priority"].isin(["high", "urgent"])
        ]
        f["open_high"] = open_high.groupby("account_id").size()
        nps = t["surveys"][
            (t["surveys"]["kind"] == "nps")
            & (t["surveys"]["answered_at"] < as_of)
            & (t["surveys"]["answered_at"] >= as_of - 180 * DAY)
        ]
        # Latest NPS answer in the last 180 days: 1 detractor, 0 passive or promoter, NaN none.
        last = nps.sort_values("answered_at").groupby("account_id")["score"].last()
        f["detractor"] = (last <= 6).astype(float)
        inv = t["invoices"]
        overdue = inv[(inv["due_at"] < as_of) & ~(inv["paid_at"] < as_of)]
        f["overdue"] = overdue.groupby("account_id").size()
        subs = t["subscriptions"]
        live = subs[(subs["start_date"] < as_of) & ~(subs["end_date"] <= as_of)]
        f["seats"] = live.groupby("account_id")["seats"].sum().astype(float)
        later = subs[(subs["start_date"] < as_of + 90 * DAY) & ~(subs["end_date"] <= as_of + 89 * DAY)]
        f["seats_later"] = later.groupby("account_id")["seats"].sum().astype(float)
        parts.append(f)
    out = pd.concat(parts)
    fill = ["users_now", "users_before", "open_high", "overdue", "seats_later"]
    out[fill] = out[fill].fillna(0)
    out["churned"] = out["churned"].astype(bool)
    return out


@pytest.fixture(scope="module")
def signals(medium: World) -> pd.DataFrame:
    return _snapshot_signals(medium)


def _rate(frame: pd.DataFrame, mask: pd.Series, column: str = "churned") -> float:
    return float(frame.loc[mask, column].mean())


def test_falling_active_users_come_before_churn(signals: pd.DataFrame) -> None:
    """Churned accounts' active users fall before churn far more often than retained ones'."""
    falling = signals["users_now"] < 0.75 * signals["users_before"]
    churned = signals["churned"]
    assert falling[churned].mean() > 2 * falling[~churned].mean()


@pytest.mark.parametrize("driver", ["open_high", "detractor", "overdue"])
def test_planted_drivers_raise_churn(signals: pd.DataFrame, driver: str) -> None:
    """Accounts with open high-priority tickets, detractor NPS or overdue invoices churn more."""
    known = signals[signals[driver].notna()]  # accounts that never answer NPS are left out
    flagged = known[driver].astype(float) > 0
    assert flagged.sum() > 100
    assert _rate(known, flagged) > 1.3 * _rate(known, ~flagged)


def test_high_utilisation_accounts_upsell_more(signals: pd.DataFrame) -> None:
    """Accounts using most of their seats buy more seats more often."""
    util = signals["users_now"] / signals["seats"]
    grew = signals["seats_later"] > signals["seats"]
    high = util >= 0.8
    assert high.sum() > 100
    assert grew[high].mean() > 2 * grew[util < 0.5].mean()
    assert signals.loc[high, "upsell_probability"].mean() > 2 * signals.loc[util < 0.5, "upsell_probability"].mean()


def test_annual_plans_churn_only_at_renewal(medium: World) -> None:
    """An annual account's coverage only ever ends at the end of a twelve-month term."""
    subs = medium.tables["subscriptions"]
    annual = subs[subs["plan"].str.startswith("annual")]
    last_end = annual.groupby("account_id")["end_date"].max()
    data_end = pd.Timestamp(date(2026, 1, 1), tz="UTC")
    ended = last_end[last_end < data_end]
    assert len(ended) > 20
    terms = annual[(annual["end_date"] - annual["start_date"]).dt.days.between(364, 367)]
    term_ends = set(zip(terms["account_id"], terms["end_date"], strict=True))
    assert all((a, e) in term_ends for a, e in ended.items())


def test_monthly_terms_are_single_months_that_never_hide_a_cancellation(medium: World) -> None:
    """Monthly plans get one row per billing month whose end is the next anniversary.

    No row spans more than a month, so no end_date was decided after its start_date (a
    cancellation is the absence of a next row), and rows of one plan line tile time without
    overlaps: a row never covers a month that the account did not take.
    """
    subs = medium.tables["subscriptions"]
    monthly = subs[subs["plan"].str.startswith("monthly")].sort_values(["account_id", "start_date"])
    assert len(monthly) > 1000
    days = (monthly["end_date"] - monthly["start_date"]).dt.days
    assert days.between(28, 31).all()
    # Start and end fall on the same day of the month (the anniversary), fixed per account.
    assert (monthly["start_date"].dt.day == monthly["end_date"].dt.day).all()
    assert monthly.groupby("account_id")["start_date"].agg(lambda d: d.dt.day.nunique()).eq(1).all()
    # Consecutive rows of an account: the next starts exactly where the previous ends (no
    # overlap, no gap), and each account has a single unbroken run of monthly terms.
    nxt = monthly.groupby("account_id")["start_date"].shift(-1)
    has_next = nxt.notna()
    assert (nxt[has_next] == monthly.loc[has_next, "end_date"]).all()
    # Cancelled plans exist: their last row ends before the data ends and nothing follows it.
    last_end = monthly.groupby("account_id")["end_date"].max()
    assert (last_end < pd.Timestamp(date(2026, 1, 1), tz="UTC")).sum() > 20
    # Seat changes take effect at an anniversary: a new row with other seats and ARR.
    prev_seats = monthly.groupby("account_id")["seats"].shift()
    changed = prev_seats.notna() & (monthly["seats"] != prev_seats)
    assert changed.sum() > 20
    assert (monthly.loc[changed, "arr"] != monthly.groupby("account_id")["arr"].shift()[changed]).all()


def test_no_row_end_is_decided_after_its_start(medium: World) -> None:
    """Every row's end is a term end known at its start: a 12-month term, an add-on to the
    term end, or a monthly term; so the term end never tells the future."""
    subs = medium.tables["subscriptions"]
    assert subs["end_date"].notna().all()
    annual = subs[subs["plan"].str.startswith("annual")]
    base = annual[(annual["end_date"] - annual["start_date"]).dt.days.between(364, 367)]
    # Add-on rows (shorter) end exactly on a 12-month term end of the same account.
    addons = annual.drop(base.index)
    term_ends = set(zip(base["account_id"], base["end_date"], strict=True))
    assert len(addons) > 0
    assert all(pair in term_ends for pair in zip(addons["account_id"], addons["end_date"], strict=True))


def test_usage_stops_after_churn(medium: World) -> None:
    """After a monthly plan is cancelled, usage stops (a few straggling days at most)."""
    subs = medium.tables["subscriptions"]
    monthly = subs[subs["plan"].str.startswith("monthly")]
    last = monthly.sort_values("start_date").groupby("account_id").tail(1)
    data_end = pd.Timestamp(date(2026, 1, 1), tz="UTC")
    cancelled = last[last["end_date"] < data_end].set_index("account_id")["end_date"]
    assert len(cancelled) > 20
    usage = medium.tables["usage_events"]
    last_event = usage.groupby("account_id")["timestamp"].max()
    gap = last_event.reindex(cancelled.index) - cancelled
    assert (gap.dropna() < pd.Timedelta(days=4)).all()


def test_trials_that_do_not_convert_have_no_subscription(medium: World) -> None:
    """A trial that does not convert has no subscription; its usage stops with the trial."""
    t = medium.tables
    accounts = t["accounts"]
    subscribed = set(t["subscriptions"]["account_id"])
    never = accounts[~accounts["account_id"].isin(subscribed)]
    assert len(never) > 10
    last_event = t["usage_events"].groupby("account_id")["timestamp"].max().reindex(never["account_id"])
    used = (last_event.to_numpy() - never["created_at"].to_numpy()) / np.timedelta64(1, "D")
    assert np.nanmax(used) <= 15


def test_progress_is_reported_and_bad_config_is_refused() -> None:
    """It reports progress from 0 to 1 and refuses a nonsensical config."""
    seen: list[tuple[str, float]] = []
    generate_world(GeneratorConfig(accounts=30, months=6, seed=1), progress=lambda s, f: seen.append((s, f)))
    assert seen[-1] == ("done", 1.0)
    assert all(0.0 <= f <= 1.0 for _, f in seen)
    with pytest.raises(ValueError, match="accounts"):
        GeneratorConfig(accounts=0)
    with pytest.raises(ValueError, match="trial_share"):
        GeneratorConfig(trial_share=1.5)
