"""Why a score changed: exact decompositions of two scorings of one account, and their words.

Health: the scorecard is additive, so the change in health score is the sum of the measures'
changes in points earned (:mod:`serving.breakdown`), computed in tenths of a point and hence
exact. Churn: TreeSHAP contributions add up to the model's log-odds, so the change in log-odds
is the sum of the signals' changes in contribution (plus the base value's, when the model
changed between the two scorings), exact up to float rounding. The words never say "log-odds":
they name the signals that moved the risk most, with their values before and after.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from serving import story_text as text
from serving.breakdown import OVERRIDE
from serving.history import BASE

TOP_REASONS = 3


@dataclass(frozen=True)
class Point:
    """One stored scoring of one account: its scores row and its details by signal."""

    row: Mapping[str, Any]
    details: Mapping[str, Mapping[str, Any]]  # signal -> value, contribution, component, points, possible

    @property
    def as_of(self) -> pd.Timestamp:
        return pd.Timestamp(self.row["as_of"])


@dataclass(frozen=True)
class MeasureChange:
    component: str
    signal: str
    before: int  # points earned, tenths
    after: int
    value_before: float | None
    value_after: float | None

    @property
    def change(self) -> int:
        return self.after - self.before


@dataclass(frozen=True)
class SignalChange:
    signal: str
    log_odds_change: float
    value_before: float | None
    value_after: float | None


@dataclass(frozen=True)
class Change:
    before: Point
    after: Point
    health_change: int  # tenths of a point
    measures: list[MeasureChange] = field(default_factory=list)  # sorted by size of change
    log_odds_change: float = 0.0
    signals: list[SignalChange] = field(default_factory=list)  # sorted by size of change

    def components(self) -> list[tuple[str, int]]:
        """Change in points per component (tenths), biggest first."""
        totals: dict[str, int] = {}
        for m in self.measures:
            totals[m.component] = totals.get(m.component, 0) + m.change
        return sorted(((c, v) for c, v in totals.items() if v), key=lambda cv: -abs(cv[1]))


def tenths(value: Any) -> int:
    return 0 if value is None or pd.isna(value) else round(float(value) * 10)


def compare(before: Point, after: Point) -> Change:
    """The exact decomposition of the change from ``before`` to ``after``."""
    b, a = before.details, after.details
    measured = [s for s in dict.fromkeys([*b, *a]) if _has(b, s, "points") or _has(a, s, "points")]
    measures = [
        MeasureChange(
            str(_get(a, s, "component") or _get(b, s, "component")),
            s,
            tenths(_get(b, s, "points")),
            tenths(_get(a, s, "points")),
            _value(b, s),
            _value(a, s),
        )
        for s in measured
    ]
    signals = [
        SignalChange(
            s,
            _zero(_get(a, s, "contribution")) - _zero(_get(b, s, "contribution")),
            _value(b, s),
            _value(a, s),
        )
        for s in dict.fromkeys([*b, *a])
        if _has(b, s, "contribution") or _has(a, s, "contribution")
    ]
    signals = [s for s in signals if s.signal != BASE or s.log_odds_change != 0.0]
    return Change(
        before,
        after,
        tenths(after.row["health_score"]) - tenths(before.row["health_score"]),
        sorted(measures, key=lambda m: (-abs(m.change), m.signal)),
        float(after.row["churn_log_odds"]) - float(before.row["churn_log_odds"]),
        sorted(signals, key=lambda s: (-abs(s.log_odds_change), s.signal)),
    )


def _has(details: Mapping[str, Mapping[str, Any]], signal: str, column: str) -> bool:
    value = details.get(signal, _EMPTY).get(column)
    return value is not None and value == value  # NaN != NaN; plain Python is what makes movers fast


_EMPTY: Mapping[str, Any] = {}


def _zero(value: Any) -> float:
    return 0.0 if value is None else float(value)


def _get(details: Mapping[str, Mapping[str, Any]], signal: str, column: str) -> Any:
    return details[signal][column] if _has(details, signal, column) else None


def _value(frame: Mapping[str, Mapping[str, Any]], signal: str) -> float | None:
    value = _get(frame, signal, "value")
    return None if value is None else float(value)


# --- words --------------------------------------------------------------------------------


def health_sentence(change: Change, lang: str) -> str:
    """ "Health fell 18 points since 1 Nov 2026: usage -11 (active users 42 -> 19), support -5 (...)"."""
    since = text.day(change.before.as_of, lang)
    points = text.number(abs(change.health_change) / 10, lang)
    key = "health_fell" if change.health_change < 0 else "health_rose" if change.health_change > 0 else "health_same"
    head = text.say(key, lang, points=points, since=since)
    parts = []
    for name, delta in change.components()[:TOP_REASONS]:
        sign = "+" if delta > 0 else "-"
        top = next(m for m in change.measures if m.component == name and m.change)
        parts.append(f"{text.component(name, lang)} {sign}{text.number(abs(delta) / 10, lang)} ({_moved(top, lang)})")
    return f"{head}: {', '.join(parts)}" if parts else head


def churn_sentence(change: Change, lang: str) -> str:
    """ "Churn risk rose from 12% to 31%, mostly active users (30 days) 42 -> 19 and ..."."""
    before, after = float(change.before.row["churn_probability"]), float(change.after.row["churn_probability"])
    b, a = text.percent(before, lang), text.percent(after, lang)
    key = "churn_same" if b == a else "churn_rose" if after > before else "churn_fell"
    head = text.say(key, lang, before=b, after=a)
    if key == "churn_same":
        return head
    same_way = [s for s in change.signals if np.sign(s.log_odds_change) == np.sign(change.log_odds_change)]
    reasons = [_moved(s, lang) for s in same_way[:TOP_REASONS]]
    return f"{head}, {text.say('mostly', lang, reasons=text.listing(reasons, lang))}" if reasons else head


def _moved(item: MeasureChange | SignalChange, lang: str) -> str:
    if item.signal == BASE:
        return text.say("model_update", lang)
    if isinstance(item, MeasureChange) and item.component == OVERRIDE:
        return text.say("manual_rule", lang, rule=item.signal)
    return text.say(
        "value_change",
        lang,
        label=text.label(item.signal, lang),
        before=text.signal_value(item.signal, item.value_before, lang),
        after=text.signal_value(item.signal, item.value_after, lang),
    )


def health_json(change: Change) -> dict[str, Any]:
    """The dates, health scores and bands of a change (shared by the change and the movers responses)."""
    return {
        "since": change.before.as_of.isoformat(),
        "as_of": change.after.as_of.isoformat(),
        "health_before": float(change.before.row["health_score"]),
        "health_after": float(change.after.row["health_score"]),
        "health_change": change.health_change / 10,
        "band_before": change.before.row["health_band"],
        "band_after": change.after.row["health_band"],
    }


def as_json(change: Change, lang: str) -> dict[str, Any]:
    """The change as the API returns it."""
    return {
        **health_json(change),
        "components": [{"component": c, "change": v / 10} for c, v in change.components()],
        "measures": [
            {
                "component": m.component,
                "signal": m.signal,
                "points_before": m.before / 10,
                "points_after": m.after / 10,
                "change": m.change / 10,
                "value_before": m.value_before,
                "value_after": m.value_after,
            }
            for m in change.measures
            if m.change
        ],
        "churn_before": float(change.before.row["churn_probability"]),
        "churn_after": float(change.after.row["churn_probability"]),
        "log_odds_change": change.log_odds_change,
        "signals": [
            {
                "signal": s.signal,
                "log_odds_change": s.log_odds_change,
                "value_before": s.value_before,
                "value_after": s.value_after,
            }
            for s in change.signals
        ],
        "health_sentence": health_sentence(change, lang),
        "churn_sentence": churn_sentence(change, lang),
    }
