"""Support, sentiment, financial and relationship signals as ibis expressions.

These tables are small next to usage events (a few rows per account and month), so
each is range-joined straight to the snapshot dates and aggregated per
(account_id, as_of). Optional columns that are absent leave their raw columns out; the
signals that need them are skipped by the registry.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from features.config import FeatureConfig
from features.windows import DAY, KEYS, Part, between, join_dates, latest_value

HOUR = DAY // 24
HIGH_PRIORITIES = ("high", "urgent")
SENTIMENT_VALUES = {"red": 0.0, "yellow": 1.0, "green": 2.0}


def support_parts(tickets: ir.Table, dates: ir.Table, config: FeatureConfig) -> list[Part]:
    """Ticket counts, open tickets, handle time, first-contact resolution and CSAT."""
    j = join_dates(tickets, dates, "opened_at")
    opened, a = j.opened_at, j.as_of
    aggs: dict[str, ir.Value] = {
        "_tickets_30d": j.count(where=between(opened, a, 30)),
        "_tickets_90d": j.count(where=between(opened, a, 90)),
        "_tickets_prev_30d": j.count(where=between(opened, a, 60, 30)),
    }
    if "resolved_at" in j.columns:
        resolved = j.resolved_at
        is_open = resolved.isnull() | (resolved >= a)
        aggs["_open_tickets"] = j.count(where=is_open)
        if "priority" in j.columns:
            aggs["_open_high"] = j.count(where=is_open & j.priority.isin(HIGH_PRIORITIES))
        recent = resolved.notnull() & between(resolved, a, config.support_window_days)
        aggs["_handle_hours"] = ((resolved - opened) / HOUR).mean(where=recent)
        if "contacts" in j.columns:
            first_contact = (j.contacts == 1).cast("float64")
            aggs["_fcr"] = first_contact.mean(where=recent & j.contacts.notnull())
        if "csat" in j.columns:
            aggs["_support_csat"] = j.csat.mean(where=recent)
    counts = tuple(k for k in aggs if k.startswith(("_tickets", "_open")))
    return [Part(j.group_by(list(KEYS)).agg(**aggs), counts)]


def _nps(s: ir.Table, where: ir.BooleanValue) -> ir.Value:
    is_nps = where & (s.kind == "nps")
    promoters = s.count(where=is_nps & (s.score >= 9))
    detractors = s.count(where=is_nps & (s.score <= 6))
    return (promoters - detractors) * 100.0 / s.count(where=is_nps).nullif(0)


def sentiment_parts(surveys: ir.Table, dates: ir.Table, config: FeatureConfig) -> list[Part]:
    """NPS (latest, account, trend), CSAT share, effort, survey recency and counts."""
    window = config.survey_window_days
    s = join_dates(surveys, dates, "answered_at")
    t, a = s.answered_at, s.as_of
    recent = between(t, a, window)
    stats = s.group_by(list(KEYS)).agg(
        _nps=_nps(s, recent),
        _nps_prev=_nps(s, between(t, a, 2 * window, window)),
        _csat_share=(s.score >= 4).cast("float64").mean(where=recent & (s.kind == "csat")) * 100.0,
        _effort=s.score.mean(where=recent & (s.kind == "ces")),
        _last_survey=t.max(),
        _responses=s.count(where=recent),
    )
    nps_only = s.filter(s.kind == "nps")
    latest = latest_value(nps_only, "answered_at", nps_only.score, "_nps_latest")
    return [Part(stats, ("_responses",)), Part(latest)]


def _arr_at(subs: ir.Table, dates: ir.Table, shift_days: int, name: str) -> ir.Table:
    """Sum of ARR of the subscriptions active at ``as_of - shift_days``."""
    at = dates.as_of - shift_days * DAY
    j = subs.join(dates, [subs.start_date < at, subs.end_date.isnull() | (subs.end_date >= at)])
    return j.group_by(list(KEYS)).agg(**{name: j.arr.sum()})


def financial_parts(
    subs: ir.Table | None, invoices: ir.Table | None, dates: ir.Table, config: FeatureConfig
) -> list[Part]:
    """ARR now and 90/180 days ago, seats, renewal dates, plan changes, overdue invoices."""
    parts: list[Part] = []
    if subs is not None:
        active = subs.join(
            dates,
            [
                subs.start_date < dates.as_of,
                subs.end_date.isnull() | (subs.end_date >= dates.as_of),
            ],
        )
        now = {"_arr": active.arr.sum(), "_renewal_end": active.end_date.max()}
        if "seats" in active.columns:
            now["_seats"] = active.seats.sum()
        parts.append(Part(active.group_by(list(KEYS)).agg(**now), ("_arr",)))
        parts.append(Part(_arr_at(subs, dates, 90, "_arr_90"), ("_arr_90",)))
        parts.append(Part(_arr_at(subs, dates, 180, "_arr_180"), ("_arr_180",)))

        first = subs.group_by("account_id").agg(first_start=subs.start_date.min())
        later = subs.join(first, "account_id").filter(lambda r: r.start_date > r.first_start)
        renewals = join_dates(later.select("account_id", "start_date"), dates, "start_date")
        parts.append(Part(renewals.group_by(list(KEYS)).agg(_last_renewal=renewals.start_date.max())))

        if "plan" in subs.columns:
            planned = subs.filter(subs.plan.notnull())
            order = [planned.start_date, planned.plan]
            previous = planned.plan.lag().over(group_by=planned.account_id, order_by=order)
            marked = planned.mutate(previous=previous)
            changes = marked.filter(marked.previous.notnull() & (marked.plan != marked.previous))
            window = join_dates(
                changes.select("account_id", "start_date"),
                dates,
                "start_date",
                config.plan_change_window_days,
            )
            parts.append(
                Part(
                    window.group_by(list(KEYS)).agg(_plan_changes=window.count()),
                    ("_plan_changes",),
                )
            )
    if invoices is not None and "paid_at" in invoices.columns:
        j = join_dates(invoices, dates, "due_at")
        unpaid = j.filter(j.paid_at.isnull() | (j.paid_at >= j.as_of))
        overdue = unpaid.group_by(list(KEYS)).agg(
            _overdue_amount=unpaid.amount.sum(),
            _max_days_overdue=((unpaid.as_of - unpaid.due_at) / DAY).max(),
        )
        parts.append(Part(overdue, ("_overdue_amount", "_max_days_overdue")))
    return parts


def relationship_parts(csm: ir.Table, dates: ir.Table) -> list[Part]:
    """Latest CSM sentiment (red 0, yellow 1, green 2) and the time of the latest input."""
    j = join_dates(csm, dates, "recorded_at")
    value = ibis.cases(*((j.sentiment == k, v) for k, v in SENTIMENT_VALUES.items()), else_=None)
    latest = latest_value(j, "recorded_at", value.cast("float64"), "_csm_sentiment")
    last = j.group_by(list(KEYS)).agg(_last_csm=j.recorded_at.max())
    return [Part(latest), Part(last)]
