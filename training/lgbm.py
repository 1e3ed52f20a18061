"""LightGBM binary models: one typed parameter set and a factory that trains a booster.

The fitted booster with its calibrator is :class:`training.model.booster.CalibratedBooster`.

Deterministic for a fixed seed (``deterministic``, ``force_col_wise``, fixed threads), early
stopped on a later time fold. Boosters are kept as LightGBM's native text, never pickled.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd


@dataclass(frozen=True)
class LGBMParams:
    """Hyperparameters; defaults tuned on the generated world. Override with `--param key=value`."""

    learning_rate: float = 0.03
    num_leaves: int = 15
    min_data_in_leaf: int = 40
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    bagging_freq: int = 1
    lambda_l2: float = 5.0
    max_bin: int = 255
    num_boost_round: int = 1500
    early_stopping_rounds: int = 100
    # One thread: LightGBM's OpenMP threads spin while they wait, so on shared cores two threads ran
    # ten times slower than one (docs/benchmarks.md, "LightGBM threads"); one thread also gives the
    # same model on every machine. A dedicated machine can take more: --param num_threads=N.
    num_threads: int = 1

    def booster_params(self, seed: int) -> dict[str, object]:
        params = {k: v for k, v in asdict(self).items() if k not in ("num_boost_round", "early_stopping_rounds")}
        params.update(
            objective="binary",
            metric="binary_logloss",
            seed=seed,
            deterministic=True,
            force_col_wise=True,
            verbosity=-1,
        )
        return params

    def replace(self, **changes: object) -> LGBMParams:
        fields = asdict(self)
        unknown = set(changes) - set(fields)
        if unknown:
            raise ValueError(f"unknown LightGBM parameter(s): {', '.join(sorted(unknown))}")
        typed = {}
        for key, value in changes.items():
            kind = type(fields[key])
            try:
                typed[key] = kind(value)
            except (TypeError, ValueError):
                raise ValueError(
                    f"LightGBM parameter {key} takes {'an integer' if kind is int else 'a number'}, not {value!r}"
                ) from None
        return LGBMParams(**{**fields, **typed})


def train_booster(
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_valid: pd.DataFrame,
    y_valid: np.ndarray,
    params: LGBMParams,
    seed: int,
    start: lgb.Booster | None = None,
) -> lgb.Booster:
    """Fit on the train fold, early-stopping on the validation fold; boosting continues from
    ``start``'s trees when given (:mod:`training.linear_start`), which stay in the booster."""
    train = lgb.Dataset(x_train, label=y_train, free_raw_data=False)
    valid = lgb.Dataset(x_valid, label=y_valid, reference=train, free_raw_data=False)
    return lgb.train(
        params.booster_params(seed),
        train,
        num_boost_round=params.num_boost_round,
        valid_sets=[valid],
        init_model=start,
        callbacks=[lgb.early_stopping(params.early_stopping_rounds, verbose=False)],
    )
