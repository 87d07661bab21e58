"""Fit each SLO's margin against the offered rate and predict where it crosses zero.

In: (rate, score) points of one SLO (``margins.score``: the margin on a log scale), a bracket [lo, hi].
Out: a ``MarginFit`` (an isotonic, i.e. non-decreasing, fit by scipy's PAVA, then scipy's PCHIP through it:
monotone and without overshoot) and its root in the bracket, if the fit crosses zero there.  Latency only
grows with load, so a margin that dips is noise: the isotonic step removes it before interpolating.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.optimize import brentq, isotonic_regression


@dataclass(frozen=True)
class MarginFit:
    """The fitted curve: unique rates, their isotonic values, and the PCHIP interpolant (None: one point)."""

    rates: np.ndarray
    fitted: np.ndarray
    curve: PchipInterpolator | None

    def __call__(self, rate: float | np.ndarray) -> np.ndarray:
        if self.curve is None:
            return np.full(np.shape(rate), self.fitted[0], dtype=float)
        x = np.clip(rate, self.rates[0], self.rates[-1])
        return np.asarray(self.curve(x), dtype=float)


def fit(rates: list[float], scores: list[float]) -> MarginFit | None:
    """Isotonic + PCHIP fit of scores against rates (None without points); equal rates are averaged."""
    pts = [(r, s) for r, s in zip(rates, scores, strict=True) if s is not None and np.isfinite(s)]
    if not pts:
        return None
    x = np.array([p[0] for p in pts], dtype=float)
    y = np.array([p[1] for p in pts], dtype=float)
    ux, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    uy = np.bincount(inverse, weights=y) / counts
    iso = isotonic_regression(uy, weights=counts.astype(float), increasing=True).x
    curve = PchipInterpolator(ux, iso, extrapolate=False) if ux.size >= 2 else None
    return MarginFit(ux, np.asarray(iso, dtype=float), curve)


def root(curve: MarginFit, lo: float, hi: float) -> float | None:
    """The lowest rate in [lo, hi] where the fit reaches 0 (None when it stays on one side)."""
    if curve.curve is None or hi <= lo:
        return None
    grid = np.linspace(lo, hi, 65)
    vals = curve(grid)
    above = np.flatnonzero(vals >= 0)
    if above.size == 0 or above[0] == 0:
        return None if above.size == 0 else (lo if vals[0] == 0 else None)
    a, b = float(grid[above[0] - 1]), float(grid[above[0]])
    return float(brentq(lambda r: float(curve(r)), a, b)) if curve(b) > 0 else b
