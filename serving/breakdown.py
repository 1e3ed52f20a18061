"""The health score as points: how many of its 0-100 points each scorecard measure earns.

The scorecard (:mod:`training.model.scorecard_core`) is additive: with the weights of the measures
and components that have a value (missing ones are left out and the rest re-normalised),

    points_m  = W_c / sum(W present) * w_m / sum(w present in c) * score_m
    possible_m = the same with score_m = 100

and the points add up to the unrounded score. Points are kept in tenths (the score's own
precision), apportioned by largest remainder so that they add up *exactly* to the shown score;
a manual override's cap is one more line ("override"). A change between two scores is then
exactly the sum of the measures' point changes, which is what :mod:`serving.changes` reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from training.model.scorecard_core import OPS, Card, Scorecard, score_health_arrays

OVERRIDE = "override"  # the pseudo-measure holding a manual cap's effect


@dataclass(frozen=True)
class Points:
    """One measure's share of one account's score, in tenths of a point (exact integers)."""

    component: str
    signal: str
    earned: int  # tenths
    possible: int  # tenths

    @property
    def earned_points(self) -> float:
        return self.earned / 10

    @property
    def possible_points(self) -> float:
        return self.possible / 10


def card_for(values: Mapping[str, float], scorecard: Scorecard) -> Card:
    """The card that scores this account: onboarding while tenure is under the onboarding days."""
    tenure = values.get("tenure_days")
    young = tenure is not None and not np.isnan(tenure) and tenure < scorecard.onboarding_days
    return scorecard.onboarding if young else scorecard.main


def score_of(values: Mapping[str, float], scorecard: Scorecard) -> tuple[float, str | None]:
    """The scorecard's own health score and band for one account's signal values."""
    out = score_health_arrays({k: np.array([v], dtype=float) for k, v in values.items()}, 1, scorecard)
    band = out["health_band"][0]
    return float(out["health_score"][0]), None if band is None else str(band)


def breakdown(values: Mapping[str, float], scorecard: Scorecard) -> list[Points]:
    """Points earned and possible per measure of the account's card, summing exactly to its score.

    An account without any measure value has no score and no points (empty list).
    """
    score, _ = score_of(values, scorecard)
    if np.isnan(score):
        return []
    card = card_for(values, scorecard)
    raw: list[tuple[str, str, float, float]] = []  # component, signal, earned, possible (unrounded points)
    present_components = []
    for component in card.components:
        scored = [(m, float(m.score(np.array([_value(values, m.signal)]))[0])) for m in component.measures]
        scored = [(m, s) for m, s in scored if not np.isnan(s)]
        weight = sum(m.weight for m, _ in scored)
        if scored and weight > 0 and component.weight > 0:
            present_components.append((component, scored, weight))
    total_weight = sum(c.weight for c, _, _ in present_components)
    for component, scored, weight in present_components:
        for measure, s in scored:
            share = component.weight / total_weight * measure.weight / weight
            raw.append((component.name, measure.signal, share * s, share * 100))
    uncapped = round(score_of(values, replace(scorecard, overrides=()))[0] * 10)
    possible = _apportion([r[3] * 10 for r in raw], 1000)
    earned = _apportion([r[2] * 10 for r in raw], uncapped, caps=possible)
    out = [Points(c, s, e, p) for (c, s, _, _), e, p in zip(raw, earned, possible, strict=True)]
    shown = round(score * 10)
    if shown != uncapped:  # a manual rule capped the score: its effect is a line of its own
        out.append(Points(OVERRIDE, _fired_rule(values, scorecard), shown - uncapped, 0))
    return out


def _value(values: Mapping[str, float], name: str) -> float:
    value = values.get(name)
    return np.nan if value is None else float(value)


def _apportion(parts: list[float], total: int, caps: list[int] | None = None) -> list[int]:
    """Integers close to ``parts`` adding up to ``total``: floors, then +1 by largest remainder.

    With ``caps`` no integer exceeds its cap (a measure never earns more than its possible
    points); ``total <= sum(caps)`` always leaves room, so the sum stays exact.
    """
    limit = caps if caps is not None else [total] * len(parts)
    floors = [min(int(np.floor(p + 1e-9)), c) for p, c in zip(parts, limit, strict=True)]  # 12.9999999 is 13
    order = sorted(range(len(parts)), key=lambda i: (-(parts[i] - floors[i]), i))
    left = total - sum(floors)
    while left > 0:
        room = [i for i in order if floors[i] < limit[i]]
        if not room:
            break
        for i in room[:left]:
            floors[i] += 1
        left = total - sum(floors)
    return floors


def _fired_rule(values: Mapping[str, float], scorecard: Scorecard) -> str:
    fired = [
        r.when
        for r in scorecard.overrides
        if r.cap is not None and not np.isnan(v := _value(values, r.signal)) and OPS[r.op](v, r.threshold)
    ]
    return fired[-1] if fired else OVERRIDE


def components(points: list[Points]) -> list[tuple[str, int, int]]:
    """Points earned and possible per component (tenths), in card order."""
    totals: dict[str, list[int]] = {}
    for p in points:
        totals.setdefault(p.component, [0, 0])
        totals[p.component][0] += p.earned
        totals[p.component][1] += p.possible
    return [(name, e, q) for name, (e, q) in totals.items()]
