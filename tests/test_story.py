"""The account's story without a model: score breakdown, exact change decomposition, what-if, texts."""

from __future__ import annotations

import re
import string

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.signals import SIGNALS_BY_NAME
from serving import story_text
from serving.breakdown import OVERRIDE, breakdown, score_of
from serving.changes import Point, compare, health_sentence
from serving.whatif import changed, sentence, what_if
from training.scorecard import parse_scorecard


def card(overrides: list[dict] | None = None):
    """Three components, five measures (tenure_days is a context measure, never actionable), one cap rule."""
    doc = {
        "bands": {"red": [0, 40], "yellow": [41, 75], "green": [76, 100]},
        "onboarding_age_days": 90,
        "cards": {
            "main": {
                "components": [
                    {
                        "name": "usage",
                        "weight": 50,
                        "measures": [
                            {"signal": "licence_utilisation", "weight": 60, "curve": [[0.2, 0], [0.8, 100]]},
                            {"signal": "active_users_30d", "weight": 40, "curve": [[0, 0], [20, 100]]},
                        ],
                    },
                    {
                        "name": "support",
                        "weight": 30,
                        "measures": [
                            {"signal": "open_high_priority_tickets", "weight": 50, "curve": [[0, 100], [3, 0]]},
                            {"signal": "support_csat", "weight": 50, "curve": [[1, 0], [5, 100]]},
                        ],
                    },
                    {
                        "name": "financial",
                        "weight": 20,
                        "measures": [{"signal": "tenure_days", "weight": 100, "curve": [[90, 0], [1000, 100]]}],
                    },
                ]
            },
            "onboarding": {
                "components": [
                    {
                        "name": "usage",
                        "weight": 100,
                        "measures": [{"signal": "licence_utilisation", "weight": 100, "curve": [[0.0, 0], [0.4, 100]]}],
                    }
                ]
            },
        },
        "overrides": overrides if overrides is not None else [{"when": "support_csat < 2", "cap": 40}],
    }
    return parse_scorecard(doc)


CARD = card()
maybe = st.one_of(st.none(), st.floats(0, 1))
VALUES = st.fixed_dictionaries(
    {
        "licence_utilisation": st.one_of(st.none(), st.floats(0, 1)),
        "active_users_30d": st.one_of(st.none(), st.floats(0, 40)),
        "open_high_priority_tickets": st.one_of(st.none(), st.integers(0, 6).map(float)),
        "support_csat": st.one_of(st.none(), st.floats(1, 5)),
        "tenure_days": st.one_of(st.none(), st.floats(10, 2000)),
    }
).map(lambda d: {k: np.nan if v is None else v for k, v in d.items()})


def point(values: dict[str, float], as_of: str) -> Point:
    """A stored scoring as the history keeps it: the scores row and one details row per measure."""
    score, band = score_of(values, CARD)
    parts = breakdown(values, CARD)
    details = {
        p.signal: {
            "value": values.get(p.signal, np.nan),
            "contribution": np.nan,
            "component": p.component,
            "points": p.earned_points,
            "possible": p.possible_points,
        }
        for p in parts
    }
    row = {"as_of": pd.Timestamp(as_of, tz="UTC"), "health_score": score, "health_band": band}
    return Point({**row, "churn_probability": 0.1, "churn_log_odds": -2.0}, details)


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_the_points_add_up_exactly_to_the_score(values: dict[str, float]) -> None:
    """Whatever is missing, young or capped, the points in tenths sum to the shown score in tenths."""
    score, _ = score_of(values, CARD)
    parts = breakdown(values, CARD)
    if np.isnan(score):
        assert parts == []
        return
    assert sum(p.earned for p in parts) == round(score * 10)
    measures = [p for p in parts if p.component != OVERRIDE]
    assert sum(p.possible for p in measures) == 1000
    assert all(0 <= p.earned <= p.possible for p in measures)


def test_a_cap_is_a_line_of_its_own() -> None:
    """A manual cap's effect is the 'override' line, named by its rule."""
    values = {"licence_utilisation": 0.8, "active_users_30d": 20, "open_high_priority_tickets": 0, "support_csat": 1.5}
    parts = breakdown({**values, "tenure_days": 1000}, CARD)
    assert score_of({**values, "tenure_days": 1000}, CARD)[0] == 40
    assert [p.signal for p in parts if p.component == OVERRIDE] == ["support_csat < 2"]
    assert sum(p.earned for p in parts) == 400


