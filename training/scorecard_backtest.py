"""The health score's backtest: how well it ranks churn on the churn model's held-out snapshots,
beside the model and the equal-weight score, on all of them and on those facing a renewal.

``training.train.train_scorecard`` runs it as a rolling backtest: per backtest fold a card is
learned from that fold's booster on its training dates and scores its test dates; the held-out
rows of every fold are pooled and compared with the model's held-out probabilities."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from training.baselines import equal_weight_health
from training.metrics import top_decile
from training.model.scorecard_core import BAND_NAMES


def exposed_rows(frame: pd.DataFrame, horizon_days: float) -> np.ndarray:
    """Snapshots whose contract comes up for renewal within the label's horizon: the only ones
    that can churn by contract (an unknown renewal date counts as exposed)."""
    if "days_to_renewal" not in frame.columns:
        return np.ones(len(frame), dtype=bool)
    days = pd.to_numeric(frame["days_to_renewal"], errors="coerce").to_numpy(dtype=float)
    return np.nan_to_num(days, nan=-np.inf) <= horizon_days


def equal_weight_risk(train_x: pd.DataFrame, test_x: pd.DataFrame) -> np.ndarray:
    """Churn risk per test row from the equal-weight score fitted on ``train_x`` (100 - its health)."""
    return -equal_weight_health(train_x, test_x)


def health_risk(scores: pd.DataFrame) -> np.ndarray:
    """Churn risk from :func:`score_health` output: 100 - the health score (no score: the middle)."""
    return 100 - np.nan_to_num(scores["health_score"].to_numpy(dtype=float), nan=50.0)


def ranking_metrics(y: np.ndarray, risk: np.ndarray) -> dict[str, float]:
    """Churn ROC-AUC and top-decile lift of a risk score (higher: more likely to churn)."""
    y, risk = np.asarray(y, dtype=float), np.asarray(risk, dtype=float)
    return {"roc_auc": _auc(y, risk), "lift_top_decile": float(top_decile(y, risk)["lift_top_decile"])}


def backtest(
    scores: pd.DataFrame,
    y: np.ndarray,
    reference: Mapping[str, Mapping[str, float]],
    exposed: np.ndarray | None = None,
    risks: Mapping[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Churn ranking power of the health score on the test snapshots, beside ``reference`` scores.

    ``scores`` is :func:`score_health` output for the test rows, ``y`` their churn labels,
    ``reference`` maps a name (model, equal_weight) to its test metrics (roc_auc, lift_top_decile).
    With ``exposed`` (:func:`exposed_rows`) and ``risks`` (name -> risk per test row, e.g. the
    model's probability) it adds ``exposed``: the same comparison on the snapshots facing a
    renewal inside the horizon, where renewal timing no longer ranks churn.
    """
    y = np.asarray(y, dtype=float)
    risk = health_risk(scores)
    out: dict[str, Any] = {"n": int(len(y)), "scorecard": ranking_metrics(y, risk)}
    auc = out["scorecard"]["roc_auc"]
    for name, metrics in reference.items():
        out[name] = {k: float(metrics.get(k, float("nan"))) for k in ("roc_auc", "lift_top_decile")}
    if "model" in reference and reference["model"].get("roc_auc"):
        out["auc_ratio_to_model"] = auc / float(reference["model"]["roc_auc"])
    bands = scores["health_band"].to_numpy(dtype=object)
    churners = max(float(y.sum()), 1.0)
    out["bands"] = {
        name: {
            "n": int((bands == name).sum()),
            "churn_rate": float(y[bands == name].mean()) if (bands == name).any() else float("nan"),
            "share": float((bands == name).mean()) if len(y) else float("nan"),
            "churners_share": float(y[bands == name].sum() / churners),
        }
        for name in BAND_NAMES
    }
    young = scores["onboarding"].to_numpy(dtype=bool)
    out["onboarding"] = {"n": int(young.sum()), "churn_rate": float(y[young].mean()) if young.any() else float("nan")}
    out["measures_used_mean"] = float(scores["measures_used"].mean()) if len(scores) else float("nan")
    if exposed is not None:
        out["exposed"] = _exposed_backtest(y, risk, np.asarray(exposed, dtype=bool), risks or {})
    return out


def _exposed_backtest(y: np.ndarray, risk: np.ndarray, exposed: np.ndarray, risks: Mapping[str, np.ndarray]) -> dict:
    out: dict[str, Any] = {
        "n": int(exposed.sum()),
        "share": float(exposed.mean()) if len(y) else float("nan"),
        "churners_share": float(y[exposed].sum() / max(float(y.sum()), 1.0)),
        "scorecard": {"roc_auc": _auc(y[exposed], risk[exposed])},
    }
    for name, values in risks.items():
        out[name] = {"roc_auc": _auc(y[exposed], np.asarray(values, dtype=float)[exposed])}
    if "model" in out and out["model"]["roc_auc"] > 0:
        out["auc_ratio_to_model"] = out["scorecard"]["roc_auc"] / out["model"]["roc_auc"]
    return out


def _auc(y: np.ndarray, risk: np.ndarray) -> float:
    return float(roc_auc_score(y, risk)) if len(np.unique(y)) == 2 else float("nan")
