"""A plain pandas implementation of every signal: the test oracle and the benchmark baseline (``bench.bench_features``).

It loops over the snapshot dates, keeps the rows strictly before each as_of, and groups
by account: slow, obvious, and independent of the ibis builders. It follows the
conventions documented in :mod:`features.builders` and :mod:`features.signals`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from features.builders import AsOf, FeatureSet, available_signals, to_timestamps
from features.builders_vocab import resolve_vocabulary
from features.config import FeatureConfig
from features.engine import engine_table
from features.loader import TIMESTAMP_DTYPE, Dataset
from features.signals import event_slug
from features.texts import TEXTS, present_columns, text_rows
from features.times import MICROS_PER_DAY, micros_list

DAY = MICROS_PER_DAY
HOUR = DAY // 24
SENTIMENT_VALUES = {"red": 0.0, "yellow": 1.0, "green": 2.0}


def _tables(dataset: Dataset) -> dict[str, pd.DataFrame]:
    """The tables with times as int64 microseconds (nullable), like the engines see them."""
    out = {}
    for name, frame in dataset.tables.items():
        table = engine_table(name, frame).to_pandas(types_mapper=_nullable)
        out[name] = table
    return out


def _nullable(arrow_type):  # type: ignore[no-untyped-def]
    if pa.types.is_integer(arrow_type):
        return pd.Int64Dtype()
    if pa.types.is_string(arrow_type):
        return pd.StringDtype()
    return None


def _in(t: pd.Series, a: int, start_days: float, end_days: float = 0) -> pd.Series:
    return (t >= a - int(start_days * DAY)) & (t < a - int(end_days * DAY))


def _by_account(frame: pd.DataFrame, fn) -> pd.Series:  # type: ignore[no-untyped-def]
    if frame.empty:
        return pd.Series(dtype="float64")
    return frame.groupby("account_id", sort=False).apply(fn, include_groups=False)


def reference_features(
    dataset: Dataset,
    as_of: Sequence[AsOf],
    *,
    config: FeatureConfig = FeatureConfig(),  # noqa: B008
) -> FeatureSet:
    """Every available signal per (account_id, as_of), one snapshot date at a time."""
    stamps = to_timestamps(as_of)
    if not stamps:
        raise ValueError("as_of must hold at least one snapshot date")
    config = resolve_vocabulary(dataset, config, max(stamps))
    signals, skipped = available_signals(dataset, config, max(stamps))
    names = [s.name for s in signals]
    tables = _tables(dataset)
    if TEXTS in present_columns(dataset):
        tables[TEXTS] = text_rows(dataset, config)
    frames = []
    for stamp, a in zip(to_timestamps(as_of), micros_list(to_timestamps(as_of)), strict=True):
        frames.append(_snapshot(tables, a, stamp, names, config))
    frame = pd.concat(frames, ignore_index=True)
    out = frame[["account_id", "as_of", *names]].copy()
    out["account_id"] = out["account_id"].astype("string")
    out["as_of"] = out["as_of"].astype(TIMESTAMP_DTYPE)
    for n in names:
        out[n] = out[n].astype("float64")
    out = out.sort_values(["as_of", "account_id"], kind="stable").reset_index(drop=True)
    return FeatureSet(out, signals, skipped)


def _snapshot(
    tables: dict[str, pd.DataFrame],
    a: int,
    stamp: pd.Timestamp,
    names: list[str],
    config: FeatureConfig,
) -> pd.DataFrame:
    acc = tables["accounts"]
    acc = acc[acc["created_at"].notna()]
    created = acc.groupby("account_id")["created_at"].min()
    created = created[created < a].astype("int64")
    rows = pd.DataFrame(index=created.index)
    rows["as_of"] = stamp
    rows["tenure_days"] = (a - created) / DAY
    cols: dict[str, pd.Series] = {}
    if "usage_events" in tables:
        cols.update(_usage(tables["usage_events"], a, created, config))
        cols.update(_long_windows(tables["usage_events"], a, config))
    if "support_tickets" in tables:
        cols.update(_support(tables["support_tickets"], a, config))
    if "surveys" in tables:
        cols.update(_sentiment(tables["surveys"], a, config))
    if "subscriptions" in tables:
        cols.update(_subscriptions(tables["subscriptions"], a, config))
    if "invoices" in tables and "paid_at" in tables["invoices"].columns:
        cols.update(_invoices(tables["invoices"], a))
    if "csm_inputs" in tables:
        cols.update(_relationship(tables["csm_inputs"], a))
    if TEXTS in tables:
        cols.update(_texts(tables[TEXTS], a))
    if "referrals" in tables:
        made = tables["referrals"]
        recent = made[_in(made["referred_at"], a, 365).fillna(False).astype(bool)]
        cols["referrals_365d"] = recent.groupby("referrer_account_id").size()
    counts = _COUNTS | {n for n in cols if n.startswith(("events_30d__", "events_90d__"))}
    for name, series in cols.items():
        values = series.reindex(rows.index).astype("float64")
        rows[name] = values.fillna(0.0) if name in counts else values
    if "active_users_30d" in rows and "_seats" in rows:
        seats = rows["_seats"].where(rows["_seats"] != 0)
        rows["licence_utilisation"] = rows["active_users_30d"] / seats
    if "engagement_score" in names:
        rows["engagement_score"] = _engagement(rows, set(names), config)
    rows = rows.reset_index(names="account_id")
    for n in names:
        if n not in rows:
            raise KeyError(f"reference has no value for {n}")
    return rows


_COUNTS = {
    *(f"{kind}_{w}" for kind in ("events", "active_weeks", "quantity") for w in ("180d", "365d", "all")),
    "active_users_7d",
    "active_users_30d",
    "active_users_90d",
    "_au_prev",
    "active_days_30d",
    "features_used_30d",
    "key_feature_adoption",
    "_key_users",
    "tickets_30d",
    "tickets_90d",
    "_tickets_prev",
    "ticket_trend",
    "open_tickets",
    "open_high_priority_tickets",
    "survey_responses_180d",
    "arr",
    "_arr_90",
    "_arr_180",
    "plan_changes",
    "overdue_amount",
    "max_days_overdue",
    "risk_phrases_90d",
    "referrals_365d",
}


def _usage(ev: pd.DataFrame, a: int, created: pd.Series, config: FeatureConfig) -> dict[str, pd.Series]:
    if "event_id" in ev.columns:
        ordered = ev.sort_values(["timestamp", "account_id", "user_id", "event"], kind="stable")
        with_id = ordered[ordered["event_id"].notna()].drop_duplicates("event_id", keep="first")
        ev = pd.concat([with_id, ev[ev["event_id"].isna()]])
    key = list(dict.fromkeys(config.key_events))
    past = ev[ev["timestamp"] < a]
    t = past["timestamp"]
    out: dict[str, pd.Series] = {}
    g = past.groupby("account_id")
    out["active_users_7d"] = past[_in(t, a, 7)].groupby("account_id")["user_id"].nunique()
    last30 = past[_in(t, a, 30)]
    au30 = last30.groupby("account_id")["user_id"].nunique()
    out["active_users_30d"] = au30
    out["active_users_90d"] = past[_in(t, a, 90)].groupby("account_id")["user_id"].nunique()
    prev = past[_in(t, a, 60, 30)].groupby("account_id")["user_id"].nunique()
    au30_all = au30.reindex(created.index).fillna(0)
    prev_all = prev.reindex(created.index).fillna(0)
    out["active_users_trend"] = ((au30_all - prev_all) / prev_all.where(prev_all != 0)).astype("float64")
    out["active_days_30d"] = (last30["timestamp"] // DAY).groupby(last30["account_id"]).nunique()
    out["features_used_30d"] = last30.groupby("account_id")["event"].nunique()
    key30 = last30[last30["event"].isin(key)]
    out["key_feature_adoption"] = key30.groupby("account_id")["event"].nunique() / len(key)
    key_users = key30.groupby("account_id")["user_id"].nunique().reindex(created.index).fillna(0)
    out["key_feature_users_share"] = key_users / au30_all.where(au30_all != 0)
    last = g["timestamp"].max()
    out["days_since_last_activity"] = (a - last) / DAY
    first_key = ev[ev["event"].isin(key)].groupby("account_id")["timestamp"].min()
    first_key = first_key[first_key < a]
    out["time_to_value_days"] = (first_key - created.reindex(first_key.index)) / DAY
    return out


def _dedupe(ev: pd.DataFrame) -> pd.DataFrame:
    if "event_id" not in ev.columns:
        return ev
    ordered = ev.sort_values(["timestamp", "account_id", "user_id", "event"], kind="stable")
    with_id = ordered[ordered["event_id"].notna()].drop_duplicates("event_id", keep="first")
    return pd.concat([with_id, ev[ev["event_id"].isna()]])


def _gap(days: pd.Series) -> pd.Series:
    """Mean gap between distinct days per account: (last - first) / (n - 1), NaN below two days."""
    g = days.groupby(level=0)
    n = g.nunique()
    return ((g.max() - g.min()) / (n - 1).where(n > 1)).astype("float64")


def _long_windows(ev: pd.DataFrame, a: int, config: FeatureConfig) -> dict[str, pd.Series]:
    ev = _dedupe(ev)
    past = ev[ev["timestamp"] < a]
    t = past["timestamp"]
    quantity = past["quantity"].astype("float64").fillna(0.0) if "quantity" in past.columns else 0.0 * t
    week = (t + 3 * DAY) // (7 * DAY)
    day = t // DAY
    out: dict[str, pd.Series] = {}
    for name, mask in (("180d", _in(t, a, 180)), ("365d", _in(t, a, 365)), ("all", t.notna())):
        ids = past.loc[mask, "account_id"]
        out[f"events_{name}"] = ids.groupby(ids).size()
        out[f"active_weeks_{name}"] = week[mask].groupby(ids).nunique()
        out[f"quantity_{name}"] = quantity[mask].groupby(ids).sum()
    by_account = day.set_axis(past["account_id"])
    gap_all = _gap(by_account)
    recent = _in(t, a, 90).to_numpy()
    gap_90 = _gap(by_account[recent])
    out["mean_gap_days"] = gap_all
    out["mean_gap_change_days"] = gap_90 - gap_all.reindex(gap_90.index)
    last30, prev30, last90 = _in(t, a, 30), _in(t, a, 60, 30), _in(t, a, 90)
    for event in config.event_types or ():
        slug = event_slug(event)
        of_type = past["event"] == event
        now, before = (past.loc[of_type & m, "account_id"].value_counts() for m in (last30, prev30))
        out[f"events_30d__{slug}"] = now
        out[f"events_90d__{slug}"] = past.loc[of_type & last90, "account_id"].value_counts()
        index = now.index.union(before.index)
        now_all, before_all = now.reindex(index).fillna(0.0), before.reindex(index).fillna(0.0)
        out[f"events_trend__{slug}"] = ((now_all - before_all) / before_all.where(before_all != 0)).astype("float64")
    return out


def _support(tk: pd.DataFrame, a: int, config: FeatureConfig) -> dict[str, pd.Series]:
    past = tk[tk["opened_at"] < a]
    opened = past["opened_at"]
    out: dict[str, pd.Series] = {}
    count = lambda mask: past[mask].groupby("account_id").size()  # noqa: E731
    out["tickets_30d"] = count(_in(opened, a, 30))
    out["tickets_90d"] = count(_in(opened, a, 90))
    prev = count(_in(opened, a, 60, 30))
    out["ticket_trend"] = out["tickets_30d"].sub(prev, fill_value=0)
    if "resolved_at" in past.columns:
        resolved = past["resolved_at"]
        is_open = (resolved.isna() | (resolved >= a)).fillna(True).astype(bool)
        out["open_tickets"] = count(is_open)
        if "priority" in past.columns:
            high = past["priority"].isin(["high", "urgent"]).fillna(False).astype(bool)
            out["open_high_priority_tickets"] = count(is_open & high)
        recent_mask = (resolved.notna() & _in(resolved, a, config.support_window_days)).fillna(False).astype(bool)
        recent = past[recent_mask]
        hours = (recent["resolved_at"] - recent["opened_at"]).astype("float64") / HOUR
        out["avg_handle_time_hours"] = hours.groupby(recent["account_id"]).mean()
        if "contacts" in recent.columns:
            known = recent[recent["contacts"].notna()]
            fcr = (known["contacts"] == 1).astype("float64")
            out["first_contact_resolution_rate"] = fcr.groupby(known["account_id"]).mean()
        if "csat" in recent.columns:
            out["support_csat"] = recent.groupby("account_id")["csat"].mean()
    return out


def _nps(frame: pd.DataFrame) -> pd.Series:
    nps = frame[frame["kind"] == "nps"]
    score = nps["score"]
    parts = pd.DataFrame({"p": score >= 9, "d": score <= 6, "account_id": nps["account_id"]})
    g = parts.groupby("account_id")
    return (g["p"].sum() - g["d"].sum()) * 100.0 / g.size()


def _sentiment(sv: pd.DataFrame, a: int, config: FeatureConfig) -> dict[str, pd.Series]:
    sv = sv[sv["score"].notna()]
    past = sv[sv["answered_at"] < a]
    t = past["answered_at"]
    w = config.survey_window_days
    recent = past[_in(t, a, w)]
    out: dict[str, pd.Series] = {}
    nps_past = past[past["kind"] == "nps"]
    latest_t = nps_past.groupby("account_id")["answered_at"].transform("max")
    at_latest = nps_past[nps_past["answered_at"] == latest_t]
    out["nps_latest"] = at_latest.groupby("account_id")["score"].mean()
    nps_now = _nps(recent)
    nps_prev = _nps(past[_in(t, a, 2 * w, w)])
    out["nps"] = nps_now
    out["nps_trend"] = nps_now - nps_prev  # NaN unless both exist
    csat = recent[recent["kind"] == "csat"]
    out["csat_score"] = (csat["score"] >= 4).astype("float64").groupby(csat["account_id"]).mean() * 100.0
    ces = recent[recent["kind"] == "ces"]
    out["effort_score"] = ces.groupby("account_id")["score"].mean()
    out["days_since_last_survey"] = (a - past.groupby("account_id")["answered_at"].max()) / DAY
    out["survey_responses_180d"] = recent.groupby("account_id").size()
    return out


def _active_at(subs: pd.DataFrame, at: int) -> pd.DataFrame:
    end = subs["end_date"]
    mask = (subs["start_date"] < at) & (end.isna() | (end >= at)).fillna(True).astype(bool)
    return subs[mask.fillna(False).astype(bool)]


def _subscriptions(subs: pd.DataFrame, a: int, config: FeatureConfig) -> dict[str, pd.Series]:
    out: dict[str, pd.Series] = {}
    active = _active_at(subs, a)
    arr_now = active.groupby("account_id")["arr"].sum()
    arr_90 = _active_at(subs, a - 90 * DAY).groupby("account_id")["arr"].sum()
    arr_180 = _active_at(subs, a - 180 * DAY).groupby("account_id")["arr"].sum()
    out["arr"] = arr_now
    for name, then in (("arr_change_90d", arr_90), ("arr_change_180d", arr_180)):
        now = arr_now.reindex(then.index.union(arr_now.index)).fillna(0.0)
        before = then.reindex(now.index).fillna(0.0)
        out[name] = (now - before) / before.where(before != 0)
    out["_arr_90"], out["_arr_180"] = arr_90, arr_180
    if "seats" in active.columns:
        out["_seats"] = active.groupby("account_id")["seats"].sum(min_count=1)
    out["days_to_renewal"] = (active.groupby("account_id")["end_date"].max() - a) / DAY
    first = subs.groupby("account_id")["start_date"].transform("min")
    renewals = subs[(subs["start_date"] > first) & (subs["start_date"] < a)]
    out["days_since_last_renewal"] = (a - renewals.groupby("account_id")["start_date"].max()) / DAY
    if "plan" in subs.columns:
        planned = subs[subs["plan"].notna()].sort_values(["account_id", "start_date", "plan"], kind="stable")
        previous = planned.groupby("account_id")["plan"].shift(1)
        changed = planned[previous.notna() & (planned["plan"] != previous).fillna(False).astype(bool)]
        window = changed[_in(changed["start_date"], a, config.plan_change_window_days)]
        out["plan_changes"] = window.groupby("account_id").size()
    return out


def _invoices(inv: pd.DataFrame, a: int) -> dict[str, pd.Series]:
    unpaid = inv[(inv["due_at"] < a) & (inv["paid_at"].isna() | (inv["paid_at"] >= a)).fillna(True).astype(bool)]
    unpaid = unpaid[unpaid["due_at"].notna()]
    g = unpaid.groupby("account_id")
    return {
        "overdue_amount": g["amount"].sum(),
        "max_days_overdue": (a - g["due_at"].min()) / DAY,
    }


def _relationship(csm: pd.DataFrame, a: int) -> dict[str, pd.Series]:
    past = csm[csm["recorded_at"] < a].copy()
    past["value"] = past["sentiment"].map(SENTIMENT_VALUES).astype("float64")
    latest_t = past.groupby("account_id")["recorded_at"].transform("max")
    at_latest = past[past["recorded_at"] == latest_t]
    return {
        "csm_sentiment": at_latest.groupby("account_id")["value"].mean(),
        "days_since_csm_input": (a - past.groupby("account_id")["recorded_at"].max()) / DAY,
    }


def _texts(tx: pd.DataFrame, a: int) -> dict[str, pd.Series]:
    past = tx[tx["at"] < a]
    last180 = past[_in(past["at"], a, 180)]
    last90 = past[_in(past["at"], a, 90)]
    negative = past[past["negative"] == 1]
    return {
        "comment_sentiment_90d": last90.groupby("account_id")["sentiment"].mean(),
        "comment_sentiment_180d": last180.groupby("account_id")["sentiment"].mean(),
        "negative_comment_share_180d": last180.groupby("account_id")["negative"].mean(),
        "days_since_negative_comment": (a - negative.groupby("account_id")["at"].max()) / DAY,
        "risk_phrases_90d": last90.groupby("account_id")["risk_hits"].sum(),
    }


def _engagement(rows: pd.DataFrame, names: set[str], config: FeatureConfig) -> pd.Series:
    activities = [x for x in config.engagement_activities if x.signal in names]
    total = sum(x.weight for x in activities)
    if total <= 0:
        return pd.Series(np.nan, index=rows.index)
    score = pd.Series(0.0, index=rows.index)
    for x in activities:
        value = rows[x.signal].fillna(0.0)
        share = (value / x.target).clip(0.0, 1.0) if x.target > 0 else (value > 0).astype("float64")
        score = score + share * (x.weight * 100.0 / total)
    return score
