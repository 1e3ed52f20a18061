"""Exact path-dependent TreeSHAP for LightGBM boosters, with per-leaf tables built once at load.

The contributions are the same numbers as LightGBM's ``pred_contrib`` (the classic
algorithm of Lundberg et al. 2020, with cover = each node's training row count), computed
another way. For a leaf with value v whose root path splits on D distinct features, let
p_j be the product of the cover fractions of the path's splits on feature j, and H the
features whose splits the row satisfies (all of them, for each feature). Then feature i's
share of that leaf is, with Q(T) = v * sum_{S in T} w(|S|) prod_{j not in S} p_j and
w(s) = s!(D-1-s)!/D!:

- i in H: (1 - p_i) / p_i * Q(H without i);
- i not in H: -Q(H).

Q depends on the leaf and on H only, so every leaf's 2^D values are computed once when the
model loads (:func:`training.model.treeshap_kernels.build_tables`); explaining a row is then one
decision per split plus, per leaf, D table look-ups: O(leaves x depth) per tree.

Why this algorithm: it is FastTreeSHAP v2's idea (Yang 2021: precompute per leaf, for every
pattern of satisfied path features, what the row-independent part of the sum is), with the
table reduced from D x 2^D numbers to 2^D by dividing p_i out, which is exact to rounding
since every term of Q(H without i) carries p_i (leaves with a zero cover, and paths with
more than ``max_table_bits`` features, are computed directly per row instead). Our models
are fixed after training, so the tables' cost is paid once per model load, and the trees
are small (15 leaves), so they stay a few MB. Linear TreeShap (Yu et al. 2022) has the same
O(leaves x depth) per-row cost but evaluates polynomials at every row, with more
arithmetic per leaf and a conditioning that needs care; GPUTreeShap's path formulation
(Mitchell et al. 2022) is for GPUs, which our servers do not have.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from training.model.treeshap_kernels import build_tables, explain_rows

MAX_PATH = 62  # distinct features on one root-to-leaf path (one bit each in an int64 mask)
ROWS_PER_THREAD = 2048  # below this, one thread: waking a second costs more than it saves


class UnsupportedModel(ValueError):
    """A LightGBM model this explainer does not cover (multiclass, linear trees, random forest)."""


@dataclass(frozen=True)
class TreeShap:
    """One booster's trees as flat arrays plus the per-leaf tables; call :meth:`explain`."""

    n_features: int
    arrays: tuple[Any, ...]  # the arguments of explain_rows after the row ones, in order

    @classmethod
    def from_booster(cls, booster: Any, *, max_table_bits: int = 12) -> TreeShap:
        """The booster at its best iteration (all of them when it has none), as ``pred_contrib`` uses it."""
        best = booster.best_iteration if booster.best_iteration > 0 else -1
        return cls.from_model_text(booster.model_to_string(num_iteration=best), max_table_bits=max_table_bits)

    @classmethod
    def from_model_text(cls, text: str, *, max_table_bits: int = 12) -> TreeShap:
        """Parse LightGBM's native text model and precompute every leaf's table."""
        header, trees = parse_model_text(text)
        n_features = int(header["max_feature_idx"]) + 1
        explainer = cls(n_features, _flatten([_tree_paths(t) for t in trees], max_table_bits))
        explainer.explain(np.zeros((1, n_features)))  # load (or compile) the kernel now, not on a first request
        return explainer

    def explain(self, x: pd.DataFrame | np.ndarray, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Contributions (rows x features + 1, the last column the base value) and raw scores.

        The raw score is the leaves' values summed in tree order, as LightGBM predicts it; the
        contributions add up to it to rounding.
        """
        matrix = feature_matrix(x, self.n_features)
        n = len(matrix)
        out, raw = np.zeros((n, self.n_features + 1)), np.zeros(n)
        workers = max(1, min(threads or _cpus(), n // ROWS_PER_THREAD))
        if workers == 1:
            explain_rows(matrix, 0, n, out, raw, *self.arrays)
            return out, raw
        edges = np.linspace(0, n, workers + 1).astype(int)
        with ThreadPoolExecutor(workers) as pool:  # per call: a pool kept across a fork would hang the child
            jobs = [
                pool.submit(explain_rows, matrix, lo, hi, out, raw, *self.arrays)
                for lo, hi in zip(edges[:-1], edges[1:], strict=True)
            ]
            for job in jobs:
                job.result()
        return out, raw

    def contributions(self, x: pd.DataFrame | np.ndarray) -> np.ndarray:
        """As ``booster.predict(x, pred_contrib=True)``: rows x (features + 1), base value last."""
        return self.explain(x)[0]


def feature_matrix(x: pd.DataFrame | np.ndarray, n_features: int) -> np.ndarray:
    """Rows as LightGBM reads them: floats, NaN for missing, a categorical column as its codes."""
    if isinstance(x, pd.DataFrame):
        columns = [
            np.where(c.cat.codes < 0, np.nan, c.cat.codes) if isinstance(c.dtype, pd.CategoricalDtype) else c
            for _, c in x.items()
        ]
        x = (
            np.column_stack([pd.to_numeric(pd.Series(np.asarray(c)), errors="coerce") for c in columns])
            if columns
            else x
        )
    matrix = np.ascontiguousarray(np.asarray(x, dtype=np.float64).reshape(len(x), -1))
    if matrix.shape[1] != n_features:
        raise ValueError(f"the model reads {n_features} features; got {matrix.shape[1]} columns")
    return matrix


def parse_model_text(text: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The header's and each tree's ``key=value`` lines of a LightGBM text model."""
    blocks = text.split("end of trees")[0].split("\nTree=")
    header = dict(line.split("=", 1) for line in blocks[0].splitlines() if "=" in line)
    if header.get("num_tree_per_iteration", "1") != "1":
        raise UnsupportedModel("TreeSHAP here covers single-output models (binary, regression), not multiclass")
    if "average_output" in blocks[0].splitlines():
        raise UnsupportedModel("random-forest models (average_output) are not supported")
    trees = [dict(line.split("=", 1) for line in block.splitlines()[1:] if "=" in line) for block in blocks[1:]]
    if any(t.get("is_linear", "0") != "0" for t in trees):
        raise UnsupportedModel("linear trees (linear_tree=true) are not supported")
    if not trees:
        raise UnsupportedModel("the model has no trees")
    return header, trees


@dataclass
class _Paths:
    """One tree in the kernel's terms: nodes with their feature slot, leaves with their paths."""

    nodes: dict[str, np.ndarray]
    cat_bits: np.ndarray
    leaf_value: np.ndarray
    paths: list[tuple[list[int], list[float]]]  # per leaf: distinct features in path order, and their p
    leaf_count: np.ndarray
    root_count: float


def _numbers(tree: dict[str, str], key: str, dtype: type) -> np.ndarray:
    return np.array(tree[key].split(), dtype=dtype) if tree.get(key, "").strip() else np.zeros(0, dtype=dtype)


def _tree_paths(tree: dict[str, str]) -> _Paths:
    values = _numbers(tree, "leaf_value", float)
    n_nodes = int(tree["num_leaves"]) - 1
    feature, children = _numbers(tree, "split_feature", int), np.zeros((n_nodes, 2), dtype=np.int64)
    children[:, 0], children[:, 1] = _numbers(tree, "left_child", int), _numbers(tree, "right_child", int)
    kind, threshold = _numbers(tree, "decision_type", int), _numbers(tree, "threshold", float)
    bounds = _numbers(tree, "cat_boundaries", int)
    cat = np.zeros((n_nodes, 2), dtype=np.int64)
    for split in np.flatnonzero(kind & 1):
        index = int(threshold[split])
        cat[split] = bounds[index], bounds[index + 1] - bounds[index]
    counts = _numbers(tree, "internal_count", float), _numbers(tree, "leaf_count", float)
    slot = np.zeros(n_nodes, dtype=np.int64)
    paths: list[tuple[list[int], list[float]]] = [([], []) for _ in values]
    stack: list[tuple[int, list[int], list[float]]] = [(0, [], [])] if n_nodes else []
    while stack:  # depth first, each node with its path's distinct features and their cover products
        node, feats, p = stack.pop()
        f = int(feature[node])
        k = feats.index(f) if f in feats else len(feats)
        if k == len(feats):
            feats, p = [*feats, f], [*p, 1.0]
        if k >= MAX_PATH:
            raise UnsupportedModel(f"a tree path splits on more than {MAX_PATH} distinct features")
        slot[node] = k
        for child in children[node]:
            share = (counts[0][child] if child >= 0 else counts[1][~child]) / counts[0][node]
            p_child = [*p[:k], p[k] * share, *p[k + 1 :]]
            if child >= 0:
                stack.append((int(child), feats, p_child))
            else:
                paths[~child] = (feats, p_child)
    nodes = {"kind": kind, "feature": feature, "threshold": threshold, "children": children, "slot": slot, "cat": cat}
    root = float(counts[0][0]) if n_nodes else float(counts[1].sum())
    return _Paths(nodes, _numbers(tree, "cat_threshold", np.int64), values, paths, counts[1], root)


def _flatten(trees: Sequence[_Paths], max_table_bits: int) -> tuple[Any, ...]:
    """The kernel's arrays: every tree's nodes, leaves, paths and tables end to end."""
    nodes: dict[str, list[np.ndarray]] = {k: [] for k in trees[0].nodes}
    layout, cats, base = [], [], 0.0
    leaf_path, feats, p, table_start, size = [], [], [], [], 0
    n_nodes = n_leaves = n_path = n_cat = 0
    for tree in trees:
        layout.append((n_nodes, len(tree.nodes["feature"]), n_leaves, len(tree.leaf_value)))
        for key, column in tree.nodes.items():
            nodes[key].append(column + np.array([n_cat, 0]) if key == "cat" else column)
        cats.append(tree.cat_bits)
        base += _expected_value(tree)
        for path_feats, path_p in tree.paths:
            depth = len(path_feats)
            leaf_path.append((n_path, depth))
            feats.extend(path_feats)
            p.extend(path_p)
            n_path += depth
            tabled = depth and depth <= max_table_bits and min(path_p) > 0
            table_start.append(size if tabled else -1)
            size += (1 << depth) if tabled else 0
        n_nodes, n_leaves, n_cat = (
            n_nodes + len(tree.nodes["feature"]),
            n_leaves + len(tree.leaf_value),
            n_cat + len(tree.cat_bits),
        )
    joined = {k: np.concatenate(v) if v else np.zeros(0) for k, v in nodes.items()}
    leaf_value = np.concatenate([t.leaf_value for t in trees])
    p_all, paths = np.array(p, dtype=float), np.array(leaf_path, dtype=np.int64).reshape(-1, 2)
    with np.errstate(divide="ignore"):
        coef = (1.0 - p_all) / p_all
    weights = _shapley_weights(MAX_PATH + 1)
    starts, tables = np.array(table_start, dtype=np.int64), np.zeros(max(size, 1))
    build_tables(
        p_all, np.ascontiguousarray(paths[:, 0]), np.ascontiguousarray(paths[:, 1]), leaf_value, starts, weights, tables
    )
    return (
        np.array(layout, dtype=np.int64),
        joined["kind"].astype(np.int64),
        joined["feature"].astype(np.int64),
        joined["threshold"].astype(np.float64),
        joined["children"].astype(np.int64).reshape(-1, 2),
        joined["slot"].astype(np.int64),
        joined["cat"].astype(np.int64).reshape(-1, 2),
        np.concatenate(cats).astype(np.uint32) if cats else np.zeros(1, np.uint32),
        leaf_value,
        paths,
        np.array(feats, dtype=np.int64),
        p_all,
        coef,
        starts,
        tables,
        weights,
        base,
    )


def _expected_value(tree: _Paths) -> float:
    """LightGBM's ``Tree::ExpectedValue``: the leaves' values weighted by their training counts."""
    if len(tree.leaf_value) == 1:
        return float(tree.leaf_value[0])
    total, expected = tree.root_count, 0.0
    for count, value in zip(tree.leaf_count, tree.leaf_value, strict=True):
        expected += (count / total) * value
    return expected


def _shapley_weights(n: int) -> np.ndarray:
    """w[D, s] = s! (D-1-s)! / D!, the weight of a coalition of s of a path's other D-1 features."""
    weights = np.zeros((n + 1, n + 1))
    for depth in range(1, n + 1):
        for s in range(depth):
            weights[depth, s] = 1.0 / (depth * math.comb(depth - 1, s))
    return weights


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
