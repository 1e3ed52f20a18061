"""The health score: a transparent 0-100 scorecard whose curves and weights come from the churn model.

Shape (DESIGN.md section 6)::

    health = sum over components c of  W_c * component_c / 100        (W_c sum to 100)
    component_c = weighted mean over its measures m of  w_m * score_m   (w_m sum to 100 per component)
    score_m = the measure's curve at the signal's value                 (0 riskiest .. 100 healthiest)

How it is learned (:func:`learn_scorecard`), on the churn model's *training* snapshots:

- **curves**: for every signal of the usage, support, sentiment, financial and relationship
  groups, the churn model's SHAP contribution (``pred_contrib=True``, log-odds of churn) is
  fitted against the signal's value with an isotonic regression (increasing or decreasing,
  whichever fits better), so each measure's direction and shape come from data, not from the
  catalog. The fit is rescaled so the least risky value scores 100 and the riskiest 0, and is
  stored as a few (value, score) breakpoints chosen greedily to follow the fit; scoring
  interpolates linearly between them and holds the end scores beyond them.
- **weights**: each measure's share of the model's mean |SHAP| (its share of the model's
  attention). Chosen over a non-negative logistic fit on the measure scores because it is read
  straight off the model the card explains, needs no second fit (nor a fold to keep it honest),
  is non-negative by construction, and keeps correlated measures (active users 7/30/90 days)
  side by side instead of zeroing all but one. Measures under ``min_measure_share`` of the
  attention are left out so the card stays short; a component's weight is the sum of its
  measures' shares.
- ``engagement_score`` is left out: it is itself a hand-weighted 0-100 sum of usage events, so
  putting it in would hide typed weights inside a learned card and count usage twice.
- **cold start**: accounts younger than ``onboarding_days`` (``tenure_days``) get an onboarding
  card learned the same way on young training snapshots only (without ``tenure_days``); with
  too few of them the onboarding card is the main card, with a note saying so.

Missing values: a measure whose signal is missing for a row is left out of that row's
component mean (the remaining measure weights are re-normalised), and a component with no
measure is left out of the health score (the remaining component weights are re-normalised);
``measures_used`` says how many measures a score rests on. A pinned measure always counts.
A row with no measure at all gets no score (NaN, band None).

The card is written as ``scorecard.yaml`` (:func:`dump_scorecard`) for a CS-ops person to read
and edit, and read back with validation (:func:`parse_scorecard`): one-line errors name the
problem. :func:`score_health` is the pure scorer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.isotonic import IsotonicRegression

from features.signals import SIGNALS, SIGNALS_BY_NAME

COMPONENTS = ("usage", "support", "sentiment", "financial", "relationship")
LEFT_OUT = ("engagement_score",)
BAND_NAMES = ("red", "yellow", "green")
OPS = {">=": np.greater_equal, ">": np.greater, "<=": np.less_equal, "<": np.less, "==": np.equal, "!=": np.not_equal}
SCORE_COLUMNS = ("health_score", "health_band", "measures_used", "onboarding", "override")
FORMAT_VERSION = 1


class ScorecardError(ValueError):
    """The scorecard file is not valid; the message names the problem in one line."""


@dataclass(frozen=True)
class ScorecardConfig:
    """How the scorecard is learned and banded."""

    onboarding_days: int = 90  # accounts younger than this (tenure_days) use the onboarding card
    bands: tuple[float, float] = (40, 75)  # upper edges of red and yellow; green up to 100
    breakpoints: int = 7  # (value, score) points per curve, at most
    min_measure_share: float = 0.002  # measures with less of the model's mean |SHAP| are left out
    min_onboarding_rows: int = 500
    min_onboarding_churners: int = 30
    max_shap_rows: int = 20_000  # SHAP on a seeded sample of this many training snapshots per card
    exclude: tuple[str, ...] = ()  # signals never to use as measures


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
        return np.where(np.isnan(values), np.nan, np.interp(np.nan_to_num(values), xs, ys))


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
    tenure = _column(frame, "tenure_days")
    young = np.nan_to_num(tenure, nan=np.inf) < scorecard.onboarding_days
    score = np.full(len(frame), np.nan)
    used = np.zeros(len(frame), dtype=int)
    for card, rows in ((scorecard.main, ~young), (scorecard.onboarding, young)):
        if rows.any():
            score[rows], used[rows] = _card_score(frame[rows], card)
    score = np.round(score, 1)
    override = np.full(len(frame), None, dtype=object)
    forced = np.full(len(frame), None, dtype=object)
    for rule in scorecard.overrides:
        values = _column(frame, rule.signal)
        fires = ~np.isnan(values) & OPS[rule.op](np.nan_to_num(values), rule.threshold) & ~np.isnan(score)
        if rule.cap is not None:
            score = np.where(fires, np.minimum(score, rule.cap), score)
        if rule.band is not None:
            forced[fires] = rule.band
        override[fires] = rule.when
    band = scorecard.band(score)
    band = np.where(forced != None, forced, band)  # noqa: E711 - elementwise on an object array
    return pd.DataFrame(
        {"health_score": score, "health_band": band, "measures_used": used, "onboarding": young, "override": override},
        index=frame.index,
    )


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)


def _card_score(frame: pd.DataFrame, card: Card) -> tuple[np.ndarray, np.ndarray]:
    n = len(frame)
    total, weight, used = np.zeros(n), np.zeros(n), np.zeros(n, dtype=int)
    for component in card.components:
        scores = np.vstack([m.score(_column(frame, m.signal)) for m in component.measures] or [np.full(n, np.nan)])
        w = np.array([m.weight for m in component.measures] or [0.0])[:, None] * ~np.isnan(scores)
        present = w.sum(axis=0)
        comp = np.divide((np.nan_to_num(scores) * w).sum(axis=0), present, out=np.zeros(n), where=present > 0)
        has = (present > 0) & (component.weight > 0)
        total += np.where(has, component.weight * comp, 0.0)
        weight += np.where(has, component.weight, 0.0)
        used += (~np.isnan(scores)).sum(axis=0) if component.measures else 0
    return np.divide(total, weight, out=np.full(n, np.nan), where=weight > 0), used


# --- learning ---------------------------------------------------------------------------------


def shap_contributions(booster: Any, x: pd.DataFrame) -> pd.DataFrame:
    """Per-row SHAP contributions (log-odds of churn) of every feature, from LightGBM's TreeSHAP."""
    contrib = np.asarray(booster.predict(x, pred_contrib=True, num_iteration=booster.best_iteration), dtype=float)
    return pd.DataFrame(contrib[:, :-1], columns=x.columns, index=x.index)


