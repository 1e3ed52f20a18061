"""The ground truth: each active account's probability of 90-day churn and of upsell at every month start.

Integrated over the future evolution of the state by Monte Carlo with its own random stream."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.engine import connect, register_frame
from features.rules import coverage_blocks
from features.times import MICROS_PER_DAY
from simulator.calendar import _Calendar, _ids, _strings, _ts
from simulator.config import _HISTORY, CHURN_DRIVERS, GeneratorConfig
from simulator.dynamics import (
    _BASE_ANNUAL,
    _BASE_MONTHLY,
    _churn_terms,
    _components,
    _sigmoid,
    _State,
    _step,
    _upsell_logit,
    asdict_arrays,
)

# --- ground truth -----------------------------------------------------------------------------


def _window_share(cal: _Calendar, k: int, horizon: int) -> np.ndarray:
    """For months k..k+3: share of the event days (1..days-1) that fall before as_of + horizon."""
    limit = int(cal.start(k)) + horizon
    ks = np.arange(k, k + 4)
    days = cal.days(ks)
    x = np.clip(limit - 1 - cal.start(ks), 0, days - 1)
    return x / (days - 1)


def _ground_truth_month(
    cfg: GeneratorConfig,
    cal: _Calendar,
    k: int,
    idx: np.ndarray,
    state: _State,
    e_hist: np.ndarray,
    annual: np.ndarray,
    term_end: np.ndarray,
    anchor: np.ndarray,
    bias: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Churn and upsell probabilities in [as_of, as_of + horizon) for accounts ``idx``.

    The decision of month j depends on the state of month j-1: month k's on the known
    s_{k-1}; later months' on states simulated forward from it (``gt_paths`` paths).
    Monthly plans decide at their anniversaries; one that falls on as_of itself is already
    decided for an account active at as_of (it took the month), so it does not count.
    """
    kp = cfg.gt_paths
    sub = _State(*(a[idx] for a in asdict_arrays(state)))
    share = _window_share(cal, k, cfg.horizon_days)
    as_of = int(cal.start(k))
    limit = as_of + cfg.horizon_days
    ann = annual[idx]
    te = term_end[idx]
    te_month = cal.month_of(te) - k  # 0..3 when the term ends in the window
    # A term ending on as_of itself has been renewed by an account active at as_of.
    ends_in_window = ann & (te < limit) & (te > as_of)
    # Monthly anniversaries of months k..k+3 strictly after as_of and before as_of + horizon.
    ann_days = cal.start(np.arange(k, k + 4))[None, :] + anchor[idx][:, None]
    w_month = ((ann_days > as_of) & (ann_days < limit)).astype(np.float64)

    # Month k: deterministic from s_{k-1}.
    terms0 = _churn_terms(sub, e_hist[idx, _HISTORY + k - 3])
    states = _paths_forward(sub.tile(kp), rng, cfg.downturn_rate)
    e_known = [e_hist[idx, _HISTORY + k - 3 + j][:, None] for j in range(3)]  # e_{k-3}, e_{k-2}, e_{k-1}
    surv_m = np.ones((idx.size, kp))
    no_up = np.ones((idx.size, kp))
    churn_a = np.zeros((idx.size, kp))
    for j in range(4):
        e_before = e_known[j] if j < 3 else _components(states[1])[0]
        e_before = np.broadcast_to(e_before, (idx.size, kp))
        logit = _churn_terms(states[j], e_before).sum(axis=0) + cfg.churn_shift
        pm = _sigmoid(_BASE_MONTHLY + logit)
        pa_ = _sigmoid(_BASE_ANNUAL + logit)
        e_now = _components(states[j])[0]
        q = _sigmoid(_upsell_logit(e_now, bias[idx][:, None], cfg.upsell_shift))
        w = share[j]
        wm = w_month[:, j : j + 1]
        renew_here = (te_month == j)[:, None]
        # Annual: churn only at the term end, if it falls in the window.
        churn_a = np.where(ends_in_window[:, None] & renew_here, pa_, churn_a)
        alive_a = np.where(ends_in_window[:, None] & (te_month < j)[:, None], 1 - churn_a, 1.0)
        up_m = surv_m * (1 - pm) * q * wm
        up_a = alive_a * np.where(renew_here, 0.0, q) * w
        no_up *= 1 - np.where(ann[:, None], up_a, up_m)
        surv_m *= 1 - pm * wm
    p_churn = np.where(ann, churn_a.mean(axis=1), 1 - surv_m.mean(axis=1))
    return _month_frame(idx, k, p_churn, 1 - no_up.mean(axis=1), terms0)


