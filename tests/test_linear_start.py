"""The linear start (``training.linear_start``): a regularised logistic regression written as trees of
one signal each, which the boosted trees continue from inside one ordinary booster."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from training.lgbm import LGBMParams, train_booster
from training.linear_start import TOLERANCE, fit_linear_start, linear_parts
from training.model.matrix import FeatureSpec
from training.model.treeshap import TreeShap
from training.train import TrainConfig, choose_trees

FAST = LGBMParams(num_boost_round=200, early_stopping_rounds=20)


def additive_world(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Twelve event counts, each adding a little to the log-odds by its log; a plan; some gaps."""
    rng = np.random.default_rng(seed)
    counts = rng.negative_binomial(2, 0.05, size=(n, 12)).astype(float)
    x = pd.DataFrame(counts, columns=[f"events_{i}" for i in range(12)])
    x.loc[rng.random(n) < 0.1, "events_3"] = np.nan
    x["plan"] = pd.Categorical(rng.choice(["basic", "pro"], n), categories=["basic", "pro"])
    weights = np.linspace(-0.5, 0.5, 12)
    margin = -1.5 + np.log1p(np.nan_to_num(counts)) @ weights / 2
    y = (rng.random(n) < 1 / (1 + np.exp(-margin))).astype(float)
    return x, y


def tree_features(booster: lgb.Booster) -> list[set[int]]:
    """The features each tree splits on."""

    def walk(node: dict) -> set[int]:
        if "split_feature" not in node:
            return set()
        return {node["split_feature"]} | walk(node["left_child"]) | walk(node["right_child"])

    return [walk(t["tree_structure"]) for t in booster.dump_model()["tree_info"]]


def test_the_start_trees_match_the_regression_one_signal_per_tree() -> None:
    x, y = additive_world(3000, seed=1)
    numeric = [c for c in x.columns if c != "plan"]
    start = fit_linear_start(x, y, numeric, seed=7)
    intercept, parts = linear_parts(x, y, numeric, seed=7)
    margin = intercept + parts.sum(axis=1)
    gap = np.abs(start.predict(x) - margin)
    assert gap.mean() <= TOLERANCE
    assert np.corrcoef(start.predict(x), margin)[0, 1] > 0.999
    used = tree_features(start)
    assert all(len(features) <= 1 for features in used)
    assert list(x.columns).index("plan") not in set().union(*used)  # categoricals are left to the trees


def test_boosting_continues_from_the_start_and_explanations_add_up() -> None:
    """The booster holds the start's trees first; exact TreeSHAP of the whole booster sums to its raw score."""
    x, y = additive_world(3000, seed=2)
    numeric = [c for c in x.columns if c != "plan"]
    start = fit_linear_start(x[:2000], y[:2000], numeric, seed=7)
    booster = train_booster(x[:2000], y[:2000], x[2000:], y[2000:], FAST, seed=7, start=start)
    first = start.current_iteration()
    assert booster.current_iteration() > first
    np.testing.assert_allclose(booster.predict(x, raw_score=True, num_iteration=first), start.predict(x), atol=1e-9)
    raw = booster.predict(x, raw_score=True, num_iteration=booster.best_iteration)
    contributions = TreeShap.from_booster(booster).contributions(x)
    np.testing.assert_allclose(contributions.sum(axis=1), raw, atol=1e-6)
    again = lgb.Booster(model_str=booster.model_to_string(num_iteration=booster.best_iteration))
    np.testing.assert_allclose(again.predict(x, raw_score=True), raw, atol=1e-12)


def rows(x: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    """A training frame as ``choose_trees`` reads it: four snapshots per account."""
    return x.assign(account_id=[f"a{i // 4}" for i in range(len(x))], churn=y)


def test_auto_takes_the_start_where_many_small_log_effects_add_up() -> None:
    x, y = additive_world(6000, seed=3)
    spec = FeatureSpec(tuple(c for c in x.columns if c != "plan"), {"plan": ("basic", "pro")})
    config = TrainConfig(lgbm=FAST, seed=5)
    assert choose_trees("churn", rows(x, y), spec, config).linear_start
    assert not choose_trees("churn", rows(x, y), spec, TrainConfig(lgbm=FAST, seed=5, linear_start="off")).linear_start


def test_an_unknown_choice_is_refused() -> None:
    with pytest.raises(ValueError, match="linear_start takes auto, on, off, not 'maybe'"):
        TrainConfig(linear_start="maybe")
