"""The compiled parts of :mod:`training.model.treeshap`: per-leaf tables at load, contributions per row.

numba with ``cache=True`` (the machine code is written next to this file, or to the user's
cache directory when the package is read-only, and reloaded by every later process) and
``nogil=True`` (Python threads run row ranges side by side; numba's own thread pools are
not safe to call from several threads at once, and the API calls from several processes).
"""

from __future__ import annotations

import numpy as np
from numba import njit

ZERO = float(np.float32(1e-35))  # LightGBM's kZeroThreshold (a float): |x| <= this is zero
MAX_INT = 2147483648.0  # LightGBM casts a category to int; larger values land on the right
BLOCK = 64  # rows per pass over the trees (measured: 64 beat 32, 128, 256 and 512)


@njit(cache=True, nogil=True, inline="always")
def _goes_left(value, kind, threshold, cat_start, cat_len, cat_bits):  # type: ignore[no-untyped-def]
    """LightGBM's ``Tree::NumericalDecision`` / ``CategoricalDecision`` on a raw value."""
    if kind & 1:  # categorical: the category's bit in the node's bitset sends it left
        if np.isnan(value) or value <= -1.0 or value >= MAX_INT:
            return False
        category = int(value)  # truncation, as the C++ cast
        word = category >> 5
        if word >= cat_len:
            return False
        return ((cat_bits[cat_start + word] >> (category & 31)) & 1) == 1
    missing = (kind >> 2) & 3  # 0 none, 1 zero, 2 NaN
    if np.isnan(value):
        if missing == 2:
            return (kind & 2) != 0  # default_left
        value = 0.0
    if missing == 1 and -ZERO <= value <= ZERO:
        return (kind & 2) != 0
    return value <= threshold


@njit(cache=True, nogil=True)
def build_tables(p, path_start, path_len, value, table_start, weights, tables):  # type: ignore[no-untyped-def]
    """Fill ``tables`` with each tabled leaf's Q(T) for every subset T of its path's features.

    Q(T) = v * sum over S within T of w(|S|) * prod over the path's features outside S of p_j,
    with w(s) = s!(D-1-s)!/D!. It is built bit by bit: a feature in T multiplies the
    polynomial by (p_j + t) (t marks "in S"), one outside T by p_j; then the t^s coefficients
    are weighted by w(s). Every term is a product of positive numbers, so no cancellation.
    """
    for leaf in range(len(value)):
        start = table_start[leaf]
        if start < 0:
            continue
        depth = path_len[leaf]
        size = 1 << depth
        poly = np.zeros((size, depth + 1))
        poly[0, 0] = 1.0
        for j in range(depth):
            pj = p[path_start[leaf] + j]
            half = 1 << j
            for m in range(half):
                for s in range(j + 1, 0, -1):
                    poly[m | half, s] = poly[m, s] * pj + poly[m, s - 1]
                poly[m | half, 0] = poly[m, 0] * pj
                for s in range(j + 1):
                    poly[m, s] *= pj
        for m in range(size):
            total = 0.0
            for s in range(depth):
                total += weights[depth, s] * poly[m, s]
            tables[start + m] = value[leaf] * total


@njit(cache=True, nogil=True)
def _direct(out, v, hot, feats, p, start, depth, weights):  # type: ignore[no-untyped-def]
    """One leaf's contributions without a table (a deep path, or a feature with zero cover)."""
    poly = np.zeros(depth + 1)
    for i in range(depth):
        poly[:] = 0.0
        poly[0] = 1.0
        degree = 0
        for j in range(depth):
            if j == i:
                continue
            pj = p[start + j]
            if (hot >> j) & 1:
                degree += 1
                for s in range(degree, 0, -1):
                    poly[s] = poly[s] * pj + poly[s - 1]
                poly[0] *= pj
            else:
                for s in range(degree + 1):
                    poly[s] *= pj
        total = 0.0
        for s in range(degree + 1):
            total += weights[depth, s] * poly[s]
        one = 1.0 if (hot >> i) & 1 else 0.0
        out[feats[start + i]] += v * (one - p[start + i]) * total


