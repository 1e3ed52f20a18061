"""Outcomes (labels) for a spine of (account_id, as_of) snapshots, per DESIGN.md section 4.

Every label looks at the window ``[as_of, as_of + horizon)``. A label is only produced
when the data reaches far enough past the window to settle it (for contract outcomes:
the window plus the grace period), so labels never guess what the data cannot show.

Outcomes are declared as data (:data:`OUTCOMES`); each has a function from the dataset
and a spine to a frame of ``eligible`` and ``label`` columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from features.errors import DataError, Problem
from features.loader import STRING_DTYPE, TIMESTAMP_DTYPE, Dataset
from features.validation import data_end

ChurnDefinition = Literal["contract", "activity"]
NEVER = pd.Timestamp.max.tz_localize("UTC").floor("D")


@dataclass(frozen=True)
class OutcomeConfig:
    """How outcomes are defined; defaults follow DESIGN.md section 4."""

    horizon_days: int = 90
    grace_days: int = 30
    churn_definition: ChurnDefinition = "contract"
    active_days: int = 365  # activity mode: an event in this many days before as_of makes an account eligible
    min_term_days: int = 180  # renewal: only fixed terms at least this long are renewals

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


def spine(dataset: Dataset, as_of: Sequence[pd.Timestamp]) -> pd.DataFrame:
    """Every account created before each ``as_of``: the rows features and labels share."""
    accounts = dataset.tables["accounts"][["account_id", "created_at"]]
    dates = pd.DataFrame({"as_of": pd.DatetimeIndex(as_of).astype("datetime64[us, UTC]")})
    frame = accounts.merge(dates, how="cross")
    frame = frame[frame["created_at"] < frame["as_of"]]
    return frame[["account_id", "as_of"]].sort_values(["as_of", "account_id"], ignore_index=True)


def build_labels(
    dataset: Dataset, snapshots: pd.DataFrame, outcomes: Sequence[str], config: OutcomeConfig = OutcomeConfig()
) -> pd.DataFrame:
    """Labels for ``snapshots`` (account_id, as_of): one ``<outcome>`` column per outcome.

    The value is 1.0/0.0 where the snapshot is eligible and settled, NaN otherwise. The
    frame also carries ``arr_at_as_of`` (ARR at as_of, for revenue-weighted metrics).
    """
    end = data_end(dataset)
    if end is None:
        raise DataError([Problem("usage_events", "timestamp", "no dated rows: cannot tell where the data ends")])
    out = snapshots[["account_id", "as_of"]].reset_index(drop=True).copy()
    out["arr_at_as_of"] = arr_at(dataset, out) if dataset.has("subscriptions") else np.nan
    for name in outcomes:
        fn = _LABELLERS[(name, config.churn_definition if name == "churn" else "contract")]
        needs = (
            ("accounts", "usage_events")
            if (name, config.churn_definition) == ("churn", "activity")
            else OUTCOMES[name].needs
        )
        missing = [t for t in needs if not dataset.has(t)]
        if missing:
            raise DataError(
                [Problem(missing[0], None, f"outcome {name!r} needs table {missing[0]!r}, which is absent")]
            )
        out[name] = fn(dataset, out, config, end)
    return out


# --- contract outcomes ---------------------------------------------------------------------


def coverage_blocks(subscriptions: pd.DataFrame, grace: pd.Timedelta) -> pd.DataFrame:
    """Merge each account's subscription rows into blocks, bridging gaps shorter than ``grace``.

    Returns account_id, block_start, block_end (``NEVER`` for open-ended rows).
    """
    subs = subscriptions[["account_id", "start_date", "end_date"]].copy()
    subs["end_date"] = subs["end_date"].fillna(NEVER)
    subs = subs.sort_values(["account_id", "start_date", "end_date"], ignore_index=True)
    running_end = subs.groupby("account_id")["end_date"].cummax()
    previous_end = running_end.groupby(subs["account_id"]).shift()
    new_block = previous_end.isna() | (subs["start_date"] - grace >= previous_end)  # no NEVER + grace overflow
    subs["block"] = new_block.cumsum()
    return (
        subs.groupby("block")
        .agg(account_id=("account_id", "first"), block_start=("start_date", "min"), block_end=("end_date", "max"))
        .reset_index(drop=True)
    )


def _active_rows(subscriptions: pd.DataFrame, snapshots: pd.DataFrame) -> pd.DataFrame:
    """Pairs (snapshot position, subscription row) where the row is active at as_of."""
    snaps = snapshots[["account_id", "as_of"]].reset_index(drop=True).rename_axis("pos").reset_index()
    pairs = snaps.merge(subscriptions, on="account_id")
    end = pairs["end_date"].fillna(NEVER)
    return pairs[(pairs["start_date"] <= pairs["as_of"]) & (pairs["as_of"] < end)]


def arr_at(dataset: Dataset, snapshots: pd.DataFrame) -> np.ndarray:
    """Total ARR of the subscription rows active at each snapshot's as_of (0 when none)."""
    active = _active_rows(dataset.tables["subscriptions"], snapshots)
    total = active.groupby("pos")["arr"].sum()
    return total.reindex(range(len(snapshots)), fill_value=0.0).to_numpy(dtype="float64")


