"""Customer-success KPIs of the seeds, per calendar month (UTC) and segment, declared as data.

Each :class:`KPI` says what it measures, its formula in words (``docs/kpis.md`` explains
each), its unit, which way is good, and which tables and columns it needs.
:func:`compute_kpis` computes every KPI whose tables are present on the ibis engine
(DuckDB or Spark, see :mod:`features.kpi_exprs`) and lists the others with the reason.

Why here and not in ``serving``: KPIs are computed from the raw input tables with the same
ibis engine and conventions as the signal builders (integer UTC microseconds, skip what
is absent); the report in ``serving`` only reads the result.

Conventions:
    * a month is ``[first day 00:00 UTC, first day of the next month)``; only months that
      lie wholly inside the data (first to last activity) are reported;
    * every KPI has a row for each segment (``accounts.segment``, nulls as ``unknown``) and
      for ``all``;
    * a month with nothing to measure (no answers, no tickets, no customers) has a null
      value, never 0; ``n`` says how many rows the value rests on;
    * KPIs that need the grace period after the month (churn, retention, renewals) are
      null until the data reach the month end plus the grace period.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
from ibis.backends import BaseBackend

from features.config import KPIConfig
from features.contract import SEGMENTS
from features.engine import connect, engine_for, register_frame, register_tables
from features.kpi_exprs import GROUPS, engagement_inputs
from features.loader import Dataset
from features.signals import NO_KEY_EVENTS, Requirement, SkippedSignal, missing_requirement, split_present
from features.times import from_micros, micros_list, utc
from features.validation import data_end

KPIS_VERSION = "1.0"
ALL = "all"

_SUBS: Requirement = ("subscriptions", ("account_id", "start_date", "end_date", "arr"))
_SURVEYS: Requirement = ("surveys", ("account_id", "answered_at", "kind", "score"))
_RESOLVED: Requirement = ("support_tickets", ("account_id", "opened_at", "resolved_at"))
_USAGE: Requirement = ("usage_events", ("account_id", "timestamp", "event"))


@dataclass(frozen=True)
class KPI:
    """One portfolio KPI: what it is, how it is computed, and what it needs."""

    name: str
    label: str
    group: str  # the query that computes it (see features.kpi_exprs.GROUPS)
    unit: str  # percent, currency, points, score, hours, days
    direction: int  # +1 higher is better, -1 lower is better, 0 context
    formula: str
    requires: tuple[Requirement, ...]
    settles: bool = False  # needs the grace period after the month end

    def missing(self, present: Mapping[str, Sequence[str]]) -> str | None:
        """Why this KPI cannot be computed from ``present`` tables/columns, or None."""
        return missing_requirement((("accounts", ("account_id", "created_at")), *self.requires), present)


SkippedKPI = SkippedSignal  # a KPI left out of a run, and why


def _k(
    name: str,
    label: str,
    group: str,
    unit: str,
    direction: int,
    formula: str,
    *requires: Requirement,
    settles: bool = False,
) -> KPI:
    return KPI(name, label, group, unit, direction, formula, requires, settles)


# S, E, N: customers at the month start, customers at the month end, customers at the end
# who were not customers at the start. A customer holds a subscription term at that moment;
# gaps between terms shorter than the grace period are bridged, as in the training labels.
KPIS: tuple[KPI, ...] = (
    _k(
        "churn_rate",
        "Customer churn rate",
        "customers",
        "percent",
        -1,
        "(S - customers of S still customers at the month end) / S x 100",
        _SUBS,
        settles=True,
    ),
    _k(
        "retention_rate",
        "Customer retention rate (CRR)",
        "customers",
        "percent",
        +1,
        "(E - N) / S x 100",
        _SUBS,
        settles=True,
    ),
    _k(
        "gross_revenue_retention",
        "Gross revenue retention",
        "customers",
        "percent",
        +1,
        "sum over S of min(ARR at end, ARR at start) / sum over S of ARR at start x 100",
        _SUBS,
        settles=True,
    ),
    _k(
        "net_revenue_retention",
        "Net revenue retention",
        "customers",
        "percent",
        +1,
        "sum over S of ARR at end / sum over S of ARR at start x 100",
        _SUBS,
        settles=True,
    ),
    _k(
        "renewal_rate",
        "Renewal rate",
        "renewals",
        "percent",
        +1,
        "accounts whose fixed term (>= min_term_days) ends in the month and that start a next term "
        "within [end - 1 day, end + grace) / accounts with such a term ending x 100",
        _SUBS,
        settles=True,
    ),
    _k(
        "expansion_revenue",
        "Expansion (upsell) revenue",
        "customers",
        "currency",
        +1,
        "sum over customers at start and end of max(ARR at end - ARR at start, 0)",
        _SUBS,
        settles=True,
    ),
    _k(
        "customer_lifetime_value",
        "Customer lifetime value",
        "customers",
        "currency",
        +1,
        "(sum of ARR at start / S / 12) x (1 / monthly churn rate) x margin "
        "= sum of ARR at start / 12 / churned x margin",
        _SUBS,
        settles=True,
    ),
    _k(
        "nps",
        "Net Promoter Score",
        "surveys",
        "points",
        +1,
        "(NPS answers 9-10 - NPS answers 0-6) / NPS answers x 100",
        _SURVEYS,
    ),
    _k(
        "csat",
        "Customer satisfaction (CSAT)",
        "surveys",
        "percent",
        +1,
        "CSAT answers of 4 or 5 / CSAT answers x 100",
        _SURVEYS,
    ),
    _k(
        "effort_score",
        "Customer effort score",
        "surveys",
        "score",
        -1,
        "sum of effort (ces) answers / number of effort answers",
        _SURVEYS,
    ),
    _k(
        "avg_handle_time",
        "Average handle time",
        "support",
        "hours",
        -1,
        "sum of (resolved_at - opened_at) in hours / tickets resolved in the month",
        _RESOLVED,
    ),
    _k(
        "first_contact_resolution",
        "First-contact resolution rate",
        "support",
        "percent",
        +1,
        "tickets resolved in the month with contacts = 1 / tickets resolved with contacts known x 100",
        (_RESOLVED[0], (*_RESOLVED[1], "contacts")),
    ),
    _k(
        "time_to_value",
        "Time to value",
        "onboarding",
        "days",
        -1,
        "mean days from created_at to the first key event (0 if logged before created_at), over accounts "
        "that signed up in the month (after the usage log starts) and have reached a key event",
        _USAGE,
    ),
    _k(
        "trial_conversion",
        "Trial-to-paid conversion",
        "trials",
        "percent",
        +1,
        "trials ending in the month (created_at + trial_days) that converted (trial_converted_at set) "
        "/ trials ending in the month x 100; a trial has trial_converted_at or never a subscription",
        ("accounts", ("trial_converted_at",)),
        ("subscriptions", ("account_id",)),
    ),
    _k(
        "referral_rate",
        "Referral rate",
        "referrals",
        "percent",
        +1,
        "purchases in the month that came through a referral (referrals.converted_at in the month) "
        "/ purchases in the month (accounts whose first subscription starts in the month) x 100; "
        "segment: the referred account's, else the referrer's",
        _SUBS,
        ("referrals", ("referrer_account_id", "referred_at", "converted_at")),
    ),
    _k(
        "engagement_disengaged",
        "Engagement 0-40 (disengaged)",
        "engagement",
        "percent",
        -1,
        "customers at the month end with engagement score <= 40 / customers with a score x 100",
        _USAGE,
    ),
    _k(
        "engagement_somewhat",
        "Engagement 41-75 (somewhat engaged)",
        "engagement",
        "percent",
        0,
        "customers at the month end with 40 < engagement score <= 75 / customers with a score x 100",
        _USAGE,
    ),
    _k(
        "engagement_highly",
        "Engagement 76-100 (highly engaged)",
        "engagement",
        "percent",
        +1,
        "customers at the month end with engagement score > 75 / customers with a score x 100",
        _USAGE,
    ),
)
KPIS_BY_NAME: dict[str, KPI] = {k.name: k for k in KPIS}


@dataclass(frozen=True)
class KPIResult:
    """KPIs of one dataset.

    Attributes:
        frame: month (datetime64[us, UTC], first day), segment, kpi, value (float64, NaN
            when there is nothing to measure), n (the count the value rests on).
        kpis: the computed KPIs, in catalog order.
        skipped: KPIs left out because a table or column is absent.
        segments: ``all`` first, then the segments in order.
        months: the months reported.
    """

    frame: pd.DataFrame
    kpis: tuple[KPI, ...]
    skipped: tuple[SkippedKPI, ...]
    segments: tuple[str, ...]
    months: tuple[pd.Timestamp, ...]
    config: KPIConfig

    def value(self, kpi: str, month: str | pd.Timestamp, segment: str = ALL) -> float | None:
        """One value (None when empty), e.g. ``result.value("nps", "2025-03")``."""
        stamp = utc(month)
        f = self.frame
        row = f[(f.kpi == kpi) & (f.month == stamp) & (f.segment == segment)]
        if row.empty:
            raise KeyError(f"no KPI {kpi!r} for {month} and segment {segment!r}")
        v = float(row["value"].iloc[0])
        return None if v != v else v


def directions(config: KPIConfig) -> dict[str, int]:
    """KPI directions under ``config``: the effort score follows its scale direction."""
    effort = +1 if config.features.effort_higher_is_better else -1
    return {k.name: effort if k.name == "effort_score" else k.direction for k in KPIS}


def split_kpis(
    present: Mapping[str, Sequence[str]], config: KPIConfig | None = None
) -> tuple[tuple[KPI, ...], tuple[SkippedKPI, ...]]:
    """KPIs computable from ``present`` (table -> its columns), and the skipped ones.

    Time to value needs key events: without any configured it is skipped with that reason.
    """
    kpis, skipped = split_present(KPIS, present)
    if config is None or config.features.key_events:
        return kpis, skipped
    keyed = [k for k in kpis if k.name == "time_to_value"]
    return tuple(k for k in kpis if k not in keyed), skipped + tuple(SkippedKPI(k.name, NO_KEY_EVENTS) for k in keyed)


def data_window(dataset: Dataset) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[first, last] activity: the usage log if present, else every event table except accounts.

    Account sign-ups (and back-filled subscriptions) can predate the activity tables by
    years, so they do not start the window.
    """
    end = data_end(dataset)
    firsts = []
    for table, column in (
        ("usage_events", "timestamp"),
        ("support_tickets", "opened_at"),
        ("surveys", "answered_at"),
        ("invoices", "issued_at"),
        ("csm_inputs", "recorded_at"),
    ):
        first = dataset.time_bounds(table, column)[0]
        if first is not None:
            firsts.append(first)
            if table == "usage_events":
                break
    if end is None or not firsts:
        raise ValueError("the dataset has no dated activity rows: cannot tell which months it covers")
    return firsts[0] if len(firsts) == 1 else min(firsts), end


