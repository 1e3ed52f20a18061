"""A LightGBM booster with its calibrator: raw log-odds and calibrated probabilities.

Boosters are kept as LightGBM's native text, never pickled.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.model.calibrator import Calibrator


def raw_score(booster: lgb.Booster, x: pd.DataFrame) -> np.ndarray:
    """Log-odds from the booster at its best iteration."""
    return np.asarray(booster.predict(x, raw_score=True, num_iteration=booster.best_iteration), dtype=float)


@dataclass(frozen=True)
class CalibratedBooster:
    """A booster and its calibrator: what training fits and what a model folder loads."""

    booster: lgb.Booster
    calibrator: Calibrator

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities."""
        return self.calibrator.predict(raw_score(self.booster, x))


def load_booster(text: str) -> lgb.Booster:
    return lgb.Booster(model_str=text)
