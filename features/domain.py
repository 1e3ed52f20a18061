"""The business's calendar rules, declared once: outcome window, grace period, fixed terms, trials.

Labels (``training.outcomes.OutcomeConfig``, through :class:`OutcomeRules`), KPIs (``features.kpi.KPIConfig``) and the
generator (``simulator.GeneratorConfig``) all extend :class:`DomainConfig`, so the
four numbers have one definition, one set of defaults and one check, and a settings file's
``[outcomes]`` table sets them for every stage at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ChurnDefinition = Literal["contract", "activity"]
CHURN_DEFINITIONS: tuple[str, ...] = ("contract", "activity")


@dataclass(frozen=True)
class DomainConfig:
    """Horizon, grace, minimum term and trial length, in days (DESIGN.md section 4).

    Attributes:
        horizon_days: outcomes look at ``[as_of, as_of + horizon)``.
        grace_days: a gap between terms shorter than this is not churn; churn-type labels and
            KPIs wait this long after their window before they count as settled.
        min_term_days: fixed terms at least this long are renewals (monthly plans are not).
        trial_days: a trial ends this many days after ``created_at``.
    """

    horizon_days: int = 90
    grace_days: int = 30
    min_term_days: int = 180
    trial_days: int = 14

    def __post_init__(self) -> None:
        if self.horizon_days <= 0 or self.min_term_days <= 0 or self.trial_days <= 0:
            raise ValueError(
                "horizon_days, min_term_days and trial_days must be positive days, got "
                f"{self.horizon_days}, {self.min_term_days}, {self.trial_days}"
            )
        if self.grace_days < 0:
            raise ValueError(f"grace_days must be >= 0, got {self.grace_days}")


@dataclass(frozen=True)
class OutcomeRules(DomainConfig):
    """What churn means, on top of the calendar rules: the ``[outcomes]`` table of a settings file.

    Attributes:
        churn_definition: ``contract`` (no subscription by the end of the window) or
            ``activity`` (no usage event in the window; needs only accounts and usage events).
        active_days: activity mode: an event in this many days before as_of makes an
            account eligible.
    """

    churn_definition: ChurnDefinition = "contract"
    active_days: int = 365

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.churn_definition not in CHURN_DEFINITIONS:
            raise ValueError(f"churn_definition must be contract or activity, not {self.churn_definition!r}")
        if self.active_days <= 0:
            raise ValueError(f"active_days must be positive, got {self.active_days}")
