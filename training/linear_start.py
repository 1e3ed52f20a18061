"""The linear start: a strongly regularised logistic regression, written as LightGBM trees, that the
boosted trees continue from.

On data where many signals each add a little (counts of a product's own event types, as in
``../shared/data/socialnet``), a smooth additive start ranks better than trees alone; on the
generated world it does not (``docs/backtest.md``, "The linear start"), so training chooses per
outcome (``training.train.choose_trees``).

The regression reads each numeric signal's signed log, the median for a missing value plus a
missing flag, standardised, with C = 0.01. Its margin is then fitted by regression trees of one
signal each (interaction constraints), so the start is a sum of one step function per signal. The
trees are merged into the booster (LightGBM's ``init_model``): scoring, saving and TreeSHAP see
one ordinary booster, the explanations stay exact, and a model folder is the same format as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

C = 0.01  # strong shrinkage: the start is a prior the trees correct, not a model of its own
MAX_ROUNDS = 2000  # the step functions are refined until the margin is matched (tolerance below)
TOLERANCE = 1e-3  # largest mean absolute gap, in log-odds, between the trees and the regression
STEP_PARAMS: dict[str, object] = {
    "objective": "regression",
    "learning_rate": 1.0,
    "num_leaves": 63,
    "min_data_in_leaf": 1,
    "min_sum_hessian_in_leaf": 0.0,
    "lambda_l2": 0.0,
    "max_bin": 1023,
    "deterministic": True,
    "force_col_wise": True,
    "num_threads": 1,
    "verbosity": -1,
}


def signed_log(values: np.ndarray) -> np.ndarray:
    """log(1 + |v|) with v's sign: counts and money on a scale where each doubling counts alike."""
    return np.sign(values) * np.log1p(np.abs(values))


def linear_margin(x: pd.DataFrame, y: np.ndarray, numeric: Sequence[str], seed: int) -> np.ndarray:
    """The regression's log-odds on the training rows themselves."""
    z = signed_log(x[list(numeric)].to_numpy(dtype=float))
    model = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=C, max_iter=2000, random_state=seed),
    )
    model.fit(z, y)
    return np.asarray(model.decision_function(z), dtype=float)


def fit_linear_start(x: pd.DataFrame, y: np.ndarray, numeric: Sequence[str], seed: int) -> lgb.Booster:
    """Trees of one numeric signal each whose sum is the regression's log-odds on ``x``'s rows.

    Categorical columns are blanked for these trees (they keep their place, so the booster's
    columns are the model matrix's) and are left to the boosted trees.
    """
    margin = linear_margin(x, y, numeric, seed)
    signals = set(numeric)
    # Same columns and category levels as the model matrix (LightGBM checks them when boosting
    # continues), every categorical value missing.
    blank = {c: pd.Categorical.from_codes(np.full(len(x), -1), dtype=x[c].dtype) for c in x.columns if c not in signals}
    data = lgb.Dataset(x.assign(**blank) if blank else x, label=margin, free_raw_data=False)
    constraints = [[i] for i, c in enumerate(x.columns) if c in signals]
    params = {**STEP_PARAMS, "seed": seed, "interaction_constraints": constraints, "metric": "l1"}
    return lgb.train(
        params, data, num_boost_round=MAX_ROUNDS, valid_sets=[data], valid_names=["fit"], callbacks=[_close_enough]
    )


def _close_enough(env: lgb.callback.CallbackEnv) -> None:
    """Stops the step-function fit once its mean absolute gap to the margin is within tolerance."""
    results = env.evaluation_result_list or []
    if results and results[0][2] <= TOLERANCE:
        raise lgb.callback.EarlyStopException(env.iteration, results)
