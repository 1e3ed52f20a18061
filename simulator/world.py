"""The simulation: accounts live month by month (decisions, renewals, seat changes, signups, invoices).

Then the observable tables and the ground truth are drawn from what they lived."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from simulator.accounts import _accounts, _add_year, _anchor, _existing_subscriptions, _invoice_rows, _signups, _Subs
from simulator.calendar import _OPEN, _Calendar, _ids
from simulator.config import _HISTORY, GeneratorConfig, Progress, World, WorldSummary
from simulator.dynamics import (
    _BASE_ANNUAL,
    _BASE_MONTHLY,
    _churn_terms,
    _components,
    _sigmoid,
    _State,
    _step,
    _upsell_logit,
)
from simulator.tables import (
    _accounts_table,
    _csm,
    _drop_future,
    _invoices,
    _subscriptions_table,
    _surveys,
    _tickets,
    _usage,
)
from simulator.text import add_text
from simulator.truth import _finish_ground_truth, _ground_truth_month

# --- the simulation ---------------------------------------------------------------------------


@dataclass
class _Streams:
    """One random stream per part of the world, so changing one part leaves the others' draws alone."""

    acc: np.random.Generator
    dyn: np.random.Generator
    use: np.random.Generator
    tix: np.random.Generator
    srv: np.random.Generator
    inv: np.random.Generator
    csm: np.random.Generator
    gt: np.random.Generator

    @classmethod
    def of(cls, seed: int) -> _Streams:
        return cls(*(np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)))


@dataclass
class _Sim:
    """The accounts' contract state, updated month by month, and what it has produced so far."""

    cfg: GeneratorConfig
    cal: _Calendar
    acc: dict[str, np.ndarray]
    status: np.ndarray  # 0 not yet, 1 trial, 2 paid, 3 churned, 4 lost trial
    paid_start: np.ndarray
    usage_end: np.ndarray  # last usage day (exclusive), stragglers included
    term_end: np.ndarray  # annual: current term end day
    churn_day: np.ndarray
    seats: np.ndarray
    arr: np.ndarray
    seats_hist: np.ndarray
    e_hist: np.ndarray  # e of months -_HISTORY..months-1
    comp_hist: np.ndarray
    subs: _Subs = field(default_factory=_Subs)
    invoices: list[dict[str, np.ndarray]] = field(default_factory=list)
    gt_parts: list[pd.DataFrame] = field(default_factory=list)

    @classmethod
    def start(cls, cfg: GeneratorConfig, cal: _Calendar, acc: dict[str, np.ndarray]) -> _Sim:
        n, months = cfg.accounts, cfg.months
        sim = cls(
            cfg,
            cal,
            acc,
            status=np.zeros(n, np.int8),
            paid_start=np.full(n, _OPEN),
            usage_end=np.full(n, _OPEN),
            term_end=np.full(n, _OPEN),
            churn_day=np.full(n, _OPEN),
            seats=acc["seats"].copy(),
            arr=acc["arr"].copy(),
            seats_hist=np.zeros((n, months), np.int64),
            e_hist=np.zeros((n, _HISTORY + months), np.float64),
            comp_hist=np.zeros((4, n, months), np.float32),
        )
        _existing_subscriptions(acc, cal, sim.subs, sim.status, sim.paid_start, sim.term_end)
        return sim

    @property
    def annual(self) -> np.ndarray:
        return self.acc["annual"]


def generate_world(config: GeneratorConfig, progress: Progress | None = None) -> World:
    """Simulate the world described by ``config``.

    Args:
        config: the world's knobs.
        progress: optional callback ``(stage, fraction_done)``.

    Returns:
        The seven contract tables, the ground truth and a summary.
    """
    t0 = time.perf_counter()
    report = progress or (lambda stage, frac: None)
    rng = _Streams.of(config.seed)
    cal = _Calendar.build(config.start, config.months)
    report("accounts", 0.0)
    acc = _accounts(config, cal, rng.acc)
    state = _initial_state(config.accounts, rng.dyn)
    sim = _Sim.start(config, cal, acc)
    state = _burn_in(sim, state, rng.dyn)
    for k in range(config.months):
        report("simulate", k / config.months)
        state = _month(sim, k, state, rng)
    tables, intervals = _observe(sim, rng, report)
    report("ground truth", 0.9)
    gt = _finish_ground_truth(config, cal, pd.concat(sim.gt_parts, ignore_index=True), intervals)
    summary = _summary(config, cal, tables, gt, acc, sim.status, time.perf_counter() - t0)
    report("done", 1.0)
    return World(tables, gt, summary)


