"""Steady-state windows: the samples compare's statistics are computed on (never single requests).

In: ``RunSample`` per run, the window length and the warm-up.  Out: ``Windows`` of one side: per
window (all runs of the side one after another) the request count, failed count, count within the
goodput latency bound, and per streamed/latency metric a histogram on bins shared by both sides
(log-spaced, ``BINS`` of them between the smallest and largest value seen, about 0.5 % wide for a
range of 1,000x), so that any resample's percentile is one matrix product and a cumulative sum away.

Windows are ``window_s`` long by intended send time, from ``load start + warm-up`` to the end of the
planned load; a last partial window is left out.  Requests inside one run are autocorrelated (queues
carry over), so the windows, not the requests, are the units the bootstrap resamples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from harness.compare.sides import RunSample

BINS = 2048
MIN_WINDOWS = 6
MIN_WINDOW_S = 1.0
DEFAULT_WINDOW_S = 10.0
TREND_METRICS = ("latency_ms", "ttft_ms", "itl_ms")


@dataclass(frozen=True)
class Bins:
    """Log-spaced histogram bins for one metric: edges from ``lo`` to ``hi``."""

    log_lo: float
    log_step: float

    @classmethod
    def covering(cls, arrays: list[np.ndarray]) -> Bins:
        values = np.concatenate([a[np.isfinite(a) & (a > 0)] for a in arrays]) if arrays else np.array([])
        lo = float(values.min()) if values.size else 1.0
        hi = float(values.max()) if values.size else 10.0
        lo, hi = max(lo * 0.999, 1e-6), max(hi * 1.001, lo * 1.01)
        return cls(np.log(lo), (np.log(hi) - np.log(lo)) / BINS)

    def index(self, values: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            idx = np.floor((np.log(np.maximum(values, 1e-300)) - self.log_lo) / self.log_step)
        return np.clip(np.nan_to_num(idx, nan=0.0), 0, BINS - 1).astype(np.int64)

    def quantiles(self, counts: np.ndarray, q: float) -> np.ndarray:
        """The q-quantile of each row of histogram counts (log-linear within the bin)."""
        counts = np.atleast_2d(counts)
        total = counts.sum(axis=1)
        cum = np.cumsum(counts, axis=1)
        target = q * total
        idx = np.minimum((cum < target[:, None]).sum(axis=1), BINS - 1)
        rows = np.arange(len(counts))
        below = np.where(idx > 0, cum[rows, np.maximum(idx - 1, 0)], 0.0)
        inside = counts[rows, idx]
        frac = np.where(inside > 0, (target - below) / np.where(inside > 0, inside, 1), 0.5)
        out = np.exp(self.log_lo + (idx + np.clip(frac, 0, 1)) * self.log_step)
        return np.where(total > 0, out, np.nan)

    def cdf(self, counts: np.ndarray, points: int = 300) -> tuple[list[float], list[float]]:
        """(x, share <= x) at up to ``points`` bin edges where the distribution has mass."""
        total = counts.sum()
        if total <= 0:
            return [], []
        cum = np.cumsum(counts) / total
        nonzero = np.flatnonzero(counts)
        first, last = nonzero[0], nonzero[-1]
        picks = np.unique(np.linspace(first, last, min(points, last - first + 1)).astype(int))
        x = np.exp(self.log_lo + (picks + 1) * self.log_step)
        return [round(float(v), 4) for v in x], [round(float(v), 6) for v in cum[picks]]


@dataclass
class Windows:
    """Per-window counts and histograms of one side (its runs' windows one after another)."""

    window_s: float
    per_run: list[int]
    requests: np.ndarray
    failed: np.ndarray
    good: np.ndarray
    hist: dict[str, np.ndarray] = field(default_factory=dict)
    exact: dict[str, np.ndarray] = field(default_factory=dict)  # pooled values, for exact point estimates


def steady_range(run: RunSample, warmup_s: float) -> tuple[float, float]:
    return run.load_start_s + warmup_s, run.load_start_s + run.load_duration_s


def count_windows(run: RunSample, warmup_s: float, window_s: float) -> int:
    start, end = steady_range(run, warmup_s)
    return max(0, int(np.floor((end - start) / window_s + 1e-9)))


def build_windows(runs: list[RunSample], warmup_s: float, window_s: float, bins: dict[str, Bins]) -> Windows:
    per_run, requests, failed, good = [], [], [], []
    hists: dict[str, list[np.ndarray]] = {m: [] for m in bins}
    exact: dict[str, list[np.ndarray]] = {m: [] for m in bins}
    for run in runs:
        n_win = count_windows(run, warmup_s, window_s)
        start, _ = steady_range(run, warmup_s)
        a, b = np.searchsorted(run.t_s, [start, start + n_win * window_s])
        widx = np.minimum(((run.t_s[a:b] - start) / window_s).astype(np.int64), n_win - 1)
        ok = run.ok[a:b]
        latency = run.latency_ms[a:b]
        within = ok if run.latency_limit_ms is None else ok & (latency <= run.latency_limit_ms)
        per_run.append(n_win)
        requests.append(np.bincount(widx, minlength=n_win).astype(float))
        failed.append(np.bincount(widx, weights=(~ok).astype(float), minlength=n_win))
        good.append(np.bincount(widx, weights=within.astype(float), minlength=n_win))
        for metric, metric_bins in bins.items():
            values = _values(run, metric)[a:b]
            keep = np.isfinite(values)
            cells = widx[keep] * BINS + metric_bins.index(values[keep])
            hists[metric].append(np.bincount(cells, minlength=n_win * BINS).reshape(n_win, BINS).astype(float))
            exact[metric].append(values[keep])
    return Windows(
        window_s,
        per_run,
        np.concatenate(requests),
        np.concatenate(failed),
        np.concatenate(good),
        {m: np.vstack(h) for m, h in hists.items()},
        {m: np.concatenate(v) for m, v in exact.items()},
    )


def _values(run: RunSample, metric: str) -> np.ndarray:
    return {"latency_ms": run.latency_ms, "ttft_ms": run.ttft_ms, "itl_ms": run.itl_ms}[metric]


def streamed(runs: list[RunSample]) -> bool:
    return all(np.isfinite(r.ttft_ms).any() for r in runs)
