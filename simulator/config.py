"""What a world is made of: the generator's settings, the world and its summary, and the catalogues of names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from features.config import KEY_EVENTS
from features.domain import DomainConfig

# The generated world's key events: pass them as FeatureConfig(key_events=GENERATED_KEY_EVENTS) (or in
# churn.toml, which `churn generate` writes); they are not a default of FeatureConfig.
GENERATED_KEY_EVENTS: tuple[str, ...] = KEY_EVENTS

Progress = Callable[[str, float], None]

CHURN_DRIVERS: tuple[str, ...] = (
    "low_active_users",
    "falling_active_users",
    "unresolved_high_priority_tickets",
    "detractor_nps",
    "overdue_invoices",
)
"""Planted churn drivers, in the order of :func:`simulator.dynamics._churn_terms`."""

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
class GeneratorConfig(DomainConfig):
    """Knobs of the synthetic world; the defaults give a believable B2B SaaS.

    Attributes:
        accounts: number of accounts (existing customers at ``start`` plus later signups).
        months: length of the period in calendar months; ``start`` is rounded down to the
            first day of its month.
        seed: the only source of randomness; same config -> byte-identical files.
        start: first day of the period.
        existing_share: share of accounts already customers before ``start``.
        trial_share: share of new signups (not enterprise) that begin as a free trial.
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
        gt_paths: Monte Carlo paths per account-month for the ground-truth probabilities.

    Horizon (the ground truth's churn/upsell window), grace and trial length come from
    :class:`features.domain.DomainConfig`, as the labels' do.
    """

    accounts: int = 1000
    months: int = 24
    seed: int = 0
    start: date = date(2024, 1, 1)
    existing_share: float = 0.5
    trial_share: float = 0.35
    monthly_share: float = 0.5
    churn_shift: float = 0.0
    upsell_shift: float = 0.0
    downturn_rate: float = 0.04
    events_per_user: float = 4.0
    signal_noise: float = 0.7
    duplicate_rate: float = 0.001
    gt_paths: int = 128

    def __post_init__(self) -> None:
        super().__post_init__()
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