def _settled(snapshots: pd.DataFrame, config: OutcomeConfig, end: pd.Timestamp, grace: bool) -> np.ndarray:
    window_end = snapshots["as_of"] + config.horizon + (config.grace if grace else pd.Timedelta(0))
    return (window_end <= end).to_numpy()


def contract_churn(dataset: Dataset, snapshots: pd.DataFrame, config: OutcomeConfig, end: pd.Timestamp) -> np.ndarray:
    """1 when the coverage block holding as_of ends before as_of + horizon; NaN if not active or unsettled."""
    blocks = coverage_blocks(dataset.tables["subscriptions"], config.grace)
    snaps = snapshots[["account_id", "as_of"]].reset_index(drop=True).rename_axis("pos").reset_index()
    # An account is eligible when a real subscription row (not a bridged gap) is active at as_of.
    active = pd.Index(_active_rows(dataset.tables["subscriptions"], snapshots)["pos"].unique())
    pairs = snaps.merge(blocks, on="account_id")
    pairs = pairs[
        (pairs["block_start"] <= pairs["as_of"]) & (pairs["as_of"] < pairs["block_end"]) & pairs["pos"].isin(active)
    ]
    label = pd.Series(np.nan, index=range(len(snapshots)))
    label[pairs["pos"].to_numpy()] = (pairs["block_end"] < pairs["as_of"] + config.horizon).astype(float).to_numpy()
    label[~_settled(snapshots, config, end, grace=True)] = np.nan
    return label.to_numpy()


def renewal(dataset: Dataset, snapshots: pd.DataFrame, config: OutcomeConfig, end: pd.Timestamp) -> np.ndarray:
    """Among snapshots whose active fixed term ends inside the window: 1 if a next term starts within grace."""
    subs = dataset.tables["subscriptions"]
    active = _active_rows(subs, snapshots)
    term = active["end_date"] - active["start_date"]
    ending = active[
        active["end_date"].notna()
        & (term >= pd.Timedelta(days=config.min_term_days))
        & (active["end_date"] < active["as_of"] + config.horizon)
    ]
    # The latest-ending such term decides (a snapshot could hold overlapping terms).
    ending = ending.sort_values("end_date").groupby("pos").tail(1)
    starts = subs[["account_id", "start_date"]].rename(columns={"start_date": "next_start"})
    follow = ending[["pos", "account_id", "end_date"]].merge(starts, on="account_id")
    # A following term starts at (or a day before) the old end, and before the grace period runs out.
    follows = (follow["next_start"] >= follow["end_date"] - pd.Timedelta(days=1)) & (
        follow["next_start"] < follow["end_date"] + config.grace
    )
    renewed = pd.Index(follow.loc[follows, "pos"].unique())
    label = pd.Series(np.nan, index=range(len(snapshots)))
    label[ending["pos"].to_numpy()] = ending["pos"].isin(renewed).astype(float).to_numpy()
    label[~_settled(snapshots, config, end, grace=True)] = np.nan
    return label.to_numpy()


def upsell(dataset: Dataset, snapshots: pd.DataFrame, config: OutcomeConfig, end: pd.Timestamp) -> np.ndarray:
    """1 when total ARR or seats at some row start inside the window exceed those at as_of."""
    subs = dataset.tables["subscriptions"]
    snaps = snapshots[["account_id", "as_of"]].reset_index(drop=True).rename_axis("pos").reset_index()
    base = _totals_at(subs, snaps.rename(columns={"as_of": "at"}))
    changes = snaps.merge(subs[["account_id", "start_date"]], on="account_id")
    changes = changes[
        (changes["start_date"] > changes["as_of"]) & (changes["start_date"] < changes["as_of"] + config.horizon)
    ]
    later = _totals_at(subs, changes.rename(columns={"start_date": "at"})).groupby("pos")[["arr", "seats"]].max()
    rise = base.set_index("pos").join(later, rsuffix="_later", how="inner")
    grew = (rise["arr_later"] > rise["arr"] + 1e-9) | (rise["seats_later"] > rise["seats"])
    label = pd.Series(np.nan, index=range(len(snapshots)))
    eligible = base.loc[base["arr"] > 0, "pos"]
    label[eligible.to_numpy()] = eligible.isin(rise.index[grew]).astype(float).to_numpy()
    label[~_settled(snapshots, config, end, grace=False)] = np.nan
    return label.to_numpy()


