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


@dataclass(frozen=True)
class FeatureConfig:
    """Knobs of the feature builders; defaults suit the generated world."""

    key_events: tuple[str, ...] = KEY_EVENTS
