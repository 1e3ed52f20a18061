"""Drift of a scoring snapshot against the model's training snapshots.

For every model input, and for the predicted churn probability, the population stability
index (PSI, :mod:`training.reference_profile`) between the reference profile saved in the
model folder (``reference.json``) and the new feature frame. The status follows the usual
reading of PSI: ``ok`` below ``watch`` (0.1), ``watch`` below ``act`` (0.25), ``act`` above.
Signals declared ``grows_with_history`` (counts over 180/365 days and all history) get the
status ``history`` instead: their PSI is shown, but it mostly measures how much more history
the data holds than at the reference snapshots, not a change of the accounts, so it never crosses a threshold.

>>> table = drift_table(load_model_folder(model_dir), features)   # doctest: +SKIP
>>> table.columns.tolist()                                          # doctest: +SKIP
['feature', 'psi', 'status']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.builders import build_features
from features.loader import Dataset
from features.signals import SIGNALS_BY_NAME
from serving.scorer import Scorer, eligible_features
from training.model.folder import REFERENCE, ModelBundle
from training.model.matrix import to_matrix
from training.reference_profile import psi

COLUMNS = ("feature", "psi", "status")
PREDICTION = "churn_probability"
HISTORY = "history"  # the status of a signal that grows with history (features.signals.Signal)


class NoReferenceError(ValueError):
    """The model folder was written before reference profiles existed (or by a path that writes none)."""


@dataclass(frozen=True)
class Thresholds:
    """PSI at or above ``watch`` is worth a look; at or above ``act`` the model needs attention."""

    watch: float = 0.1
    act: float = 0.25

    def __post_init__(self) -> None:
        if not 0 <= self.watch <= self.act:
            raise ValueError(f"PSI thresholds need 0 <= watch <= act, not watch={self.watch}, act={self.act}")

    def status(self, value: float) -> str:
        if not np.isfinite(value):
            return "n/a"
        return "act" if value >= self.act else "watch" if value >= self.watch else "ok"


def grows_with_history(name: str) -> bool:
    """Whether the model input ``name`` is a signal whose values grow with the data's history."""
    signal = SIGNALS_BY_NAME.get(name)
    return signal is not None and signal.grows_with_history


def reference_of(bundle: ModelBundle) -> dict[str, Any]:
    """The bundle's reference profile, or a one-line reason to retrain."""
    if bundle.reference is None:
        raise NoReferenceError(
            f"the model folder {bundle.path} has no reference profile ({REFERENCE}); "
            "retrain it with this version of `churn train` to monitor drift"
        )
    return bundle.reference


def drift_table(
    bundle: ModelBundle, features_frame: pd.DataFrame, thresholds: Thresholds = Thresholds()
) -> pd.DataFrame:
    """PSI of every model input and of the churn probability; one row each, in the model's column order.

    Args:
        bundle: a loaded model folder with a reference profile.
        features_frame: the scoring snapshot's signals (``features.builders.build_features``).
        thresholds: where ``watch`` and ``act`` start.

    Returns:
        A frame with columns ``feature``, ``psi`` and ``status`` (ok / watch / act; history for
        a signal that grows with history; n/a for an empty frame). The last row is
        ``churn_probability`` when the model folder has a churn model.
    """
    reference = reference_of(bundle)
    x = to_matrix(features_frame, bundle.spec)
    rows = [(name, psi(profile, x[name])) for name, profile in reference["features"].items() if name in x]
    if PREDICTION in reference["predictions"] and "churn" in bundle.outcomes:
        predicted = bundle.outcomes["churn"].predict(x) if len(x) else np.array([])
        rows.append((PREDICTION, psi(reference["predictions"][PREDICTION], predicted)))
    return pd.DataFrame(
        {
            "feature": [name for name, _ in rows],
            "psi": np.array([value for _, value in rows], dtype=float),
            "status": [
                HISTORY if grows_with_history(name) and np.isfinite(value) else thresholds.status(value)
                for name, value in rows
            ],
        },
        columns=list(COLUMNS),
    )


def crossed(table: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Rows whose PSI is at or above ``threshold``, worst first; ``history`` rows never count."""
    return table[(table["psi"] >= threshold) & (table["status"] != HISTORY)].sort_values("psi", ascending=False)


def dataset_drift(
    dataset: Dataset,
    bundle: ModelBundle,
    as_of: pd.Timestamp,
    *,
    thresholds: Thresholds = Thresholds(),
    engine: str = "duckdb",
) -> tuple[pd.DataFrame, int]:
    """Drift of the accounts the model would score at ``as_of`` (see ``serving.scorer``).

    Returns the :func:`drift_table` and how many accounts it compared. The population is the
    scorer's (accounts a churn label could exist for), the one the reference profile describes.
    """
    reference_of(bundle)  # fail before the feature build when there is nothing to compare with
    scorer = Scorer(bundle)
    frame = build_features(dataset, [as_of], engine=engine, config=scorer.feature_config).frame
    rows = eligible_features(dataset, frame, scorer.outcome_config)
    if rows.empty:
        raise ValueError(f"no account to compare at {as_of:%Y-%m-%d}: none is one the churn model scores (active then)")
    return drift_table(bundle, rows, thresholds), len(rows)
