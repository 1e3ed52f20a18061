"""The model matrix: which columns a model reads, in which order, with which categories.

One :class:`FeatureSpec` is saved with every model and used again at scoring, so training
and scoring build exactly the same matrix: same column order, same category levels
(an unseen category becomes missing), and no infinities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

KEY_COLUMNS = ("account_id", "as_of")


@dataclass(frozen=True)
class FeatureSpec:
    numeric: tuple[str, ...]
    categorical: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> levels

    @property
    def names(self) -> list[str]:
        return list(self.numeric) + list(self.categorical)

    def to_dict(self) -> dict[str, object]:
        return {"numeric": list(self.numeric), "categorical": {k: list(v) for k, v in self.categorical.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        cats: Mapping[str, Sequence[str]] = data.get("categorical", {}) or {}
        return cls(tuple(data["numeric"]), {k: tuple(v) for k, v in cats.items()})


def infer_spec(frame: pd.DataFrame, exclude: tuple[str, ...] = ()) -> FeatureSpec:
    """Numeric columns become numeric features; text columns categorical with their levels."""
    numeric, categorical = [], {}
    for name in frame.columns:
        if name in KEY_COLUMNS or name in exclude:
            continue
        col = frame[name]
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            numeric.append(name)
        else:
            levels = sorted(str(v) for v in col.dropna().unique())
            categorical[name] = tuple(levels)
    return FeatureSpec(tuple(numeric), categorical)


FLOAT32_WHOLE = 2**24  # every whole number up to this magnitude is exact in float32


def exact_float32(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """``frame`` with each float column of ``names`` stored as float32 where that loses nothing.

    A column qualifies when every finite value is a whole number of magnitude at most 2**24:
    counts, days, seats, scores on whole-number scales. Ratios, shares, means and money keep
    float64. Every value reads back equal (:func:`float_block` widens to float64), so a model
    learns the same trees; the modelling frame of `churn train`, held for the whole run, shrinks
    by the share of such columns.
    """
    narrowed = {}
    for name in names:
        column = frame[name]
        if column.dtype != np.float64:
            continue
        values = column.to_numpy()
        finite = values[np.isfinite(values)]
        if np.all(np.abs(finite) <= FLOAT32_WHOLE) and np.array_equal(finite, np.round(finite)):
            narrowed[name] = column.astype(np.float32)
    return frame.assign(**narrowed) if narrowed else frame


def float_block(frame: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    """The columns ``names`` of ``frame`` as one float matrix; an absent or unparsable value is NaN.

    Parsed column by column only where a column is not float already: per-column overhead is
    what counts when few rows are scored.
    """
    block = np.full((len(frame), len(names)), np.nan)
    for i, name in enumerate(names):
        if name not in frame.columns:
            continue
        column = frame[name]
        if pd.api.types.is_float_dtype(column.dtype) and not isinstance(column.dtype, pd.ArrowDtype):
            block[:, i] = column.to_numpy(dtype="float64")
        else:
            block[:, i] = pd.to_numeric(column, errors="coerce").astype("float64").to_numpy()
    return block


def to_matrix(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Columns of ``spec`` in order: floats (inf -> NaN) and pandas categoricals with fixed levels."""
    missing = [n for n in spec.names if n not in frame.columns]
    if missing:
        raise ValueError(f"feature frame lacks columns the model needs: {', '.join(missing[:5])}")
    values = float_block(frame, spec.numeric)
    values[~np.isfinite(values)] = np.nan
    out: dict[str, object] = dict(zip(spec.numeric, values.T, strict=True))
    for name, levels in spec.categorical.items():
        out[name] = pd.Categorical(frame[name].astype("string").astype(object), categories=list(levels))
    if not spec.categorical:
        return pd.DataFrame(values, columns=list(spec.numeric), index=frame.index)
    return pd.DataFrame(out, index=frame.index)[spec.names]
