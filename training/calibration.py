"""Probability calibration stored as plain numbers (no pickle): isotonic or Platt.

The method is chosen on the calibration fold by two-fold cross-fitting (fit on one half,
score log loss on the other, both ways), then refitted on the whole fold.
"""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from training.model.calibrator import EPS, Calibrator, Method


def fit_calibrator(raw: np.ndarray, y: np.ndarray, method: Method) -> Calibrator:
    raw = np.asarray(raw, dtype=float)
    y = np.asarray(y, dtype=float)
    if method == "platt":
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(raw.reshape(-1, 1), y)
        return Calibrator("platt", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))
    iso = IsotonicRegression(out_of_bounds="clip", y_min=EPS, y_max=1 - EPS).fit(raw, y)
    return Calibrator("isotonic", x=tuple(map(float, iso.X_thresholds_)), y=tuple(map(float, iso.y_thresholds_)))


def choose_calibrator(raw: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[Calibrator, dict[str, float]]:
    """Pick isotonic or Platt by cross-fitted log loss on the calibration fold, then refit."""
    rng = np.random.default_rng(seed)
    half = rng.permutation(len(y)) < len(y) // 2
    scores: dict[str, float] = {}
    for method in ("isotonic", "platt"):
        losses = []
        for fit_mask in (half, ~half):
            if len(np.unique(y[fit_mask])) < 2 or len(np.unique(y[~fit_mask])) < 2:
                continue
            cal = fit_calibrator(raw[fit_mask], y[fit_mask], method)  # type: ignore[arg-type]
            losses.append(log_loss(y[~fit_mask], cal.predict(raw[~fit_mask]), labels=[0, 1]))
        scores[method] = float(np.mean(losses)) if losses else float("inf")
    best: Method = "isotonic" if scores["isotonic"] < scores["platt"] else "platt"
    return fit_calibrator(raw, y, best), scores
