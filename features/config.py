"""Feature-stage settings in one typed place: what counts as a key event, windows, weights."""

from __future__ import annotations

from dataclasses import dataclass

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
    """Knobs of the feature builders; defaults suit the generated world.

    Attributes:
        key_events: events that deliver the product's value.
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

    key_events: tuple[str, ...] = KEY_EVENTS
    effort_higher_is_better: bool = False
    support_window_days: int = 90
    survey_window_days: int = 180
    plan_change_window_days: int = 365
    engagement_activities: tuple[EngagementActivity, ...] = ENGAGEMENT_ACTIVITIES
    text_language: str = "auto"
    risk_phrases: tuple[str, ...] = RISK_PHRASES

    def __post_init__(self) -> None:
        if self.text_language not in TEXT_LANGUAGES:
            raise ValueError(f"FeatureConfig.text_language must be one of {TEXT_LANGUAGES}, not {self.text_language!r}")
        if not all(isinstance(p, str) and p.strip() for p in self.risk_phrases):
            raise ValueError("FeatureConfig.risk_phrases must be non-empty strings")
        if not self.key_events:
            raise ValueError("FeatureConfig.key_events must name at least one event")
        for days in (
            self.support_window_days,
            self.survey_window_days,
            self.plan_change_window_days,
        ):
            if days <= 0:
                raise ValueError(f"FeatureConfig windows must be positive days, got {days}")
        if any(a.weight < 0 for a in self.engagement_activities):
            raise ValueError("FeatureConfig.engagement_activities weights must be >= 0")


def engagement_band(score: float | None) -> str | None:
    """The seed's band for an engagement score (0-40, 41-75, 76-100), or None if unknown."""
    if score is None or score != score:  # None or NaN
        return None
    for upper, name in ENGAGEMENT_BANDS:
        if score <= upper:
            return name
    return ENGAGEMENT_BANDS[-1][1]