@settings(max_examples=200, deadline=None)
@given(VALUES, VALUES)
def test_the_health_change_is_exactly_the_sum_of_the_measures_changes(a: dict, b: dict) -> None:
    """Change in score (tenths) == sum of the measures' changes in points (tenths), to the last digit."""
    before, after = point(a, "2025-01-01"), point(b, "2025-02-01")
    if np.isnan(before.row["health_score"]) or np.isnan(after.row["health_score"]):
        return
    change = compare(before, after)
    assert change.health_change == round(after.row["health_score"] * 10) - round(before.row["health_score"] * 10)
    assert sum(m.change for m in change.measures) == change.health_change


def test_the_change_sentence_names_the_component_and_the_values() -> None:
    """It reads as the issue's example: direction, points, date, component with its measure's values."""
    a = {"licence_utilisation": 0.7, "active_users_30d": 18, "open_high_priority_tickets": 0, "support_csat": 4}
    b = {**a, "active_users_30d": 5, "open_high_priority_tickets": 2}
    change = compare(point({**a, "tenure_days": 900}, "2025-11-01"), point({**b, "tenure_days": 930}, "2025-12-01"))
    en, tr = health_sentence(change, "en"), health_sentence(change, "tr")
    assert re.match(r"Health fell [\d.]+ points since 1 Nov 2025: ", en), en
    assert "Active users (30 days) 18 -> 5" in en and "support -" in en and "usage -" in en
    assert tr.startswith("Sağlık skoru 1 Kasım 2025 tarihinden bu yana") and "kullanım -" in tr


@settings(max_examples=150, deadline=None)
@given(VALUES)
def test_the_what_if_score_is_the_scorecards_score_of_the_changed_account(values: dict[str, float]) -> None:
    """The predicted score of the plan is exactly score_health of the account with the plan applied."""
    targets = {
        "licence_utilisation": 0.75,
        "active_users_30d": 16,
        "open_high_priority_tickets": 0,
        "support_csat": 4.5,
    }
    result = what_if(values, CARD, targets)
    if result.plan:
        assert result.reachable
        assert (result.predicted_score, result.predicted_band) == score_of(changed(values, result.plan), CARD)
        # The plan is the fewest changes: one fewer does not reach the next band.
        shorter = score_of(changed(values, result.plan[:-1]), CARD)[1]
        assert shorter == result.band
    assert all(SIGNALS_BY_NAME[o.signal].actionable for o in result.options)
    assert "tenure_days" not in {o.signal for o in result.options}
    assert [o.gain for o in result.options] == sorted((o.gain for o in result.options), reverse=True)


def test_the_what_if_reaches_the_next_band_with_the_biggest_gains() -> None:
    """A red account with few users and urgent tickets: more users and no urgent tickets make it yellow."""
    values = {
        "licence_utilisation": 0.3,
        "active_users_30d": 3,
        "open_high_priority_tickets": 3,
        "support_csat": 3,
        "tenure_days": 400,
    }
    targets = {"active_users_30d": 16, "open_high_priority_tickets": 0, "licence_utilisation": 0.6, "tenure_days": 2000}
    result = what_if(values, CARD, targets)
    assert result.band == "red" and result.next_band == "yellow" and result.predicted_band == "yellow"
    assert result.options[0].gain >= result.options[-1].gain
    assert sentence(result, "en").endswith(f": {story_text.number(result.predicted_score, 'en')}, yellow")
    assert "sarı" in sentence(result, "tr")


def test_a_green_account_has_no_next_band() -> None:
    values = {"licence_utilisation": 0.8, "active_users_30d": 20, "open_high_priority_tickets": 0, "support_csat": 5}
    result = what_if({**values, "tenure_days": 1000}, CARD, {})
    assert result.band == "green" and result.next_band is None and result.plan == []
    assert sentence(result, "en").startswith("Already in the best band")


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("key", sorted(story_text.TEXTS))
def test_every_sentence_exists_in_english_and_turkish_with_the_same_fields(key: str) -> None:
    """Each new sentence has an en and a tr text, and both use the same placeholders."""
    texts = story_text.TEXTS[key]
    assert set(texts) == {"en", "tr"} and all(texts.values())
    assert _fields(texts["en"]) == _fields(texts["tr"])


def test_names_of_components_bands_and_months_exist_in_both_languages() -> None:
    for table in (story_text.COMPONENT_NAMES, story_text.BAND_NAMES):
        assert all(set(v) == {"en", "tr"} for v in table.values())
    assert len(story_text.MONTHS["en"]) == len(story_text.MONTHS["tr"]) == 12
    assert story_text.number(1234.5, "tr") == "1.234,5" and story_text.percent(0.314, "tr") == "%31,4"
