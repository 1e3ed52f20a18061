"""The KPI queries of :mod:`features.kpi`, written once in ibis (DuckDB or Spark).

Times are int64 UTC microseconds (see :mod:`features.engine`); ``months(month,
month_end)`` holds the reported months as half-open intervals. Each query returns one row
per (month, segment), plus one per month for segment ``all``, with a ``<kpi>`` value
column and a ``<kpi>__n`` count column per KPI. Ratios divide by ``nullif(count, 0)``, so
a month with nothing to measure gives null, never 0 (and Spark's ANSI mode never sees
x / 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd
from ibis.backends import BaseBackend

from features.builders import features_expr
from features.config import ENGAGEMENT_BANDS, KPIConfig
from features.engine import register_frame
from features.rules import coverage_blocks, term_end
from features.signals import split_available
from features.times import MICROS_PER_DAY
from features.windows import periods_table

DAY = MICROS_PER_DAY
HOUR = DAY // 24
Tables = dict[str, ir.Table]
Present = Mapping[str, Sequence[str]]
Aggs = Callable[[ir.Table], dict[str, ir.Value]]


def _pct(num: ir.NumericValue, den: ir.NumericValue) -> ir.NumericValue:
    return num.cast("float64") * 100.0 / den.cast("float64").nullif(0)


def _accounts(tables: Tables) -> ir.Table:
    """One row per account: segment (nulls as ``unknown``), created_at, trial_converted_at."""
    a = tables["accounts"]
    segment = a.segment.fill_null("unknown") if "segment" in a.columns else ibis.literal("unknown")
    a = a.mutate(_segment=segment)
    aggs = {"segment": a._segment.max(), "created_at": a.created_at.min()}
    if "trial_converted_at" in a.columns:
        aggs["trial_converted_at"] = a.trial_converted_at.min()
    return a.group_by("account_id").agg(**aggs)


def _with_segment(t: ir.Table, tables: Tables) -> ir.Table:
    acc = _accounts(tables).select("account_id", "segment")
    joined = t.join(acc, t.account_id == acc.account_id)
    return joined.select(*[c for c in t.columns], "segment")


def _rollup(t: ir.Table, aggs: Aggs, finish: Aggs) -> ir.Table:
    """Aggregate per (month, segment) and per month as segment ``all``; then derive the KPIs."""
    names = list(aggs(t))
    by_segment = t.group_by(["month", "segment"]).agg(**aggs(t)).select("month", "segment", *names)
    overall = t.group_by("month").agg(**aggs(t)).mutate(segment=ibis.literal("all"))
    both = by_segment.union(overall.select("month", "segment", *names))
    return both.select("month", "segment", **finish(both))


def _in_month(time: ir.IntegerValue, months: ir.Table) -> list[ir.BooleanValue]:
    return [time >= months.month, time < months.month_end]


# --- customers: churn, retention, revenue retention, expansion, lifetime value ---------------


def _flags(j: ir.Table, in_s: int, in_e: int, arr_s: ir.Value | None, arr_e: ir.Value | None) -> ir.Table:
    """The common shape of the customer-state rows: (account_id, month, in_s, in_e, arr_s, arr_e)."""
    zero = ibis.literal(0.0, "float64")
    return j.select(
        "account_id",
        "month",
        in_s=ibis.literal(in_s, "int64"),
        in_e=ibis.literal(in_e, "int64"),
        arr_s=zero if arr_s is None else arr_s.cast("float64"),
        arr_e=zero if arr_e is None else arr_e.cast("float64"),
    )


def customers(tables: Tables, config: KPIConfig, present: Present) -> ir.Table:
    subs, months = tables["subscriptions"], tables["months"]
    blocks = coverage_blocks(subs, config.grace_days * DAY)
    open_end = term_end(subs)
    start, end = months.month, months.month_end
    covered_s = blocks.join(months, [blocks.block_start <= start, start < blocks.block_end])
    covered_e = blocks.join(months, [blocks.block_start <= end, end < blocks.block_end])
    active_s = subs.join(months, [subs.start_date <= start, start < open_end])
    active_e = subs.join(months, [subs.start_date <= end, end < open_end])
    parts = [
        _flags(covered_s, 1, 0, None, None),
        _flags(covered_e, 0, 1, None, None),
        _flags(active_s, 0, 0, active_s.arr, None),
        _flags(active_e, 0, 0, None, active_e.arr),
    ]
    union = ibis.union(*parts)
    per_account = union.group_by(["account_id", "month"]).agg(
        in_s=union.in_s.max(), in_e=union.in_e.max(), arr_s=union.arr_s.sum(), arr_e=union.arr_e.sum()
    )
    t = _with_segment(per_account, tables)

    def aggs(r: ir.Table) -> dict[str, ir.Value]:
        start = r.in_s == 1
        return {
            "S": r.in_s.sum(),
            "E": r.in_e.sum(),
            "kept": (r.in_s * r.in_e).sum(),
            "arr0": r.arr_s.sum(where=start),
            "retained": ibis.least(r.arr_e, r.arr_s).sum(where=start),
            "net": r.arr_e.sum(where=start),
            "expansion": ibis.greatest(r.arr_e - r.arr_s, 0.0).sum(where=start & (r.in_e == 1)),
        }

    def finish(a: ir.Table) -> dict[str, ir.Value]:
        lost, new = a.S - a.kept, a.E - a.kept
        has_base = a.S > 0
        return {
            "churn_rate": _pct(lost, a.S),
            "retention_rate": _pct(a.E - new, a.S),
            "gross_revenue_retention": _pct(a.retained, a.arr0),
            "net_revenue_retention": _pct(a.net, a.arr0),
            "expansion_revenue": ibis.cases((has_base, a.expansion.fill_null(0.0)), else_=None).cast("float64"),
            "customer_lifetime_value": a.arr0.cast("float64") / 12.0 / lost.cast("float64").nullif(0) * config.margin,
            **{
                f"{k}__n": a.S
                for k in (
                    "churn_rate",
                    "retention_rate",
                    "gross_revenue_retention",
                    "net_revenue_retention",
                    "expansion_revenue",
                    "customer_lifetime_value",
                )
            },
        }

    return _rollup(t, aggs, finish)


def renewals(tables: Tables, config: KPIConfig, present: Present) -> ir.Table:
    """Fixed terms ending in the month, and whether a next term follows within the grace period."""
    subs, months = tables["subscriptions"], tables["months"]
    fixed = subs.filter(subs.end_date.notnull() & (subs.end_date - subs.start_date >= config.min_term_days * DAY))
    ending = fixed.join(months, _in_month(fixed.end_date, months)).select("account_id", "month", "end_date")
    starts = subs.select(_account=subs.account_id, _next=subs.start_date)
    pairs = ending.left_join(
        starts,
        [
            ending.account_id == starts._account,
            starts._next >= ending.end_date - DAY,
            starts._next < ending.end_date + config.grace_days * DAY,
        ],
    )
    per_account = pairs.group_by(["account_id", "month"]).agg(renewed=pairs._next.notnull().cast("int64").max())
    t = _with_segment(per_account, tables)
    return _rollup(
        t,
        lambda r: {"terms": r.count(), "renewed": r.renewed.sum()},
        lambda a: {"renewal_rate": _pct(a.renewed, a.terms), "renewal_rate__n": a.terms},
    )


# --- surveys, support, onboarding, trials ---------------------------------------------------


def surveys(tables: Tables, config: KPIConfig, present: Present) -> ir.Table:
    s, months = tables["surveys"], tables["months"]
    s = s.filter(s.score.notnull())
    t = _with_segment(
        s.join(months, _in_month(s.answered_at, months)).select("account_id", "month", "kind", "score"), tables
    )

    def aggs(r: ir.Table) -> dict[str, ir.Value]:
        nps, csat, ces = r.kind == "nps", r.kind == "csat", r.kind == "ces"
        return {
            "nps_n": r.count(where=nps),
            "promoters": r.count(where=nps & (r.score >= 9)),
            "detractors": r.count(where=nps & (r.score <= 6)),
            "csat_n": r.count(where=csat),
            "satisfied": r.count(where=csat & (r.score >= 4)),
            "ces_n": r.count(where=ces),
            "ces_sum": r.score.sum(where=ces),
        }

    return _rollup(
        t,
        aggs,
        lambda a: {
            "nps": _pct(a.promoters - a.detractors, a.nps_n),
            "nps__n": a.nps_n,
            "csat": _pct(a.satisfied, a.csat_n),
            "csat__n": a.csat_n,
            "effort_score": a.ces_sum.cast("float64") / a.ces_n.cast("float64").nullif(0),
            "effort_score__n": a.ces_n,
        },
    )


def support(tables: Tables, config: KPIConfig, present: Present) -> ir.Table:
    k, months = tables["support_tickets"], tables["months"]
    k = k.filter(k.resolved_at.notnull())
    has_contacts = "contacts" in present["support_tickets"]
    cols = ["account_id", "month", "opened_at", "resolved_at", *(["contacts"] if has_contacts else [])]
    t = _with_segment(k.join(months, _in_month(k.resolved_at, months)).select(*cols), tables)

    def aggs(r: ir.Table) -> dict[str, ir.Value]:
        out = {"resolved": r.count(), "hours": ((r.resolved_at - r.opened_at) / HOUR).sum()}
        if has_contacts:
            out |= {"known": r.count(where=r.contacts.notnull()), "first": r.count(where=r.contacts == 1)}
        return out

    def finish(a: ir.Table) -> dict[str, ir.Value]:
        out = {
            "avg_handle_time": a.hours.cast("float64") / a.resolved.cast("float64").nullif(0),
            "avg_handle_time__n": a.resolved,
        }
        if has_contacts:
            out |= {"first_contact_resolution": _pct(a.first, a.known), "first_contact_resolution__n": a.known}
        return out

    return _rollup(t, aggs, finish)


def onboarding(tables: Tables, config: KPIConfig, present: Present) -> ir.Table:
    """Time to value for each month's sign-ups that joined after the usage log starts."""
    usage, months = tables["usage_events"], tables["months"]
    key = usage.filter(usage.event.isin(list(config.features.key_events)))
    first = key.group_by("account_id").agg(first_key=key.timestamp.min())
    acc = _accounts(tables)
    acc = acc.filter(acc.created_at >= usage.timestamp.min().as_scalar())
    cohort = acc.join(months, _in_month(acc.created_at, months))
    j = cohort.left_join(first, cohort.account_id == first.account_id)
    # A key event logged before the sign-up time (same-day events) is value on day 0, not a negative time;
    # no key event stays null (GREATEST would turn it into 0 on both engines).
    days = (j.first_key - j.created_at) / DAY
    t = j.select("month", "segment", days=ibis.cases((days < 0, 0.0), else_=days))
    return _rollup(
        t,
        lambda r: {"reached": r.days.count(), "days_sum": r.days.sum()},
        lambda a: {
            "time_to_value": a.days_sum.cast("float64") / a.reached.cast("float64").nullif(0),
            "time_to_value__n": a.reached,
        },
    )


