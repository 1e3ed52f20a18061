"""The health score: a transparent 0-100 scorecard whose curves and weights come from the churn model.

The card's shape and the pure scorer are :mod:`training.model.scorecard_core`, the YAML file
:mod:`training.model.scorecard_file`; both are re-exported here. This module learns a card
(:func:`learn_scorecard`) on the churn model's *training* snapshots and backtests it.

- **timing is a small part**: the catalog's context signals (``direction`` 0:
  ``days_to_renewal``, ``days_since_last_renewal``, ``tenure_days``, ``arr``, ``plan_changes``)
  say when an account decides or how big it is rather than how healthy it is. They are measures
  (DESIGN.md puts days to renewal in the financial component), but together they get at most
  ``max_context_points`` (15) of the 100 points. Uncapped, ``days_to_renewal`` took 55-63 points,
  58% of snapshots were red, and so was every snapshot within a month of renewal, i.e. every
  monthly plan; capped at 15, an account renewing next month can still reach 85 and be green.
  Measured on the quality-test world (docs/health_score.md has every alternative): with the
  cap the card keeps 0.91 of the model's AUC over all test snapshots and 0.99 on the snapshots
  facing a renewal inside the horizon (:func:`exposed_rows`; on the generated worlds no other
  snapshot churns); red holds 12% of snapshots and churns 21x as often as green.
  ``ScorecardConfig(context_measures=False)`` leaves timing out entirely (0.84 over all
  snapshots: no timing-free score reaches 0.90 there).
- **curves**: each signal's SHAP contribution (:mod:`training.model.treeshap`, log-odds of churn) is fitted
  against its value by isotonic regression, increasing or decreasing, whichever fits better.
  So direction and shape come from data. The fit is rescaled to 100 at the least risky value and
  0 at the riskiest, and kept as a few (value, score) breakpoints.
- **direction check**: a curve that runs against the catalog's direction is left out and
  listed under ``learning.left_out`` in the file. Such a curve is the model's correction for a
  correlated signal (``active_users_90d`` given ``active_users_7d``), and read alone it tells
  a CSM the opposite of the truth.
- **weights**: each measure's share of the model's mean |SHAP| (no second fit, non-negative by
  construction, correlated measures side by side), capped at ``max_measure_points`` (30) of the
  100 points. The excess goes to the other measures in proportion to their shares. Measures
  under ``min_measure_share`` are left out. A component's weight is the sum of its measures'.
  A non-negative logistic fit on the measure scores was measured too, and was no better
  (docs/health_score.md).
- ``engagement_score`` is left out: it is itself a hand-weighted sum of usage events.
- **cold start**: accounts younger than ``onboarding_days`` get an onboarding card learned the
  same way on young training snapshots. With too few of them it is the main card, and a note
  says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from features.signals import SIGNALS, SIGNALS_BY_NAME
from training.model.scorecard_core import (
    BAND_NAMES,
    COMPONENTS,
    SCORE_COLUMNS,
    Card,
    Component,
    Measure,
    Rule,
    Scorecard,
    ScorecardError,
    score_health,
)
from training.model.scorecard_file import dump_scorecard, load_scorecard, parse_scorecard
from training.model.treeshap import TreeShap
from training.scorecard_backtest import backtest, exposed_rows

__all__ = [  # the scorecard's public API, whichever of its modules holds each part
    "BAND_NAMES",
    "COMPONENTS",
    "CONTEXT_SIGNALS",
    "SCORE_COLUMNS",
    "Card",
    "Component",
    "Measure",
    "Rule",
    "Scorecard",
    "ScorecardConfig",
    "ScorecardError",
    "backtest",
    "candidate_signals",
    "cap_shares",
    "curve_direction",
    "dump_scorecard",
    "exposed_rows",
    "fit_curve",
    "learn_card",
    "learn_scorecard",
    "load_scorecard",
    "parse_scorecard",
    "score_health",
    "shap_contributions",
]

LEFT_OUT = ("engagement_score",)
CONTEXT_SIGNALS = tuple(s.name for s in SIGNALS if s.direction == 0)  # when and how big, not how healthy


@dataclass(frozen=True)
class ScorecardConfig:
    """How the scorecard is learned and banded."""

    onboarding_days: int = 90  # accounts younger than this (tenure_days) use the onboarding card
    bands: tuple[float, float] = (40, 75)  # upper edges of red and yellow; green up to 100
    breakpoints: int = 7  # (value, score) points per curve, at most
    min_measure_share: float = 0.002  # measures with less of the kept measures' mean |SHAP| are left out
    max_measure_points: float = 30.0  # no measure gets more of the 100 points (to rounding)
    context_measures: bool = True  # False: renewal timing, tenure, ARR and plan changes are not measures
    max_context_points: float = 15.0  # the context measures together get at most this many of the 100 points
    min_onboarding_rows: int = 500
    min_onboarding_churners: int = 30
    max_shap_rows: int = 20_000  # SHAP on a seeded sample of this many training snapshots per card
    exclude: tuple[str, ...] = ()  # signals never to use as measures


def shap_contributions(booster: Any, x: pd.DataFrame) -> pd.DataFrame:
    """Per-row SHAP contributions (log-odds of churn) of every feature: exact TreeSHAP at the best iteration."""
    contrib = TreeShap.from_booster(booster).contributions(x)
    return pd.DataFrame(contrib[:, :-1], columns=x.columns, index=x.index)


def candidate_signals(columns: Sequence[str], exclude: Sequence[str] = ()) -> list[str]:
    """Catalog signals of the scorecard's components that the model saw, in catalog order."""
    return [
        s.name
        for s in SIGNALS
        if s.group in COMPONENTS and s.name in columns and s.name not in LEFT_OUT and s.name not in exclude
    ]


