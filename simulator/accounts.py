"""Accounts and their contracts: who they are, when they sign up, their existing subscriptions and invoices."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from features.config import EVENT_TYPES
from simulator.calendar import _OPEN, _Calendar
from simulator.config import _NAME_A, _NAME_B, _NAME_C, _PAST, CSM_NAMES, INDUSTRIES, REGIONS, GeneratorConfig
from simulator.dynamics import _sigmoid

# --- accounts -----------------------------------------------------------------------------


@dataclass
class _Subs:
    """Subscription rows as parallel lists of arrays, appended month by month."""

    acct: list[np.ndarray] = field(default_factory=list)
    start: list[np.ndarray] = field(default_factory=list)  # day numbers
    end: list[np.ndarray] = field(default_factory=list)  # annual term end; monthly: _OPEN
    seats: list[np.ndarray] = field(default_factory=list)
    arr: list[np.ndarray] = field(default_factory=list)
    annual: list[np.ndarray] = field(default_factory=list)

    def add(
        self,
        acct: np.ndarray,
        start: np.ndarray | np.int64,
        end: np.ndarray | np.int64,
        seats: np.ndarray,
        arr: np.ndarray,
        annual: np.ndarray,
    ) -> None:
        n = len(acct)
        if n == 0:
            return
        self.acct.append(np.asarray(acct, np.int64))
        self.start.append(np.broadcast_to(np.asarray(start, np.int64), n).copy())
        self.end.append(np.broadcast_to(np.asarray(end, np.int64), n).copy())
        self.seats.append(np.asarray(seats, np.int64).copy())
        self.arr.append(np.asarray(arr, np.float64).copy())
        self.annual.append(np.asarray(annual, bool).copy())

    def frame(self) -> dict[str, np.ndarray]:
        cols = ("acct", "start", "end", "seats", "arr", "annual")
        return {c: np.concatenate(getattr(self, c)) if getattr(self, c) else np.zeros(0) for c in cols}


def _accounts(cfg: GeneratorConfig, cal: _Calendar, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n, months = cfg.accounts, cfg.months
    seg = rng.choice(3, size=n, p=[0.68, 0.24, 0.08])
    existing = rng.random(n) < cfg.existing_share
    # New signups spread over the period with mild growth; existing ones up to 5 years back.
    weights = np.linspace(1.0, 1.5, months)
    signup_month = np.where(
        existing, -1 - rng.integers(0, 60, n), rng.choice(months, size=n, p=weights / weights.sum())
    )
    created_day = cal.ms[signup_month + _PAST] + rng.integers(1, 28, n)
    seats_median = np.array([7.0, 35.0, 160.0])[seg]
    seats = np.maximum(np.round(seats_median * np.exp(rng.normal(0, 0.55, n))), 1).astype(np.int64)
    price = np.array([360.0, 540.0, 900.0])[seg] * np.exp(rng.normal(0, 0.1, n))
    arr = np.round(seats * price, 2)
    monthly_p = np.clip(cfg.monthly_share * np.array([1.4, 0.7, 0.1])[seg], 0, 1)
    annual = rng.random(n) >= monthly_p
    trial = ~existing & (seg < 2) & (rng.random(n) < cfg.trial_share)
    past_trial = existing & (seg < 2) & (rng.random(n) < 0.3)
    rng.integers(0, 28, n)  # a retired draw (billing day), kept so that every seed gives the same world
    return {
        "seg": seg,
        "existing": existing,
        "signup_month": signup_month,
        "created_day": created_day,
        "seats": seats,
        "arr": arr,
        "annual": annual,
        "trial": trial,
        "past_trial": past_trial,
        "bias": rng.normal(0.0, 0.8, n),  # feature-adoption propensity
        "order": np.argsort(rng.random((n, len(EVENT_TYPES) - 1)), axis=1).astype(np.int8) + 1,
        "q0": rng.random(n),
        "g0": rng.random(n),  # user propensity offsets
        "respond": np.where(rng.random(n) < 0.2, 0.0, rng.beta(3, 3, n)),  # survey responsiveness
        "nps_phase": rng.integers(0, 3, n),
        "industry": rng.integers(0, len(INDUSTRIES), n),
        "region": rng.integers(0, len(REGIONS), n),
        "csm": rng.integers(0, len(CSM_NAMES), n),
        "name": rng.integers(0, [len(_NAME_A), len(_NAME_B), len(_NAME_C)], (n, 3)),
    }


def _anchor(cal: _Calendar, paid_start: np.ndarray) -> np.ndarray:
    """Day offset (0..27) of each account's monthly anniversary within a month; 0 if unpaid."""
    paid = paid_start < _OPEN
    k = cal.month_of(np.where(paid, paid_start, cal.begin))
    return np.where(paid, paid_start - cal.start(k), 0).astype(np.int64)


