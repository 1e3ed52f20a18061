"""Alerts from the score history: accounts that entered red or fell more than N points since the previous run.

The previous run is the account's scoring just before the latest run date; an account not
scored in the latest run (it churned, or left the eligible set) raises no alert.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from serving import story_text as text
from serving.changes import health_sentence
from serving.story import Mover, Story

ALERT_FIELDS = (
    "account_id",
    "name",
    "as_of",
    "since",
    "health_before",
    "health_after",
    "health_change",
    "band_before",
    "band_after",
    "reason",
    "sentence",
    "why",
)


def alerts(story: Story, *, drop: float = 10.0, lang: str = "en") -> pd.DataFrame:
    """One row per alert, worst fall first; ``reason`` is ``entered_red`` or ``fell``."""
    latest = story.scores["as_of"].max() if len(story.scores) else None
    rows = [_row(m, drop, lang) for m in story.changes() if m.change.after.as_of == latest]
    found = [r for r in rows if r is not None]
    frame = pd.DataFrame(found, columns=list(ALERT_FIELDS))
    return frame.sort_values(["health_change", "account_id"], ignore_index=True)


def _row(mover: Mover, drop: float, lang: str) -> dict[str, Any] | None:
    change = mover.change
    before, after = change.before.row, change.after.row
    entered_red = after["health_band"] == "red" and before["health_band"] != "red"
    fell = -change.health_change / 10 > drop
    if not (entered_red or fell):
        return None
    who = mover.name or mover.account_id
    since = text.day(change.before.as_of, lang)
    score = text.number(float(after["health_score"]), lang)
    sentence = (
        text.say("alert_red", lang, account=who, since=since, score=score)
        if entered_red
        else text.say(
            "alert_fell",
            lang,
            account=who,
            since=since,
            points=text.number(-change.health_change / 10, lang),
            score=score,
        )
    )
    return {
        "account_id": mover.account_id,
        "name": mover.name,
        "as_of": change.after.as_of.isoformat(),
        "since": change.before.as_of.isoformat(),
        "health_before": float(before["health_score"]),
        "health_after": float(after["health_score"]),
        "health_change": change.health_change / 10,
        "band_before": before["health_band"],
        "band_after": after["health_band"],
        "reason": "entered_red" if entered_red else "fell",
        "sentence": sentence,
        "why": health_sentence(change, lang),
    }
