"""Signals from the data's own vocabulary and long-window recency, frequency and monetary value.

* The K most frequent event types (``FeatureConfig.event_types_top_k``), chosen on the events
  strictly before a cut-off (a training run's newest snapshot) and saved in the config, so
  scoring counts the same types: per type, events over 30 and 90 days and the 30-day trend.
* Long windows: events and active weeks over 180/365 days and all history, the mean gap
  between active days (all history, and its change over the last 90 days), and sums of
  ``quantity``.

Written as ibis expressions in the style of :mod:`features.builders_usage`: events are reduced
to one row per account and time grain (a UTC day when every snapshot is at midnight), paired
with the snapshot dates by range joins; all-history totals are summed per period between
snapshot dates and carried forward, so no event is paired with every later date.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import ibis
import ibis.expr.types as ir
import pandas as pd

from features.builders_usage import dedupe_events
from features.config import FeatureConfig
from features.loader import Dataset
from features.signals import event_slug
from features.windows import DAY, KEYS, Part, between, join_dates

WEEK = 7 * DAY
MONDAY_SHIFT = 3 * DAY  # 1970-01-01 was a Thursday: shift so UTC weeks start on Monday
LONG = (("180d", 180), ("365d", 365))
Formula = Callable[[ir.Table], ir.Value]


def top_event_types(counts: pd.Series, k: int) -> tuple[str, ...]:
    """The ``k`` most frequent event types of ``counts`` (event type -> events; ties by name)."""
    if k <= 0 or counts.empty:
        return ()
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    chosen: list[str] = []
    slugs: set[str] = set()
    for name, _ in ranked:
        if event_slug(name) in slugs:  # two names that read the same in a column name: keep the commoner
            continue
        chosen.append(name)
        slugs.add(event_slug(name))
        if len(chosen) == k:
            break
    return tuple(chosen)


def resolve_vocabulary(dataset: Dataset, config: FeatureConfig, before: pd.Timestamp) -> FeatureConfig:
    """``config`` with ``event_types`` chosen from the events strictly before ``before``, unless already set."""
    if config.event_types is not None:
        return config
    return replace(config, event_types=top_event_types(dataset.event_counts(before), config.event_types_top_k))


def key_events_absent(dataset: Dataset, config: FeatureConfig, before: pd.Timestamp) -> str | None:
    """Why the key-event signals cannot be computed on this data (no configured key event occurs
    strictly before ``before``), or None."""
    if not config.key_events or not dataset.has("usage_events", "event"):
        return None
    seen = set(dataset.event_counts(before).index)
    if any(k in seen for k in config.key_events):
        return None
    return f"none of the key events ({', '.join(config.key_events)}) occurs in usage_events.event"


def vocabulary_parts(
    events: ir.Table,
    dates: ir.Table,
    periods: ir.Table,
    config: FeatureConfig,
    day_grain: bool,
    names: set[str],
) -> list[Part]:
    """Raw per-(account_id, as_of) columns for the long-window and vocabulary signals."""
    has_quantity = "quantity" in events.columns
    events = dedupe_events(events)
    quantity = events.quantity.cast("float64").fill_null(0.0) if has_quantity else ibis.literal(0.0)
    ev = events.select("account_id", "timestamp", "event", quantity=quantity)
    grain = ev.timestamp // DAY if day_grain else ev.timestamp
    by_grain = ev.group_by([ev.account_id, grain.name("grain")]).agg(
        n=ev.count(), qty=ev.quantity.sum(), first=ev.timestamp.min(), last=ev.timestamp.max()
    )
    parts = [_long_windows(by_grain, dates), _all_history(by_grain, dates, periods)]
    types = list(config.event_types or ())
    if types:
        parts.append(_per_type(ev, dates, types, day_grain))
    return parts


def _long_windows(by_grain: ir.Table, dates: ir.Table) -> Part:
    joined = join_dates(by_grain, dates, "last", lookback_days=365)
    t, a = joined["last"], joined.as_of
    week = (t + MONDAY_SHIFT) // WEEK
    day = t // DAY
    in_90 = between(t, a, 90)
    aggs: dict[str, ir.Value] = {}
    for name, n in LONG:
        inside = between(t, a, n)
        aggs[f"_events_{name}"] = inside.ifelse(joined.n, 0).sum()
        aggs[f"_qty_{name}"] = inside.ifelse(joined.qty, 0.0).sum()
        aggs[f"_weeks_{name}"] = week.nunique(where=inside)
    aggs["_days_90"] = day.nunique(where=in_90)
    aggs["_min_day_90"] = day.min(where=in_90)
    aggs["_max_day_90"] = day.max(where=in_90)
    table = joined.group_by(list(KEYS)).agg(**aggs)
    counts = tuple(c for c in aggs if not c.startswith(("_min", "_max")))
    return Part(table, counts)


def _carried(
    table: ir.Table, time: str, periods: ir.Table, dates: ir.Table, **aggs: Callable[[ir.Table], ir.Value]
) -> ir.Table:
    """Rows aggregated per account and period (by ``time``), each period paired with every as_of at
    or after its end: summing over the pairs of an as_of gives its all-history total."""
    paired = table.join(periods, [table[time] >= periods.lo, table[time] < periods.as_of])
    per_period = paired.group_by([paired.account_id, paired.as_of.name("period_end")]).agg(
        **{k: f(paired) for k, f in aggs.items()}
    )
    return per_period.join(dates, per_period.period_end <= dates.as_of)


def _all_history(by_grain: ir.Table, dates: ir.Table, periods: ir.Table) -> Part:
    week = by_grain.mutate(week=(by_grain["last"] + MONDAY_SHIFT) // WEEK, day=by_grain["last"] // DAY)
    weeks = week.group_by([week.account_id, week.week]).agg(first=week["first"].min())
    days = week.group_by([week.account_id, week.day]).agg(first=week["first"].min())
    totals = _carried(
        by_grain,
        "last",
        periods,
        dates,
        n=lambda r: r.n.sum(),
        qty=lambda r: r.qty.sum(),
        first=lambda r: r["first"].min(),
        last=lambda r: r["last"].max(),
    )
    week_counts = _carried(weeks, "first", periods, dates, w=lambda r: r.count())
    day_counts = _carried(days, "first", periods, dates, d=lambda r: r.count())
    a = totals.group_by([totals.account_id, totals.as_of]).agg(
        _events_all=totals.n.sum(),
        _qty_all=totals.qty.sum(),
        _first_day=(totals["first"].min() // DAY),
        _last_day=(totals["last"].max() // DAY),
    )
    w = week_counts.group_by([week_counts.account_id, week_counts.as_of]).agg(_weeks_all=week_counts.w.sum())
    d = day_counts.group_by([day_counts.account_id, day_counts.as_of]).agg(_days_all=day_counts.d.sum())
    joined = a.left_join(w, [a.account_id == w.account_id, a.as_of == w.as_of]).select(
        a.account_id, a.as_of, a._events_all, a._qty_all, a._first_day, a._last_day, w._weeks_all
    )
    joined = joined.left_join(d, [joined.account_id == d.account_id, joined.as_of == d.as_of]).select(
        joined.account_id,
        joined.as_of,
        joined._events_all,
        joined._qty_all,
        joined._first_day,
        joined._last_day,
        joined._weeks_all,
        d._days_all,
    )
    return Part(joined, ("_events_all", "_qty_all", "_weeks_all", "_days_all"))


def _per_type(ev: ir.Table, dates: ir.Table, types: list[str], day_grain: bool) -> Part:
    chosen = ev.filter(ev.event.isin(types))
    grain = chosen.timestamp // DAY if day_grain else chosen.timestamp
    by_type = chosen.group_by([chosen.account_id, chosen.event, grain.name("grain")]).agg(
        n=chosen.count(), last=chosen.timestamp.max()
    )
    joined = join_dates(by_type, dates, "last", lookback_days=90)
    t, a = joined["last"], joined.as_of
    windows = {"30": between(t, a, 30), "prev": between(t, a, 60, 30), "90": between(t, a, 90)}
    aggs = {
        f"_v{w}_{i}": ((joined.event == e) & inside).ifelse(joined.n, 0).sum()
        for i, e in enumerate(types)
        for w, inside in windows.items()
    }
    return Part(joined.group_by(list(KEYS)).agg(**aggs), tuple(aggs))


def _ratio(num: ir.NumericValue, den: ir.NumericValue) -> ir.NumericValue:
    return num.cast("float64") / den.cast("float64").nullif(0)


def _column(name: str) -> Formula:
    return lambda r: r[name]


def _trend(i: int) -> Formula:
    return lambda r: _ratio(r[f"_v30_{i}"] - r[f"_vprev_{i}"], r[f"_vprev_{i}"])


def vocabulary_formulas(config: FeatureConfig) -> dict[str, Formula]:
    """Signal name -> formula over the raw columns of :func:`vocabulary_parts`."""
    formulas: dict[str, Formula] = {}
    for name, _ in (*LONG, ("all", 0)):
        formulas[f"events_{name}"] = _column(f"_events_{name}")
        formulas[f"active_weeks_{name}"] = _column(f"_weeks_{name}")
        formulas[f"quantity_{name}"] = _column(f"_qty_{name}")
    gap_all: Formula = lambda r: _ratio(r._last_day - r._first_day, r._days_all - 1)  # noqa: E731
    gap_90: Formula = lambda r: _ratio(r._max_day_90 - r._min_day_90, r._days_90 - 1)  # noqa: E731
    formulas["mean_gap_days"] = gap_all
    formulas["mean_gap_change_days"] = lambda r: gap_90(r) - gap_all(r)
    for i, e in enumerate(config.event_types or ()):
        slug = event_slug(e)
        formulas[f"events_30d__{slug}"] = _column(f"_v30_{i}")
        formulas[f"events_90d__{slug}"] = _column(f"_v90_{i}")
        formulas[f"events_trend__{slug}"] = _trend(i)
    return formulas
