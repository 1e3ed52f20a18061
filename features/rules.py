"""The business rules every stage shares, written once in ibis: the snapshot spine and coverage.

Features (:mod:`features.builders`), KPIs (:mod:`features.kpi_exprs`) and outcome labels
(:mod:`training.outcomes`) all use these, on DuckDB or Spark. Times are int64 UTC
microseconds, as :mod:`features.engine` registers them.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

NEVER = 2**62  # an open-ended term's end: after any real timestamp


def spine(accounts: ir.Table, dates: ir.Table) -> ir.Table:
    """Every (account_id, as_of) whose account was created strictly before ``as_of``."""
    first_seen = (
        accounts.filter(accounts.created_at.notnull()).group_by("account_id").agg(created_at=accounts.created_at.min())
    )
    return first_seen.join(dates, first_seen.created_at < dates.as_of)


def term_end(subs: ir.Table) -> ir.IntegerValue:
    """A subscription row's end, with an open-ended row ending at :data:`NEVER`."""
    return subs.end_date.fill_null(NEVER)


def coverage_blocks(subs: ir.Table, grace: int) -> ir.Table:
    """Each account's terms merged into blocks, bridging gaps shorter than ``grace`` micros.

    A term opens a new block when it starts at least ``grace`` after every earlier-starting
    term has ended. Terms with the same start are judged together (RANGE frames), so ties
    cannot depend on row order. Returns account_id, block_start, block_end.
    """
    rows = subs.select("account_id", "start_date", end=term_end(subs))
    earlier = ibis.window(group_by="account_id", order_by="start_date", range=(None, -1))
    rows = rows.mutate(_prev_end=rows.end.max().over(earlier))
    opens = rows._prev_end.isnull() | (rows.start_date >= rows._prev_end + grace)
    upto = ibis.window(group_by="account_id", order_by="start_date", range=(None, 0))
    rows = rows.mutate(block_start=ibis.cases((opens, rows.start_date), else_=None).max().over(upto))
    return rows.group_by(["account_id", "block_start"]).agg(block_end=rows.end.max())


def active_at(points: ir.Table, subs: ir.Table, at: str = "as_of") -> ir.Table:
    """Pairs of a point (any table with account_id and the time column ``at``) and a subscription
    row active then: ``start_date <= at < end``. The subscription's columns keep their names."""
    keep = [c for c in subs.columns if c != "account_id"]
    subs = subs.select("account_id", *keep)
    joined = points.join(
        subs,
        [points.account_id == subs.account_id, subs.start_date <= points[at], points[at] < term_end(subs)],
    )
    return joined.select(*points.columns, *keep)
