"""The scorecard file: ``scorecard.yaml`` written for a CS-ops person to read and edit, and read
back with validation; every problem is a one-line :class:`ScorecardError` naming it."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import yaml

from features.signals import SIGNALS_BY_NAME
from training.model.scorecard_core import BAND_NAMES, Card, Component, Measure, Rule, Scorecard, ScorecardError, _num

FORMAT_VERSION = 1

HEADER = """\
# Health scorecard: a 0-100 score per account, learned from the churn model (design:
# docs/health_score.md). You may edit it; `churn score` and the API read this file and refuse an
# invalid one with a one-line reason.
#
# - health = sum of component scores x component weight / 100; component weights sum to 100.
# - component score = weighted mean of its measures' scores; measure weights sum to 100 per component.
# - a measure's score: linear interpolation of its curve, [value, score] points with values
#   increasing and scores all rising or all falling (100 = healthiest); ends hold beyond the points.
# - `pin: 50` under a measure fixes its score, whatever the value.
# - missing value: the measure is left out and the other weights re-normalised.
# - overrides, applied in order: `when: "open_high_priority_tickets >= 3"` with `band: red`
#   (forces the band) and/or `cap: 40` (the score is at most 40).
# - bands: [low, high] in whole points, red from 0, green to 100, no gaps.
# - context measures (renewal timing, tenure, ARR, plan changes: they say when an account decides or
#   how big it is) sit in the financial component but together get at most 15 of the 100 points.
# - learning.left_out: signals the learning left out, and why.
"""


def dump_scorecard(scorecard: Scorecard) -> str:
    """The YAML text of a scorecard, comments first."""
    doc: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "bands": {name: [_num(low), _num(high)] for name, low, high in scorecard.bands},
        "onboarding_age_days": _num(scorecard.onboarding_days),
        "cards": {"main": _card_doc(scorecard.main), "onboarding": _card_doc(scorecard.onboarding)},
        "overrides": [
            {
                "when": r.when,
                **({"band": r.band} if r.band else {}),
                **({"cap": _num(r.cap)} if r.cap is not None else {}),
            }
            for r in scorecard.overrides
        ],
        **_plain(dict(scorecard.info)),
    }
    return (
        HEADER
        + "\n"
        + str(yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=120, allow_unicode=True))
    )


def _card_doc(card: Card) -> dict[str, Any]:
    doc: dict[str, Any] = {"note": card.note} if card.note else {}
    doc["components"] = [
        {
            "name": c.name,
            "weight": _num(c.weight),
            "measures": [
                {
                    "signal": m.signal,
                    "weight": _num(m.weight),
                    "curve": [[_num(v), _num(s)] for v, s in m.curve],
                    **({"pin": _num(m.pin)} if m.pin is not None else {}),
                }
                for m in c.measures
            ],
        }
        for c in card.components
    ]
    return doc


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 4)
    return value


def load_scorecard(text: str) -> Scorecard:
    """Parse and validate scorecard YAML text; :class:`ScorecardError` names the first problem."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ScorecardError(f"scorecard is not valid YAML{where}") from exc
    return parse_scorecard(doc)


def parse_scorecard(doc: Any) -> Scorecard:
    """Validate a scorecard document (the YAML as Python objects) and build the scorecard."""
    if not isinstance(doc, Mapping):
        raise ScorecardError("scorecard: expected a mapping with bands, cards and overrides")
    cards = _need(doc, "cards", Mapping, "scorecard")
    main = _parse_card(_need(cards, "main", Mapping, "cards"), "main")
    onboarding = _parse_card(cards["onboarding"], "onboarding") if "onboarding" in cards else main
    bands = _parse_bands(_need(doc, "bands", Mapping, "scorecard"))
    age = doc.get("onboarding_age_days", 90)
    if not _is_number(age) or age < 0:
        raise ScorecardError(f"onboarding_age_days must be a number of days >= 0, not {age!r}")
    rules = tuple(_parse_rule(r, i, {b[0] for b in bands}) for i, r in enumerate(doc.get("overrides") or [], 1))
    known = ("format_version", "bands", "onboarding_age_days", "cards", "overrides")
    info = {k: v for k, v in doc.items() if k not in known}
    return Scorecard(main, onboarding, bands, float(age), rules, info)


def _need(doc: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in doc:
        raise ScorecardError(f"{where}: {key} is missing")
    if not isinstance(doc[key], kind):
        raise ScorecardError(f"{where}: {key} has the wrong shape")
    return doc[key]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _parse_card(doc: Any, card: str) -> Card:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("components"), list) or not doc["components"]:
        raise ScorecardError(f"card {card}: components must be a non-empty list")
    components, seen = [], set()
    for comp in doc["components"]:
        name = comp.get("name") if isinstance(comp, Mapping) else None
        where = f"card {card}, component {name}"
        if not isinstance(name, str) or name in seen:
            raise ScorecardError(f"card {card}: every component needs a unique name (got {name!r})")
        seen.add(name)
        weight = comp.get("weight")
        if not _is_number(weight) or weight < 0:
            raise ScorecardError(f"{where}: weight must be a number >= 0, not {weight!r}")
        measures = comp.get("measures")
        if not isinstance(measures, list) or not measures:
            raise ScorecardError(f"{where}: measures must be a non-empty list")
        parsed = tuple(_parse_measure(m, where) for m in measures)
        _check_sum([m.weight for m in parsed], f"{where}: measure weights")
        components.append(Component(name, float(weight), parsed))
    _check_sum([c.weight for c in components], f"card {card}: component weights")
    signals = [m.signal for c in components for m in c.measures]
    dup = sorted({s for s in signals if signals.count(s) > 1})
    if dup:
        raise ScorecardError(f"card {card}: signal {dup[0]} appears in more than one measure")
    return Card(tuple(components), str(doc.get("note") or ""))


