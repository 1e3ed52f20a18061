"""A synthetic B2B SaaS world: seven contract tables plus the ground truth that made them.

Every account carries a latent health state that evolves month by month: an account
baseline, an AR(1) deviation with shocks, occasional downturn episodes, and four
idiosyncratic components (engagement, support friction, satisfaction, financial stress).
The observable tables are noisy views of that state:

- usage events (active users out of seats, feature breadth, active days) follow engagement;
- support tickets (volume, priority, slow or missing resolution) follow support friction;
- survey answers (NPS, CSAT, effort) follow satisfaction;
- late or unpaid invoices follow financial stress;
- CSM check-ins are a noisy red/yellow/green reading of overall health.

Churn, renewal, upsell and contraction are drawn from hazards of the state the account
lived in the month before (so a month of observed behaviour says much about the next
decision). The planted churn drivers, each contributing a non-negative term to the churn
log-odds, are :data:`CHURN_DRIVERS`. Annual plans can churn only at renewal; monthly plans
at any monthly anniversary (the day of the month of their first paid day).

Subscriptions follow the input contract: a row's ``end_date`` is the end of the term as
agreed when the term started. Annual plans get one row per 12-month term (plus add-on rows
for mid-term expansions, ending with the term); monthly plans one row per billing month,
from one anniversary to the next. A cancellation is the absence of a next row, and a seat
change on a monthly plan takes effect at an anniversary, in the next row.

The ground truth holds, for every active account at every month start, the probability
of 90-day contract churn and of upsell, integrated over the future evolution of the state
by Monte Carlo with its own random stream (never the realised draws).

Everything is vectorised over accounts (one Python loop over months) and deterministic:
the same :class:`GeneratorConfig` gives byte-identical files.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.config import EVENT_TYPES
from features.contract import PRIORITIES, SEGMENTS, SENTIMENTS, TABLE_SPECS
from features.generator_text import add_text
from features.loader import TIMESTAMP_DTYPE, write_dataset, write_frame

Progress = Callable[[str, float], None]

CHURN_DRIVERS: tuple[str, ...] = (
    "low_active_users",
    "falling_active_users",
    "unresolved_high_priority_tickets",
    "detractor_nps",
    "overdue_invoices",
)
"""Planted churn drivers, in the order of :func:`_churn_terms`."""

PLAN_TIERS = {"SMB": "starter", "mid-market": "growth", "enterprise": "enterprise"}
INDUSTRIES = (
    "software",
    "retail",
    "healthcare",
    "finance",
    "manufacturing",
    "education",
    "media",
    "logistics",
)
REGIONS = ("NA", "EMEA", "APAC", "LATAM")
CSM_NAMES = (
    "Ayse Demir",
    "Mehmet Kaya",
    "Elif Sahin",
    "Can Yilmaz",
    "Zeynep Arslan",
    "Burak Ozturk",
)
_NAME_A = (
    "Blue",
    "North",
    "Bright",
    "Swift",
    "Iron",
    "Silver",
    "Green",
    "Clear",
    "Prime",
    "Nova",
    "Red",
    "Urban",
)
_NAME_B = (
    "Harbor",
    "Peak",
    "Field",
    "Stone",
    "River",
    "Forge",
    "Labs",
    "Works",
    "Systems",
    "Logic",
    "Cloud",
    "Path",
)
_NAME_C = ("Inc", "Ltd", "GmbH", "LLC", "Co", "Group")
_CSM_NOTES = {
    "red": (
        "Champion left; escalation open",
        "Usage dropped, exec asked about cost",
        "Unhappy with support",
    ),
    "yellow": (
        "Adoption stalled in one team",
        "Waiting on integration fix",
        "Budget review next quarter",
    ),
    "green": ("Strong QBR", "Expanding to a new team", "Happy with roadmap"),
}
_COMMENTS = {
    "low": ("Too slow", "Support takes forever", "Missing features we need", "Too expensive"),
    "high": ("Great product", "Saves us hours", "Love the reports", "Support is excellent"),
}

# Weekday weights: Saturday and Sunday keep this share of events.
WEEKEND_KEEP = 0.3
_HISTORY = 4  # months of state history before the period (for trends)
_PAST = 72  # months before the start that pre-existing accounts may date back to
_FUTURE = 16  # months after the end kept in the month grid


@dataclass(frozen=True)
class GeneratorConfig:
    """Knobs of the synthetic world; the defaults give a believable B2B SaaS.

    Attributes:
        accounts: number of accounts (existing customers at ``start`` plus later signups).
        months: length of the period in calendar months; ``start`` is rounded down to the
            first day of its month.
        seed: the only source of randomness; same config -> byte-identical files.
        start: first day of the period.
        existing_share: share of accounts already customers before ``start``.
        trial_share: share of new signups (not enterprise) that begin as a free trial.
        trial_days: trial length in days.
        monthly_share: share of monthly plans before segment adjustment (SMB more, enterprise
            almost none).
        churn_shift: added to every churn log-odds (positive -> more churn).
        upsell_shift: added to every upsell log-odds.
        downturn_rate: monthly chance that a healthy account enters a downturn episode.
        events_per_user: mean usage events per active user per month at average health
            (more events make usage a sharper view of engagement).
        signal_noise: scales the observation noise around the latent state (seat
            utilisation, ticket priority, survey scores, CSM readings); 0 leaves only the
            sampling noise of the event counts.
        duplicate_rate: share of usage events written twice with the same event_id.
        horizon_days: churn/upsell window of the ground truth (DESIGN section 4).
        grace_days: renewal gaps shorter than this are not churn.
        gt_paths: Monte Carlo paths per account-month for the ground-truth probabilities.
    """

    accounts: int = 1000
    months: int = 24
    seed: int = 0
    start: date = date(2024, 1, 1)
    existing_share: float = 0.5
    trial_share: float = 0.35
    trial_days: int = 14
    monthly_share: float = 0.5
    churn_shift: float = 0.0
    upsell_shift: float = 0.0
    downturn_rate: float = 0.04
    events_per_user: float = 4.0
    signal_noise: float = 0.7
    duplicate_rate: float = 0.001
    horizon_days: int = 90
    grace_days: int = 30
    gt_paths: int = 128

    def __post_init__(self) -> None:
        if self.accounts < 1:
            raise ValueError(f"accounts must be at least 1, got {self.accounts}")
        if self.months < 4:
            raise ValueError(f"months must be at least 4, got {self.months}")
        for name in (
            "existing_share",
            "trial_share",
            "monthly_share",
            "downturn_rate",
            "duplicate_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        if self.events_per_user <= 0 or self.signal_noise < 0 or self.gt_paths < 1:
            raise ValueError("events_per_user must be > 0, signal_noise >= 0 and gt_paths >= 1")


@dataclass(frozen=True)
class WorldSummary:
    """Headline figures of a generated world."""

    accounts: int
    months: int
    start: str
    end: str
    rows: dict[str, int]
    trials: int
    trials_converted: int
    accounts_churned: int
    snapshots: int
    labelled_snapshots: int
    churn_rate: float  # realised 90-day contract churn among labelled active snapshots
    mean_churn_probability: float
    upsell_rate: float  # mean ground-truth upsell probability
    ground_truth_auc: float  # ROC-AUC of churn_probability against the realised outcome
    seconds: float
    config: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class World:
    """The generated tables (typed as the loader returns them) and the hidden ground truth."""

    tables: dict[str, pd.DataFrame]
    ground_truth: pd.DataFrame
    summary: WorldSummary


# --- latent state ---------------------------------------------------------------------------

_PHI_H, _SD_H, _DOWNTURN_DRIFT = 0.8, 0.26, 0.4
_PHI_X, _SD_X = 0.7, 1.0


@dataclass
class _State:
    """Latent state arrays of any shape (accounts, or accounts x Monte Carlo paths)."""

    mu: np.ndarray  # account baseline
    h: np.ndarray  # overall health
    down: np.ndarray  # months left in a downturn episode
    xe: np.ndarray  # idiosyncratic engagement
    xs: np.ndarray  # idiosyncratic support friction
    xn: np.ndarray  # idiosyncratic satisfaction
    xf: np.ndarray  # idiosyncratic financial stress

    def copy(self) -> _State:
        return _State(*(a.copy() for a in asdict_arrays(self)))

    def tile(self, k: int) -> _State:
        return _State(*(np.repeat(a[:, None], k, axis=1) for a in asdict_arrays(self)))


def asdict_arrays(s: _State) -> tuple[np.ndarray, ...]:
    return (s.mu, s.h, s.down, s.xe, s.xs, s.xn, s.xf)


def _step(s: _State, rng: np.random.Generator, downturn_rate: float) -> _State:
    """One month of state evolution: AR(1) with shocks and downturn episodes."""
    shape = s.h.shape
    start = (s.down == 0) & (rng.random(shape) < downturn_rate)
    length = 2 + rng.geometric(0.35, shape)
    down = np.where(start, length, np.maximum(s.down - 1, 0))
    h = s.mu + _PHI_H * (s.h - s.mu) + _SD_H * rng.standard_normal(shape) - _DOWNTURN_DRIFT * (down > 0)
    innov = _SD_X * np.sqrt(1 - _PHI_X**2)
    xs = [_PHI_X * x + innov * rng.standard_normal(shape) for x in (s.xe, s.xs, s.xn, s.xf)]
    return _State(s.mu, h, down, *xs)


def _components(s: _State) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Engagement, support friction, satisfaction and financial stress from the state."""
    e = s.h + 0.3 * s.xe
    fr = -0.6 * s.h + 0.55 * s.xs
    sat = 0.7 * s.h + 0.5 * s.xn
    fin = -0.5 * s.h + 0.55 * s.xf
    return e, fr, sat, fin