def candidate_signals(columns: Sequence[str], exclude: Sequence[str] = ()) -> list[str]:
    """Catalog signals of the scorecard's components that the model saw, in catalog order."""
    return [s.name for s in SIGNALS if s.group in COMPONENTS and s.name in columns
            and s.name not in LEFT_OUT and s.name not in exclude]


def learn_card(x: pd.DataFrame, contrib: pd.DataFrame, config: ScorecardConfig, exclude: Sequence[str] = ()) -> Card:
    """One card from feature values ``x`` and their SHAP contributions ``contrib`` (same rows)."""
    importance, curves = {}, {}
    for name in candidate_signals(list(x.columns), exclude):
        curve = fit_curve(x[name].to_numpy(dtype=float), contrib[name].to_numpy(dtype=float), config.breakpoints)
        if curve is not None:
            curves[name] = curve
            importance[name] = float(np.mean(np.abs(contrib[name].to_numpy(dtype=float))))
    total = sum(importance.values())
    if total <= 0:
        raise ValueError("the churn model gives no signal of the scorecard's components any weight")
    share = {n: v / total for n, v in importance.items() if v / total >= config.min_measure_share}
    groups = {c: [n for n in share if SIGNALS_BY_NAME[n].group == c] for c in COMPONENTS}
    groups = {c: names for c, names in groups.items() if names}
    comp_weights = _round_to_total([sum(share[n] for n in names) for names in groups.values()], 100, 0)
    components = []
    for (name, names), weight in zip(groups.items(), comp_weights, strict=True):
        if weight <= 0:
            continue
        inner = _round_to_total([share[n] for n in names], 100, 1)
        measures = tuple(Measure(n, w, curves[n]) for n, w in zip(names, inner, strict=True))
        components.append(Component(name, weight, measures))
    if sum(c.weight for c in components) != 100:  # a component rounded to 0: spread again
        weights = _round_to_total([c.weight for c in components], 100, 0)
        components = [replace(c, weight=w) for c, w in zip(components, weights, strict=True)]
    return Card(tuple(components))