def _check_sum(weights: Sequence[float], what: str) -> None:
    total = sum(weights)
    if abs(total - 100) > 0.05:
        raise ScorecardError(f"{what} sum to {_num(round(total, 2))}, not 100")


def _parse_measure(doc: Any, where: str) -> Measure:
    signal = doc.get("signal") if isinstance(doc, Mapping) else None
    if signal not in SIGNALS_BY_NAME:
        raise ScorecardError(f"{where}: unknown signal {signal!r} (see `churn features --list`)")
    where = f"{where}, measure {signal}"
    weight = doc.get("weight")
    if not _is_number(weight) or weight < 0:
        raise ScorecardError(f"{where}: weight must be a number >= 0, not {weight!r}")
    pin = doc.get("pin")
    if pin is not None and (not _is_number(pin) or not 0 <= pin <= 100):
        raise ScorecardError(f"{where}: pin must be a score from 0 to 100, not {pin!r}")
    curve = doc.get("curve")
    if (
        not isinstance(curve, list)
        or len(curve) < 2
        or not all(isinstance(p, list) and len(p) == 2 and all(_is_number(v) for v in p) for p in curve)
    ):
        raise ScorecardError(f"{where}: curve must be a list of at least two [value, score] number pairs")
    values, scores = [float(p[0]) for p in curve], [float(p[1]) for p in curve]
    if any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise ScorecardError(f"{where}: curve values must be strictly increasing")
    if any(not 0 <= s <= 100 for s in scores):
        raise ScorecardError(f"{where}: curve scores must lie between 0 and 100")
    steps = np.diff(scores)
    if (steps > 0).any() and (steps < 0).any():
        raise ScorecardError(f"{where}: curve is not monotone (scores must all rise or all fall)")
    return Measure(signal, float(weight), tuple(zip(values, scores, strict=True)), None if pin is None else float(pin))


def _parse_bands(doc: Mapping[str, Any]) -> tuple[tuple[str, float, float], ...]:
    if sorted(map(str, doc)) != sorted(BAND_NAMES):
        raise ScorecardError(f"bands must be red, yellow and green, not {', '.join(map(str, doc))}")
    bands, expected_low = [], 0.0
    for name in BAND_NAMES:
        edges = doc[name]
        if not isinstance(edges, list) or len(edges) != 2 or not all(_is_number(e) for e in edges):
            raise ScorecardError(f"bands: {name} must be [low, high]")
        low, high = float(edges[0]), float(edges[1])
        if low != expected_low or high < low:
            raise ScorecardError(
                f"bands: {name} is [{_num(low)}, {_num(high)}]; it must start at {_num(expected_low)} "
                "and not end below its start (no gaps or overlaps)"
            )
        bands.append((name, low, high))
        expected_low = high + 1
    if bands[-1][2] != 100:
        raise ScorecardError(f"bands: green must end at 100, not {_num(bands[-1][2])}")
    return tuple(bands)


_WHEN = re.compile(r"^\s*([a-z_0-9]+)\s*(>=|<=|==|!=|>|<)\s*(-?[0-9.]+(?:e-?[0-9]+)?)\s*$")


def _parse_rule(doc: Any, index: int, bands: set[str]) -> Rule:
    where = f"override {index}"
    when = doc.get("when") if isinstance(doc, Mapping) else None
    match = _WHEN.match(when) if isinstance(when, str) else None
    if match is None:
        raise ScorecardError(f'{where}: when must read like "open_high_priority_tickets >= 3", not {when!r}')
    signal, op, number = match.groups()
    if signal not in SIGNALS_BY_NAME:
        raise ScorecardError(f"{where}: unknown signal {signal!r} (see `churn features --list`)")
    band, cap = doc.get("band"), doc.get("cap")
    if band is None and cap is None:
        raise ScorecardError(f"{where}: give band (red/yellow/green) and/or cap (a score)")
    if band is not None and band not in bands:
        raise ScorecardError(f"{where}: band must be one of {', '.join(BAND_NAMES)}, not {band!r}")
    if cap is not None and (not _is_number(cap) or not 0 <= cap <= 100):
        raise ScorecardError(f"{where}: cap must be a score from 0 to 100, not {cap!r}")
    return Rule(signal, op, float(number), band, None if cap is None else float(cap))