def report_months(first: pd.Timestamp, last: pd.Timestamp) -> list[pd.Timestamp]:
    """Calendar months lying wholly inside [first day of ``first``, end of the day of ``last``]."""
    lo, hi = first.floor("D"), last.floor("D") + pd.Timedelta(days=1)
    starts = pd.date_range(lo.replace(day=1) if lo.day == 1 else lo + pd.offsets.MonthBegin(1), hi, freq="MS")
    return [m.as_unit("us") for m in starts if m + pd.offsets.MonthBegin(1) <= hi]


Progress = Callable[[str, float], None]


def compute_kpis(
    dataset: Dataset,
    *,
    engine: str = "duckdb",
    config: KPIConfig = KPIConfig(),  # noqa: B008 - frozen, so safe as a default
    months: Sequence[pd.Timestamp] | None = None,
    con: BaseBackend | None = None,
    progress: Progress | None = None,
) -> KPIResult:
    """Every available KPI for every month (default: the months the data cover) and segment."""
    say = progress or (lambda _m, _f: None)
    if not dataset.has("accounts", "account_id") or not dataset.has("accounts", "created_at"):
        raise ValueError("accounts table with account_id and created_at is required for KPIs")
    first, last = data_window(dataset)
    limit = last.floor("D") + pd.Timedelta(days=1)
    stamps = list(months) if months is not None else report_months(first, last)
    if not stamps:
        raise ValueError(f"the data ({first:%Y-%m-%d} to {last:%Y-%m-%d}) hold no whole calendar month")
    present = dataset.present_columns()
    kpis, skipped = split_kpis(present, config)
    con = con or connect(engine_for(dataset, engine))
    say(f"registering tables on {con.name}", 0.05)
    tables = register_tables(con, dataset, prefix="kpi_")
    month_frame = {"month": micros_list(stamps), "month_end": micros_list(m + pd.offsets.MonthBegin(1) for m in stamps)}
    month_series = {k: pd.Series(v, dtype="int64") for k, v in month_frame.items()}
    tables["months"] = register_frame(con, "kpi_months", month_series)
    if any(k.group == "engagement" for k in kpis):
        tables.update(engagement_inputs(con, month_frame["month_end"]))
    rows = []
    groups = list(dict.fromkeys(k.group for k in kpis))
    for i, group in enumerate(groups):
        say(f"computing {group} KPIs", 0.1 + 0.85 * i / len(groups))
        wanted = [k for k in kpis if k.group == group]
        expr = GROUPS[group](tables, config, present)
        rows.append(_long(con.execute(expr), wanted))
    segments = _segments(dataset)
    frame = _grid(rows, stamps, segments, kpis)
    settle_at = frame["month"] + pd.offsets.MonthBegin(1) + pd.Timedelta(days=config.grace_days)
    unsettled = frame["kpi"].isin([k.name for k in kpis if k.settles]) & (settle_at > limit)
    frame.loc[unsettled, "value"] = float("nan")
    return KPIResult(frame, kpis, skipped, segments, tuple(stamps), config)


