"""The linear start: a strongly regularised logistic regression, written as LightGBM trees, that the
boosted trees continue from.

On data where many signals each add a little (counts of a product's own event types, as in
``../shared/data/socialnet``), a smooth additive start ranks better than trees alone; on the
generated world it does not (``docs/backtest.md``, "The linear start"), so training chooses per
outcome (``training.train.choose_trees``).

The regression reads each numeric signal's signed log, the median for a missing value plus a
missing flag, standardised, with C = 0.01. Its margin is then fitted by regression trees of one
signal each (interaction constraints): one tree per signal's part, then a few on the whole margin,
so the start is a sum of one step function per signal. The trees are merged into the booster
(LightGBM's ``init_model``): scoring, saving and TreeSHAP see one ordinary booster, the
explanations stay exact, and a model folder is the same format as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.baselines import fit_logistic

C = 0.01  # strong shrinkage: the start is a prior the trees correct, not a model of its own
REFINE_ROUNDS = 100  # after one tree per signal, trees on the whole margin until within tolerance
TOLERANCE = 1e-3  # mean absolute gap, in log-odds, between the trees and the regression
STEP_PARAMS: dict[str, object] = {
    "learning_rate": 1.0,
    "num_leaves": 255,
    "min_data_in_leaf": 1,
    "min_sum_hessian_in_leaf": 0.0,
    "lambda_l2": 0.0,
    "max_bin": 1023,
    "metric": "l1",
    "deterministic": True,
    "force_col_wise": True,
    "verbosity": -1,
}


def signed_log(values: np.ndarray) -> np.ndarray:
    """log(1 + |v|) with v's sign: counts and money on a scale where each doubling counts alike."""
    return np.sign(values) * np.log1p(np.abs(values))


def linear_parts(x: pd.DataFrame, y: np.ndarray, numeric: Sequence[str], seed: int) -> tuple[float, np.ndarray]:
    """The regression's intercept and each signal's part of its log-odds on ``x``'s rows
    (rows x signals; a missing value's part includes its missing flag's)."""
    z = signed_log(x[list(numeric)].to_numpy(dtype=float))
    model = fit_logistic(z, y, seed, c=C)
    imputer, scaler, regression = model[0], model[1], model[-1]
    weights = regression.coef_[0] / scaler.scale_
    u = imputer.transform(z)
    terms = (u - scaler.mean_) * weights
    parts = terms[:, : z.shape[1]].copy()
    if imputer.indicator_ is not None:
        for flag, feature in enumerate(imputer.indicator_.features_):
            parts[:, feature] += terms[:, z.shape[1] + flag]
    return float(regression.intercept_[0]), parts


def fit_linear_start(
    x: pd.DataFrame, y: np.ndarray, numeric: Sequence[str], seed: int, threads: int = 1
) -> lgb.Booster:
    """Trees of one numeric signal each whose sum is the regression's log-odds on ``x``'s rows.

    Tree k fits the k-th signal's part (the signals in order of how much their parts vary), so one
    tree per signal draws its step function; a few more trees then close the remaining gap.
    ``threads`` is the boosted trees' ``num_threads`` (``LGBMParams``). Categorical columns are
    blanked for these trees (they keep their place, so the booster's columns are the model
    matrix's) and are left to the boosted trees.
    """
    intercept, parts = linear_parts(x, y, numeric, seed)
    spread = parts.std(axis=0)
    order = [j for j in np.argsort(-spread, kind="stable") if spread[j] > 0]
    margin = intercept + parts.sum(axis=1)
    targets = [intercept + parts[:, order[: k + 1]].sum(axis=1) for k in range(len(order))]
    signals = set(numeric)
    # Same columns and category levels as the model matrix (LightGBM checks them when boosting
    # continues), every categorical value missing.
    blank = {c: pd.Categorical.from_codes(np.full(len(x), -1), dtype=x[c].dtype) for c in x.columns if c not in signals}
    data = lgb.Dataset(x.assign(**blank) if blank else x, label=margin, free_raw_data=False)
    constraints = [[i] for i, c in enumerate(x.columns) if c in signals]
    rounds = iter(targets)  # LightGBM asks the objective once per round, in order

    def squared_gap(predicted: np.ndarray, _: lgb.Dataset) -> tuple[np.ndarray, np.ndarray]:
        target = next(rounds, margin)
        return predicted - target, np.ones_like(predicted)

    params = {
        **STEP_PARAMS,
        "objective": squared_gap,
        "seed": seed,
        "num_threads": threads,
        "interaction_constraints": constraints,
    }
    return lgb.train(
        params,
        data,
        num_boost_round=len(targets) + REFINE_ROUNDS,
        valid_sets=[data],
        valid_names=["fit"],
        callbacks=[_close_enough],
    )


def _close_enough(env: lgb.callback.CallbackEnv) -> None:
    """Stops once the trees' mean absolute gap to the regression's log-odds is within tolerance."""
    results = env.evaluation_result_list or []
    if results and results[0][2] <= TOLERANCE:
        raise lgb.callback.EarlyStopException(env.iteration, results)