def _initial_state(n: int, rng: np.random.Generator) -> _State:
    mu = rng.normal(0.35, 0.55, n)
    return _State(mu, mu + rng.normal(0, 0.42, n), np.zeros(n, np.int64), *(rng.standard_normal(n) for _ in range(4)))


def _burn_in(sim: _Sim, state: _State, rng: np.random.Generator) -> _State:
    """A few months of state before the period, so that trends exist from its first month."""
    for b in range(_HISTORY):
        state = _step(state, rng, sim.cfg.downturn_rate)
        sim.e_hist[:, b] = _components(state)[0]
    return state  # s_{-1}; e_hist[:, _HISTORY + k] will hold e_k


def _month(sim: _Sim, k: int, state: _State, rng: _Streams) -> _State:
    """Month ``k``: ground truth and decisions from the state lived last month, then the next state."""
    cfg, cal = sim.cfg, sim.cal
    ms = int(cal.start(k))
    # Monthly plans renew on the anniversary of their first paid day (day 1..28).
    anchor = _anchor(cal, sim.paid_start)
    # Ground truth at as_of = ms from the state lived last month (s_{k-1}).
    active = (sim.status == 2) & (sim.paid_start <= ms)
    idx = np.flatnonzero(active)
    sim.gt_parts.append(
        _ground_truth_month(
            cfg, cal, k, idx, state, sim.e_hist, sim.annual, sim.term_end, anchor, sim.acc["bias"], rng.gt
        )
    )
    e_prev, cd, ann_day, renew, up, down = _decide(sim, k, state, active, ms + anchor, rng.dyn)
    _renew(sim, renew, rng.dyn)
    _change_seats(sim, up, down, cd, ann_day, rng.dyn)
    new = sim.acc["signup_month"] == k
    if new.any():
        _signups(
            cfg,
            cal,
            sim.acc,
            np.flatnonzero(new),
            e_prev,
            sim.subs,
            sim.invoices,
            sim.status,
            sim.paid_start,
            sim.usage_end,
            sim.term_end,
            rng.dyn,
        )
    # Trials whose paid start has come become paid.
    sim.status[(sim.status == 1) & (sim.paid_start <= cal.start(k + 1))] = 2
    _bill_monthly(sim, ms)
    sim.seats_hist[:, k] = sim.seats
    # Step the state to s_k: it drives this month's observable behaviour.
    state = _step(state, rng.dyn, cfg.downturn_rate)
    comps = _components(state)
    sim.e_hist[:, _HISTORY + k] = comps[0]
    sim.comp_hist[:, :, k] = np.stack(comps)
    return state