def _segments(dataset: Dataset) -> tuple[str, ...]:
    accounts = dataset.tables["accounts"]
    if "segment" not in accounts:
        return (ALL,)
    names = {str(n) for n in accounts["segment"].astype("string").fillna("unknown").unique()}
    known = [s for s in SEGMENTS if s in names]  # the contract's order: SMB, mid-market, enterprise
    return (ALL, *known, *sorted(names - set(known)))


def _long(result: pd.DataFrame, kpis: Sequence[KPI]) -> pd.DataFrame:
    """One group's wide result (month, segment, <kpi>, <kpi>__n) as long rows."""
    parts = [
        pd.DataFrame(
            {
                "month": result["month"].astype("int64"),
                "segment": result["segment"].astype(str),
                "kpi": k.name,
                "value": pd.to_numeric(result[k.name], errors="coerce").astype("float64"),
                "n": pd.to_numeric(result[f"{k.name}__n"], errors="coerce").fillna(0).astype("int64"),
            }
        )
        for k in kpis
    ]
    return pd.concat(parts, ignore_index=True)


def _grid(
    rows: list[pd.DataFrame], months: Sequence[pd.Timestamp], segments: Sequence[str], kpis: Sequence[KPI]
) -> pd.DataFrame:
    """Every (month, segment, kpi) once: a combination with no rows gets a null value and n = 0."""
    index = pd.MultiIndex.from_product(
        [micros_list(months), list(segments), [k.name for k in kpis]], names=["month", "segment", "kpi"]
    )
    data = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["month", "segment", "kpi"])
    full = data.set_index(["month", "segment", "kpi"]).reindex(index).reset_index()
    full["n"] = full["n"].fillna(0).astype("int64")
    full["value"] = full["value"].astype("float64")
    full["month"] = from_micros(full["month"])
    return full
