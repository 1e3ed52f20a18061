"""The observable tables: usage, tickets, surveys, invoices, CSM check-ins, subscriptions, accounts.

Each is a noisy view of the hidden state (:mod:`simulator.dynamics`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.config import EVENT_TYPES
from features.contract import PRIORITIES, SEGMENTS, SENTIMENTS, TABLE_SPECS
from features.times import MICROS_PER_DAY
from simulator.accounts import _anchor, _Subs
from simulator.calendar import _OPEN, _Calendar, _ids, _strings, _ts
from simulator.config import (
    _COMMENTS,
    _CSM_NOTES,
    _NAME_A,
    _NAME_B,
    _NAME_C,
    CSM_NAMES,
    INDUSTRIES,
    PLAN_TIERS,
    REGIONS,
    WEEKEND_KEEP,
    GeneratorConfig,
    Progress,
)
from simulator.dynamics import _breadth, _sigmoid, _utilisation

# --- observable tables ----------------------------------------------------------------------


_NONE = np.array(None, dtype=object)  # a missing text value, as np.where's fallback


def _month_windows(
    cal: _Calendar, start: np.ndarray, end: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accounts with activity in month k and their [lo, hi) day offsets inside it."""
    ms, days = int(cal.start(k)), int(cal.days(k))
    lo = np.clip(start - ms, 0, days)
    hi = np.clip(np.minimum(end, cal.end) - ms, 0, days)
    idx = np.flatnonzero(hi > lo)
    return idx, lo[idx], hi[idx]


