"""Rows of the scores frame as API results: strict JSON values, flags in the asked language.

A probability the model should have produced but did not (NaN or infinite) is a model
failure, raised as :class:`ModelOutputError` (the API answers 500), never sent as ``null``
or as a bare ``NaN`` token. Values that may legitimately be missing (an outcome the model
folder lacks, a trend without a previous scoring) become ``null``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import pandas as pd

from features.signals import SIGNALS_BY_NAME, TEXT_SIGNALS

PROBABILITIES = ("churn_probability", "renewal_probability", "upsell_probability")


class ModelOutputError(RuntimeError):
    """The model produced a non-finite number where a score was due."""


def account_result(row: dict[str, Any], lang: str, outcomes: frozenset[str]) -> dict[str, Any]:
    """One scores-frame row (as a dict) as an ``AccountScore`` JSON object."""
    out: dict[str, Any] = {
        "account_id": str(row["account_id"]),
        "name": _text(row.get("name")),
        "renewal_date": None if pd.isna(row.get("renewal_date")) else pd.Timestamp(row["renewal_date"]).isoformat(),
        "days_to_renewal": _number(row.get("days_to_renewal")),
        "as_of": pd.Timestamp(row["as_of"]).isoformat(),
        "segment": _text(row.get("segment")),
        "csm_owner": _text(row.get("csm_owner")),
    }
    for name in PROBABILITIES:
        value = _number(row.get(name))
        if value is None and name.removesuffix("_probability") in outcomes:
            raise ModelOutputError(f"{name} is not a finite number for account {row['account_id']!r}")
        out[name] = value
    band = _text(row.get("health_band"))
    out["health_score"] = _number(row.get("health_score"))
    out["health_band"] = band if band in ("red", "yellow", "green") else None
    out["health_trend"] = _number(row.get("health_trend"))
    out["onboarding"] = bool(row.get("onboarding", False))
    out["arr"], out["arr_at_risk"] = _number(row.get("arr")), _number(row.get("arr_at_risk"))
    out["red_flags"] = [localized(f, lang) for f in row.get("red_flags") or []]
    out["green_flags"] = [localized(f, lang) for f in row.get("green_flags") or []]
    out["model_version"] = str(row["model_version"])
    return out


def localized(flag: dict[str, Any], lang: str) -> dict[str, Any]:
    """A flag with its sentence and action in ``lang``, worded by the signal catalog as batch scoring does."""
    value = _number(flag.get("value"))
    contribution = _number(flag.get("contribution"))
    if contribution is None:
        raise ModelOutputError(f"flag {flag.get('signal')!r} has a non-finite contribution")
    name = str(flag["signal"])
    words = _words(name, value, lang) if name in SIGNALS_BY_NAME else (flag.get("sentence", name), flag.get("action"))
    sentence = words[0]
    if name in TEXT_SIGNALS and ': "' in str(flag.get("sentence", "")):
        # The quoted comment (serving.scorer.with_quotes) is the customer's words: kept in any language.
        sentence += ': "' + str(flag["sentence"]).split(': "', 1)[1]
    return {"signal": name, "value": value, "contribution": contribution, "sentence": sentence, "action": words[1]}


@lru_cache(maxsize=65536)
def _words(name: str, value: float | None, lang: str) -> tuple[str, str | None]:
    signal = SIGNALS_BY_NAME[name]
    return signal.sentence(value, lang=lang), signal.suggested_action(lang)


def _number(value: Any) -> float | None:
    if value is None or value is pd.NA:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _text(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)