def trials(tables: Tables, config: KPIConfig, present: Present) -> ir.Table:
    """Trials ending in the month and how many converted to paid."""
    months, subs = tables["months"], tables["subscriptions"]
    acc = _accounts(tables)
    acc = acc.filter(acc.trial_converted_at.notnull() | ~acc.account_id.isin(subs.account_id))
    acc = acc.mutate(trial_end=acc.created_at + config.trial_days * DAY)
    t = acc.join(months, _in_month(acc.trial_end, months)).select("month", "segment", "trial_converted_at")
    return _rollup(
        t,
        lambda r: {"trials": r.count(), "converted": r.count(where=r.trial_converted_at.notnull())},
        lambda a: {"trial_conversion": _pct(a.converted, a.trials), "trial_conversion__n": a.trials},
    )


def referrals(tables: Tables, config: KPIConfig, present: Present) -> ir.Table:
    """The seed's referral rate: purchases through a referral / all purchases in the month."""
    subs, months, refs = tables["subscriptions"], tables["months"], tables["referrals"]
    first = subs.group_by("account_id").agg(first_start=subs.start_date.min())
    one, zero = ibis.literal(1, "int64"), ibis.literal(0, "int64")
    bought = first.join(months, _in_month(first.first_start, months)).select(
        "account_id", "month", bought=one, referred=zero
    )
    done = refs.filter(refs.converted_at.notnull())
    who = done.referrer_account_id
    if "referred_account_id" in present["referrals"]:
        who = done.referred_account_id.fill_null(done.referrer_account_id)
    done = done.select(account_id=who, converted_at=done.converted_at)
    via = done.join(months, _in_month(done.converted_at, months)).select(
        "account_id", "month", bought=zero, referred=one
    )
    t = _with_segment(ibis.union(bought, via), tables)
    return _rollup(
        t,
        lambda r: {"purchases": r.bought.sum(), "through_referral": r.referred.sum()},
        lambda a: {
            "referral_rate": _pct(a.through_referral, a.purchases),
            "referral_rate__n": a.purchases,
        },
    )


