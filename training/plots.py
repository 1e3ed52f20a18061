"""Diagnostic figures for one outcome: calibration curve, lift chart, SHAP summary, importance."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: figures are written to files, never shown

import lightgbm as lgb  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from training.model.treeshap import TreeShap  # noqa: E402


def calibration_curve(y: np.ndarray, p: np.ndarray, title: str, bins: int = 10) -> Figure:
    fig, ax = plt.subplots(figsize=(5, 5))
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    mean_p = [p[which == b].mean() for b in range(bins) if (which == b).any()]
    rate = [y[which == b].mean() for b in range(bins) if (which == b).any()]
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="perfect")
    ax.plot(mean_p, rate, marker="o", label="model")
    ax.set(xlabel="predicted probability", ylabel="observed rate", title=f"{title}: calibration")
    ax.legend()
    fig.tight_layout()
    return fig


def lift_chart(y: np.ndarray, p: np.ndarray, title: str) -> Figure:
    order = np.argsort(-p, kind="stable")
    deciles = np.array_split(y[order], 10)
    lift = [d.mean() / y.mean() if y.mean() > 0 else 0 for d in deciles]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(range(1, 11), lift, color="#c0392b")
    ax.axhline(1, color="grey", ls="--")
    ax.set(xlabel="decile (1 = highest predicted risk)", ylabel="lift", title=f"{title}: lift by decile")
    fig.tight_layout()
    return fig


def shap_summary(booster: lgb.Booster, x: pd.DataFrame, title: str, top: int = 15) -> Figure:
    """Mean |SHAP| per feature (exact TreeSHAP, :mod:`training.model.treeshap`), top features."""
    contrib = TreeShap.from_booster(booster).contributions(x)[:, :-1]
    mean_abs = pd.Series(np.abs(contrib).mean(axis=0), index=x.columns).sort_values().tail(top)
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(mean_abs) + 1))
    ax.barh(mean_abs.index, mean_abs.to_numpy(), color="#2c3e50")
    ax.set(xlabel="mean |SHAP| (log-odds)", title=f"{title}: SHAP summary")
    fig.tight_layout()
    return fig


def feature_importance(booster: lgb.Booster, title: str, top: int = 15) -> Figure:
    gain = pd.Series(booster.feature_importance("gain"), index=booster.feature_name()).sort_values().tail(top)
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(gain) + 1))
    ax.barh(gain.index, gain.to_numpy(), color="#16a085")
    ax.set(xlabel="total gain", title=f"{title}: feature importance")
    fig.tight_layout()
    return fig
