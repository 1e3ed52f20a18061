"""Outcomes (labels) for a spine of (account_id, as_of) snapshots, per DESIGN.md section 4.

Every label looks at the window ``[as_of, as_of + horizon)``. A label is only produced
when the data reaches far enough past the window to settle it (for contract outcomes:
the window plus the grace period), so labels never guess what the data cannot show.

The labels are ibis queries on the features' engine (DuckDB or Spark), built on the
coverage rules of :mod:`features.rules` that the KPIs use too; only one row per snapshot
comes back. ``tests/outcomes_oracle.py`` is the same definition in pandas, the oracle the
tests compare against. Outcomes are declared as data (:data:`OUTCOMES`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from features.domain import OutcomeRules
from features.engine import connect, engine_for, register_frame, register_tables, to_micros
from features.errors import DataError, Problem
from features.loader import Dataset
from features.rules import NEVER, active_at, coverage_blocks
from features.times import MICROS_PER_DAY
from features.validation import data_end
from features.windows import periods_table

DAY = MICROS_PER_DAY


@dataclass(frozen=True)
class OutcomeConfig(OutcomeRules):
    """How outcomes are defined; defaults follow DESIGN.md section 4.

    Every field comes from :class:`features.domain.OutcomeRules` (horizon, grace, minimum
    term: renewals are only fixed terms at least this long, trial length, churn definition,
    activity look-back), the ``[outcomes]`` table of a settings file; this class adds the
    windows as ``pd.Timedelta``.
    """

    @property
    def horizon(self) -> pd.Timedelta:
        return pd.Timedelta(days=self.horizon_days)

    @property
    def grace(self) -> pd.Timedelta:
        return pd.Timedelta(days=self.grace_days)


@dataclass(frozen=True)
class Outcome:
    name: str
    description: str
    needs: tuple[str, ...]  # tables


OUTCOMES: dict[str, Outcome] = {
    "churn": Outcome(
        "churn",
        "no subscription (or, in activity mode, no usage) by the end of the window",
        ("accounts", "subscriptions"),
    ),
    "renewal": Outcome(
        "renewal",
        "a term ending inside the window is followed by a new one within the grace period",
        ("accounts", "subscriptions"),
    ),
    "upsell": Outcome("upsell", "ARR or seats rise inside the window", ("accounts", "subscriptions")),
}


@dataclass(frozen=True)
class _Query:
    """The dataset's tables and the snapshots (pos, account_id, as_of in micros) on one engine."""

    tables: dict[str, ir.Table]
    snaps: ir.Table
    periods: ir.Table  # [lo, hi) between consecutive snapshot dates, the last one open-ended
    rows: int
    config: OutcomeConfig
    end: int  # the data's end in micros

    @property
    def horizon(self) -> int:
        return self.config.horizon_days * DAY

    @property
    def grace(self) -> int:
        return self.config.grace_days * DAY

    def settled(self, t: ir.Table, grace: bool) -> ir.BooleanValue:
        return t.as_of + self.horizon + (self.grace if grace else 0) <= self.end

    def values(self, t: ir.Table) -> np.ndarray:
        """A (pos, value) query as one float per snapshot, NaN where it has no row or a null."""
        got = t.select("pos", value=t.value.cast("float64")).to_pyarrow()
        out = np.full(self.rows, np.nan)
        out[got["pos"].to_numpy()] = got["value"].to_numpy(zero_copy_only=False)
        return out


def _query(dataset: Dataset, snapshots: pd.DataFrame, config: OutcomeConfig, engine: str) -> _Query:
    end = data_end(dataset)
    if end is None:
        raise DataError([Problem("usage_events", "timestamp", "no dated rows: cannot tell where the data ends")])
    con = connect(engine_for(dataset, engine))
    tables = register_tables(con, dataset, prefix="outcome_")
    frame = {
        "pos": np.arange(len(snapshots), dtype="int64"),
        "account_id": snapshots["account_id"].astype(str).to_numpy(),
        "as_of": to_micros(snapshots["as_of"].reset_index(drop=True)).to_numpy(zero_copy_only=False),
    }
    snaps = register_frame(con, "outcome_snapshots", frame)
    dates = np.unique(frame["as_of"]).tolist()
    cuts = periods_table(dates)
    lo, hi = [*cuts["lo"], *dates[-1:]], [*cuts["as_of"], *([NEVER] if dates else [])]  # plus [newest, never)
    periods = register_frame(con, "outcome_periods", {"lo": np.array(lo, "int64"), "hi": np.array(hi, "int64")})
    end_micros = int(to_micros(pd.Series([end])).to_numpy()[0])
    return _Query(tables, snaps, periods, len(snapshots), config, end_micros)