def learn_card(
    x: pd.DataFrame, contrib: pd.DataFrame, config: ScorecardConfig, exclude: Sequence[str] = ()
) -> tuple[Card, dict[str, str]]:
    """One card from feature values ``x`` and their SHAP contributions ``contrib`` (same rows),
    and the signals left out with the reason."""
    importance, curves, left_out = {}, {}, {}
    for name in candidate_signals(list(x.columns), exclude):
        curve = fit_curve(x[name].to_numpy(dtype=float), contrib[name].to_numpy(dtype=float), config.breakpoints)
        if curve is None:
            continue
        expected = SIGNALS_BY_NAME[name].direction
        if expected and curve_direction(curve) != expected:
            left_out[name] = "learned direction against the catalog"
            continue
        curves[name] = curve
        importance[name] = float(np.mean(np.abs(contrib[name].to_numpy(dtype=float))))
    total = sum(importance.values())
    if total <= 0:
        raise ValueError("the churn model gives no signal of the scorecard's components any weight")
    # A list in signal-catalog order, not a set: the file must not depend on PYTHONHASHSEED.
    small = [n for n, v in importance.items() if v / total < config.min_measure_share]
    left_out.update({n: f"under {config.min_measure_share:.1%} of the model's attention" for n in small})
    share = cap_shares({n: v for n, v in importance.items() if n not in small}, config.max_measure_points / 100)
    share = cap_group(
        share,
        [n for n in share if n in CONTEXT_SIGNALS],
        config.max_context_points / 100,
        config.max_measure_points / 100,
    )
    groups = {c: [n for n in share if SIGNALS_BY_NAME[n].group == c] for c in COMPONENTS}
    groups = {c: names for c, names in groups.items() if names}
    comp_weights = _round_to_total([sum(share[n] for n in names) for names in groups.values()], 100, 0)
    components = []
    for (name, names), weight in zip(groups.items(), comp_weights, strict=True):
        if weight <= 0:
            continue
        wanted = [share[n] for n in names]
        timing = [n in CONTEXT_SIGNALS for n in names]
        if any(timing) and not all(timing):
            # The component's weight was rounded to a whole point (up to ~1 point up); that rounding
            # goes to its health measures, so the context measures keep the points the cap gave them.
            fixed = sum(w for w, t in zip(wanted, timing, strict=True) if t)
            rest = sum(w for w, t in zip(wanted, timing, strict=True) if not t)
            room = max(weight / 100 - fixed, 0.0)
            wanted = [w if t else w * room / rest for w, t in zip(wanted, timing, strict=True)]
        inner = _round_to_total(wanted, 100, 1)
        measures = tuple(Measure(n, w, curves[n]) for n, w in zip(names, inner, strict=True))
        components.append(Component(name, weight, measures))
    if sum(c.weight for c in components) != 100:  # a component rounded to 0: spread again
        weights = _round_to_total([c.weight for c in components], 100, 0)
        components = [replace(c, weight=w) for c, w in zip(components, weights, strict=True)]
    return Card(tuple(components)), left_out


