"""What would raise a health score: the scorecard's curves read forwards.

For each measure of the account's card whose signal a CSM can act on (the catalog's
``actionable`` flag: never tenure, ARR or days to renewal) and whose value is known and worse
than the typical healthy account's, the gain is the points the account would earn at that
typical value. Gains add up (the measures' weights do not change while their values stay
known), so the fewest changes that reach the next band are the largest gains, taken in order;
the predicted score of each plan is the scorecard's own score of the changed account, so a
manual cap or band rule is respected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.signals import SIGNALS_BY_NAME
from serving import story_text as text
from serving.breakdown import breakdown, score_of
from training.model.scorecard_core import BAND_NAMES, Scorecard


@dataclass(frozen=True)
class Option:
    component: str
    signal: str
    value: float
    target: float
    gain: float  # health points at the target, all else equal


@dataclass(frozen=True)
class WhatIf:
    score: float
    band: str | None
    next_band: str | None
    options: list[Option]  # every actionable gain, biggest first
    plan: list[Option]  # the fewest options reaching next_band (empty when none does)
    predicted_score: float | None
    predicted_band: str | None
    reachable: bool


def healthy_typical(values: pd.DataFrame, bands: pd.Series, fallback: Mapping[str, float]) -> dict[str, float]:
    """Each signal's median over the green accounts (the typical healthy account), else ``fallback``."""
    green = values[(bands == "green").fillna(False).to_numpy(dtype=bool)]
    out = {k: float(v) for k, v in fallback.items() if v is not None and np.isfinite(v)}
    for name in values.columns:
        column = pd.to_numeric(green[name], errors="coerce").dropna()
        if len(column):
            out[name] = float(column.median())
    return out


def what_if(values: Mapping[str, float], scorecard: Scorecard, targets: Mapping[str, float]) -> WhatIf:
    """Ranked gains and the smallest plan that moves the account into the next band."""
    score, band = score_of(values, scorecard)
    now = {p.signal: p for p in breakdown(values, scorecard)}
    options = []
    for signal, point in now.items():
        catalog = SIGNALS_BY_NAME.get(signal)
        target = targets.get(signal)
        if catalog is None or not catalog.actionable or target is None or catalog.direction == 0:
            continue
        value = values.get(signal)
        if value is None or np.isnan(value) or catalog.direction * (target - value) <= 0:
            continue
        gained = {p.signal: p for p in breakdown({**values, signal: target}, scorecard)}[signal].earned - point.earned
        if gained > 0:
            options.append(Option(point.component, signal, float(value), float(target), gained / 10))
    options.sort(key=lambda o: (-o.gain, o.signal))
    following = _next_band(band, scorecard)
    plan: list[Option] = []
    predicted, predicted_band = score, band
    if following is not None:
        for option in options:
            plan.append(option)
            predicted, predicted_band = score_of(changed(values, plan), scorecard)
            if _rank(predicted_band) >= _rank(following):
                break
    reachable = following is not None and _rank(predicted_band) >= _rank(following)
    return WhatIf(score, band, following, options, plan if reachable else [], predicted, predicted_band, reachable)


def changed(values: Mapping[str, float], plan: list[Option]) -> dict[str, float]:
    """The account's values with the plan's targets in place."""
    return {**values, **{o.signal: o.target for o in plan}}


def _rank(band: str | None) -> int:
    return BAND_NAMES.index(band) if band in BAND_NAMES else -1


def _next_band(band: str | None, scorecard: Scorecard) -> str | None:
    names = [name for name, _, _ in scorecard.bands]
    return names[names.index(band) + 1] if band in names and names.index(band) + 1 < len(names) else None


def sentence(result: WhatIf, lang: str) -> str:
    """ "Active users (30 days) to 17 and open high-priority tickets to 0: 68, yellow"."""
    if result.next_band is None:
        return text.say("whatif_green", lang, score=text.number(result.score, lang), band=text.band(result.band, lang))
    assert result.predicted_score is not None  # set whenever a next band exists
    if not result.reachable:
        return text.say("whatif_none", lang, score=text.number(result.predicted_score, lang))
    steps = [
        text.say(
            "whatif_step", lang, label=text.label(o.signal, lang), target=text.signal_value(o.signal, o.target, lang)
        )
        for o in result.plan
    ]
    return text.say(
        "whatif_reach",
        lang,
        changes=text.listing(steps, lang),
        score=text.number(result.predicted_score, lang),
        band=text.band(result.predicted_band, lang),
    )


def as_json(result: WhatIf, lang: str) -> dict[str, Any]:
    def option(o: Option) -> dict[str, Any]:
        return {
            "component": o.component,
            "signal": o.signal,
            "label": text.label(o.signal, lang),
            "value": o.value,
            "target": o.target,
            "gain": o.gain,
            "text": text.say(
                "whatif_step",
                lang,
                label=text.label(o.signal, lang),
                target=text.signal_value(o.signal, o.target, lang),
            ),
        }

    return {
        "health_score": result.score,
        "health_band": result.band,
        "next_band": result.next_band,
        "options": [option(o) for o in result.options],
        "plan": [option(o) for o in result.plan],
        "predicted_score": result.predicted_score,
        "predicted_band": result.predicted_band,
        "reachable": result.reachable,
        "sentence": sentence(result, lang),
    }
