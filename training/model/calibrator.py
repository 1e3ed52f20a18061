"""A calibrator stored as plain numbers (no pickle): isotonic breakpoints or Platt coefficients.

How one is fitted and chosen is :mod:`training.calibration`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

Method = Literal["isotonic", "platt"]
EPS = 1e-6


@dataclass(frozen=True)
class Calibrator:
    """Maps a raw model score (log-odds) to a calibrated probability.

    Isotonic: piecewise-linear through (x, y) breakpoints; Platt: sigmoid(a * raw + b).
    """

    method: Method
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    a: float = 1.0
    b: float = 0.0

    def predict(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.method == "platt":
            p = 1.0 / (1.0 + np.exp(-(self.a * raw + self.b)))
        else:
            p = np.interp(raw, self.x, self.y)
        return np.clip(p, EPS, 1 - EPS)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        return cls(
            method=data["method"],
            x=tuple(data.get("x", ())),
            y=tuple(data.get("y", ())),
            a=float(data.get("a", 1.0)),
            b=float(data.get("b", 0.0)),
        )
