"""Point-in-time building blocks shared by the ibis builders.

Times are int64 microseconds since the epoch (see :mod:`features.engine`). A window of
``n`` days before ``as_of`` is ``[as_of - n days, as_of)``: the lower edge is included,
``as_of`` itself never is.

The snapshot dates are a small table ``dates(as_of)``. A source table is paired with
the dates by a range join (``time < as_of``, optionally ``time >= as_of - n days``), so
one scan serves every snapshot date; a row joins only the snapshots whose window holds
it. ``periods(lo, as_of)`` cuts time into the half-open intervals between consecutive
snapshot dates; it lets "the latest row before as_of" be computed per period and then
carried forward, without pairing every old row with every later date.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis.expr.types as ir

from features.times import MICROS_PER_DAY

DAY = MICROS_PER_DAY
KEYS = ("account_id", "as_of")
EARLIEST = -(2**62)  # lower edge of the first period: before any real timestamp


@dataclass(frozen=True)
class Part:
    """Raw per-(account_id, as_of) columns from one source; ``zero_fill`` are counts.

    A count over a window with no rows is 0 (the source exists, nothing happened);
    every other column stays null when the account has no rows.
    """

    table: ir.Table
    zero_fill: tuple[str, ...] = ()

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(c for c in self.table.columns if c not in KEYS)


def days(n: float) -> int:
    """``n`` days in microseconds."""
    return int(n * DAY)


def join_dates(table: ir.Table, dates: ir.Table, time: str, lookback_days: float | None = None) -> ir.Table:
    """Pair each row with every snapshot date after it (within ``lookback_days`` if given)."""
    before = table[time] < dates.as_of
    if lookback_days is None:
        return table.join(dates, [before])
    return table.join(dates, [before, table[time] >= dates.as_of - days(lookback_days)])


def between(time: ir.IntegerValue, as_of: ir.IntegerValue, start_days: float, end_days: float = 0) -> ir.BooleanValue:
    """``time`` in ``[as_of - start_days, as_of - end_days)``."""
    upper = time < as_of if end_days == 0 else time < as_of - days(end_days)
    return (time >= as_of - days(start_days)) & upper


def latest_before(table: ir.Table, time: str, periods: ir.Table, dates: ir.Table, name: str) -> ir.Table:
    """Per (account_id, as_of): the latest ``time`` strictly before as_of, as ``name``.

    Rows are first reduced to their latest time per account and period, then each
    snapshot takes the maximum over the periods that end at or before it.
    """
    paired = table.join(periods, [table[time] >= periods.lo, table[time] < periods.as_of])
    per_period = paired.group_by([paired.account_id, paired.as_of.name("period_end")]).agg(latest=paired[time].max())
    carried = per_period.join(dates, per_period.period_end <= dates.as_of)
    return carried.group_by([carried.account_id, carried.as_of]).agg(**{name: carried.latest.max()})


def latest_value(joined: ir.Table, time: str, value: ir.NumericValue, name: str) -> ir.Table:
    """Per (account_id, as_of) of a date-joined table: the mean ``value`` at the latest time."""
    last = joined[time].max().over(group_by=[joined.account_id, joined.as_of])
    marked = joined.mutate(_value=value, _last=last)
    top = marked.filter(marked[time] == marked._last)
    return top.group_by(list(KEYS)).agg(**{name: top._value.mean()})


def attach_parts(spine: ir.Table, parts: list[Part]) -> ir.Table:
    """Left-join every part to the spine in one join chain; counts with no rows become 0."""
    renamed = [p.table.rename({f"_k{i}_{k}": k for k in KEYS}) for i, p in enumerate(parts)]
    joined = spine
    for i, table in enumerate(renamed):
        keys = [joined[k] == table[f"_k{i}_{k}"] for k in KEYS]
        joined = joined.left_join(table, keys)
    columns = [joined[c] for c in spine.columns]
    for part in parts:
        for c in part.values:
            col = joined[c]
            columns.append(col.fill_null(0).name(c) if c in part.zero_fill else col)
    return joined.select(columns)


def periods_table(dates_values: list[int]) -> dict[str, list[int]]:
    """The periods ``[previous as_of, as_of)`` for sorted snapshot dates (as micros)."""
    return {"lo": [EARLIEST, *dates_values[:-1]], "as_of": list(dates_values)}
