"""Usage signals as ibis expressions: raw per-(account_id, as_of) columns from usage events.

Events are first reduced to one row per account, user and time grain (a UTC day when
every snapshot date is at midnight, so no day straddles a window edge; the exact
timestamp otherwise). Every usage signal counts distinct users, days or event types, so
this reduction loses nothing and makes repeated events harmless. Events sharing an
``event_id`` are then counted once, at the earliest of their timestamps.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from features.config import FeatureConfig
from features.windows import DAY, KEYS, Part, between, join_dates, latest_before

NO_KEY_EVENT = "\x00no key event"
USER_COUNTS = ("_au_7d", "_au_30d", "_au_90d", "_au_prev_30d", "_key_users_30d")


def dedupe_events(events: ir.Table) -> ir.Table:
    """Keep one row per non-null ``event_id``: the earliest (ties broken by the other columns).

    Only rows whose event_id occurs more than once are ranked, so the (rare) duplicates
    cost a small sort instead of a sort of every event.
    """
    if "event_id" not in events.columns:
        return events
    with_id = events.filter(events.event_id.notnull())
    counts = with_id.group_by("event_id").agg(_copies=with_id.count())
    repeated = counts.filter(counts._copies > 1).select("event_id")
    single = events.anti_join(repeated, "event_id")
    copies = events.semi_join(repeated, "event_id")
    order = [copies.timestamp, copies.account_id, copies.user_id, copies.event]
    rank = ibis.row_number().over(group_by=copies.event_id, order_by=order)
    ranked = copies.mutate(_rank=rank)
    return single.union(ranked.filter(ranked._rank == 0).drop("_rank"))


def usage_parts(
    events: ir.Table, dates: ir.Table, periods: ir.Table, config: FeatureConfig, day_grain: bool
) -> list[Part]:
    """Windowed user counts, event-type counts, last activity and first key event."""
    events = dedupe_events(events).select("account_id", "user_id", "timestamp", "event")
    # Without key events their signals are skipped; a name no event has keeps the columns' shape.
    key_events = list(dict.fromkeys(config.key_events)) or [NO_KEY_EVENT]
    grain = events.timestamp // DAY if day_grain else events.timestamp
    by_user = events.group_by([events.account_id, events.user_id, grain.name("grain")]).agg(
        last=events.timestamp.max(), key=events.event.isin(key_events).any()
    )
    users = join_dates(by_user, dates, "last", lookback_days=90)
    t, a = users["last"], users.as_of
    in_30 = between(t, a, 30)
    # Reduce to one row per (account, as_of, user) first: plain sums then count users.
    per_user = users.group_by([users.account_id, users.as_of, users.user_id]).agg(
        in_7=between(t, a, 7).any(),
        in_30=in_30.any(),
        in_prev_30=between(t, a, 60, 30).any(),
        key_30=(in_30 & users.key).any(),
    )
    user_counts = per_user.group_by(list(KEYS)).agg(
        _au_7d=per_user.in_7.cast("int64").sum(),
        _au_30d=per_user.in_30.cast("int64").sum(),
        _au_90d=per_user.count(),
        _au_prev_30d=per_user.in_prev_30.cast("int64").sum(),
        _key_users_30d=per_user.key_30.cast("int64").sum(),
    )

    by_event = events.group_by([events.account_id, events.event, grain.name("grain")]).agg(last=events.timestamp.max())
    kinds = join_dates(by_event, dates, "last", lookback_days=30)
    event_counts = kinds.group_by(list(KEYS)).agg(
        _features_30d=kinds.event.nunique(),
        _key_events_30d=kinds.event.nunique(where=kinds.event.isin(key_events)),
    )

    by_grain = by_user.group_by([by_user.account_id, by_user.grain]).agg(last=by_user["last"].max())
    recent = join_dates(by_grain, dates, "last", lookback_days=30)
    day_counts = recent.group_by(list(KEYS)).agg(_active_days_30d=(recent["last"] // DAY).nunique())
    last_activity = latest_before(by_grain, "last", periods, dates, "_last_activity")

    keyed = events.filter(events.event.isin(key_events))
    first_key = keyed.group_by(keyed.account_id).agg(first=keyed.timestamp.min())
    first_key_known = join_dates(first_key, dates, "first").select("account_id", "as_of", _first_key="first")
    return [
        Part(user_counts, USER_COUNTS),
        Part(day_counts, ("_active_days_30d",)),
        Part(event_counts, ("_features_30d", "_key_events_30d")),
        Part(last_activity),
        Part(first_key_known),
    ]