def _usage(
    cfg: GeneratorConfig,
    cal: _Calendar,
    acc: dict[str, np.ndarray],
    start: np.ndarray,
    end: np.ndarray,
    eng: np.ndarray,
    seats_hist: np.ndarray,
    rng: np.random.Generator,
    report: Progress,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Usage events month by month (and each account-month's active users), then the table."""
    n, months = cfg.accounts, cfg.months
    max_seats = np.maximum(seats_hist.max(axis=1), acc["seats"])
    user_base = np.concatenate([[0], np.cumsum(max_seats)[:-1]])
    active_users = np.zeros((n, months), np.int64)
    parts: list[tuple[np.ndarray, ...]] = []
    for k in range(months):
        report("usage", k / months)
        part = _usage_month(cfg, cal, acc, k, start, end, eng, seats_hist, max_seats, user_base, active_users, rng)
        if part is not None:
            parts.append(part)
    report("usage", 1.0)
    return _usage_table(cfg, parts, max_seats, user_base, rng), active_users


def _usage_month(
    cfg: GeneratorConfig,
    cal: _Calendar,
    acc: dict[str, np.ndarray],
    k: int,
    start: np.ndarray,
    end: np.ndarray,
    eng: np.ndarray,
    seats_hist: np.ndarray,
    max_seats: np.ndarray,
    user_base: np.ndarray,
    active_users: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, ...] | None:
    """Month ``k``'s events (account, user, time, event code); fills that month of ``active_users``."""
    noise = cfg.signal_noise
    weekend_boost = 7 / (5 + 2 * WEEKEND_KEEP)
    idx, lo, hi = _month_windows(cal, start, end, k)
    if idx.size == 0:
        return None
    e = eng[idx, k].astype(np.float64)
    st = seats_hist[idx, k]
    st = np.where(st > 0, st, acc["seats"][idx])
    util = np.clip(_utilisation(e) * (1 + 0.08 * noise * rng.standard_normal(idx.size)), 0.0, 1.0)
    frac = (hi - lo) / cal.days(k)
    # Expand to seats: user u is active when its fixed propensity is below utilisation.
    row = np.repeat(np.arange(idx.size), st)
    u = np.arange(row.size) - np.repeat(np.cumsum(st) - st, st)
    q = (acc["q0"][idx][row] + u * 0.6180339887) % 1.0
    g = (acc["g0"][idx][row] + u * 0.7548776662) % 1.0
    on = q < util[row]
    row, u, g = row[on], u[on], g[on]
    rate = cfg.events_per_user * (0.3 + 1.4 * g) * np.exp(0.6 * e[row]) * frac[row] * weekend_boost
    cnt = rng.poisson(rate)
    ev_row = np.repeat(row, cnt)
    ev_user = np.repeat(u, cnt)
    day = lo[ev_row] + np.floor(rng.random(ev_row.size) * (hi - lo)[ev_row]).astype(np.int64)
    ev_row, ev_user, day, is_burst = _with_bursts(ev_row, ev_user, day, lo, hi, rng)
    absday = int(cal.start(k)) + day
    weekend = ((absday + 3) % 7) >= 5
    keep = ~weekend | (rng.random(absday.size) < WEEKEND_KEEP)
    ev_row, ev_user, absday, is_burst = (
        ev_row[keep],
        ev_user[keep],
        absday[keep],
        is_burst[keep],
    )
    m = ev_row.size
    if m == 0:
        return None
    a = idx[ev_row]
    secs = np.clip(rng.normal(14.5 * 3600, 3.2 * 3600, m), 0, 86399).astype(np.int64)
    ts = absday * MICROS_PER_DAY + secs * 1_000_000 + rng.integers(0, 1_000_000, m)
    # Event type: login, else one of the account's adopted features (earlier ones more often).
    breadth = _breadth(e, acc["bias"][idx])[ev_row]
    pick = np.floor(rng.random(m) ** 1.6 * breadth).astype(np.int64)
    code = np.where(rng.random(m) < 0.28, 0, acc["order"][a, pick])
    code = np.where(is_burst, EVENT_TYPES.index("api_call"), code)
    key = np.unique(ev_row * np.int64(max_seats.max() + 1) + ev_user)
    active_users[idx, k] = np.bincount(key // (max_seats.max() + 1), minlength=idx.size)
    return a, user_base[a] + ev_user, ts, code.astype(np.int8)


def _with_bursts(
    ev_row: np.ndarray, ev_user: np.ndarray, day: np.ndarray, lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, ...]:
    """Bursts: a few account-months get a day of bulk API calls by an integration user (user 0)."""
    is_burst = np.zeros(ev_row.size, bool)
    burst = np.flatnonzero(rng.random(lo.size) < 0.03)
    if burst.size:
        bc = rng.poisson(30, burst.size)
        bday = lo[burst] + np.floor(rng.random(burst.size) * (hi - lo)[burst]).astype(np.int64)
        ev_row = np.concatenate([ev_row, np.repeat(burst, bc)])
        ev_user = np.concatenate([ev_user, np.zeros(bc.sum(), np.int64)])
        day = np.concatenate([day, np.repeat(bday, bc)])
        is_burst = np.concatenate([is_burst, np.ones(bc.sum(), bool)])
    return ev_row, ev_user, day, is_burst


def _usage_table(
    cfg: GeneratorConfig,
    parts: list[tuple[np.ndarray, ...]],
    max_seats: np.ndarray,
    user_base: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """The usage_events table: events in time order, quantities, a few duplicates, typed IDs."""
    n = cfg.accounts
    if parts:
        a, user, ts, code = (np.concatenate(x) for x in zip(*parts, strict=True))
    else:
        a, user, ts, code = (np.zeros(0, np.int64),) * 3 + (np.zeros(0, np.int8),)
    order = np.lexsort((ts, a))
    a, user, ts, code = a[order], user[order], ts[order], code[order]
    event_no = np.arange(a.size)
    quantity = np.ones(a.size)
    api = code == EVENT_TYPES.index("api_call")
    quantity[api] = 1 + rng.poisson(20, int(api.sum()))
    exp = code == EVENT_TYPES.index("export")
    quantity[exp] = rng.integers(1, 6, int(exp.sum()))
    # A few events arrive twice: exact copies, same event_id.
    dup = np.flatnonzero(rng.random(a.size) < cfg.duplicate_rate)
    if dup.size:
        take = np.sort(np.concatenate([np.arange(a.size), dup]), kind="stable")
        a, user, ts, code, event_no, quantity = (
            a[take],
            user[take],
            ts[take],
            code[take],
            event_no[take],
            quantity[take],
        )
    # Account and user IDs through Arrow dictionaries: one string per distinct value.
    acct_ids = pa.array(_ids("A", np.arange(n), 6).astype(object).to_numpy())
    owner = np.repeat(np.arange(n), max_seats)
    seat_no = np.arange(owner.size) - user_base[owner]
    user_ids = pc.binary_join_element_wise(
        acct_ids.take(pa.array(owner)),
        pc.utf8_lpad(pc.cast(pa.array(seat_no + 1), pa.string()), 4, "0"),
        "-U",
    )
    events = pa.array(list(EVENT_TYPES))
    frame = pd.DataFrame(
        {
            "account_id": _arrow_strings(acct_ids.take(pa.array(a))),
            "user_id": _arrow_strings(user_ids.take(pa.array(user))),
            "timestamp": _ts(ts),
            "event": _arrow_strings(events.take(pa.array(code.astype(np.int64)))),
            "quantity": quantity,
            "event_id": _arrow_strings(
                pc.binary_join_element_wise("E", pc.utf8_lpad(pc.cast(pa.array(event_no), pa.string()), 9, "0"), "")
            ),
        }
    )
    return frame


def _arrow_strings(arr: pa.Array) -> pd.Series:
    """An Arrow string array as a pandas "string" column (Arrow-backed, no Python objects)."""
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([arr.cast(pa.large_string())])))


def _tickets(
    cal: _Calendar,
    start: np.ndarray,
    end: np.ndarray,
    comp: np.ndarray,
    seats_hist: np.ndarray,
    rng: np.random.Generator,
    noise: float = 1.0,
) -> pd.DataFrame:
    acct_l, open_l, fr_l, sat_l = [], [], [], []
    for k in range(cal.months):
        idx, lo, hi = _month_windows(cal, start, end, k)
        fr = comp[1, idx, k].astype(np.float64)
        st = np.maximum(seats_hist[idx, k], 1)
        rate = 0.2 * st**0.4 * np.exp(0.9 * fr) * (hi - lo) / cal.days(k)
        cnt = rng.poisson(rate)
        r = np.repeat(np.arange(idx.size), cnt)
        day = lo[r] + rng.random(r.size) * (hi - lo)[r]
        acct_l.append(idx[r])
        open_l.append(((int(cal.start(k)) + day) * MICROS_PER_DAY).astype(np.int64))
        fr_l.append(fr[r])
        sat_l.append(comp[2, idx, k][r].astype(np.float64))
    acct = np.concatenate(acct_l)
    opened = np.concatenate(open_l)
    fr = np.concatenate(fr_l)
    sat = np.concatenate(sat_l)
    m = acct.size
    order = np.lexsort((opened, acct))
    acct, opened, fr, sat = acct[order], opened[order], fr[order], sat[order]
    # Priority: friction shifts tickets towards high and urgent.
    z = 0.8 * fr + noise * rng.normal(0, 0.7, m)
    prio = np.digitize(z, [-0.9, 0.5, 1.5])
    hour = 3_600_000_000
    first = opened + (rng.lognormal(np.log(np.array([10.0, 5.0, 2.0, 0.7])[prio]), 0.8) * hour).astype(np.int64)
    res_days = rng.lognormal(np.log(1.2) + 0.45 * fr + 0.3 * (prio >= 2), 0.9)
    resolved = opened + (res_days * 24 * hour).astype(np.int64)
    stuck = rng.random(m) < _sigmoid(-3.6 + 1.2 * fr + 0.6 * (prio >= 2))
    end_us = cal.end * MICROS_PER_DAY
    resolved = np.where(stuck | (resolved >= end_us), -1, resolved)
    first = np.where(first >= end_us, -1, first)
    contacts = 1 + rng.poisson(0.4 + 0.6 * np.sqrt(res_days))
    csat = np.clip(np.round(3.9 + 0.7 * sat - 0.3 * fr + rng.normal(0, 0.8, m)), 1, 5)
    csat_answered = (resolved >= 0) & (rng.random(m) < 0.45)
    return pd.DataFrame(
        {
            "ticket_id": _ids("T", np.arange(1, m + 1), 7),
            "account_id": _ids("A", acct, 6),
            "opened_at": _ts(opened),
            "first_response_at": _ts(first),
            "resolved_at": _ts(resolved),
            "priority": _strings(np.asarray(PRIORITIES, dtype=object)[prio]),
            "contacts": pd.Series(pd.array(contacts, dtype="Int64")).where(resolved >= 0),
            "csat": pd.Series(np.where(csat_answered, csat, np.nan), dtype="float64"),
        }
    )


def _surveys(
    cal: _Calendar,
    acc: dict[str, np.ndarray],
    start: np.ndarray,
    end: np.ndarray,
    comp: np.ndarray,
    active_users: np.ndarray,
    rng: np.random.Generator,
    noise: float = 1.0,
) -> pd.DataFrame:
    """Survey answers (NPS, CSAT, effort) that follow satisfaction, some with a comment."""
    a, ts, kind, sat, fr, user = _survey_answers(cal, acc, start, end, comp, active_users, rng)
    m = a.size
    jitter = noise * rng.standard_normal(m)
    score = np.select(
        [kind == 0, kind == 1],
        [
            np.clip(np.round(7.3 + 1.9 * sat + 0.9 * jitter), 0, 10),
            np.clip(np.round(3.9 + 0.8 * sat + 0.7 * jitter), 1, 5),
        ],
        np.clip(np.round(3.2 - 0.9 * sat + 0.4 * fr + 0.9 * jitter), 1, 7),
    )
    low = np.select([kind == 0, kind == 1], [score <= 6, score <= 2], score >= 5)
    high = np.select([kind == 0, kind == 1], [score >= 9, score >= 5], score <= 2)
    has_comment = rng.random(m) < 0.15
    pick = rng.integers(0, 4, m)
    comment = np.where(
        low,
        np.asarray(_COMMENTS["low"], dtype=object)[pick],
        np.where(high, np.asarray(_COMMENTS["high"], dtype=object)[pick], _NONE),
    )
    comment = np.where(has_comment, comment, _NONE)
    user_ids = pd.Series(
        _ids("A", a, 6).astype(object).to_numpy() + "-U" + pd.Series(user + 1).astype(str).str.zfill(4).to_numpy(),
        dtype="string",
    )
    return pd.DataFrame(
        {
            "account_id": _ids("A", a, 6),
            "answered_at": _ts(ts),
            "kind": _strings(np.asarray(("nps", "csat", "ces"), dtype=object)[kind]),
            "score": score.astype(np.float64),
            "user_id": user_ids,
            "comment": _strings(comment),
        }
    )


def _survey_answers(
    cal: _Calendar,
    acc: dict[str, np.ndarray],
    start: np.ndarray,
    end: np.ndarray,
    comp: np.ndarray,
    active_users: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, ...]:
    """Who answers which survey when (campaigns for NPS), in time order per account."""
    parts = []
    for k in range(cal.months):
        idx, lo, hi = _month_windows(cal, start, end, k)
        resp = acc["respond"][idx]
        au = np.maximum(active_users[idx, k], 1)
        campaign = (k % 3) == acc["nps_phase"][idx]
        counts = [
            np.where(campaign, rng.binomial(np.minimum(au, 40), 0.18 * resp), 0),  # nps
            rng.poisson(0.25 * resp * np.sqrt(au)),  # csat
            rng.poisson(0.12 * resp * np.sqrt(au)),  # ces
        ]
        for survey_kind, cnt in enumerate(counts):
            r = np.repeat(np.arange(idx.size), cnt)
            day = lo[r] + rng.random(r.size) * (hi - lo)[r]
            ts = ((int(cal.start(k)) + day) * MICROS_PER_DAY).astype(np.int64)
            user = rng.integers(0, au[r])
            parts.append(
                (
                    idx[r],
                    ts,
                    np.full(r.size, survey_kind),
                    comp[2, idx[r], k].astype(np.float64),
                    comp[1, idx[r], k].astype(np.float64),
                    user,
                )
            )
    a, ts, kind, sat, fr, user = (np.concatenate(x) for x in zip(*parts, strict=True))
    order = np.lexsort((ts, a))
    return a[order], ts[order], kind[order], sat[order], fr[order], user[order]


def _invoices(
    cal: _Calendar,
    parts: list[dict[str, np.ndarray]],
    comp: np.ndarray,
    churn_day: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    acct = np.concatenate([p["acct"] for p in parts]) if parts else np.zeros(0, np.int64)
    day = np.concatenate([p["day"] for p in parts]) if parts else np.zeros(0, np.int64)
    amount = np.concatenate([p["amount"] for p in parts]) if parts else np.zeros(0)
    keep = (day >= cal.begin) & (day < cal.end) & (amount > 0)
    acct, day, amount = acct[keep], day[keep], amount[keep]
    order = np.lexsort((day, acct))
    acct, day, amount = acct[order], day[order], amount[order]
    m = acct.size
    k = np.clip(cal.month_of(day), 0, cal.months - 1)
    fin = comp[3, acct, k].astype(np.float64)
    late = rng.random(m) < _sigmoid(-2.3 + 1.4 * fin)
    never = rng.random(m) < _sigmoid(-4.6 + 1.6 * fin + 1.5 * (churn_day[acct] < day + 60))
    issued = day * MICROS_PER_DAY + 9 * 3_600_000_000
    delay = np.where(late, 31 + rng.exponential(25, m), rng.uniform(2, 28, m))
    paid = issued + (delay * MICROS_PER_DAY).astype(np.int64)
    paid = np.where(never | (paid >= cal.end * MICROS_PER_DAY), -1, paid)
    return pd.DataFrame(
        {
            "invoice_id": _ids("INV", np.arange(1, m + 1), 7),
            "account_id": _ids("A", acct, 6),
            "issued_at": _ts(issued),
            "due_at": _ts(issued + 30 * MICROS_PER_DAY),
            "amount": amount.astype(np.float64),
            "paid_at": _ts(paid),
        }
    )


def _csm(
    cal: _Calendar,
    acc: dict[str, np.ndarray],
    paid_start: np.ndarray,
    churn_day: np.ndarray,
    comp: np.ndarray,
    rng: np.random.Generator,
    noise: float = 1.0,
) -> pd.DataFrame:
    parts = []
    touch = np.array([0.1, 0.4, 0.8])[acc["seg"]]
    for k in range(cal.months):
        idx, lo, hi = _month_windows(cal, paid_start, churn_day, k)
        h = comp[0, idx, k].astype(np.float64)
        # Irregular: more check-ins when things look bad (bursts around trouble).
        cnt = rng.poisson(touch[idx] * (1 + 1.2 * np.maximum(-h, 0)))
        r = np.repeat(np.arange(idx.size), cnt)
        day = lo[r] + rng.random(r.size) * (hi - lo)[r]
        parts.append((idx[r], ((int(cal.start(k)) + day) * MICROS_PER_DAY).astype(np.int64), h[r]))
    a, ts, h = (np.concatenate(x) for x in zip(*parts, strict=True))
    order = np.lexsort((ts, a))
    a, ts, h = a[order], ts[order], h[order]
    reading = h + noise * rng.normal(0, 0.5, a.size)
    sentiment = np.digitize(reading, [-0.3, 0.4])
    notes = np.array([_CSM_NOTES[s] for s in SENTIMENTS], dtype=object)
    note = notes[sentiment, rng.integers(0, 3, a.size)]
    note = np.where(rng.random(a.size) < 0.6, note, _NONE)
    return pd.DataFrame(
        {
            "account_id": _ids("A", a, 6),
            "recorded_at": _ts(ts),
            "sentiment": _strings(np.asarray(SENTIMENTS, dtype=object)[sentiment]),
            "note": _strings(note),
        }
    )


def _subscriptions_table(
    cal: _Calendar,
    acc: dict[str, np.ndarray],
    subs: _Subs,
    churn_day: np.ndarray,
    paid_start: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The subscriptions table: one row per annual term (or add-on) and per monthly term.

    Monthly plans are simulated as segments of constant seats that start at an anniversary
    and end at the anniversary of the next seat change or of the cancellation (or run on).
    Each segment is written as one row per billing month, so every row's end_date is the
    next anniversary, known when the row starts: a cancellation is the absence of a next row.
    """
    f = subs.frame()
    order = np.lexsort((f["start"], f["acct"]))
    f = {c: v[order] for c, v in f.items()}
    acct, start, end = f["acct"], f["start"], f["end"].copy()
    annual = f["annual"].astype(bool)
    # A monthly segment ends where the next segment of the same account starts (seat change).
    same_next = np.zeros(acct.size, bool)
    same_next[:-1] = acct[1:] == acct[:-1]
    next_start = np.where(same_next, np.concatenate([start[1:], [0]]), _OPEN)
    end = np.where(annual, end, np.minimum(end, next_start))
    # The last segment of a cancelled monthly plan ends at the anniversary it was not renewed.
    end = np.where(~same_next & ~annual, np.minimum(end, churn_day[acct]), end)
    # Expand monthly segments to one row per month, up to the first anniversary past the data.
    anchor = _anchor(cal, paid_start)[acct]
    seg_end = np.where(annual, end, np.minimum(end, cal.end + anchor))
    ks = cal.month_of(start)
    count = np.where(annual, 1, cal.month_of(seg_end) - ks)
    row = np.repeat(np.arange(acct.size), count)
    j = np.arange(row.size) - np.repeat(np.cumsum(count) - count, count)
    monthly = ~annual[row]
    k0 = ks[row] + j
    r_start = np.where(monthly, cal.start(k0) + anchor[row], start[row])
    r_end = np.where(monthly, cal.start(k0 + 1) + anchor[row], end[row])
    acct, start, end = acct[row], r_start, r_end
    intervals = pd.DataFrame({"acct": acct, "start": start, "end": end})
    written = start < cal.end
    shown_end = np.where(end >= _OPEN, -1, end * MICROS_PER_DAY)
    tier = np.asarray([PLAN_TIERS[s] for s in SEGMENTS], dtype=object)[acc["seg"][acct]]
    plan = np.where(annual[row], "annual", "monthly").astype(object) + "-" + tier
    table = pd.DataFrame(
        {
            "account_id": _ids("A", acct, 6),
            "start_date": _ts(start * MICROS_PER_DAY),
            "end_date": _ts(shown_end),
            "arr": f["arr"][row].astype(np.float64),
            "seats": pd.array(f["seats"][row], dtype="Int64"),
            "plan": _strings(plan),
        }
    )
    return table[written].reset_index(drop=True), intervals


def _accounts_table(acc: dict[str, np.ndarray], paid_start: np.ndarray) -> pd.DataFrame:
    n = acc["seg"].size
    name = (
        np.asarray(_NAME_A, dtype=object)[acc["name"][:, 0]]
        + " "
        + np.asarray(_NAME_B, dtype=object)[acc["name"][:, 1]]
        + " "
        + np.asarray(_NAME_C, dtype=object)[acc["name"][:, 2]]
    )
    converted = (acc["trial"] | acc["past_trial"]) & (paid_start < _OPEN)
    return pd.DataFrame(
        {
            "account_id": _ids("A", np.arange(n), 6),
            "created_at": _ts(acc["created_day"] * MICROS_PER_DAY + 10 * 3_600_000_000),
            "name": _strings(name),
            "segment": _strings(np.asarray(SEGMENTS, dtype=object)[acc["seg"]]),
            "industry": _strings(np.asarray(INDUSTRIES, dtype=object)[acc["industry"]]),
            "region": _strings(np.asarray(REGIONS, dtype=object)[acc["region"]]),
            "csm_owner": _strings(np.asarray(CSM_NAMES, dtype=object)[acc["csm"]]),
            "trial_converted_at": _ts(np.where(converted, paid_start * MICROS_PER_DAY, -1)),
        }
    )


def _drop_future(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Drop the rare rows dated more than a day after the newest usage event (not subscriptions)."""
    usage = tables["usage_events"]
    if usage.empty:
        return tables
    limit = usage["timestamp"].max() + pd.Timedelta(days=1)
    out = {}
    for name, frame in tables.items():
        col = TABLE_SPECS[name].time_column
        if name in ("subscriptions", "accounts", "usage_events") or col is None:
            out[name] = frame
        else:
            out[name] = frame[~(frame[col] > limit).fillna(False)].reset_index(drop=True)
    return out