@njit(cache=True, nogil=True)
def explain_rows(  # type: ignore[no-untyped-def]
    x, lo, hi, out, raw, trees, node_kind, node_feature, node_threshold, node_children, node_slot,
    node_cat, cat_bits, leaf_value, leaf_path, feats, p, coef, table_start, tables, weights, base,
):  # fmt: skip
    """Contributions (``out``, rows x features + 1) and raw scores of rows ``lo`` to ``hi``.

    Per tree: every split's decision for the row, then each node's "failed" mask (bit k set
    when the row left the path at a split on the path's k-th feature), top-down because a
    child's index is always above its parent's. A leaf's hot set H is its path's features the
    row satisfied: a hot feature k gets (1-p_k)/p_k * Q(H without k), a cold one -Q(H).

    Rows go in blocks, and each tree's loops run over the block's rows innermost: the tree's
    tables stay in cache, its branches repeat, and successive updates of one feature's
    contribution fall on different rows, so they do not wait on each other.
    """
    n_features = out.shape[1] - 1
    fail_node = np.zeros((max(1, trees[:, 1].max()), BLOCK), dtype=np.int64)
    fail_leaf = np.zeros((max(1, trees[:, 3].max()), BLOCK), dtype=np.int64)
    hot = np.zeros(BLOCK, dtype=np.int64)
    acc = np.zeros((n_features + 1, BLOCK))
    score = np.zeros(BLOCK)
    for first in range(lo, hi, BLOCK):
        size = min(BLOCK, hi - first)
        acc[:] = 0.0
        score[:] = 0.0
        for t in range(trees.shape[0]):
            node0, n_nodes, leaf0, n_leaves = trees[t, 0], trees[t, 1], trees[t, 2], trees[t, 3]
            if n_nodes == 0:
                for r in range(size):
                    score[r] += leaf_value[leaf0]
                continue
            fail_node[0, :size] = 0
            for j in range(n_nodes):
                g = node0 + j
                feature, kind, threshold = node_feature[g], node_kind[g], node_threshold[g]
                cat_start, cat_len = node_cat[g, 0], node_cat[g, 1]
                bit = np.int64(1) << node_slot[g]
                left_child, right_child = node_children[g, 0], node_children[g, 1]
                left_fail = fail_node[left_child] if left_child >= 0 else fail_leaf[~left_child]
                right_fail = fail_node[right_child] if right_child >= 0 else fail_leaf[~right_child]
                here = fail_node[j]
                for r in range(size):
                    went_left = _goes_left(x[first + r, feature], kind, threshold, cat_start, cat_len, cat_bits)
                    left_fail[r] = here[r] if went_left else here[r] | bit
                    right_fail[r] = here[r] | bit if went_left else here[r]
            for k in range(n_leaves):
                leaf = leaf0 + k
                value, start, depth, ts = leaf_value[leaf], leaf_path[leaf, 0], leaf_path[leaf, 1], table_start[leaf]
                full = (np.int64(1) << depth) - 1
                failed = fail_leaf[k]
                for r in range(size):
                    if failed[r] == 0:
                        score[r] += value  # the row's own leaf, summed in tree order as LightGBM does
                    hot[r] = full & ~failed[r]
                if ts < 0:
                    for r in range(size):
                        _direct(out[first + r], value, hot[r], feats, p, start, depth, weights)
                    continue
                for m in range(depth):
                    c, bit, into = coef[start + m], np.int64(1) << m, acc[feats[start + m]]
                    for r in range(size):  # no branch: hot or cold is a coin flip the CPU cannot predict
                        h = (hot[r] >> m) & 1
                        into[r] += (c * h - (1 - h)) * tables[ts + (hot[r] & ~bit)]  # coef (hot) or -1 (cold)
        for r in range(size):
            row = out[first + r]
            for f in range(n_features):
                row[f] += acc[f, r]
            row[n_features] += base
            raw[first + r] = score[r]
