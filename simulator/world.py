"""The simulation: accounts live month by month (decisions, renewals, seat changes, signups, invoices).

Then the observable tables and the ground truth are drawn from what they lived."""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import date

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from simulator.accounts import _accounts, _add_year, _anchor, _existing_subscriptions, _invoice_rows, _signups, _Subs
from simulator.calendar import _OPEN, _Calendar
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
from simulator.truth import _finish_ground_truth, _ground_truth_month

# --- the simulation ---------------------------------------------------------------------------


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
    cfg = config
    seeds = np.random.SeedSequence(cfg.seed).spawn(8)
    rng_acc, rng_dyn, rng_use, rng_tix, rng_srv, rng_inv, rng_csm, rng_gt = (np.random.default_rng(s) for s in seeds)
    cal = _Calendar.build(cfg.start, cfg.months)
    n, months = cfg.accounts, cfg.months

    report("accounts", 0.0)
    acc = _accounts(cfg, cal, rng_acc)

    # Latent state with a burn-in so trends exist before the period.
    mu = rng_dyn.normal(0.35, 0.55, n)
    state = _State(
        mu,
        mu + rng_dyn.normal(0, 0.42, n),
        np.zeros(n, np.int64),
        *(rng_dyn.standard_normal(n) for _ in range(4)),
    )
    e_hist = np.zeros((n, _HISTORY + months), np.float64)  # e of months -_HISTORY..months-1
    comp_hist = np.zeros((4, n, months), np.float32)
    for b in range(_HISTORY):
        state = _step(state, rng_dyn, cfg.downturn_rate)
        e_hist[:, b] = _components(state)[0]
    # The state now is s_{-1}; e_hist[:, _HISTORY + k] will hold e_k.

    subs = _Subs()
    status = np.zeros(n, np.int8)  # 0 not yet, 1 trial, 2 paid, 3 churned, 4 lost trial
    paid_start = np.full(n, _OPEN)
    usage_end = np.full(n, _OPEN)  # last usage day (exclusive), stragglers included
    term_end = np.full(n, _OPEN)  # annual: current term end day
    seats_hist = np.zeros((n, months), np.int64)
    seats, arr = acc["seats"].copy(), acc["arr"].copy()
    annual = acc["annual"]
    churn_day = np.full(n, _OPEN)

    _existing_subscriptions(acc, cal, subs, status, paid_start, term_end)
    gt_parts: list[pd.DataFrame] = []
    invoices: list[dict[str, np.ndarray]] = []

    for k in range(months):
        report("simulate", k / months)
        ms, days = int(cal.start(k)), int(cal.days(k))
        # Monthly plans renew on the anniversary of their first paid day (day 1..28).
        anchor = _anchor(cal, paid_start)
        ann_day = ms + anchor
        # Ground truth at as_of = ms from the state lived last month (s_{k-1}).
        active = (status == 2) & (paid_start <= ms)
        idx = np.flatnonzero(active)
        gt_parts.append(
            _ground_truth_month(cfg, cal, k, idx, state, e_hist, annual, term_end, anchor, acc["bias"], rng_gt)
        )

        # Decisions this month from s_{k-1}.
        terms = _churn_terms(state, e_hist[:, _HISTORY + k - 3])
        logit = terms.sum(axis=0) + cfg.churn_shift
        e_prev = _components(state)[0]
        p_monthly = _sigmoid(_BASE_MONTHLY + logit)
        p_annual = _sigmoid(_BASE_ANNUAL + logit)
        p_up = _sigmoid(_upsell_logit(e_prev, acc["bias"], cfg.upsell_shift))
        u = rng_dyn.random((4, n))
        day_draw = rng_dyn.integers(1, days, n)  # event day within the month (1..days-1)

        renewing_month = annual & (cal.month_of(term_end) == k)
        # A monthly plan decides at this month's anniversary whether to take another month
        # (a plan whose first paid day is that anniversary has nothing to decide yet).
        mature = annual | (paid_start < ann_day)
        churn_m = active & mature & ~annual & (u[0] < p_monthly)
        churn_a = active & renewing_month & (u[0] < p_annual)
        renew = active & renewing_month & ~churn_a
        can_change = active & mature & ~churn_m & ~renewing_month
        up = can_change & (u[1] < p_up)
        p_down = _sigmoid(-5.5 + 1.5 * np.maximum(-e_prev, 0) + cfg.churn_shift)
        down = can_change & ~annual & ~up & (u[2] < p_down) & (seats > 1)

        # Monthly cancellations: no next month is taken; coverage ends at the anniversary.
        cd = ms + day_draw  # mid-term expansion day of annual plans
        churn_day[churn_m] = ann_day[churn_m]
        churn_day[churn_a] = term_end[churn_a]
        gone = churn_m | churn_a
        straggle = np.where(rng_dyn.random(n) < 0.3, rng_dyn.integers(1, 4, n), 0)
        usage_end[gone] = churn_day[gone] + straggle[gone]
        status[gone] = 3

        # Renewals: next 12-month term, sometimes a few days late (a gap below the grace period).
        if renew.any():
            r = np.flatnonzero(renew)
            gap = np.where(rng_dyn.random(r.size) < 0.05, rng_dyn.integers(1, 15, r.size), 0)
            start_r = term_end[r] + gap
            new_end = _add_year(start_r, cal)
            subs.add(r, start_r, new_end, seats[r], arr[r], np.ones(r.size, bool))
            invoices.append(_invoice_rows(r, start_r, arr[r]))
            term_end[r] = new_end

        # Upsell and contraction: monthly plans take the new seats from this month's
        # anniversary on; annual plans buy co-terminous add-on seats mid-term.
        for mask, factor in (
            (up, rng_dyn.uniform(1.1, 1.6, n)),
            (down, rng_dyn.uniform(0.6, 0.9, n)),
        ):
            if not mask.any():
                continue
            c = np.flatnonzero(mask)
            new_seats = np.maximum(np.round(seats[c] * factor[c]).astype(np.int64), 1)
            new_seats = np.where(mask[c] & up[c], np.maximum(new_seats, seats[c] + 1), new_seats)
            new_arr = np.round(arr[c] * new_seats / seats[c], 2)
            ann = annual[c]
            when = np.where(ann, cd[c], ann_day[c])
            # Monthly plans: a new segment of monthly terms with the new seats. Annual plans:
            # an add-on row for the extra seats until the term ends (co-terminous expansion).
            m_ = c[~ann]
            subs.add(m_, when[~ann], _OPEN, new_seats[~ann], new_arr[~ann], np.zeros(m_.size, bool))
            a_ = c[ann]
            if a_.size:
                share = (term_end[a_] - when[ann]) / 365.0
                extra_arr = new_arr[ann] - arr[a_]
                subs.add(
                    a_,
                    when[ann],
                    term_end[a_],
                    new_seats[ann] - seats[a_],
                    extra_arr,
                    np.ones(a_.size, bool),
                )
                invoices.append(_invoice_rows(a_, when[ann], extra_arr * share))
            seats[c], arr[c] = new_seats, new_arr

        # New accounts: paid signups and trials.
        new = acc["signup_month"] == k
        if new.any():
            _signups(
                cfg,
                cal,
                acc,
                np.flatnonzero(new),
                e_prev,
                subs,
                invoices,
                status,
                paid_start,
                usage_end,
                term_end,
                rng_dyn,
            )
        # Trials whose paid start has come become paid.
        status[(status == 1) & (paid_start <= cal.start(k + 1))] = 2

        # Monthly invoices for monthly plans, at the start of each monthly term.
        anchor = _anchor(cal, paid_start)  # signups of this month included
        bill = ms + anchor
        billed = ~annual & (paid_start <= bill) & (churn_day > bill)
        if billed.any():
            due = np.flatnonzero(billed)
            invoices.append(_invoice_rows(due, bill[due], arr[due] / 12.0))

        seats_hist[:, k] = seats
        # Step the state to s_k: it drives this month's observable behaviour.
        state = _step(state, rng_dyn, cfg.downturn_rate)
        comps = _components(state)
        e_hist[:, _HISTORY + k] = comps[0]
        comp_hist[:, :, k] = np.stack(comps)

    report("usage", 0.0)
    usage_start = acc["created_day"]
    # Lost trials stop using the product at the end of the trial.
    usage_end = np.where(status == 4, acc["created_day"] + cfg.trial_days, usage_end)
    usage_start = np.maximum(usage_start, cal.begin)
    usage, active_users = _usage(cfg, cal, acc, usage_start, usage_end, comp_hist[0], seats_hist, rng_use, report)
    report("tickets", 0.0)
    noise = cfg.signal_noise
    tickets = _tickets(cal, usage_start, usage_end, comp_hist, seats_hist, rng_tix, noise)
    surveys = _surveys(cal, acc, usage_start, usage_end, comp_hist, active_users, rng_srv, noise)
    inv = _invoices(cal, invoices, comp_hist, churn_day, rng_inv)
    csm = _csm(cal, acc, paid_start, churn_day, comp_hist, rng_csm, noise)
    subs_table, intervals = _subscriptions_table(cal, acc, subs, churn_day, paid_start)
    accounts_table = _accounts_table(acc, paid_start)

    tables = {
        "accounts": accounts_table,
        "subscriptions": subs_table,
        "usage_events": usage,
        "support_tickets": tickets,
        "surveys": surveys,
        "invoices": inv,
        "csm_inputs": csm,
    }
    tables = _drop_future(tables)
    report("ground truth", 0.9)
    gt = _finish_ground_truth(cfg, cal, pd.concat(gt_parts, ignore_index=True), intervals)
    summary = _summary(cfg, cal, tables, gt, acc, status, time.perf_counter() - t0)
    report("done", 1.0)
    return World(tables, gt, summary)


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