def _decide(
    sim: _Sim, k: int, state: _State, active: np.ndarray, ann_day: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, ...]:
    """This month's churn, renewal, upsell and contraction from s_{k-1}; churn is recorded at once."""
    cfg, n, annual = sim.cfg, sim.cfg.accounts, sim.annual
    terms = _churn_terms(state, sim.e_hist[:, _HISTORY + k - 3])
    logit = terms.sum(axis=0) + cfg.churn_shift
    e_prev = _components(state)[0]
    p_monthly = _sigmoid(_BASE_MONTHLY + logit)
    p_annual = _sigmoid(_BASE_ANNUAL + logit)
    p_up = _sigmoid(_upsell_logit(e_prev, sim.acc["bias"], cfg.upsell_shift))
    u = rng.random((4, n))
    day_draw = rng.integers(1, int(sim.cal.days(k)), n)  # event day within the month (1..days-1)
    renewing_month = annual & (sim.cal.month_of(sim.term_end) == k)
    # A monthly plan decides at this month's anniversary whether to take another month
    # (a plan whose first paid day is that anniversary has nothing to decide yet).
    mature = annual | (sim.paid_start < ann_day)
    churn_m = active & mature & ~annual & (u[0] < p_monthly)
    churn_a = active & renewing_month & (u[0] < p_annual)
    renew = active & renewing_month & ~churn_a
    can_change = active & mature & ~churn_m & ~renewing_month
    up = can_change & (u[1] < p_up)
    p_down = _sigmoid(-5.5 + 1.5 * np.maximum(-e_prev, 0) + cfg.churn_shift)
    down = can_change & ~annual & ~up & (u[2] < p_down) & (sim.seats > 1)
    # Monthly cancellations: no next month is taken; coverage ends at the anniversary.
    cd = int(sim.cal.start(k)) + day_draw  # mid-term expansion day of annual plans
    sim.churn_day[churn_m] = ann_day[churn_m]
    sim.churn_day[churn_a] = sim.term_end[churn_a]
    gone = churn_m | churn_a
    straggle = np.where(rng.random(n) < 0.3, rng.integers(1, 4, n), 0)
    sim.usage_end[gone] = sim.churn_day[gone] + straggle[gone]
    sim.status[gone] = 3
    return e_prev, cd, ann_day, renew, up, down


def _renew(sim: _Sim, renew: np.ndarray, rng: np.random.Generator) -> None:
    """Renewals: the next 12-month term, sometimes a few days late (a gap below the grace period)."""
    if not renew.any():
        return
    r = np.flatnonzero(renew)
    gap = np.where(rng.random(r.size) < 0.05, rng.integers(1, 15, r.size), 0)
    start_r = sim.term_end[r] + gap
    new_end = _add_year(start_r, sim.cal)
    sim.subs.add(r, start_r, new_end, sim.seats[r], sim.arr[r], np.ones(r.size, bool))
    sim.invoices.append(_invoice_rows(r, start_r, sim.arr[r]))
    sim.term_end[r] = new_end


def _change_seats(
    sim: _Sim, up: np.ndarray, down: np.ndarray, cd: np.ndarray, ann_day: np.ndarray, rng: np.random.Generator
) -> None:
    """Upsell and contraction: monthly plans take the new seats from this month's anniversary on;
    annual plans buy co-terminous add-on seats mid-term."""
    n, seats, arr, term_end = sim.cfg.accounts, sim.seats, sim.arr, sim.term_end
    for mask, factor in (
        (up, rng.uniform(1.1, 1.6, n)),
        (down, rng.uniform(0.6, 0.9, n)),
    ):
        if not mask.any():
            continue
        c = np.flatnonzero(mask)
        new_seats = np.maximum(np.round(seats[c] * factor[c]).astype(np.int64), 1)
        new_seats = np.where(mask[c] & up[c], np.maximum(new_seats, seats[c] + 1), new_seats)
        new_arr = np.round(arr[c] * new_seats / seats[c], 2)
        ann = sim.annual[c]
        when = np.where(ann, cd[c], ann_day[c])
        # Monthly plans: a new segment of monthly terms with the new seats. Annual plans:
        # an add-on row for the extra seats until the term ends (co-terminous expansion).
        m_ = c[~ann]
        sim.subs.add(m_, when[~ann], _OPEN, new_seats[~ann], new_arr[~ann], np.zeros(m_.size, bool))
        a_ = c[ann]
        if a_.size:
            share = (term_end[a_] - when[ann]) / 365.0
            extra_arr = new_arr[ann] - arr[a_]
            sim.subs.add(a_, when[ann], term_end[a_], new_seats[ann] - seats[a_], extra_arr, np.ones(a_.size, bool))
            sim.invoices.append(_invoice_rows(a_, when[ann], extra_arr * share))
        seats[c], arr[c] = new_seats, new_arr


