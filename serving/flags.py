"""Red and green flags: the signals pushing an account's churn risk up or down, in words.

The contributions are exact path-dependent TreeSHAP (:mod:`training.model.treeshap`, the same
numbers as LightGBM's ``pred_contrib`` within 1e-9): in log-odds of churn, and additive, so
contributions plus the base value equal the raw score. A red flag is a signal whose
contribution raises churn risk; a green flag one that lowers it. Each flag carries only a
declared signal's name and value, a sentence from the signal's template with the actual
numbers, and a suggested action when a CSM can act on it. Context signals (tenure, days to
renewal) may appear, never as the only reasons.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from features.signals import SIGNALS_BY_NAME

Flag = dict[str, Any]  # signal, value, contribution, sentence, action


@dataclass(frozen=True)
class FlagConfig:
    top_k: int = 3  # flags per side
    min_contribution: float = 0.05  # log-odds (about 5% odds); a smaller push is noise, not a reason
    lookahead: int = 8  # candidates scanned beyond top_k for an actionable replacement


class AdditivityError(RuntimeError):
    """SHAP contributions do not add up to the model's raw score."""


def check_additivity(contrib: np.ndarray, raw: np.ndarray, tolerance: float = 1e-6) -> float:
    """The largest |sum of contributions - raw score|; raises when above ``tolerance``."""
    gap = float(np.max(np.abs(contrib.sum(axis=1) - raw))) if len(raw) else 0.0
    if not gap <= tolerance:
        raise AdditivityError(f"SHAP contributions miss the raw score by {gap:.3g} (> {tolerance:g})")
    return gap


def flags(
    values: np.ndarray,
    contrib: np.ndarray,
    names: list[str],
    *,
    lang: str = "en",
    config: FlagConfig = FlagConfig(),
    typical: np.ndarray | None = None,
) -> tuple[list[list[Flag]], list[list[Flag]]]:
    """Red and green flags per row from the feature values (rows, f) and contributions (rows, f[+1]).

    ``typical`` (one value per feature, NaN where unknown) is the typical account's value, the
    reference profile's median. Where given, a red flag's value must be on the unhealthy side of
    it by the catalog's direction, and a green flag's on the healthy side: SHAP may credit "last
    active 6 hours ago" with risk (a weekday pattern the model learned), but a CSM reading
    "nobody used the product for 0 days" as a reason would be misled.
    """
    contrib = contrib[:, : len(names)]
    actionable = np.array([_actionable(n) for n in names])
    direction = np.array([_direction(n) for n in names], dtype=float)
    typical = np.full(len(names), np.nan) if typical is None else np.asarray(typical, dtype=float)
    with np.errstate(invalid="ignore"):
        side = direction * (values - typical)  # > 0 healthier than typical, < 0 less healthy, NaN unknown
    unknown = (direction == 0) | np.isnan(side)
    # A missing value is never a flag: "active-user trend: no data" is not a reason a CSM can use.
    known = ~np.isnan(values)
    return (
        _side(values, contrib, names, actionable, known & (unknown | (side < 0)), +1, lang, config),
        _side(values, contrib, names, actionable, known & (unknown | (side > 0)), -1, lang, config),
    )


def _side(
    values: np.ndarray,
    contrib: np.ndarray,
    names: list[str],
    actionable: np.ndarray,
    plausible: np.ndarray,
    sign: int,
    lang: str,
    config: FlagConfig,
) -> list[list[Flag]]:
    push = sign * contrib
    width = min(len(names), config.top_k + config.lookahead)
    # A stable sort on the negated push: ties keep the feature order, so reasons are deterministic.
    order = np.argsort(-push, axis=1, kind="stable")[:, :width]
    strong = np.take_along_axis((push > config.min_contribution) & plausible, order, axis=1)
    # Reasons a CSM can act on come first; context (renewal date, tenure) only fills the
    # remaining places, so it is shown but never crowds out, or stands in for, a reason.
    reasons = strong & actionable[order]
    reasons &= np.cumsum(reasons, axis=1) <= config.top_k
    found = reasons.sum(axis=1, keepdims=True)
    context = strong & ~actionable[order]
    context &= (np.cumsum(context, axis=1) <= config.top_k - found) & (found > 0)
    # Whole-array steps pick each row's flags (reasons by push, then context by push); Python
    # only builds the dicts, which is what a row's cost is now.
    rank = np.where(reasons, 0, np.where(context, width, 2 * width)) + np.arange(width)
    picked = np.take_along_axis(order, np.argsort(rank, axis=1, kind="stable")[:, : config.top_k], axis=1)
    arrays = (
        (reasons | context).sum(axis=1),
        picked,
        np.take_along_axis(values, picked, axis=1),
        np.take_along_axis(contrib, picked, axis=1),
    )
    with _no_gc():  # the flags are acyclic lists and dicts: a cyclic-GC pass per 700 of them is waste
        counts, chosen, shown, pushed = (a.tolist() for a in arrays)
        return [
            [_flag(names[j], v, c, lang) for j, v, c in zip(js[:n], vs[:n], cs[:n], strict=True)]
            for js, vs, cs, n in zip(chosen, shown, pushed, counts, strict=True)
        ]


@contextmanager
def _no_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _flag(name: str, value: float, contribution: float, lang: str) -> Flag:
    clean = None if value != value else value  # NaN is missing; value is a Python float
    sentence, action = _words(name, clean, lang)
    return {
        "signal": name,
        "value": clean,
        "contribution": round(contribution, 6),
        "sentence": sentence,
        "action": action,
    }


@lru_cache(maxsize=65536)
def _words(name: str, value: float | None, lang: str) -> tuple[str, str | None]:
    signal = SIGNALS_BY_NAME.get(name)
    if signal is None:  # a feature outside the catalog (not expected from dataset models)
        return f"{name} = {value}", None
    return signal.sentence(value, lang=lang), signal.suggested_action(lang)


def _direction(name: str) -> int:
    signal = SIGNALS_BY_NAME.get(name)
    return signal.direction if signal else 0


def _actionable(name: str) -> bool:
    signal = SIGNALS_BY_NAME.get(name)
    return bool(signal and signal.actionable)