def fit_curve(values: np.ndarray, contrib: np.ndarray, points: int) -> tuple[tuple[float, float], ...] | None:
    """Isotonic fit of SHAP contribution on value, as at most ``points`` (value, score) breakpoints.

    The direction is the one that fits better; the least risky end scores 100 and the riskiest
    0. A signal with at most 30 distinct values (counts, 0-10 answers) keeps them all, so a rare
    value such as 3 open high-priority tickets still shapes the curve; a continuous one is read
    at 101 quantiles from 0.5% to 99.5% so outliers do not stretch it. None when the signal
    barely varies or the fit is flat.
    """
    mask = ~np.isnan(values) & ~np.isnan(contrib)
    x, c = values[mask], contrib[mask]
    if len(x) < 50 or np.unique(x).size < 2:
        return None
    fits = [IsotonicRegression(increasing=inc, out_of_bounds="clip").fit(x, c) for inc in (True, False)]
    iso = min(fits, key=lambda f: float(np.sum((f.predict(x) - c) ** 2)))
    distinct = np.unique(x)
    grid = distinct if distinct.size <= 30 else np.unique(np.quantile(x, np.linspace(0.005, 0.995, 101)))
    if grid.size < 2:
        return None
    risk = iso.predict(grid)
    low, high = float(risk.min()), float(risk.max())
    if high - low < 1e-4:
        return None
    score = 100 * (high - risk) / (high - low)
    cells = np.searchsorted((grid[1:] + grid[:-1]) / 2, x)  # each row's nearest grid point
    weight = np.bincount(cells, minlength=grid.size).astype(float) + 1e-9
    chosen = _greedy_knots(grid, score, weight, points)
    return _tidy_curve([(float(grid[i]), float(score[i])) for i in chosen])


def _greedy_knots(grid: np.ndarray, score: np.ndarray, weight: np.ndarray, points: int) -> list[int]:
    """Indices of the grid to keep: both ends, then whichever point cuts the weighted error most."""
    chosen = [0, grid.size - 1]
    while len(chosen) < min(points, grid.size):
        best, best_err = None, float(np.sum(weight * np.abs(np.interp(grid, grid[chosen], score[chosen]) - score)))
        for i in range(1, grid.size - 1):
            if i in chosen:
                continue
            knots = sorted([*chosen, i])
            err = float(np.sum(weight * np.abs(np.interp(grid, grid[knots], score[knots]) - score)))
            if err < best_err - 1e-9:
                best, best_err = i, err
        if best is None:
            break
        chosen = sorted([*chosen, best])
    return chosen


def _tidy_curve(points: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """Round values to 4 significant digits and scores to 0.1, keeping values strictly increasing."""
    out: list[tuple[float, float]] = []
    for value, score in points:
        v = float(f"{value:.4g}")
        if out and v <= out[-1][0]:
            continue
        out.append((v, round(score, 1)))
    return tuple(out)


def _round_to_total(shares: Sequence[float], total: float, decimals: int) -> list[float]:
    """Scale ``shares`` to ``total`` and round (largest remainder) so the rounded parts still sum to it."""
    unit = 10.0 ** -decimals
    raw = np.asarray(shares, dtype=float) / max(sum(shares), 1e-12) * total / unit
    floor = np.floor(raw)
    left = int(round(total / unit - floor.sum()))
    order = np.argsort(-(raw - floor), kind="stable")
    floor[order[:left]] += 1
    return [round(float(v) * unit, decimals) for v in floor]


def learn_scorecard(
    x: pd.DataFrame, y: np.ndarray, booster: Any, config: ScorecardConfig = ScorecardConfig(), seed: int = 0,
    info: Mapping[str, Any] | None = None,
) -> Scorecard:
    """The main and onboarding cards from the churn model and its training snapshots ``x`` (labels ``y``)."""
    rng = np.random.default_rng(seed)

    def sample(rows: pd.DataFrame) -> pd.DataFrame:
        if len(rows) <= config.max_shap_rows:
            return rows
        return rows.iloc[np.sort(rng.choice(len(rows), config.max_shap_rows, replace=False))]

    main_x = sample(x)
    main = learn_card(main_x, shap_contributions(booster, main_x), config, exclude=config.exclude)
    tenure = x["tenure_days"].to_numpy(dtype=float) if "tenure_days" in x else np.full(len(x), np.nan)
    is_young = np.nan_to_num(tenure, nan=np.inf) < config.onboarding_days
    young, churners = x[is_young], int(np.nansum(np.asarray(y, dtype=float)[is_young]))
    if len(young) < config.min_onboarding_rows or churners < config.min_onboarding_churners:
        onboarding = replace(main, note=f"only {len(young)} training snapshots younger than {config.onboarding_days} "
                                        f"days ({churners} churned): the onboarding card is the main card")
    else:
        young_x = sample(young)
        exclude = (*config.exclude, "tenure_days")
        card = learn_card(young_x, shap_contributions(booster, young_x), config, exclude=exclude)
        onboarding = replace(card, note=f"learned on {len(young)} training snapshots younger than "
                                        f"{config.onboarding_days} days")
    low, mid = config.bands
    bands = (("red", 0.0, float(low)), ("yellow", float(low) + 1, float(mid)), ("green", float(mid) + 1, 100.0))
    return Scorecard(main, onboarding, bands, config.onboarding_days, (), dict(info or {}))


# --- the file ---------------------------------------------------------------------------------

HEADER = """\
# Health scorecard: a 0-100 score per account, learned from the churn model (see README,
# "Health score"). You may edit it; `churn score` and the API read this file and refuse an
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
"""


def dump_scorecard(scorecard: Scorecard) -> str:
    """The YAML text of a scorecard, comments first."""
    doc: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "bands": {name: [_num(low), _num(high)] for name, low, high in scorecard.bands},
        "onboarding_age_days": _num(scorecard.onboarding_days),
        "cards": {"main": _card_doc(scorecard.main), "onboarding": _card_doc(scorecard.onboarding)},
        "overrides": [{"when": r.when, **({"band": r.band} if r.band else {}),
                       **({"cap": _num(r.cap)} if r.cap is not None else {})} for r in scorecard.overrides],
        **_plain(dict(scorecard.info)),
    }
    return HEADER + "\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=120, allow_unicode=True)


