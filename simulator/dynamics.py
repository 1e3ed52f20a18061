"""The hidden dynamics: each account's latent health state, its monthly evolution, and the hazards it drives."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# --- latent state ---------------------------------------------------------------------------

_PHI_H, _SD_H, _DOWNTURN_DRIFT = 0.8, 0.26, 0.4
_PHI_X, _SD_X = 0.7, 1.0


@dataclass
class _State:
    """Latent state arrays of any shape (accounts, or accounts x Monte Carlo paths)."""

    mu: np.ndarray  # account baseline
    h: np.ndarray  # overall health
    down: np.ndarray  # months left in a downturn episode
    xe: np.ndarray  # idiosyncratic engagement
    xs: np.ndarray  # idiosyncratic support friction
    xn: np.ndarray  # idiosyncratic satisfaction
    xf: np.ndarray  # idiosyncratic financial stress

    def tile(self, k: int) -> _State:
        return _State(*(np.repeat(a[:, None], k, axis=1) for a in asdict_arrays(self)))


def asdict_arrays(s: _State) -> tuple[np.ndarray, ...]:
    return (s.mu, s.h, s.down, s.xe, s.xs, s.xn, s.xf)


def _step(s: _State, rng: np.random.Generator, downturn_rate: float) -> _State:
    """One month of state evolution: AR(1) with shocks and downturn episodes."""
    shape = s.h.shape
    start = (s.down == 0) & (rng.random(shape) < downturn_rate)
    length = 2 + rng.geometric(0.35, shape)
    down = np.where(start, length, np.maximum(s.down - 1, 0))
    h = s.mu + _PHI_H * (s.h - s.mu) + _SD_H * rng.standard_normal(shape) - _DOWNTURN_DRIFT * (down > 0)
    innov = _SD_X * np.sqrt(1 - _PHI_X**2)
    xs = [_PHI_X * x + innov * rng.standard_normal(shape) for x in (s.xe, s.xs, s.xn, s.xf)]
    return _State(s.mu, h, down, *xs)


def _components(s: _State) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Engagement, support friction, satisfaction and financial stress from the state."""
    e = s.h + 0.3 * s.xe
    fr = -0.6 * s.h + 0.55 * s.xs
    sat = 0.7 * s.h + 0.5 * s.xn
    fin = -0.5 * s.h + 0.55 * s.xf
    return e, fr, sat, fin


def _churn_terms(s: _State, e_before: np.ndarray) -> np.ndarray:
    """The planted drivers' contributions to churn log-odds (stacked on axis 0)."""
    e, fr, sat, fin = _components(s)
    return np.stack(
        [
            1.5 * np.maximum(-0.1 - e, 0.0),  # low active users
            2.0 * np.maximum(e_before - e - 0.2, 0.0),  # falling active users
            1.1 * np.maximum(fr - 0.4, 0.0),  # unresolved high-priority tickets
            1.1 * np.maximum(-sat - 0.4, 0.0),  # detractor NPS
            1.0 * np.maximum(fin - 0.4, 0.0),  # overdue invoices
        ]
    )


_BASE_MONTHLY, _BASE_ANNUAL, _BASE_UPSELL = -4.6, -3.1, -5.2


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _utilisation(e: np.ndarray) -> np.ndarray:
    return 0.05 + 0.93 * _sigmoid(0.6 + 1.6 * e)


def _breadth(e: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Number of non-login features in use (1..7)."""
    return 1 + np.floor(6.999 * _sigmoid(bias + 1.3 * e)).astype(np.int64)


def _upsell_logit(e: np.ndarray, bias: np.ndarray, shift: float) -> np.ndarray:
    util = _utilisation(e)
    breadth = (_breadth(e, bias) - 1) / 6
    return _BASE_UPSELL + shift + 9.0 * np.maximum(util - 0.75, 0.0) + 1.5 * breadth
