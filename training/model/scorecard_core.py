"""What a health scorecard is and how it scores a frame: the data classes and the pure scorer.

Shape (DESIGN.md section 6)::

    health = sum over components c of  W_c * component_c / 100        (W_c sum to 100)
    component_c = weighted mean over its measures m of  w_m * score_m   (w_m sum to 100 per component)
    score_m = the measure's curve at the signal's value                 (0 riskiest .. 100 healthiest)

Missing values: a measure whose signal is missing for a row is left out of that row's
component mean (the remaining measure weights are re-normalised), and a component with no
measure is left out of the health score (the remaining component weights are re-normalised);
``measures_used`` says how many measures a score rests on. A pinned measure always counts.
A row with no measure at all gets no score (NaN, band None).

How a card is learned is :mod:`training.scorecard`; the YAML file is :mod:`training.model.scorecard_file`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

COMPONENTS = ("usage", "support", "sentiment", "financial", "relationship")
BAND_NAMES = ("red", "yellow", "green")
OPS = {">=": np.greater_equal, ">": np.greater, "<=": np.less_equal, "<": np.less, "==": np.equal, "!=": np.not_equal}
SCORE_COLUMNS = ("health_score", "health_band", "measures_used", "onboarding", "override")


class ScorecardError(ValueError):
    """The scorecard file is not valid; the message names the problem in one line."""


@dataclass(frozen=True)
class Measure:
    """One signal mapped to 0-100 by a monotone curve of (value, score) breakpoints."""

    signal: str
    weight: float  # within its component; a component's weights sum to 100
    curve: tuple[tuple[float, float], ...]
    pin: float | None = None  # a fixed score set by a person, whatever the value

    def score(self, values: np.ndarray) -> np.ndarray:
        """Scores in 0-100, NaN where the value is missing (a pinned measure is never missing)."""
        if self.pin is not None:
            return np.full(len(values), float(self.pin))
        xs, ys = zip(*self.curve, strict=True)
        missing = np.isnan(values)
        return np.where(missing, np.nan, np.interp(np.where(missing, 0.0, values), xs, ys))


@dataclass(frozen=True)
class Component:
    name: str
    weight: float  # the card's component weights sum to 100
    measures: tuple[Measure, ...]


@dataclass(frozen=True)
class Card:
    components: tuple[Component, ...]
    note: str = ""

    @property
    def signals(self) -> list[str]:
        return [m.signal for c in self.components for m in c.measures]


@dataclass(frozen=True)
class Rule:
    """A manual override: ``when: "<signal> <op> <number>"`` then ``band`` and/or ``cap``."""

    signal: str
    op: str
    threshold: float
    band: str | None = None
    cap: float | None = None

    @property
    def when(self) -> str:
        return f"{self.signal} {self.op} {_num(self.threshold)}"


@dataclass(frozen=True)
class Scorecard:
    main: Card
    onboarding: Card
    bands: tuple[tuple[str, float, float], ...] = (("red", 0, 40), ("yellow", 41, 75), ("green", 76, 100))
    onboarding_days: float = 90
    overrides: tuple[Rule, ...] = ()
    info: Mapping[str, Any] = field(default_factory=dict)  # learned_from, backtest: for people, not scoring

    @property
    def signals(self) -> tuple[str, ...]:
        """Every signal the scorecard reads: tenure (which card), the cards' measures, the overrides."""
        names = ["tenure_days", *self.main.signals, *self.onboarding.signals, *(r.signal for r in self.overrides)]
        return tuple(dict.fromkeys(names))

    def band(self, scores: np.ndarray) -> np.ndarray:
        """Band names by upper edge: red up to 40, yellow above 40 up to 75, green above 75 (defaults)."""
        out = np.full(len(scores), None, dtype=object)
        for name, _, high in reversed(self.bands):
            out[scores <= high] = name
        out[np.isnan(scores)] = None
        return out


# --- scoring ----------------------------------------------------------------------------------


def score_health(frame: pd.DataFrame, scorecard: Scorecard) -> pd.DataFrame:
    """Score each row of a signal frame; pure, same index as ``frame``.

    Returns ``health_score`` (0-100, one decimal), ``health_band``, ``measures_used``,
    ``onboarding`` (the row used the onboarding card) and ``override`` (the ``when`` of the
    last manual rule that fired, else None). A signal column absent from ``frame`` counts as
    missing on every row; a missing ``tenure_days`` means the main card.
    """
    values = {name: _column(frame, name) for name in scorecard.signals}
    return pd.DataFrame(score_health_arrays(values, len(frame), scorecard), index=frame.index)


def score_health_arrays(values: Mapping[str, np.ndarray], n: int, scorecard: Scorecard) -> dict[str, np.ndarray]:
    """:func:`score_health` on float arrays by signal name (an absent name counts as missing).

    The API scores a few rows at a time, where a pandas column costs more than the arithmetic.
    """

    def column(name: str) -> np.ndarray:
        found = values.get(name)
        return np.full(n, np.nan) if found is None else np.asarray(found, dtype=float)

    young = np.nan_to_num(column("tenure_days"), nan=np.inf) < scorecard.onboarding_days
    score = np.full(n, np.nan)
    used = np.zeros(n, dtype=int)
    for card, rows in ((scorecard.main, ~young), (scorecard.onboarding, young)):
        if rows.any():
            score[rows], used[rows] = _card_score({m: column(m)[rows] for m in card.signals}, int(rows.sum()), card)
    score = np.round(score, 1)
    override = np.full(n, None, dtype=object)
    forced = np.full(n, None, dtype=object)
    for rule in scorecard.overrides:
        signal = column(rule.signal)
        fires = ~np.isnan(signal) & OPS[rule.op](np.nan_to_num(signal), rule.threshold) & ~np.isnan(score)
        if rule.cap is not None:
            score = np.where(fires, np.minimum(score, rule.cap), score)
        if rule.band is not None:
            forced[fires] = rule.band
        override[fires] = rule.when
    band = scorecard.band(score)
    band = np.where(forced != None, forced, band)  # noqa: E711 - elementwise on an object array
    return {
        "health_score": score,
        "health_band": band,
        "measures_used": used,
        "onboarding": young,
        "override": override,
    }


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return np.asarray(pd.to_numeric(frame[name], errors="coerce"), dtype=float)


def _card_score(values: Mapping[str, np.ndarray], n: int, card: Card) -> tuple[np.ndarray, np.ndarray]:
    total, weight, used = np.zeros(n), np.zeros(n), np.zeros(n, dtype=int)
    for component in card.components:
        scores = np.vstack([m.score(values[m.signal]) for m in component.measures] or [np.full(n, np.nan)])
        w = np.array([m.weight for m in component.measures] or [0.0])[:, None] * ~np.isnan(scores)
        present = w.sum(axis=0)
        comp = np.divide((np.nan_to_num(scores) * w).sum(axis=0), present, out=np.zeros(n), where=present > 0)
        has = (present > 0) & (component.weight > 0)
        total += np.where(has, component.weight * comp, 0.0)
        weight += np.where(has, component.weight, 0.0)
        used += (~np.isnan(scores)).sum(axis=0) if component.measures else 0
    return np.divide(total, weight, out=np.full(n, np.nan), where=weight > 0), used


def _num(value: float) -> float | int:
    """A number as people write it: 40, not 40.0."""
    value = float(value)
    return int(value) if value.is_integer() else value
