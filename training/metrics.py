"""Evaluation metrics for a binary outcome: ranking, calibration and revenue capture."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

EPS = 1e-6


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - mean prediction| over equal-width probability bins, weighted by size."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(y[mask].mean() - p[mask].mean())
    return float(total / len(y))


def top_decile(y: np.ndarray, score: np.ndarray, weight: np.ndarray | None = None) -> dict[str, float]:
    """Lift, recall and weighted capture (e.g. ARR at risk) among the 10% highest scores.

    Ties are broken by position after a stable sort, so the result is deterministic.
    """
    n = max(int(np.ceil(len(y) * 0.1)), 1)
    top = np.argsort(-score, kind="stable")[:n]
    base_rate = y.mean()
    out = {
        "lift_top_decile": float(y[top].mean() / base_rate) if base_rate > 0 else float("nan"),
        "recall_top_decile": float(y[top].sum() / y.sum()) if y.sum() > 0 else float("nan"),
    }
    if weight is not None:
        at_risk = weight * y  # revenue of accounts that did churn
        out["arr_captured_top_decile"] = (
            float(at_risk[top].sum() / at_risk.sum()) if at_risk.sum() > 0 else float("nan")
        )
    return out


def binary_metrics(y: np.ndarray, p: np.ndarray, weight: np.ndarray | None = None) -> dict[str, float]:
    """Every metric of DESIGN.md section 6 for labels ``y`` and probabilities ``p``."""
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    both = len(np.unique(y)) == 2
    metrics = {
        "n": int(len(y)),
        "positive_rate": float(y.mean()),
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "ece": expected_calibration_error(y, p),
    }
    metrics.update(top_decile(y, p, None if weight is None else np.nan_to_num(np.asarray(weight, dtype=float))))
    return metrics