def _card_doc(card: Card) -> dict[str, Any]:
    doc: dict[str, Any] = {"note": card.note} if card.note else {}
    doc["components"] = [
        {"name": c.name, "weight": _num(c.weight), "measures": [
            {"signal": m.signal, "weight": _num(m.weight), "curve": [[_num(v), _num(s)] for v, s in m.curve],
             **({"pin": _num(m.pin)} if m.pin is not None else {})} for m in c.measures]}
        for c in card.components
    ]
    return doc


def _num(value: float) -> float | int:
    value = float(value)
    return int(value) if value.is_integer() else value


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
    if not isinstance(curve, list) or len(curve) < 2 or not all(
            isinstance(p, list) and len(p) == 2 and all(_is_number(v) for v in p) for p in curve):
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
            raise ScorecardError(f"bands: {name} is [{_num(low)}, {_num(high)}]; it must start at {_num(expected_low)} "
                                 "and not end below its start (no gaps or overlaps)")
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
        raise ScorecardError(f"{where}: when must read like \"open_high_priority_tickets >= 3\", not {when!r}")
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


# --- backtest ---------------------------------------------------------------------------------


def backtest(scores: pd.DataFrame, y: np.ndarray, reference: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """Churn ranking power of the health score on the test snapshots, beside ``reference`` scores.

    ``scores`` is :func:`score_health` output for the test rows, ``y`` their churn labels,
    ``reference`` maps a name (model, equal_weight) to its test metrics (roc_auc, lift_top_decile).
    """
    from sklearn.metrics import roc_auc_score

    from training.metrics import top_decile

    y = np.asarray(y, dtype=float)
    health = scores["health_score"].to_numpy(dtype=float)
    risk = 100 - np.nan_to_num(health, nan=50.0)  # no score: the middle
    auc = float(roc_auc_score(y, risk)) if len(np.unique(y)) == 2 else float("nan")
    out: dict[str, Any] = {
        "n": int(len(y)),
        "scorecard": {"roc_auc": auc, "lift_top_decile": top_decile(y, risk)["lift_top_decile"]},
    }
    for name, metrics in reference.items():
        out[name] = {k: float(metrics.get(k, float("nan"))) for k in ("roc_auc", "lift_top_decile")}
    if "model" in reference and reference["model"].get("roc_auc"):
        out["auc_ratio_to_model"] = auc / float(reference["model"]["roc_auc"])
    bands = scores["health_band"].to_numpy(dtype=object)
    out["bands"] = {name: {"n": int((bands == name).sum()),
                           "churn_rate": float(y[bands == name].mean()) if (bands == name).any() else float("nan")}
                    for name in BAND_NAMES}
    young = scores["onboarding"].to_numpy(dtype=bool)
    out["onboarding"] = {"n": int(young.sum()), "churn_rate": float(y[young].mean()) if young.any() else float("nan")}
    out["measures_used_mean"] = float(scores["measures_used"].mean()) if len(scores) else float("nan")
    return out