def _bill_monthly(sim: _Sim, ms: int) -> None:
    """Monthly invoices for monthly plans, at the start of each monthly term (this month's signups included)."""
    bill = ms + _anchor(sim.cal, sim.paid_start)
    billed = ~sim.annual & (sim.paid_start <= bill) & (sim.churn_day > bill)
    if billed.any():
        due = np.flatnonzero(billed)
        sim.invoices.append(_invoice_rows(due, bill[due], sim.arr[due] / 12.0))


def _observe(sim: _Sim, rng: _Streams, report: Progress) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The seven observable tables drawn from what the accounts lived, and the coverage intervals."""
    cfg, cal, acc, comp_hist = sim.cfg, sim.cal, sim.acc, sim.comp_hist
    report("usage", 0.0)
    # Lost trials stop using the product at the end of the trial.
    usage_end = np.where(sim.status == 4, acc["created_day"] + cfg.trial_days, sim.usage_end)
    usage_start = np.maximum(acc["created_day"], cal.begin)
    usage, active_users = _usage(cfg, cal, acc, usage_start, usage_end, comp_hist[0], sim.seats_hist, rng.use, report)
    report("tickets", 0.0)
    noise = cfg.signal_noise
    tickets = _tickets(cal, usage_start, usage_end, comp_hist, sim.seats_hist, rng.tix, noise)
    surveys = _surveys(cal, acc, usage_start, usage_end, comp_hist, active_users, rng.srv, noise)
    inv = _invoices(cal, sim.invoices, comp_hist, sim.churn_day, rng.inv)
    csm = _csm(cal, acc, sim.paid_start, sim.churn_day, comp_hist, rng.csm, noise)
    subs_table, intervals = _subscriptions_table(cal, acc, sim.subs, sim.churn_day, sim.paid_start)
    tables = {
        "accounts": _accounts_table(acc, sim.paid_start),
        "subscriptions": subs_table,
        "usage_events": usage,
        "support_tickets": tickets,
        "surveys": surveys,
        "invoices": inv,
        "csm_inputs": csm,
    }
    # Comments, notes and referrals come from their own random stream (simulator.text).
    tables = add_text(
        tables,
        seed=cfg.seed,
        noise=noise,
        cal=cal,
        comp=comp_hist,
        paid_start=sim.paid_start,
        churn_day=sim.churn_day,
        ids=lambda numbers: _ids("A", numbers, 6),
        open_day=int(_OPEN),
    )
    return _drop_future(tables), intervals


def _summary(
    cfg: GeneratorConfig,
    cal: _Calendar,
    tables: dict[str, pd.DataFrame],
    gt: pd.DataFrame,
    acc: dict[str, np.ndarray],
    status: np.ndarray,
    seconds: float,
) -> WorldSummary:
    labelled = gt[gt["churned"].notna()]
    y = labelled["churned"].to_numpy(bool)
    auc = float(roc_auc_score(y, labelled["churn_probability"].to_numpy())) if 0 < y.sum() < y.size else float("nan")
    trials = int(acc["trial"].sum())
    converted = int((acc["trial"] & (status != 4)).sum())
    day = lambda d: str(np.datetime64(int(d), "D"))  # noqa: E731
    return WorldSummary(
        accounts=cfg.accounts,
        months=cfg.months,
        start=day(cal.begin),
        end=day(cal.end),
        rows={name: int(len(frame)) for name, frame in tables.items()},
        trials=trials,
        trials_converted=converted,
        accounts_churned=int((status == 3).sum()),
        snapshots=int(len(gt)),
        labelled_snapshots=int(len(labelled)),
        churn_rate=float(y.mean()) if y.size else float("nan"),
        mean_churn_probability=float(labelled["churn_probability"].mean()) if y.size else float("nan"),
        upsell_rate=float(gt["upsell_probability"].mean()) if len(gt) else float("nan"),
        ground_truth_auc=auc,
        seconds=round(seconds, 3),
        config={k: (str(v) if isinstance(v, date) else v) for k, v in asdict(cfg).items()},
    )
