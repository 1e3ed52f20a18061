"""Our TreeSHAP against LightGBM's own (``pred_contrib``): the same numbers on any booster we can train."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from training.model.treeshap import TreeShap, UnsupportedModel

TOLERANCE = 1e-9


def random_booster(seed: int, depth: int, zero_as_missing: bool, rounds: int) -> tuple[lgb.Booster, pd.DataFrame]:
    """A booster on seeded data with NaNs, zeros, a repeated-value column and two categorical columns."""
    rng = np.random.default_rng(seed)
    n = 600
    x = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": np.where(rng.random(n) < 0.3, np.nan, rng.exponential(size=n)),
            "c": np.where(rng.random(n) < 0.4, 0.0, rng.normal(size=n)),  # zeros, missing when zero_as_missing
            "d": rng.integers(0, 4, size=n).astype(float),
            "e": pd.Categorical(rng.choice(list("pqrstuvw"), size=n)),  # many levels: sorted-bitset splits
            "f": pd.Categorical(np.where(rng.random(n) < 0.2, None, rng.choice(list("xyz"), size=n))),  # one-hot
        }
    )
    signal = x["a"] + np.nan_to_num(x["b"]) * (x["d"] - 1.5) + x["e"].isin(list("pqr")) - (x["f"] == "x") + x["c"]
    y = (signal + rng.normal(scale=0.5, size=n) > 0.5).astype(int)
    params = {
        "objective": "binary",
        "max_depth": depth,
        "num_leaves": int(min(2**depth, 48)),
        "min_data_in_leaf": int(rng.integers(1, 20)),
        "min_data_per_group": 5,
        "cat_smooth": 1.0,
        "max_cat_to_onehot": 4,
        "zero_as_missing": zero_as_missing,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "learning_rate": 0.3,
        "seed": seed,
        "verbosity": -1,
        "num_threads": 1,
    }
    return lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=rounds), x


def probe_rows(x: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Training rows plus edge values: NaN everywhere, zeros, infinities, unseen and negative categories."""
    rng = np.random.default_rng(seed + 1)
    rows = x.sample(200, random_state=seed).reset_index(drop=True)
    edges = pd.DataFrame(
        {
            "a": [np.nan, 0.0, np.inf, -np.inf, 1e-40],
            "b": [np.nan, 0.0, -0.0, np.inf, rng.normal()],
            "c": [np.nan, 0.0, 1e-36, -1e-36, 5.0],
            "d": [np.nan, 0.0, 1.0, 3.0, 9.0],
            "e": pd.Categorical([None, "p", "w", None, "q"], categories=x["e"].cat.categories),
            "f": pd.Categorical([None, "x", None, "z", "y"], categories=x["f"].cat.categories),
        }
    )
    return pd.concat([rows, edges], ignore_index=True)


def assert_same_as_lightgbm(booster: lgb.Booster, rows: pd.DataFrame, **kwargs: int) -> None:
    ours, raw = TreeShap.from_booster(booster, **kwargs).explain(rows)
    theirs = booster.predict(rows, pred_contrib=True)
    assert ours.shape == theirs.shape
    assert np.max(np.abs(ours - theirs)) <= TOLERANCE
    np.testing.assert_array_equal(raw, booster.predict(rows, raw_score=True))  # the leaves, in LightGBM's order
    assert np.max(np.abs(ours.sum(axis=1) - raw)) <= TOLERANCE


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    depth=st.integers(1, 12),
    zero_as_missing=st.booleans(),
    rounds=st.integers(1, 12),
)
def test_equals_pred_contrib_on_random_boosters(seed: int, depth: int, zero_as_missing: bool, rounds: int) -> None:
    """On boosters of depth 1 to 12 with missing values, zero-as-missing and categorical splits, every
    contribution is within 1e-9 of LightGBM's, and the raw score is LightGBM's to the bit."""
    booster, x = random_booster(seed, depth, zero_as_missing, rounds)
    assert_same_as_lightgbm(booster, probe_rows(x, seed))


@pytest.mark.parametrize("depth", [3, 12])
def test_rows_without_tables_give_the_same_contributions(depth: int) -> None:
    """The per-row path used for leaves too deep for a table gives the tables' numbers."""
    booster, x = random_booster(7, depth, False, 8)
    assert_same_as_lightgbm(booster, probe_rows(x, 7), max_table_bits=0)


def test_splits_cover_every_decision_kind() -> None:
    """The random boosters do exercise categorical splits, default-left and zero-as-missing nodes."""
    kinds: set[int] = set()
    for seed, zero in [(1, False), (2, True)]:
        dump = random_booster(seed, 8, zero, 10)[0].dump_model()["tree_info"]
        stack = [t["tree_structure"] for t in dump]
        while stack:
            node = stack.pop()
            if "split_index" in node:
                kinds.add((node["decision_type"], node["missing_type"], node["default_left"]))
                stack += [node["left_child"], node["right_child"]]
    assert {k[0] for k in kinds} == {"<=", "=="}
    assert {"NaN", "Zero", "None"} <= {k[1] for k in kinds}
    assert {True, False} <= {k[2] for k in kinds}


def test_best_iteration_and_constant_trees() -> None:
    """Only the trees up to the best iteration count, as in pred_contrib; single-leaf trees add their value."""
    booster, x = random_booster(3, 4, False, 30)
    booster.best_iteration = 11
    rows = probe_rows(x, 3)
    np.testing.assert_allclose(
        TreeShap.from_booster(booster).contributions(rows),
        booster.predict(rows, pred_contrib=True, num_iteration=11),
        rtol=0,
        atol=TOLERANCE,
    )
    flat = lgb.train(
        {"objective": "binary", "min_data_in_leaf": 1000, "verbosity": -1}, lgb.Dataset(x, label=x["a"] > 0)
    )
    assert_same_as_lightgbm(flat, rows)


def test_many_rows_split_over_threads_give_the_same_numbers() -> None:
    """Rows explained by two threads equal rows explained one by one."""
    booster, x = random_booster(4, 6, False, 10)
    rows = pd.concat([probe_rows(x, 4)] * 25, ignore_index=True)
    explainer = TreeShap.from_booster(booster)
    together, raw = explainer.explain(rows, threads=2)
    alone, raw_alone = explainer.explain(rows.head(300), threads=1)
    np.testing.assert_array_equal(together[:300], alone)
    np.testing.assert_array_equal(raw[:300], raw_alone)


def test_refuses_models_it_does_not_cover() -> None:
    """Multiclass boosters and matrices of the wrong width are refused with a reason."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    multi = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbosity": -1}, lgb.Dataset(x, rng.integers(0, 3, 200)), 2
    )
    with pytest.raises(UnsupportedModel, match="multiclass"):
        TreeShap.from_booster(multi)
    binary = lgb.train({"objective": "binary", "verbosity": -1}, lgb.Dataset(x, rng.integers(0, 2, 200)), 2)
    with pytest.raises(ValueError, match="reads 3 features; got 2 columns"):
        TreeShap.from_booster(binary).explain(x[:, :2])