def build_labels(
    dataset: Dataset,
    snapshots: pd.DataFrame,
    outcomes: Sequence[str],
    config: OutcomeConfig = OutcomeConfig(),
    *,
    engine: str = "duckdb",
) -> pd.DataFrame:
    """Labels for ``snapshots`` (account_id, as_of): one ``<outcome>`` column per outcome.

    The value is 1.0/0.0 where the snapshot is eligible and settled, NaN otherwise. The
    frame also carries ``arr_at_as_of`` (ARR at as_of, for revenue-weighted metrics).
    """
    for name in outcomes:
        needs = ("accounts", "usage_events") if _key(name, config) == ("churn", "activity") else OUTCOMES[name].needs
        missing = [t for t in needs if not dataset.has(t)]
        if missing:
            raise DataError(
                [Problem(missing[0], None, f"outcome {name!r} needs table {missing[0]!r}, which is absent")]
            )
    q = _query(dataset, snapshots, config, engine)
    out = snapshots[["account_id", "as_of"]].reset_index(drop=True).copy()
    out["arr_at_as_of"] = _arr_at(q) if "subscriptions" in q.tables else np.nan
    for name in outcomes:
        out[name] = q.values(_LABELLERS[_key(name, config)](q))
    return out


def _key(name: str, config: OutcomeConfig) -> tuple[str, str]:
    return (name, config.churn_definition if name == "churn" else "contract")


def eligible(
    dataset: Dataset, snapshots: pd.DataFrame, config: OutcomeConfig = OutcomeConfig(), *, engine: str = "duckdb"
) -> np.ndarray:
    """Which snapshots the churn model is meant for: the rows a churn label could exist for.

    Contract churn: a subscription row is active at as_of. Activity churn: a usage event in
    the ``active_days`` before as_of. Scoring uses this so that it ranks the same population
    the model learned from.
    """
    q = _query(dataset, snapshots, config, engine)
    if config.churn_definition == "activity":
        return q.values(_recently_active(q)) == 1.0
    active = active_at(q.snaps, q.tables["subscriptions"]).select("pos").distinct()
    return q.values(active.mutate(value=ibis.literal(1.0))) == 1.0


# --- contract outcomes ---------------------------------------------------------------------


def _arr_at(q: _Query) -> np.ndarray:
    """Total ARR of the subscription rows active at each snapshot's as_of (0 when none)."""
    active = active_at(q.snaps, q.tables["subscriptions"])
    total = q.values(active.group_by("pos").agg(value=active.arr.sum()))
    return np.nan_to_num(total, nan=0.0)


def _contract_churn(q: _Query) -> ir.Table:
    """1 when the coverage block holding as_of ends before as_of + horizon; null if not active or unsettled."""
    subs, s = q.tables["subscriptions"], q.snaps
    # An account is eligible when a real subscription row (not a bridged gap) is active at as_of.
    active = active_at(s, subs).select("pos").distinct()
    blocks = coverage_blocks(subs, q.grace)
    pairs = s.join(
        blocks, [s.account_id == blocks.account_id, blocks.block_start <= s.as_of, s.as_of < blocks.block_end]
    )
    pairs = pairs.semi_join(active, "pos")
    churned = (pairs.block_end < pairs.as_of + q.horizon).cast("float64")
    return pairs.select("pos", value=ibis.cases((q.settled(pairs, grace=True), churned), else_=None))


def _renewal(q: _Query) -> ir.Table:
    """Among snapshots whose active fixed term ends inside the window: 1 if a next term starts within grace."""
    subs = q.tables["subscriptions"]
    active = active_at(q.snaps, subs)
    ending = active.filter(
        active.end_date.notnull()
        & (active.end_date - active.start_date >= q.config.min_term_days * DAY)
        & (active.end_date < active.as_of + q.horizon)
    )
    # The latest-ending such term decides (a snapshot could hold overlapping terms).
    ending = ending.group_by(["pos", "account_id", "as_of"]).agg(end=ending.end_date.max())
    starts = subs.select(next_account=subs.account_id, next_start=subs.start_date)
    # A following term starts at (or a day before) the old end, and before the grace period runs out.
    follow = ending.join(
        starts,
        [
            ending.account_id == starts.next_account,
            starts.next_start >= ending.end - DAY,
            starts.next_start < ending.end + q.grace,
        ],
    )
    renewed = follow.select(renewed_pos="pos").distinct()
    joined = ending.left_join(renewed, ending.pos == renewed.renewed_pos)
    label = joined.renewed_pos.notnull().cast("float64")
    return joined.select("pos", value=ibis.cases((q.settled(joined, grace=True), label), else_=None))