def _add_year(day: np.ndarray, cal: _Calendar) -> np.ndarray:
    """The same day-of-month twelve months later (days are at most the 28th)."""
    k = cal.month_of(day)
    return cal.start(k + 12) + (day - cal.start(k))


def _existing_subscriptions(
    acc: dict[str, np.ndarray],
    cal: _Calendar,
    subs: _Subs,
    status: np.ndarray,
    paid_start: np.ndarray,
    term_end: np.ndarray,
) -> None:
    """Accounts that are customers at the start: their history of terms up to the period."""
    ex = np.flatnonzero(acc["existing"])
    if ex.size == 0:
        return
    first = acc["created_day"][ex] + np.where(acc["past_trial"][ex], 14, 0)
    k = cal.month_of(first)
    first = np.minimum(first, cal.start(k) + 27)
    paid_start[ex] = first
    status[ex] = 2
    ann = acc["annual"][ex]
    monthly = ex[~ann]
    subs.add(
        monthly,
        paid_start[monthly],
        _OPEN,
        acc["seats"][monthly],
        acc["arr"][monthly],
        np.zeros(monthly.size, bool),
    )
    a = ex[ann]
    start = paid_start[a].copy()
    while a.size:
        end = _add_year(start, cal)
        subs.add(a, start, end, acc["seats"][a], acc["arr"][a], np.ones(a.size, bool))
        more = end <= cal.begin
        term_end[a[~more]] = end[~more]
        a, start = a[more], end[more]


def _signups(
    cfg: GeneratorConfig,
    cal: _Calendar,
    acc: dict[str, np.ndarray],
    idx: np.ndarray,
    e: np.ndarray,
    subs: _Subs,
    invoices: list[dict[str, np.ndarray]],
    status: np.ndarray,
    paid_start: np.ndarray,
    usage_end: np.ndarray,
    term_end: np.ndarray,
    rng: np.random.Generator,
) -> None:
    trial = acc["trial"][idx]
    convert = rng.random(idx.size) < _sigmoid(0.2 + 1.6 * e[idx])
    created = acc["created_day"][idx]
    start = created + np.where(trial, cfg.trial_days, 0)
    k = cal.month_of(start)
    start = np.minimum(start, cal.start(k) + 27)  # anniversaries stay on days 1..28
    paying = ~trial | convert
    p = idx[paying]
    paid_start[p] = start[paying]
    status[idx] = np.where(trial, np.where(convert, 1, 4), 2)
    ann = acc["annual"][p]
    end = np.where(ann, _add_year(paid_start[p], cal), _OPEN)
    term_end[p[ann]] = end[ann]
    subs.add(p, paid_start[p], end, acc["seats"][p], acc["arr"][p], ann)
    invoices.append(_invoice_rows(p[ann], paid_start[p[ann]], acc["arr"][p[ann]]))
    usage_end[idx[~paying]] = created[~paying] + cfg.trial_days


def _invoice_rows(acct: np.ndarray, day: np.ndarray, amount: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "acct": np.asarray(acct, np.int64),
        "day": np.asarray(day, np.int64),
        "amount": np.round(np.asarray(amount, np.float64), 2),
    }