def _totals_at(subs: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """Total ARR and seats of the rows active at each point (pos, account_id, at)."""
    pairs = points[["pos", "account_id", "at"]].merge(subs, on="account_id")
    end = pairs["end_date"].fillna(NEVER)
    pairs = pairs[(pairs["start_date"] <= pairs["at"]) & (pairs["at"] < end)]
    seats = pairs["seats"].astype("float64") if "seats" in pairs else pd.Series(0.0, index=pairs.index)
    pairs = pairs.assign(seats=seats.fillna(0.0))
    return pairs.groupby(["pos", "at"], as_index=False)[["arr", "seats"]].sum()


# --- activity outcome ----------------------------------------------------------------------


def _events_and_snaps(dataset: Dataset, snapshots: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Usage events and snapshots (with their position ``pos``), typed and sorted for merge_asof."""
    events = dataset.tables["usage_events"][["account_id", "timestamp"]].dropna()
    events = events.astype({"timestamp": TIMESTAMP_DTYPE, "account_id": STRING_DTYPE}).sort_values(
        "timestamp", ignore_index=True
    )
    snaps = snapshots[["account_id", "as_of"]].reset_index(drop=True).rename_axis("pos").reset_index()
    snaps = snaps.astype({"as_of": TIMESTAMP_DTYPE, "account_id": STRING_DTYPE}).sort_values("as_of", ignore_index=True)
    return events, snaps


def _in_snapshot_order(values: pd.Series, snaps: pd.DataFrame) -> np.ndarray:
    return pd.Series(values.to_numpy(), index=snaps["pos"]).sort_index().to_numpy()


def recently_active(dataset: Dataset, snapshots: pd.DataFrame, config: OutcomeConfig) -> np.ndarray:
    """A usage event in the ``active_days`` before each as_of (strictly before it)."""
    events, snaps = _events_and_snaps(dataset, snapshots)
    before = pd.merge_asof(
        snaps,
        events.rename(columns={"timestamp": "last"}),
        left_on="as_of",
        right_on="last",
        by="account_id",
        direction="backward",
        allow_exact_matches=False,
    )
    return _in_snapshot_order(before["last"] >= before["as_of"] - pd.Timedelta(days=config.active_days), snaps)


def activity_churn(dataset: Dataset, snapshots: pd.DataFrame, config: OutcomeConfig, end: pd.Timestamp) -> np.ndarray:
    """1 when an account active in the ``active_days`` before as_of has no usage event in the window."""
    events, snaps = _events_and_snaps(dataset, snapshots)
    after = pd.merge_asof(
        snaps,
        events.rename(columns={"timestamp": "next"}),
        left_on="as_of",
        right_on="next",
        by="account_id",
        direction="forward",
        allow_exact_matches=True,
    )
    churned = _in_snapshot_order(after["next"].isna() | (after["next"] >= after["as_of"] + config.horizon), snaps)
    label = np.where(recently_active(dataset, snapshots, config), churned.astype(float), np.nan)
    label[~_settled(snapshots, config, end, grace=False)] = np.nan
    return label


def eligible(dataset: Dataset, snapshots: pd.DataFrame, config: OutcomeConfig = OutcomeConfig()) -> np.ndarray:
    """Which snapshots the churn model is meant for: the rows a churn label could exist for.

    Contract churn: a subscription row is active at as_of. Activity churn: a usage event in
    the ``active_days`` before as_of. Scoring uses this so that it ranks the same population
    the model learned from.
    """
    if config.churn_definition == "activity":
        return recently_active(dataset, snapshots, config).astype(bool)
    active = _active_rows(dataset.tables["subscriptions"], snapshots)["pos"].unique()
    mask = np.zeros(len(snapshots), dtype=bool)
    mask[active] = True
    return mask


_LABELLERS: dict[tuple[str, str], Callable[[Dataset, pd.DataFrame, OutcomeConfig, pd.Timestamp], np.ndarray]] = {
    ("churn", "contract"): contract_churn,
    ("churn", "activity"): activity_churn,
    ("renewal", "contract"): renewal,
    ("upsell", "contract"): upsell,
}