def _totals(q: _Query, points: ir.Table) -> ir.Table:
    """Total ARR and seats of the rows active at each point (pos, account_id, at)."""
    subs = q.tables["subscriptions"]
    pairs = active_at(points, subs, at="at")
    seats = pairs.seats.cast("float64").fill_null(0.0) if "seats" in subs.columns else ibis.literal(0.0)
    pairs = pairs.mutate(_seats=seats)
    return pairs.group_by(["pos", "at"]).agg(arr=pairs.arr.sum(), seats=pairs._seats.sum())


def _upsell(q: _Query) -> ir.Table:
    """1 when total ARR or seats at some row start inside the window exceed those at as_of."""
    subs, s = q.tables["subscriptions"], q.snaps
    base = _totals(q, s.select("pos", "account_id", at=s.as_of))
    base = base.filter(base.arr > 0)
    starts = subs.select(change_account=subs.account_id, change_at=subs.start_date)
    changes = s.join(
        starts,
        [s.account_id == starts.change_account, starts.change_at > s.as_of, starts.change_at < s.as_of + q.horizon],
    )
    later = _totals(q, changes.select("pos", "account_id", at=changes.change_at))
    later = later.group_by("pos").agg(arr_later=later.arr.max(), seats_later=later.seats.max())
    later = later.rename(later_pos="pos")
    joined = base.left_join(later, base.pos == later.later_pos)
    grew = ((joined.arr_later > joined.arr + 1e-9) | (joined.seats_later > joined.seats)).fill_null(False)
    joined = joined.mutate(as_of=joined.at)
    return joined.select("pos", value=ibis.cases((q.settled(joined, grace=False), grew.cast("float64")), else_=None))


# --- activity outcome ----------------------------------------------------------------------


def _around(q: _Query) -> ir.Table:
    """Per snapshot: the last usage event strictly before as_of and the first at or after it.

    Events are reduced to their first and latest time per account and period of ``q.periods``
    (one range join with a table of a few dozen periods), then carried over a dense
    account x period grid: the latest before ``as_of`` is the running maximum up to the period
    ending at it, the first at or after it the running minimum from the period starting there.
    Nothing pairs an event with every snapshot.
    """
    events = q.tables["usage_events"]
    events = events.filter(events.timestamp.notnull())
    periods = q.periods
    paired = events.join(periods, [events.timestamp >= periods.lo, events.timestamp < periods.hi])
    per = paired.group_by(["account_id", "lo"]).agg(first=paired.timestamp.min(), latest=paired.timestamp.max())
    grid = per.select("account_id").distinct().cross_join(periods)
    dense = grid.left_join(per, [grid.account_id == per.account_id, grid.lo == per.lo]).select(
        grid.account_id, grid.lo, grid.hi, per.first, per.latest
    )
    up = ibis.window(group_by="account_id", order_by="lo", rows=(None, 0))
    down = ibis.window(group_by="account_id", order_by="lo", rows=(0, None))
    carried = dense.mutate(last=dense.latest.max().over(up), next=dense.first.min().over(down))
    s = q.snaps
    ending = carried.select("account_id", "hi", "last")
    starting = carried.select("account_id", "lo", "next")
    with_last = s.left_join(ending, [s.account_id == ending.account_id, s.as_of == ending.hi]).select(
        s.pos, s.account_id, s.as_of, ending["last"]
    )
    return with_last.left_join(
        starting, [with_last.account_id == starting.account_id, with_last.as_of == starting.lo]
    ).select(with_last.pos, with_last.as_of, with_last["last"], starting["next"])


def _recently_active(q: _Query) -> ir.Table:
    """1 where a usage event falls in the ``active_days`` before as_of (strictly before it), else 0."""
    a = _around(q)
    recent = a.last.notnull() & (a.last >= a.as_of - q.config.active_days * DAY)
    return a.select("pos", value=recent.cast("float64"))


def _activity_churn(q: _Query) -> ir.Table:
    """1 when an account active in the ``active_days`` before as_of has no usage event in the window."""
    a = _around(q)
    recent = a.last.notnull() & (a.last >= a.as_of - q.config.active_days * DAY)
    churned = (a.next.isnull() | (a.next >= a.as_of + q.horizon)).cast("float64")
    return a.select("pos", value=ibis.cases((recent & q.settled(a, grace=False), churned), else_=None))


_LABELLERS: dict[tuple[str, str], Callable[[_Query], ir.Table]] = {
    ("churn", "contract"): _contract_churn,
    ("churn", "activity"): _activity_churn,
    ("renewal", "contract"): _renewal,
    ("upsell", "contract"): _upsell,
}
