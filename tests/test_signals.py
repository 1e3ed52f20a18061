"""The signal catalog: declarations, sentences in two languages, suggested actions."""

from __future__ import annotations

import pytest

from features.config import FeatureConfig, engagement_band
from features.signals import GROUPS, SIGNALS, SIGNALS_BY_NAME, registry, split_available


def test_every_signal_is_fully_declared() -> None:
    """It declares group, unit, direction, both languages and an action when actionable."""
    assert len(SIGNALS_BY_NAME) == len(SIGNALS)
    for s in SIGNALS:
        assert s.group in GROUPS and s.direction in (-1, 0, 1) and s.description
        assert set(s.template) == set(s.label) == {"en", "tr"}
        assert s.actionable == (s.action is not None)
        assert s.sentence(1.0) and s.sentence(1.0, lang="tr") and s.sentence(None)


def test_sentences_read_naturally_in_english_and_turkish() -> None:
    """It says a 38% fall of active users in English and Turkish."""
    trend = SIGNALS_BY_NAME["active_users_trend"]
    assert trend.sentence(-0.38) == "Active users fell 38% over the last 30 days"
    assert trend.sentence(-0.38, lang="tr") == "Aktif kullanıcı sayısı son 30 günde %38 azaldı"
    assert SIGNALS_BY_NAME["nps"].sentence(float("nan")) == "Account NPS: no data"


def test_actionable_signals_suggest_an_action() -> None:
    """It suggests calling a detractor and running an adoption session for low utilisation."""
    assert "ask what would make it better" in SIGNALS_BY_NAME["nps_latest"].suggested_action()
    assert "adoption" in SIGNALS_BY_NAME["licence_utilisation"].suggested_action()
    assert "benimseme" in SIGNALS_BY_NAME["licence_utilisation"].suggested_action("tr")
    assert SIGNALS_BY_NAME["tenure_days"].suggested_action() is None


def test_unknown_language_is_refused() -> None:
    """It refuses a language it has no templates for."""
    with pytest.raises(ValueError, match="language 'de' is not supported"):
        SIGNALS_BY_NAME["nps"].sentence(10, lang="de")


def test_effort_direction_follows_config() -> None:
    """It flips the effort score's direction when higher effort answers are healthier."""
    flipped = {s.name: s for s in registry(FeatureConfig(effort_higher_is_better=True))}
    assert flipped["effort_score"].direction == 1
    assert SIGNALS_BY_NAME["effort_score"].direction == -1


def test_split_available_reports_missing_columns() -> None:
    """It skips signals whose table or column is absent and names what is missing."""
    kept, skipped = split_available({"accounts": ("account_id", "created_at")})
    assert [s.name for s in kept] == ["tenure_days"]
    assert len(skipped) == len(SIGNALS) - 1


def test_engagement_bands_follow_the_seed() -> None:
    """It bands engagement 0-40 disengaged, 41-75 somewhat and 76-100 highly engaged."""
    assert [engagement_band(x) for x in (0, 40, 41, 75, 76, 100)] == [
        "disengaged",
        "disengaged",
        "somewhat engaged",
        "somewhat engaged",
        "highly engaged",
        "highly engaged",
    ]
    assert engagement_band(None) is None