def cap_shares(shares: Mapping[str, float], cap: float) -> dict[str, float]:
    """``shares`` normalised to sum to 1 with none above ``cap``.

    A capped measure's excess goes to the others in proportion to their shares (repeated until
    none is over), so their order is kept. Fewer than ``1 / cap`` measures cannot all stay under
    the cap: they get equal shares.
    """
    total = sum(shares.values())
    out = {n: v / total for n, v in shares.items()}
    if len(out) * cap <= 1:
        return {n: 1 / len(out) for n in out}
    capped: set[str] = set()
    while over := {n for n, v in out.items() if n not in capped and v > cap}:
        capped |= over
        free = sum(v for n, v in out.items() if n not in capped)
        out = {n: cap if n in capped else v * (1 - cap * len(capped)) / free for n, v in out.items()}
    return out


def cap_group(shares: Mapping[str, float], group: Sequence[str], cap: float, each: float) -> dict[str, float]:
    """``shares`` with the ``group``'s total at most ``cap``; the rest get the excess, none above ``each``."""
    total = sum(shares[n] for n in group)
    others = {n: v for n, v in shares.items() if n not in group}
    if total <= cap or not others:
        return dict(shares)
    scaled = {n: v * (1 - cap) for n, v in cap_shares(others, each / (1 - cap)).items()}
    return {n: shares[n] * cap / total if n in group else scaled[n] for n in shares}


def curve_direction(curve: Sequence[tuple[float, float]]) -> int:
    """+1 when the curve's score rises with the value (higher is healthier), -1 when it falls."""
    return int(np.sign(curve[-1][1] - curve[0][1]))


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
    unit = 10.0**-decimals
    raw = np.asarray(shares, dtype=float) / max(sum(shares), 1e-12) * total / unit
    floor = np.floor(raw)
    left = int(round(total / unit - floor.sum()))
    order = np.argsort(-(raw - floor), kind="stable")
    floor[order[:left]] += 1
    return [round(float(v) * unit, decimals) for v in floor]


def learn_scorecard(
    x: pd.DataFrame,
    y: np.ndarray,
    booster: Any,
    config: ScorecardConfig = ScorecardConfig(),
    seed: int = 0,
    info: Mapping[str, Any] | None = None,
) -> Scorecard:
    """The main and onboarding cards from the churn model and its training snapshots ``x`` (labels ``y``)."""
    rng = np.random.default_rng(seed)

    def sample(rows: pd.DataFrame) -> pd.DataFrame:
        if len(rows) <= config.max_shap_rows:
            return rows
        return rows.iloc[np.sort(rng.choice(len(rows), config.max_shap_rows, replace=False))]

    exclude = (*config.exclude, *(() if config.context_measures else CONTEXT_SIGNALS))
    main_x = sample(x)
    main, left_out = learn_card(main_x, shap_contributions(booster, main_x), config, exclude)
    tenure = x["tenure_days"].to_numpy(dtype=float) if "tenure_days" in x else np.full(len(x), np.nan)
    is_young = np.nan_to_num(tenure, nan=np.inf) < config.onboarding_days
    young, churners = x[is_young], int(np.nansum(np.asarray(y, dtype=float)[is_young]))
    if len(young) < config.min_onboarding_rows or churners < config.min_onboarding_churners:
        onboarding = replace(
            main,
            note=f"only {len(young)} training snapshots younger than {config.onboarding_days} "
            f"days ({churners} churned): the onboarding card is the main card",
        )
        young_left_out = left_out
    else:
        young_x = sample(young)
        card, young_left_out = learn_card(
            young_x, shap_contributions(booster, young_x), config, (*exclude, "tenure_days")
        )
        onboarding = replace(
            card, note=f"learned on {len(young)} training snapshots younger than {config.onboarding_days} days"
        )
    learning = {
        "weights": f"share of the churn model's mean |SHAP|, at most {config.max_measure_points:g} points a measure"
        + (f" and {config.max_context_points:g} for the context measures together" if config.context_measures else ""),
        "context_signals_not_measures": [] if config.context_measures else [s for s in CONTEXT_SIGNALS if s in x],
        "left_out": {"main": _by_reason(left_out), "onboarding": _by_reason(young_left_out)},
    }
    low, mid = config.bands
    bands = (("red", 0.0, float(low)), ("yellow", float(low) + 1, float(mid)), ("green", float(mid) + 1, 100.0))
    return Scorecard(main, onboarding, bands, config.onboarding_days, (), {**(info or {}), "learning": learning})


def _by_reason(left_out: Mapping[str, str]) -> dict[str, list[str]]:
    """Signal -> reason turned into reason -> signals, which reads better in the file."""
    out: dict[str, list[str]] = {}
    for signal, reason in left_out.items():
        out.setdefault(reason, []).append(signal)
    return out