def _paths_forward(start: _State, rng: np.random.Generator, downturn_rate: float) -> list[_State]:
    """``start`` (s_{k-1} on every path) and three months simulated forward: states[j] is s_{k-1+j}.

    The decision of month k+j uses states[j] and e_{k+j-3}.
    """
    states = [start]
    for _ in range(3):
        states.append(_step(states[-1], rng, downturn_rate))
    return states


def _month_frame(idx: np.ndarray, k: int, p_churn: np.ndarray, p_up: np.ndarray, terms0: np.ndarray) -> pd.DataFrame:
    """One month's ground-truth rows; the top driver is the largest planted term (none if all are small)."""
    top = np.argmax(terms0, axis=0)
    return pd.DataFrame(
        {
            "acct": idx,
            "k": k,
            "churn_probability": p_churn,
            "upsell_probability": p_up,
            "top_driver": np.where(terms0.max(axis=0) > 0.05, top, -1),
        }
    )


def _bridged_cover(intervals: pd.DataFrame, acct: np.ndarray, day: np.ndarray, grace: int) -> np.ndarray:
    """Whether each (acct, day) falls inside the account's coverage, gaps shorter than ``grace`` days
    bridged: the coverage rule of :mod:`features.rules`, which labels and KPIs use too (in days here)."""
    con = connect("duckdb")
    terms = register_frame(
        con,
        "generator_terms",
        {
            "account_id": intervals["acct"].to_numpy(np.int64),
            "start_date": intervals["start"].to_numpy(np.int64),
            "end_date": intervals["end"].to_numpy(np.int64),
        },
    )
    points = register_frame(
        con,
        "generator_points",
        {"pos": np.arange(len(acct)), "account_id": acct.astype(np.int64), "day": day.astype(np.int64)},
    )
    blocks = coverage_blocks(terms, grace)
    holds = [points.account_id == blocks.account_id, blocks.block_start <= points.day, points.day < blocks.block_end]
    inside = points.join(blocks, holds)
    covered = np.zeros(len(acct), bool)
    covered[inside.select("pos").to_pyarrow()["pos"].to_numpy()] = True
    return covered


def _covered(iv: pd.DataFrame, acct: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Whether each (acct, day) falls inside an interval [start, end) of ``iv``."""
    iv = iv.sort_values(["acct", "start"])
    key_iv = iv["acct"].to_numpy().astype(np.int64) * (1 << 31) + iv["start"].to_numpy()
    key = acct.astype(np.int64) * (1 << 31) + day
    pos = np.searchsorted(key_iv, key, side="right") - 1
    ok = pos >= 0
    pos = np.maximum(pos, 0)
    return ok & (iv["acct"].to_numpy()[pos] == acct) & (day < iv["end"].to_numpy()[pos])


def _finish_ground_truth(
    cfg: GeneratorConfig,
    cal: _Calendar,
    gt: pd.DataFrame,
    intervals: pd.DataFrame,
) -> pd.DataFrame:
    acct = gt["acct"].to_numpy()
    as_of = cal.start(gt["k"].to_numpy())
    active = _covered(intervals, acct, as_of)
    # Churned: the (grace-bridged) coverage holding as_of ends before as_of + horizon.
    later = _bridged_cover(intervals, acct, as_of + cfg.horizon_days - 1, cfg.grace_days)
    known = as_of + cfg.horizon_days <= cal.end
    churned = pd.array(np.where(known, ~later, False), dtype="boolean")
    churned[~known] = pd.NA
    drivers = np.asarray(("none", *CHURN_DRIVERS), dtype=object)[gt["top_driver"].to_numpy() + 1]
    out = pd.DataFrame(
        {
            "account_id": _ids("A", acct, 6),
            "as_of": _ts(as_of * MICROS_PER_DAY),
            "churn_probability": gt["churn_probability"].to_numpy(np.float64),
            "upsell_probability": gt["upsell_probability"].to_numpy(np.float64),
            "top_driver": _strings(drivers),
            "churned": churned,
        }
    )
    return out[active].sort_values(["account_id", "as_of"], kind="stable").reset_index(drop=True)
