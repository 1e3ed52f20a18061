"""Reference distributions for drift monitoring, and the population stability index (PSI).

At training time every model input (and the churn model's predicted probability) is
summarised as a small histogram: about ten quantile bins of the training snapshots, plus
the share of missing values as a bin of its own. The profile is plain JSON, saved in the
model folder as ``reference.json``. At scoring time the same bins are filled with the new
values and compared::

    PSI = sum over bins of (new_share - ref_share) * ln(new_share / ref_share)

Usual reading: below 0.1 stable, 0.1 to 0.25 worth watching, 0.25 and above act.

Edge cases, decided here once:
    * An empty bin (share 0 on either side) would make the log infinite. Shares are clipped
      to at least ``EPSILON`` (1e-4, the customary choice) before the formula, so a bin that
      is empty on both sides adds nothing and one empty on one side adds a large but finite
      term (a bin of 1% new mass that was empty adds about 0.046).
    * Quantile edges of discrete or skewed data coincide; duplicates are dropped, so such a
      feature simply has fewer bins.
    * A constant feature gets one edge at its value: a bin at or below it (all of the
      reference) and one above it (empty), so any new value above the constant shows up.
    * An all-missing feature has no edges and one value bin holding nothing; its missing bin
      holds everything, and PSI rises as soon as new data has values.
    * Categorical features get one bin per level the model knows; an unseen level is missing
      (as in :func:`training.model.matrix.to_matrix`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

VERSION = 1
BINS = 10
EPSILON = 1e-4


def numeric_profile(values: np.ndarray, bins: int = BINS) -> dict[str, Any]:
    """Quantile bin edges of the non-missing values and the share in each bin, plus the missing share.

    A value ``v`` falls into bin ``i`` when ``edges[i-1] < v <= edges[i]`` (the first bin is open
    below, the last open above), so ``len(shares) == len(edges) + 1``.
    """
    x = np.asarray(values, dtype=float)
    present = x[np.isfinite(x)]
    quantiles = np.linspace(0, 1, bins + 1)[1:-1]
    edges = np.unique(np.quantile(present, quantiles)) if len(present) else np.array([])
    shares, missing = _numeric_shares(x, edges)
    median = float(np.median(present)) if len(present) else None  # the typical account, for the flags
    return {
        "kind": "numeric",
        "edges": edges.tolist(),
        "shares": shares.tolist(),
        "missing": missing,
        "n": len(x),
        "median": median,
    }


def categorical_profile(values: pd.Series, levels: tuple[str, ...]) -> dict[str, Any]:
    """Share of each known level, plus the missing share (unknown levels count as missing)."""
    shares, missing = _categorical_shares(values, levels)
    return {
        "kind": "categorical",
        "levels": list(levels),
        "shares": shares.tolist(),
        "missing": missing,
        "n": len(values),
    }


def _numeric_shares(x: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, float]:
    finite = np.isfinite(x)
    counts = np.bincount(np.searchsorted(edges, x[finite], side="left"), minlength=len(edges) + 1)
    return counts / max(len(x), 1), float((~finite).sum() / max(len(x), 1))


def _categorical_shares(values: pd.Series, levels: tuple[str, ...]) -> tuple[np.ndarray, float]:
    codes = pd.Categorical(pd.Series(values).astype("string").astype(object), categories=list(levels)).codes
    counts = np.bincount(codes[codes >= 0], minlength=len(levels))
    n = max(len(codes), 1)
    return counts / n, float((codes < 0).sum() / n)


def observed_shares(profile: Mapping[str, Any], values: np.ndarray | pd.Series) -> np.ndarray:
    """New values binned like ``profile``: the value bins' shares, then the missing share last."""
    if profile["kind"] == "categorical":
        shares, missing = _categorical_shares(pd.Series(values), tuple(profile["levels"]))
    else:
        shares, missing = _numeric_shares(np.asarray(values, dtype=float), np.asarray(profile["edges"], dtype=float))
    return np.append(shares, missing)


def expected_shares(profile: Mapping[str, Any]) -> np.ndarray:
    """The reference shares in the same layout as :func:`observed_shares`."""
    return np.append(np.asarray(profile["shares"], dtype=float), float(profile["missing"]))


def psi_from_shares(expected: np.ndarray, actual: np.ndarray, epsilon: float = EPSILON) -> float:
    """Population stability index of two histograms over the same bins (shares summing to 1)."""
    e = np.clip(np.asarray(expected, dtype=float), epsilon, None)
    a = np.clip(np.asarray(actual, dtype=float), epsilon, None)
    return float(np.sum((a - e) * np.log(a / e)))


def psi(profile: Mapping[str, Any], values: np.ndarray | pd.Series, epsilon: float = EPSILON) -> float:
    """PSI of new ``values`` against a reference ``profile``; NaN when there are no new values."""
    if len(values) == 0:
        return float("nan")
    return psi_from_shares(expected_shares(profile), observed_shares(profile, values), epsilon)


def build_reference(
    matrix: pd.DataFrame,
    categorical: Mapping[str, tuple[str, ...]],
    predictions: Mapping[str, np.ndarray],
    source: Mapping[str, Any],
    bins: int = BINS,
) -> dict[str, Any]:
    """The whole reference document: one profile per model input and per predicted probability.

    Args:
        matrix: the model matrix of the reference snapshots (``training.model.matrix.to_matrix``).
        categorical: the categorical columns and their levels (``FeatureSpec.categorical``).
        predictions: name (e.g. ``churn_probability``) -> predictions on the same rows.
        source: what the rows are (dates, count), recorded as is.
    """
    features = {
        name: categorical_profile(matrix[name], categorical[name])
        if name in categorical
        else numeric_profile(matrix[name].to_numpy(dtype=float), bins)
        for name in matrix.columns
    }
    outputs = {name: numeric_profile(np.asarray(p, dtype=float), bins) for name, p in predictions.items()}
    return {
        "version": VERSION,
        "bins": bins,
        "epsilon": EPSILON,
        "source": dict(source),
        "features": features,
        "predictions": outputs,
    }