def _churn_terms(s: _State, e_before: np.ndarray) -> np.ndarray:
    """The planted drivers' contributions to churn log-odds (stacked on axis 0)."""
    e, fr, sat, fin = _components(s)
    return np.stack(
        [
            1.5 * np.maximum(-0.1 - e, 0.0),  # low active users
            2.0 * np.maximum(e_before - e - 0.2, 0.0),  # falling active users
            1.1 * np.maximum(fr - 0.4, 0.0),  # unresolved high-priority tickets
            1.1 * np.maximum(-sat - 0.4, 0.0),  # detractor NPS
            1.0 * np.maximum(fin - 0.4, 0.0),  # overdue invoices
        ]
    )


_BASE_MONTHLY, _BASE_ANNUAL, _BASE_UPSELL = -4.6, -3.1, -5.2


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _utilisation(e: np.ndarray) -> np.ndarray:
    return 0.05 + 0.93 * _sigmoid(0.6 + 1.6 * e)


def _breadth(e: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Number of non-login features in use (1..7)."""
    return 1 + np.floor(6.999 * _sigmoid(bias + 1.3 * e)).astype(np.int64)


def _upsell_logit(e: np.ndarray, bias: np.ndarray, shift: float) -> np.ndarray:
    util = _utilisation(e)
    breadth = (_breadth(e, bias) - 1) / 6
    return _BASE_UPSELL + shift + 9.0 * np.maximum(util - 0.75, 0.0) + 1.5 * breadth


# --- calendar ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Calendar:
    """Month starts as day numbers (days since 1970-01-01); global index g = k + _PAST."""

    ms: np.ndarray  # month start day numbers, len = _PAST + months + _FUTURE + 1
    months: int

    @classmethod
    def build(cls, start: date, months: int) -> _Calendar:
        first = np.datetime64(f"{start.year:04d}-{start.month:02d}", "M")
        grid = np.arange(first - _PAST, first + months + _FUTURE + 1, dtype="datetime64[M]")
        return cls(grid.astype("datetime64[D]").astype(np.int64), months)

    def g(self, k: int | np.ndarray) -> int | np.ndarray:
        return k + _PAST

    def start(self, k: int | np.ndarray) -> np.ndarray:
        return self.ms[np.asarray(k) + _PAST]

    def days(self, k: int | np.ndarray) -> np.ndarray:
        k = np.asarray(k) + _PAST
        return self.ms[k + 1] - self.ms[k]

    @property
    def begin(self) -> int:
        return int(self.ms[_PAST])

    @property
    def end(self) -> int:
        return int(self.ms[_PAST + self.months])

    def month_of(self, day: np.ndarray) -> np.ndarray:
        """Period month index (k) of day numbers."""
        return np.searchsorted(self.ms, day, side="right") - 1 - _PAST


_US_PER_DAY = 86_400_000_000


def _ts(day_us: np.ndarray) -> pd.Series:
    """Microseconds since the epoch (int64, -1 for null) as a UTC timestamp series."""
    arr = np.asarray(day_us, dtype=np.int64)
    values = arr.astype("datetime64[us]")
    out = pd.Series(pd.to_datetime(values, utc=True)).astype(TIMESTAMP_DTYPE)
    if (arr < 0).any():
        out = out.where(arr >= 0)
    return out


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pd.Series:
    """Zero-padded string IDs like A000123, built in Arrow."""
    text = pc.utf8_lpad(pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()), width, "0")
    return pd.Series(pd.arrays.ArrowStringArray(pc.binary_join_element_wise(prefix, text, "")).astype("string"))


def _strings(values: np.ndarray | list[str]) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=object), dtype="string")


def _choose(rng: np.random.Generator, options: tuple[str, ...], probs: np.ndarray | list[float], n: int) -> np.ndarray:
    return np.asarray(options, dtype=object)[rng.choice(len(options), size=n, p=probs)]


# --- the simulation ---------------------------------------------------------------------------


@dataclass
class _Subs:
    """Subscription rows as parallel lists of arrays, appended month by month."""

    acct: list[np.ndarray] = field(default_factory=list)
    start: list[np.ndarray] = field(default_factory=list)  # day numbers
    end: list[np.ndarray] = field(default_factory=list)  # annual term end; monthly: _OPEN
    seats: list[np.ndarray] = field(default_factory=list)
    arr: list[np.ndarray] = field(default_factory=list)
    annual: list[np.ndarray] = field(default_factory=list)
    prorate: list[np.ndarray] = field(default_factory=list)  # invoice share for annual rows

    def add(
        self,
        acct: np.ndarray,
        start: np.ndarray,
        end: np.ndarray,
        seats: np.ndarray,
        arr: np.ndarray,
        annual: np.ndarray,
        prorate: np.ndarray | float = 1.0,
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
        self.prorate.append(np.broadcast_to(np.asarray(prorate, np.float64), n).copy())

    def frame(self) -> dict[str, np.ndarray]:
        cols = ("acct", "start", "end", "seats", "arr", "annual", "prorate")
        return {c: np.concatenate(getattr(self, c)) if getattr(self, c) else np.zeros(0) for c in cols}


_OPEN = np.int64(10**9)  # "no end" day number


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

    _existing_subscriptions(acc, cal, subs, status, paid_start, term_end, rng_acc)
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
                    share,
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
            b = np.flatnonzero(billed)
            invoices.append(_invoice_rows(b, bill[b], arr[b] / 12.0))

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
    inv = _invoices(cal, invoices, comp_hist, status, churn_day, rng_inv)
    csm = _csm(cal, acc, paid_start, churn_day, comp_hist, rng_csm, noise)
    subs_table, intervals = _subscriptions_table(cal, acc, subs, churn_day, paid_start)
    accounts_table = _accounts_table(acc, paid_start, status)

    tables = {
        "accounts": accounts_table,
        "subscriptions": subs_table,
        "usage_events": usage,
        "support_tickets": tickets,
        "surveys": surveys,
        "invoices": inv,
        "csm_inputs": csm,
    }
    # Comments, notes and referrals come from their own random stream (features.generator_text).
    tables = add_text(
        tables,
        seed=cfg.seed,
        noise=noise,
        cal=cal,
        comp=comp_hist,
        paid_start=paid_start,
        churn_day=churn_day,
        ids=lambda numbers: _ids("A", numbers, 6),
        open_day=int(_OPEN),
    )
    tables = _drop_future(tables)
    report("ground truth", 0.9)
    gt = _finish_ground_truth(cfg, cal, pd.concat(gt_parts, ignore_index=True), intervals, acc)
    summary = _summary(cfg, cal, tables, gt, acc, status, time.perf_counter() - t0)
    report("done", 1.0)
    return World(tables, gt, summary)


# --- accounts -----------------------------------------------------------------------------


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
        "bill_day": rng.integers(0, 28, n),
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
    rng: np.random.Generator,
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
    e_k = [None, None, None, None]
    states = [sub.tile(kp)]
    e_known = [e_hist[idx, _HISTORY + k - 3 + j][:, None] for j in range(3)]  # e_{k-3}, e_{k-2}, e_{k-1}
    s = states[0]
    for _ in range(3):
        s = _step(s, rng, cfg.downturn_rate)
        states.append(s)
    # states[j] is s_{k-1+j}; decision of month k+j uses states[j] and e_{k+j-3}.
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
        e_k[j] = e_now
    p_churn = np.where(ann, churn_a.mean(axis=1), 1 - surv_m.mean(axis=1))
    p_up = 1 - no_up.mean(axis=1)
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


def _merged_intervals(intervals: pd.DataFrame, grace: int) -> pd.DataFrame:
    """Subscription coverage per account with gaps shorter than ``grace`` days bridged."""
    iv = intervals.sort_values(["acct", "start"], kind="stable")
    acct, start, end = iv["acct"].to_numpy(), iv["start"].to_numpy(), iv["end"].to_numpy()
    run_end = pd.Series(end).groupby(acct).cummax().to_numpy()
    prev_end = np.concatenate([[np.int64(-(10**9))], run_end[:-1]])
    new_block = np.ones(len(iv), bool)
    if len(iv):
        new_block[1:] = (acct[1:] != acct[:-1]) | (start[1:] - prev_end[1:] >= grace)
    block = np.cumsum(new_block)
    out = pd.DataFrame({"acct": acct, "start": start, "end": run_end, "block": block})
    return out.groupby("block").agg(acct=("acct", "first"), start=("start", "min"), end=("end", "max"))


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
    acc: dict[str, np.ndarray],
) -> pd.DataFrame:
    acct = gt["acct"].to_numpy()
    as_of = cal.start(gt["k"].to_numpy())
    active = _covered(intervals, acct, as_of)
    merged = _merged_intervals(intervals, cfg.grace_days)
    # Churned: the (grace-bridged) coverage holding as_of ends before as_of + horizon.
    later = _covered(merged, acct, as_of + cfg.horizon_days - 1)
    known = as_of + cfg.horizon_days <= cal.end
    churned = pd.array(np.where(known, ~later, False), dtype="boolean")
    churned[~known] = pd.NA
    drivers = np.asarray(("none", *CHURN_DRIVERS), dtype=object)[gt["top_driver"].to_numpy() + 1]
    out = pd.DataFrame(
        {
            "account_id": _ids("A", acct, 6),
            "as_of": _ts(as_of * _US_PER_DAY),
            "churn_probability": gt["churn_probability"].to_numpy(np.float64),
            "upsell_probability": gt["upsell_probability"].to_numpy(np.float64),
            "top_driver": _strings(drivers),
            "churned": churned,
        }
    )
    return out[active].sort_values(["account_id", "as_of"], kind="stable").reset_index(drop=True)


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC by the rank-sum formula (ties get average ranks)."""
    y = np.asarray(y, bool)
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = pd.Series(score).rank(method="average").to_numpy()
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


# --- observable tables ----------------------------------------------------------------------


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
    n, months = cfg.accounts, cfg.months
    max_seats = np.maximum(seats_hist.max(axis=1), acc["seats"])
    user_base = np.concatenate([[0], np.cumsum(max_seats)[:-1]])
    active_users = np.zeros((n, months), np.int64)
    parts: list[tuple[np.ndarray, ...]] = []
    noise = cfg.signal_noise
    weekend_boost = 7 / (5 + 2 * WEEKEND_KEEP)
    for k in range(months):
        report("usage", k / months)
        idx, lo, hi = _month_windows(cal, start, end, k)
        if idx.size == 0:
            continue
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
        is_burst = np.zeros(ev_row.size, bool)
        # Bursts: a few account-months get a day of bulk API calls by an integration user.
        burst = np.flatnonzero(rng.random(idx.size) < 0.03)
        if burst.size:
            bc = rng.poisson(30, burst.size)
            bday = lo[burst] + np.floor(rng.random(burst.size) * (hi - lo)[burst]).astype(np.int64)
            ev_row = np.concatenate([ev_row, np.repeat(burst, bc)])
            ev_user = np.concatenate([ev_user, np.zeros(bc.sum(), np.int64)])
            day = np.concatenate([day, np.repeat(bday, bc)])
            is_burst = np.concatenate([is_burst, np.ones(bc.sum(), bool)])
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
            continue
        a = idx[ev_row]
        secs = np.clip(rng.normal(14.5 * 3600, 3.2 * 3600, m), 0, 86399).astype(np.int64)
        ts = absday * _US_PER_DAY + secs * 1_000_000 + rng.integers(0, 1_000_000, m)
        # Event type: login, else one of the account's adopted features (earlier ones more often).
        breadth = _breadth(e, acc["bias"][idx])[ev_row]
        pick = np.floor(rng.random(m) ** 1.6 * breadth).astype(np.int64)
        code = np.where(rng.random(m) < 0.28, 0, acc["order"][a, pick])
        code = np.where(is_burst, EVENT_TYPES.index("api_call"), code)
        key = np.unique(ev_row * np.int64(max_seats.max() + 1) + ev_user)
        active_users[idx, k] = np.bincount(key // (max_seats.max() + 1), minlength=idx.size)
        parts.append((a, user_base[a] + ev_user, ts, code.astype(np.int8)))
    report("usage", 1.0)
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
    return frame, active_users


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
        open_l.append(((int(cal.start(k)) + day) * _US_PER_DAY).astype(np.int64))
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
    end_us = cal.end * _US_PER_DAY
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
        for kind, cnt in enumerate(counts):
            r = np.repeat(np.arange(idx.size), cnt)
            day = lo[r] + rng.random(r.size) * (hi - lo)[r]
            ts = ((int(cal.start(k)) + day) * _US_PER_DAY).astype(np.int64)
            user = rng.integers(0, au[r])
            parts.append(
                (
                    idx[r],
                    ts,
                    np.full(r.size, kind),
                    comp[2, idx[r], k].astype(np.float64),
                    comp[1, idx[r], k].astype(np.float64),
                    user,
                )
            )
    a, ts, kind, sat, fr, user = (np.concatenate(x) for x in zip(*parts, strict=True))
    order = np.lexsort((ts, a))
    a, ts, kind, sat, fr, user = (
        a[order],
        ts[order],
        kind[order],
        sat[order],
        fr[order],
        user[order],
    )
    m = a.size
    noise = noise * rng.standard_normal(m)
    score = np.select(
        [kind == 0, kind == 1],
        [
            np.clip(np.round(7.3 + 1.9 * sat + 0.9 * noise), 0, 10),
            np.clip(np.round(3.9 + 0.8 * sat + 0.7 * noise), 1, 5),
        ],
        np.clip(np.round(3.2 - 0.9 * sat + 0.4 * fr + 0.9 * noise), 1, 7),
    )
    low = np.select([kind == 0, kind == 1], [score <= 6, score <= 2], score >= 5)
    high = np.select([kind == 0, kind == 1], [score >= 9, score >= 5], score <= 2)
    has_comment = rng.random(m) < 0.15
    pick = rng.integers(0, 4, m)
    comment = np.where(
        low,
        np.asarray(_COMMENTS["low"], dtype=object)[pick],
        np.where(high, np.asarray(_COMMENTS["high"], dtype=object)[pick], None),
    )
    comment = np.where(has_comment, comment, None)
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


def _invoices(
    cal: _Calendar,
    parts: list[dict[str, np.ndarray]],
    comp: np.ndarray,
    status: np.ndarray,
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
    issued = day * _US_PER_DAY + 9 * 3_600_000_000
    delay = np.where(late, 31 + rng.exponential(25, m), rng.uniform(2, 28, m))
    paid = issued + (delay * _US_PER_DAY).astype(np.int64)
    paid = np.where(never | (paid >= cal.end * _US_PER_DAY), -1, paid)
    return pd.DataFrame(
        {
            "invoice_id": _ids("INV", np.arange(1, m + 1), 7),
            "account_id": _ids("A", acct, 6),
            "issued_at": _ts(issued),
            "due_at": _ts(issued + 30 * _US_PER_DAY),
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
        parts.append((idx[r], ((int(cal.start(k)) + day) * _US_PER_DAY).astype(np.int64), h[r]))
    a, ts, h = (np.concatenate(x) for x in zip(*parts, strict=True))
    order = np.lexsort((ts, a))
    a, ts, h = a[order], ts[order], h[order]
    reading = h + noise * rng.normal(0, 0.5, a.size)
    sentiment = np.digitize(reading, [-0.3, 0.4])
    notes = np.array([_CSM_NOTES[s] for s in SENTIMENTS], dtype=object)
    note = notes[sentiment, rng.integers(0, 3, a.size)]
    note = np.where(rng.random(a.size) < 0.6, note, None)
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
    shown_end = np.where(end >= _OPEN, -1, end * _US_PER_DAY)
    tier = np.asarray([PLAN_TIERS[s] for s in SEGMENTS], dtype=object)[acc["seg"][acct]]
    plan = np.where(annual[row], "annual", "monthly").astype(object) + "-" + tier
    table = pd.DataFrame(
        {
            "account_id": _ids("A", acct, 6),
            "start_date": _ts(start * _US_PER_DAY),
            "end_date": _ts(shown_end),
            "arr": f["arr"][row].astype(np.float64),
            "seats": pd.array(f["seats"][row], dtype="Int64"),
            "plan": _strings(plan),
        }
    )
    return table[written].reset_index(drop=True), intervals


def _accounts_table(acc: dict[str, np.ndarray], paid_start: np.ndarray, status: np.ndarray) -> pd.DataFrame:
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
            "created_at": _ts(acc["created_day"] * _US_PER_DAY + 10 * 3_600_000_000),
            "name": _strings(name),
            "segment": _strings(np.asarray(SEGMENTS, dtype=object)[acc["seg"]]),
            "industry": _strings(np.asarray(INDUSTRIES, dtype=object)[acc["industry"]]),
            "region": _strings(np.asarray(REGIONS, dtype=object)[acc["region"]]),
            "csm_owner": _strings(np.asarray(CSM_NAMES, dtype=object)[acc["csm"]]),
            "trial_converted_at": _ts(np.where(converted, paid_start * _US_PER_DAY, -1)),
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
    auc = roc_auc(y, labelled["churn_probability"].to_numpy())
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


def write_world(world: World, out: Path | str) -> None:
    """Write the tables (via :func:`features.loader.write_dataset`) and ``ground_truth.parquet``.

    Every file is written to a temporary name and renamed, so a reader never sees half a
    file; the same world always gives the same bytes.
    """
    out = Path(out)
    write_dataset(world.tables, out)
    write_frame(world.ground_truth, out / "ground_truth.parquet")