# --- engagement-score bands -------------------------------------------------------------------


def engagement_inputs(con: BaseBackend, month_ends: list[int]) -> Tables:
    """Register the month ends as snapshot dates (and their periods) for the signal builders."""
    periods = {k: pd.Series(v, dtype="int64") for k, v in periods_table(sorted(month_ends)).items()}
    return {
        "eng_dates": register_frame(con, "kpi_eng_dates", {"as_of": pd.Series(sorted(month_ends), dtype="int64")}),
        "eng_periods": register_frame(con, "kpi_eng_periods", periods),
    }


def engagement(tables: Tables, config: KPIConfig, present: Present) -> ir.Table:
    """Engagement-score bands of the customers at each month end (the signal builders' score)."""
    months = tables["months"]
    activities = {a.signal for a in config.features.engagement_activities}
    has_subs = "subscriptions" in present and all(c in present["subscriptions"] for c in ("start_date", "end_date"))
    wanted = activities | {"engagement_score"} | (set() if has_subs else {"active_users_90d"})
    signals = [s for s in split_available(present, config.features)[0] if s.name in wanted]
    data = {n: t for n, t in tables.items() if n not in ("months", "eng_dates", "eng_periods")}
    scores = features_expr(data, tables["eng_dates"], tables["eng_periods"], signals, config.features, day_grain=True)
    if has_subs:  # customers at the month end
        blocks = coverage_blocks(tables["subscriptions"], config.grace_days * DAY)
        scores = scores.join(
            blocks,
            [
                scores.account_id == blocks.account_id,
                blocks.block_start <= scores.as_of,
                scores.as_of < blocks.block_end,
            ],
        )
    else:  # no contracts: accounts with any activity in the 90 days before the month end
        scores = scores.filter(scores.active_users_90d > 0)
    j = scores.join(months, scores.as_of == months.month_end)
    t = _with_segment(j.select("account_id", "month", score=j.engagement_score), tables)
    (low, _), (mid, _), _ = ENGAGEMENT_BANDS

    def aggs(r: ir.Table) -> dict[str, ir.Value]:
        return {
            "scored": r.score.count(),
            "low": r.count(where=r.score <= low),
            "mid": r.count(where=(r.score > low) & (r.score <= mid)),
            "high": r.count(where=r.score > mid),
        }

    return _rollup(
        t,
        aggs,
        lambda a: {
            "engagement_disengaged": _pct(a.low, a.scored),
            "engagement_somewhat": _pct(a.mid, a.scored),
            "engagement_highly": _pct(a.high, a.scored),
            **{f"engagement_{b}__n": a.scored for b in ("disengaged", "somewhat", "highly")},
        },
    )


GROUPS: dict[str, Callable[[Tables, KPIConfig, Present], ir.Table]] = {
    "customers": customers,
    "renewals": renewals,
    "surveys": surveys,
    "support": support,
    "onboarding": onboarding,
    "trials": trials,
    "referrals": referrals,
    "engagement": engagement,
}
