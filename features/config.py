"""Feature-stage settings in one typed place: what counts as a key event, windows, weights."""

from __future__ import annotations

from dataclasses import dataclass, field

from features.domain import DomainConfig

# Product events of the reference world. A "key" event is one that delivers the product's
# value (used by key-feature adoption and time to value); a real dataset sets its own.
EVENT_TYPES: tuple[str, ...] = (
    "login",
    "dashboard_view",
    "report_create",
    "export",
    "integration_sync",
    "user_invite",
    "api_call",
    "alert_configure",
)
# The generated world's key events (``simulator.GENERATED_KEY_EVENTS``). They are not a
# default: real data names its own key events, or the signals that need them are skipped.
KEY_EVENTS: tuple[str, ...] = ("report_create", "integration_sync")
# Phrases in comments and notes that say an account may leave (docs/text_and_referrals.md).
# Matched on normalised text (Turkish lower case, no accents); the last word takes any suffix
# and a softened final consonant, so "rakip" also counts "rakibe" and "iptal" "iptali".
RISK_PHRASES: tuple[str, ...] = (
    "cancel",
    "competitor",
    "too expensive",
    "other vendor",
    "iptal",
    "rakip",
    "pahalı",
)
TEXT_LANGUAGES = ("auto", "en", "tr")


@dataclass(frozen=True)
class EngagementActivity:
    """One activity of the engagement score: a signal, its weight, and the value that earns it.

    The activity earns ``weight * clip(value / target, 0, 1)`` points, or, with a target
    of 0, the full weight when the value is above 0. A signal that is null (for instance
    an ARR change with no earlier ARR) earns nothing.
    """

    signal: str
    weight: float
    target: float


# The seed's recipe: pick the engagement activities, give each a weight so the total can
# reach 100, add them up. Product usage weighs most; email opens are not in the contract.
ENGAGEMENT_ACTIVITIES: tuple[EngagementActivity, ...] = (
    EngagementActivity("active_days_30d", 35.0, 20.0),  # product usage frequency
    EngagementActivity("key_feature_adoption", 25.0, 1.0),  # interaction with key features
    EngagementActivity("features_used_30d", 15.0, 5.0),  # depth of use
    EngagementActivity("survey_responses_180d", 10.0, 1.0),  # answers surveys
    EngagementActivity("tickets_90d", 5.0, 1.0),  # talks to support
    EngagementActivity("arr_change_180d", 10.0, 0.0),  # renewed or upgraded (any rise)
)
# Seed bands of the engagement score: 0-40 disengaged, 41-75 somewhat, 76-100 highly engaged.
ENGAGEMENT_BANDS: tuple[tuple[float, str], ...] = (
    (40.0, "disengaged"),
    (75.0, "somewhat engaged"),
    (100.0, "highly engaged"),
)


@dataclass(frozen=True)
class FeatureConfig:
    """Knobs of the feature builders; the defaults assume nothing about the data's vocabulary.

    Attributes:
        key_events: events that deliver the product's value; empty (the default) skips
            key-feature adoption, time to value and the engagement activity built on them.
        event_types_top_k: how many of the most frequent event types get their own counts
            and trend (the data's own vocabulary).
        event_types: the chosen event types; None until a training run picks them from the
            data (strictly before its newest snapshot) and saves them with the model, so
            scoring counts the same types.
        effort_higher_is_better: customer effort scale direction. The seeds ask "how hard
            was it" (1 easy .. 7 hard), so by default a lower effort score is healthier.
        support_window_days: look-back for handle time, first-contact resolution, CSAT.
        survey_window_days: look-back for account NPS, CSAT share, effort and responses.
        plan_change_window_days: look-back for counting plan changes.
        engagement_activities: the weighted activities of the engagement score (weights
            are rescaled to sum to 100 over the activities whose tables are present).
        text_language: language of comments and notes: "auto" (detected per text from
            Turkish letters and stopwords), "en" or "tr".
        risk_phrases: phrases counted by the ``risk_phrases_90d`` signal.
    """

    key_events: tuple[str, ...] = ()
    event_types_top_k: int = 10
    event_types: tuple[str, ...] | None = None
    effort_higher_is_better: bool = False
    support_window_days: int = 90
    survey_window_days: int = 180
    plan_change_window_days: int = 365
    engagement_activities: tuple[EngagementActivity, ...] = ENGAGEMENT_ACTIVITIES
    text_language: str = "auto"
    risk_phrases: tuple[str, ...] = RISK_PHRASES

    def __post_init__(self) -> None:
        if self.event_types_top_k < 0:
            raise ValueError(f"FeatureConfig.event_types_top_k must be >= 0, got {self.event_types_top_k}")
        if self.text_language not in TEXT_LANGUAGES:
            raise ValueError(f"FeatureConfig.text_language must be one of {TEXT_LANGUAGES}, not {self.text_language!r}")
        if not all(isinstance(p, str) and p.strip() for p in self.risk_phrases):
            raise ValueError("FeatureConfig.risk_phrases must be non-empty strings")
        for days in (
            self.support_window_days,
            self.survey_window_days,
            self.plan_change_window_days,
        ):
            if days <= 0:
                raise ValueError(f"FeatureConfig windows must be positive days, got {days}")
        if any(a.weight < 0 for a in self.engagement_activities):
            raise ValueError("FeatureConfig.engagement_activities weights must be >= 0")


@dataclass(frozen=True)
class KPIConfig(DomainConfig):
    """KPI settings. Grace, fixed terms and trial length are the training labels' (DomainConfig).

    Attributes:
        margin: gross margin used by customer lifetime value (0-1].
        features: key events, engagement weights and the effort scale direction.

    From :class:`features.domain.DomainConfig`: ``grace_days`` (churn-type KPIs wait this
    long after the month end), ``min_term_days`` (terms at least this long are renewals) and
    ``trial_days`` (a trial ends ``trial_days`` after ``created_at``).
    """

    margin: float = 0.8
    features: FeatureConfig = field(default_factory=FeatureConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.margin <= 1:
            raise ValueError(f"KPI margin must be in (0, 1], got {self.margin}")


def engagement_band(score: float | None) -> str | None:
    """The seed's band for an engagement score (0-40, 41-75, 76-100), or None if unknown."""
    if score is None or score != score:  # None or NaN
        return None
    for upper, name in ENGAGEMENT_BANDS:
        if score <= upper:
            return name
    return ENGAGEMENT_BANDS[-1][1]
