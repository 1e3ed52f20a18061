"""KPIs against values computed by hand on tiny hand-written datasets."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from pit_worlds import dataset, typed

from features.config import EngagementActivity, FeatureConfig
from features.engine import connect
from features.kpi import KPIS, KPIConfig, compute_kpis

MONTHS = [pd.Timestamp(m, tz="UTC") for m in ("2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01")]


@pytest.fixture(scope="module")
def con():
    return connect("duckdb")


def _accounts(*rows: tuple[str, str, str]) -> list[dict[str, object]]:
    return [{"account_id": a, "created_at": c, "segment": s} for a, c, s in rows]


def _usage(*rows: tuple[str, str, str]) -> list[dict[str, object]]:
    return [{"account_id": a, "user_id": f"{a}-u", "timestamp": t, "event": e} for a, t, e in rows]


# The data window runs from the first to the last usage event.
WINDOW = _usage(("A", "2024-01-01", "login"), ("A", "2024-05-20", "login"))


def kpis(tables: dict, con, config: KPIConfig = KPIConfig(), months=MONTHS):  # noqa: B008
    return compute_kpis(dataset(tables), config=config, months=months, con=con)


def test_nps_csat_and_effort_by_hand(con) -> None:
    """NPS of 10, 9, 8, 7, 6, 0 is (2 - 2) / 6 = 0; a month with no answers has no value, not 0."""
    answers = [
        ("A", "nps", 10),
        ("A", "nps", 9),
        ("A", "nps", 8),
        ("B", "nps", 7),
        ("B", "nps", 6),
        ("B", "nps", 0),
        ("A", "csat", 5),
        ("A", "csat", 4),
        ("B", "csat", 3),
        ("B", "csat", 1),
        ("A", "ces", 2),
        ("B", "ces", 4),
        ("B", "ces", 6),
    ]
    rows = [
        {"account_id": a, "answered_at": f"2024-03-{i + 1:02d} 12:00", "kind": k, "score": s}
        for i, (a, k, s) in enumerate(answers)
    ]
    rows += [{"account_id": "A", "answered_at": "2024-04-30 23:59:59", "kind": "nps", "score": s} for s in (10, 10, 5)]
    rows += [{"account_id": "A", "answered_at": "2024-05-01 00:00", "kind": "nps", "score": None}]  # no score
    r = kpis(
        {
            "accounts": _accounts(("A", "2023-01-01", "SMB"), ("B", "2023-01-01", "enterprise")),
            "usage_events": WINDOW,
            "surveys": rows,
        },
        con,
    )
    assert r.value("nps", "2024-03") == 0.0
    assert r.value("nps", "2024-03", "SMB") == pytest.approx(100 * 2 / 3)  # 10, 9, 8
    assert r.value("nps", "2024-03", "enterprise") == pytest.approx(-100 * 2 / 3)  # 7, 6, 0
    assert r.value("nps", "2024-04") == pytest.approx(100 * (2 - 1) / 3)
    assert r.value("nps", "2024-02") is None and r.value("nps", "2024-05") is None
    assert r.value("nps", "2024-04", "enterprise") is None
    assert r.value("csat", "2024-03") == 50.0
    assert r.value("effort_score", "2024-03") == 4.0
    assert r.value("csat", "2024-04") is None
    f = r.frame
    assert f[(f.kpi == "nps") & (f.segment == "all")]["n"].tolist() == [0, 6, 3, 0]


def _sub(account: str, start: str, end: str | None, arr: float) -> dict[str, object]:
    return {"account_id": account, "start_date": start, "end_date": end, "arr": arr}


CUSTOMERS = {
    "accounts": _accounts(*[(a, "2023-06-01", "SMB" if a in "ABE" else "enterprise") for a in "ABCDEF"]),
    "usage_events": WINDOW,
    "subscriptions": [
        _sub("A", "2024-01-01", None, 1200),  # stays
        _sub("B", "2024-01-01", "2024-03-15", 600),  # lost in March
        _sub("C", "2024-02-01", "2024-03-10", 1200),  # a 10-day gap (< 30-day grace), then a bigger term
        _sub("C", "2024-03-20", "2024-06-01", 2400),
        _sub("D", "2024-03-05", None, 100),  # new in March
        _sub("E", "2024-01-01", "2024-03-01", 500),  # ends exactly at 1 March: lost in February
        _sub("F", "2024-01-01", "2024-03-05", 300),  # 46-day gap: lost in March, back (new) in April
        _sub("F", "2024-04-20", None, 300),
    ],
}


def test_customer_kpis_by_hand(con) -> None:
    """March: S = {A, B, C, F}, E = {A, C, D}, N = {D}; churn 2/4, CRR (3 - 1) / 4, revenue by hand."""
    r = kpis(CUSTOMERS, con)
    assert r.value("churn_rate", "2024-03") == 50.0
    assert r.value("retention_rate", "2024-03") == 50.0
    start_arr = 1200 + 600 + 1200 + 300
    assert r.value("gross_revenue_retention", "2024-03") == pytest.approx(100 * (1200 + 1200) / start_arr)
    assert r.value("net_revenue_retention", "2024-03") == pytest.approx(100 * (1200 + 2400) / start_arr)
    assert r.value("expansion_revenue", "2024-03") == 1200.0
    assert r.value("customer_lifetime_value", "2024-03") == pytest.approx(start_arr / 12 / 2 * 0.8)
    assert r.value("churn_rate", "2024-03", "SMB") == 50.0  # A kept, B lost
    assert r.value("churn_rate", "2024-03", "enterprise") == 50.0  # C kept, F lost
    # February: S = {A, B, C, E, F} (C starts on 1 February), E lost at exactly 1 March.
    assert r.value("churn_rate", "2024-02") == 20.0
    assert r.value("expansion_revenue", "2024-02") == 0.0  # customers, none grew: a real 0
    f = r.frame
    assert f[(f.kpi == "churn_rate") & (f.segment == "all")]["n"].tolist() == [5, 4, 3, 4]


def test_unsettled_months_and_no_churn_give_no_value(con) -> None:
    """April needs data to 31 May (month end + 30-day grace); the data end on 20 May, so no value yet."""
    r = kpis(CUSTOMERS, con)
    assert r.value("churn_rate", "2024-04") is None
    longer = {**CUSTOMERS, "usage_events": [*WINDOW, *_usage(("A", "2024-06-30", "login"))]}
    r = kpis(longer, con)
    # April: S = {A, C, D}, all kept; F comes back: E = 4, N = 1, CRR = (4 - 1) / 3.
    assert r.value("churn_rate", "2024-04") == 0.0
    assert r.value("retention_rate", "2024-04") == 100.0
    assert r.value("customer_lifetime_value", "2024-04") is None  # no churn: lifetime unbounded
    assert r.value("customer_lifetime_value", "2024-04", "SMB") is None


def test_a_short_gap_across_the_month_end_is_not_churn(con) -> None:
    """A 16-day gap over 1 April is bridged by the 30-day grace period; with 10 days it is churn, then a return."""
    tables = {
        "accounts": _accounts(("K", "2023-01-01", "SMB"), ("L", "2023-01-01", "SMB")),
        "usage_events": [*WINDOW, *_usage(("A", "2024-06-30", "login"))],
        "subscriptions": [
            _sub("K", "2024-01-01", "2024-03-25", 100),
            _sub("K", "2024-04-10", None, 100),
            _sub("L", "2024-01-01", None, 100),
        ],
    }
    bridged = kpis(tables, con)
    assert bridged.value("churn_rate", "2024-03") == 0.0
    assert bridged.value("retention_rate", "2024-04") == 100.0
    strict = kpis(tables, con, KPIConfig(grace_days=10))
    assert strict.value("churn_rate", "2024-03") == 50.0
    assert strict.value("retention_rate", "2024-04") == 100.0  # (E 2 - N 1) / S 1
    assert strict.value("gross_revenue_retention", "2024-03") == 50.0


def test_margin_scales_lifetime_value(con) -> None:
    full = kpis(CUSTOMERS, con, KPIConfig(margin=1.0)).value("customer_lifetime_value", "2024-03")
    half = kpis(CUSTOMERS, con, KPIConfig(margin=0.5)).value("customer_lifetime_value", "2024-03")
    assert half == pytest.approx(full / 2)


def test_renewal_rate_by_hand(con) -> None:
    """Of three annual terms ending in March, two are followed within the grace period; monthly terms are not renewals."""
    subs = [
        _sub("G", "2023-03-10", "2024-03-10", 1000),
        _sub("G", "2024-03-10", "2025-03-10", 1000),
        _sub("H", "2023-03-15", "2024-03-15", 1000),
        _sub("H", "2024-04-20", "2025-04-20", 1000),  # 36 days late
        _sub("I", "2023-03-20", "2024-03-20", 1000),
        _sub("I", "2024-03-19", "2025-03-19", 1000),  # a day early
        _sub("J", "2024-02-20", "2024-03-20", 100),  # monthly, not counted
    ]
    r = kpis(
        {
            "accounts": _accounts(*[(a, "2023-01-01", "SMB") for a in "GHIJ"]),
            "usage_events": WINDOW,
            "subscriptions": subs,
        },
        con,
    )
    assert r.value("renewal_rate", "2024-03") == pytest.approx(100 * 2 / 3)
    assert r.value("renewal_rate", "2024-02") is None  # no fixed term ended


def _ticket(tid: str, opened: str, resolved: str | None, contacts: int | None) -> dict[str, object]:
    return {"ticket_id": tid, "account_id": "A", "opened_at": opened, "resolved_at": resolved, "contacts": contacts}


TICKETS = [
    _ticket("T1", "2024-03-01 10:00", "2024-03-01 12:00", 1),  # 2 h
    _ticket("T2", "2024-02-29 22:00", "2024-03-01 02:00", 2),  # 4 h, counted in March (resolved)
    _ticket("T3", "2024-03-10 00:00", "2024-03-10 09:00", None),  # 9 h, contacts unknown
    _ticket("T4", "2024-03-11 00:00", None, 1),  # open
]


def test_support_kpis_by_hand(con) -> None:
    """Handle time (2 + 4 + 9) / 3 = 5 h; first-contact resolution 1 of 2 known = 50%."""
    base = {"accounts": _accounts(("A", "2023-01-01", "SMB")), "usage_events": WINDOW}
    r = kpis({**base, "support_tickets": TICKETS}, con)
    assert r.value("avg_handle_time", "2024-03") == pytest.approx(5.0)
    assert r.value("first_contact_resolution", "2024-03") == 50.0
    assert r.value("avg_handle_time", "2024-04") is None
    no_contacts = typed("support_tickets", TICKETS, ["ticket_id", "account_id", "opened_at", "resolved_at"])
    r = kpis({**base, "support_tickets": no_contacts}, con)
    assert "first_contact_resolution" not in [k.name for k in r.kpis]
    assert [str(s) for s in r.skipped if s.name == "first_contact_resolution"] == [
        "first_contact_resolution: support_tickets has no column contacts"
    ]
    assert r.value("avg_handle_time", "2024-03") == pytest.approx(5.0)


def test_time_to_value_by_hand(con) -> None:
    """Sign-ups of March reaching a key event after 10, 4.5 and 0 days: 14.5 / 3; earlier sign-ups are left out."""
    accounts = _accounts(
        ("X", "2023-12-01", "SMB"),
        ("Y", "2024-03-02", "SMB"),
        ("Z", "2024-03-10", "SMB"),
        ("W", "2024-03-20", "SMB"),
        ("V", "2024-03-25 10:00", "SMB"),
    )
    usage = [
        *WINDOW,
        *_usage(
            ("X", "2024-03-05", "report_create"),
            ("Y", "2024-03-12", "report_create"),
            ("Y", "2024-03-05", "login"),
            ("Z", "2024-03-14 12:00", "integration_sync"),
            ("Z", "2024-03-20", "report_create"),
            ("W", "2024-03-21", "login"),
            ("V", "2024-03-25 08:00", "report_create"),
        ),
    ]  # logged before the sign-up time: day 0
    keyed = KPIConfig(features=FeatureConfig(key_events=("report_create", "integration_sync")))
    r = kpis({"accounts": accounts, "usage_events": usage}, con, keyed)
    assert r.value("time_to_value", "2024-03") == pytest.approx(14.5 / 3)
    assert r.value("time_to_value", "2024-04") is None


def test_trial_conversion_by_hand(con) -> None:
    """Trials ending in March: P converted, Q did not (R paid at once is no trial): 50%; April 0%; May none."""
    accounts = _accounts(
        ("P", "2024-03-01", "SMB"), ("Q", "2024-03-05", "SMB"), ("R", "2024-03-10", "SMB"), ("U", "2024-03-25", "SMB")
    )
    accounts[0]["trial_converted_at"] = "2024-03-15"
    subs = [_sub("P", "2024-03-15", None, 100), _sub("R", "2024-03-10", None, 100)]
    r = kpis({"accounts": accounts, "usage_events": WINDOW, "subscriptions": subs}, con)
    assert r.value("trial_conversion", "2024-03") == 50.0
    assert r.value("trial_conversion", "2024-04") == 0.0  # U's trial ended 8 April, unconverted
    assert r.value("trial_conversion", "2024-05") is None


def test_referral_rate_by_hand(con) -> None:
    """March purchases: N1 and N2 (SMB) and N3 (enterprise); N1 came through B's referral: 33.3% overall,
    50% SMB, 0% enterprise. April: no purchase, so no value (a referral made, not converted, is not a purchase)."""
    accounts = _accounts(
        ("B", "2023-01-01", "enterprise"),
        ("N1", "2024-02-20", "SMB"),
        ("N2", "2024-03-01", "SMB"),
        ("N3", "2024-03-02", "enterprise"),
    )
    subs = [
        _sub("B", "2023-01-01", None, 900),
        _sub("N1", "2024-03-05", None, 100),
        _sub("N2", "2024-03-10", None, 100),
        _sub("N3", "2024-03-20", None, 100),
    ]
    referrals = [
        {
            "referrer_account_id": "B",
            "referred_at": "2024-02-10",
            "referred_account_id": "N1",
            "converted_at": "2024-03-05",
        },
        {"referrer_account_id": "B", "referred_at": "2024-04-02"},
    ]
    r = kpis({"accounts": accounts, "usage_events": WINDOW, "subscriptions": subs, "referrals": referrals}, con)
    assert r.value("referral_rate", "2024-03") == pytest.approx(100 / 3)
    assert r.value("referral_rate", "2024-03", "SMB") == 50.0
    assert r.value("referral_rate", "2024-03", "enterprise") == 0.0
    assert r.value("referral_rate", "2024-04") is None
    f = r.frame
    assert f[(f.kpi == "referral_rate") & (f.month == MONTHS[1]) & (f.segment == "all")]["n"].item() == 3


def test_engagement_bands_by_hand(con) -> None:
    """Score = active days in 30 / 20 x 100: 4, 10, 20 and 16 days give 20, 50, 100, 80 -> 25% / 25% / 50%."""
    config = KPIConfig(features=FeatureConfig(engagement_activities=(EngagementActivity("active_days_30d", 1, 20),)))
    days = {"E1": 4, "E2": 10, "E3": 20, "E4": 16, "E5": 20}
    usage = [
        *WINDOW,
        *[u for a, n in days.items() for u in _usage(*[(a, f"2024-03-{d + 2:02d}", "login") for d in range(n)])],
    ]
    subs = [_sub(a, "2024-01-01", None, 100) for a in "E1 E2 E3 E4".split()] + [
        _sub("E5", "2024-01-01", "2024-03-20", 100)
    ]  # not a customer at the month end
    r = kpis(
        {
            "accounts": _accounts(*[(a, "2023-01-01", "SMB") for a in days]),
            "usage_events": usage,
            "subscriptions": subs,
        },
        con,
        config,
    )
    assert r.value("engagement_disengaged", "2024-03") == 25.0
    assert r.value("engagement_somewhat", "2024-03") == 25.0
    assert r.value("engagement_highly", "2024-03") == 50.0
    f = r.frame
    assert f[(f.kpi == "engagement_highly") & (f.month == MONTHS[1]) & (f.segment == "all")]["n"].item() == 4


def test_absent_tables_are_skipped_with_a_reason(con) -> None:
    """Only accounts and usage: survey, support, contract and trial KPIs are listed as skipped, not computed."""
    r = kpis({"accounts": _accounts(("A", "2023-01-01", "SMB")), "usage_events": WINDOW}, con)
    skipped = {s.name: s.reason for s in r.skipped}
    assert skipped["nps"] == "table surveys is absent"
    assert skipped["churn_rate"] == "table subscriptions is absent"
    assert skipped["referral_rate"] == "table subscriptions is absent"
    assert {k.name for k in r.kpis} | set(skipped) == {k.name for k in KPIS}
    assert set(r.frame["kpi"]) == {k.name for k in r.kpis}


def test_every_segment_row_sums_to_all(con) -> None:
    """The counts behind each KPI add up over segments to the `all` row, month by month."""
    r = kpis(CUSTOMERS, con)
    f = r.frame
    by_segment = f[f.segment != "all"].groupby(["month", "kpi"])["n"].sum()
    overall = f[f.segment == "all"].set_index(["month", "kpi"])["n"]
    pd.testing.assert_series_equal(by_segment.sort_index(), overall.sort_index(), check_names=False)
    assert r.segments == ("all", "SMB", "enterprise")


def test_months_default_to_whole_months_of_the_data(con) -> None:
    """Data from 1 January to 20 May cover January to April; May is partial and left out."""
    r = compute_kpis(dataset(CUSTOMERS), con=con)
    assert [m.strftime("%Y-%m") for m in r.months] == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert not any(math.isinf(v) for v in r.frame["value"].dropna())


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match="margin must be in"):
        KPIConfig(margin=0)


@pytest.mark.spark
@pytest.mark.slow
def test_spark_equals_duckdb(spark) -> None:
    """Every KPI gives the same numbers on Spark as on DuckDB."""
    tables = {
        **CUSTOMERS,
        "surveys": [{"account_id": "A", "answered_at": "2024-03-02", "kind": "nps", "score": 9}],
        "support_tickets": TICKETS,
        "referrals": [{"referrer_account_id": "A", "referred_at": "2024-02-02", "converted_at": "2024-03-02"}],
    }
    duck = compute_kpis(dataset(tables), months=MONTHS, engine="duckdb").frame
    on_spark = compute_kpis(dataset(tables), months=MONTHS, engine="spark").frame
    pd.testing.assert_frame_equal(on_spark, duck, check_exact=False, rtol=1e-9)
