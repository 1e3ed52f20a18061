"""The two baselines every model is compared with, trained and tested the same way.

- logistic regression on the same features (median-imputed, standardised, missing flags);
- an equal-weight health score: each signal's percentile among training snapshots,
  oriented by the signal's declared direction, averaged with equal weights.
Both output a raw risk score that is then calibrated on the calibration fold like the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from features.signals import SIGNALS_BY_NAME


def fit_logistic(x_train: pd.DataFrame | np.ndarray, y_train: np.ndarray, seed: int, c: float = 1.0) -> Pipeline:
    """Logistic regression on the numeric features with missing-value indicators (``c``: inverse
    regularisation strength)."""
    model = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=c, max_iter=2000, random_state=seed),
    )
    return model.fit(np.asarray(x_train, dtype=float), y_train)


def logistic_risk(model: object, x: pd.DataFrame) -> np.ndarray:
    proba = model.predict_proba(x.to_numpy(dtype=float))[:, 1]  # type: ignore[attr-defined]
    proba = np.clip(proba, 1e-6, 1 - 1e-6)
    return np.log(proba / (1 - proba))


@dataclass(frozen=True)
class EqualWeightScore:
    """Percentile of each directed signal against training snapshots, averaged equally.

    ``quantiles`` holds each signal's sorted training values (a compact ECDF).
    """

    directions: Mapping[str, int]
    quantiles: Mapping[str, np.ndarray]

    def health(self, x: pd.DataFrame) -> np.ndarray:
        """0-100, higher healthier; signals missing for a row are left out of its mean."""
        parts = []
        for name, direction in self.directions.items():
            ref = self.quantiles[name]
            values = x[name].to_numpy(dtype=float)
            pct = np.searchsorted(ref, values, side="right") / max(len(ref), 1)
            pct = np.where(np.isnan(values), np.nan, pct if direction > 0 else 1 - pct)
            parts.append(pct)
        stacked = np.vstack(parts)
        counts = np.sum(~np.isnan(stacked), axis=0)
        mean = np.divide(np.nansum(stacked, axis=0), counts, out=np.full(stacked.shape[1], 0.5), where=counts > 0)
        return 100 * mean


def fit_equal_weight(x_train: pd.DataFrame, directions: Mapping[str, int]) -> EqualWeightScore:
    used = {n: d for n, d in directions.items() if d != 0 and n in x_train.columns}
    grid = np.linspace(0, 1, 201)
    quantiles = {
        n: np.unique(np.nanquantile(x_train[n].to_numpy(dtype=float), grid))
        if x_train[n].notna().any()
        else np.array([0.0])
        for n in used
    }
    return EqualWeightScore(used, quantiles)


def equal_weight_health(x_train: pd.DataFrame, x_test: pd.DataFrame) -> np.ndarray:
    """The equal-weight health score (0-100) of ``x_test``, fitted on ``x_train``: every numeric
    catalog signal among the columns, oriented by its declared direction."""
    numeric = [c for c in x_train.columns if c in SIGNALS_BY_NAME and pd.api.types.is_numeric_dtype(x_train[c])]
    score = fit_equal_weight(x_train[numeric], {n: SIGNALS_BY_NAME[n].direction for n in numeric})
    return score.health(x_test[numeric])
