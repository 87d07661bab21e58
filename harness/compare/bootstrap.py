"""The circular block bootstrap over windows, with its block length chosen from the data.

In: per-window series (one number per steady-state window of a run) and each run's window count.
Out: ``block_length`` (Politis & White 2004, with Patton, Politis & White's 2009 correction: the
circular-bootstrap optimum, from the flat-top lag window of the autocorrelations) and ``resample_counts``:
a (resamples x windows) matrix of how often each window enters each resample.  With one run, each
resample is ceil(W / b) blocks of b consecutive windows (wrapping around the end) cut to W windows;
with repeats it is hierarchical: first the runs are drawn with replacement, then each drawn run's
windows by blocks, so run-to-run variance enters the interval.  Statistics are then linear in the
counts (sums of per-window counts and histograms), so every resample costs one matrix product.
"""

from __future__ import annotations

import math

import numpy as np


def block_length(series: np.ndarray) -> float:
    """Politis-White optimal block length of the circular bootstrap for ``series`` (>= 1)."""
    x = np.asarray(series, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n < 4:
        return 1.0
    eps = x - x.mean()
    gamma0 = float(eps @ eps) / n
    if gamma0 <= 1e-300:
        return 1.0  # a constant series (e.g. throughput under an open-model schedule)
    kn = max(5, math.ceil(math.log10(n)))
    m_max = math.ceil(math.sqrt(n)) + kn
    b_max = math.ceil(min(3 * math.sqrt(n), n / 3))
    lags = min(m_max, n - 1)
    acv = np.array([float(eps[k:] @ eps[: n - k]) / n for k in range(lags + 1)])
    rho = np.abs(acv[1:] / gamma0)
    threshold = 2.0 * math.sqrt(math.log10(n) / n)
    m_hat = None  # the first lag followed by kn insignificant autocorrelations
    for m in range(0, lags - kn + 1):
        if np.all(rho[m : m + kn] < threshold):
            m_hat = m
            break
    big_m = min(2 * max(m_hat, 1), lags) if m_hat is not None else lags
    g, lr = 0.0, acv[0]
    for k in range(1, big_m + 1):
        t = k / big_m
        lam = 1.0 if t <= 0.5 else 2.0 * (1.0 - t)
        g += 2.0 * lam * k * acv[k]
        lr += 2.0 * lam * acv[k]
    d_cb = (4.0 / 3.0) * lr**2
    if d_cb <= 1e-300:
        return 1.0
    b = (2.0 * g**2 / d_cb) ** (1.0 / 3.0) * n ** (1.0 / 3.0)
    return float(min(max(b, 1.0), b_max))


def resample_counts(
    windows: list[int], block: int, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """(resamples x sum(windows)) counts: hierarchical over runs, circular blocks within each run."""
    runs = len(windows)
    offsets = np.concatenate([[0], np.cumsum(windows)[:-1]]).astype(np.int64)
    total = int(sum(windows))
    flat = np.zeros(resamples * total, dtype=np.int64)
    choice = rng.integers(0, runs, size=(resamples, runs)) if runs > 1 else np.zeros((resamples, 1), dtype=np.int64)
    rows_all = np.arange(resamples, dtype=np.int64)
    for j in range(choice.shape[1]):
        for r in range(runs):
            rows = rows_all[choice[:, j] == r]
            if not len(rows):
                continue
            w = windows[r]
            b = max(1, min(block, w))
            m = math.ceil(w / b)
            starts = rng.integers(0, w, size=(len(rows), m))
            idx = ((starts[:, :, None] + np.arange(b)) % w).reshape(len(rows), m * b)[:, :w]
            cells = rows[:, None] * total + offsets[r] + idx
            flat += np.bincount(cells.ravel(), minlength=resamples * total)
    return flat.reshape(resamples, total).astype(float)
