"""What one probe says about the SLOs: margins, achieved rate and over-saturation.

In: parsed ``Threshold``s and their observed values; request columns (numpy arrays: intended send time,
completion time, latency, ok) of a probe.  Out: per-SLO margins (< 0 inside the SLO), the achieved ratio
(completions per second, in the steady window shifted by the median latency, over arrivals per second) and
guidellm's over-saturation test (latency and in-flight requests both rising through the probe, each slope's
95 % t interval above 0, and latency up by ``min_rise``).
Pure functions: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import stdtrit

from harness.thresholds import Threshold

UPPER = ("<", "<=")
LOWER = (">", ">=")
#: latency must rise by this share of its mean across the probe to call it over-saturated: at 96-98 % of
#: capacity a Poisson queue often climbs by 20-50 % within a 15 s probe and settles later (a 0.2 here flagged
#: 12 % of single probes at 96 %, 26 % at 98 %; 1.0 flags 6 % and 14 %), while an overload of 2 % or more is
#: caught by the achieved rate anyway (docs/capacity.md#accuracy)
MIN_RISE = 1.0


def margin(threshold: Threshold, value: float | None) -> float | None:
    """observed / limit - 1 for ``<``/``<=``; 1 - observed / limit for ``>``/``>=`` (< 0: inside the SLO)."""
    if value is None or not math.isfinite(value):
        return None
    limit = threshold.limit
    if threshold.op in UPPER:
        return value / limit - 1.0 if limit > 0 else value - limit
    if threshold.op in LOWER:
        return 1.0 - value / limit if limit > 0 else limit - value
    return None


def score(m: float | None) -> float | None:
    """The margin on a log scale (sign kept: log of observed/limit), which the fit works on; a margin of
    -1 (an error rate of 0) is clipped to log(0.001)."""
    if m is None:
        return None
    return math.log(max(1.0 + m, 1e-3))


def achieved_ratio(
    t_intended_s: np.ndarray,
    t_done_s: np.ndarray,
    ok: np.ndarray,
    start_s: float,
    end_s: float,
    dropped_share: float = 0.0,
) -> float | None:
    """Successful completions in [start, end] shifted forward by the median latency, over the arrivals in
    [start, end], times the share of arrivals the generator did not drop (None without arrivals).  Below
    capacity the shifted window catches the same requests' answers; above it the service answers at its
    own rate, so the ratio is service rate / offered rate."""
    if end_s <= start_s or t_intended_s.size == 0:
        return None
    sent = (t_intended_s >= start_s) & (t_intended_s < end_s)
    arrivals = np.count_nonzero(sent)
    if arrivals == 0:
        return None
    lat = (t_done_s - t_intended_s)[sent & ok]
    shift = float(np.median(lat)) if lat.size else 0.0
    done = np.count_nonzero(ok & (t_done_s >= start_s + shift) & (t_done_s < end_s + shift))
    return done / arrivals * (1.0 - dropped_share)


@dataclass(frozen=True)
class Trend:
    """A least-squares slope with its 95 % t interval, and the fitted rise as a share of the mean."""

    slope: float
    lower: float
    rise_share: float

    @property
    def climbing(self) -> bool:
        return self.lower > 0


def trend(x: np.ndarray, y: np.ndarray) -> Trend | None:
    """Slope of y on x (None with fewer than 3 finite points or no spread)."""
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 3 or np.ptp(x) == 0:
        return None
    dx = x - x.mean()
    slope = float(np.dot(dx, y - y.mean()) / np.dot(dx, dx))
    resid = y - y.mean() - slope * dx
    stderr = math.sqrt(float(np.dot(resid, resid)) / (x.size - 2) / float(np.dot(dx, dx)))
    half = float(stdtrit(x.size - 2, 0.975)) * stderr
    mean = float(np.mean(y))
    rise = slope * float(np.ptp(x))
    return Trend(slope, slope - half, rise / mean if mean > 0 else math.inf)


def window_series(
    t_intended_s: np.ndarray, latency_ms: np.ndarray, start_s: float, end_s: float, windows: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per window: its middle, the median latency of requests sent in it, and the requests in flight at
    its middle (intended send <= t < intended send + latency)."""
    edges = np.linspace(start_s, end_s, windows + 1)
    mids = (edges[:-1] + edges[1:]) / 2
    done = t_intended_s + latency_ms / 1000.0
    med = np.full(windows, np.nan)
    flight = np.zeros(windows)
    for i in range(windows):
        inside = (t_intended_s >= edges[i]) & (t_intended_s < edges[i + 1])
        if inside.any():
            med[i] = float(np.nanmedian(latency_ms[inside]))
        flight[i] = np.count_nonzero((t_intended_s <= mids[i]) & (done > mids[i]))
    return mids, med, flight


def oversaturated(
    t_intended_s: np.ndarray,
    latency_ms: np.ndarray,
    start_s: float,
    end_s: float,
    windows: int,
    min_rise: float = MIN_RISE,
) -> bool:
    """True when latency and in-flight requests both climb through the probe (see the module docstring)."""
    mids, med, flight = window_series(t_intended_s, latency_ms, start_s, end_s, windows)
    lat, fl = trend(mids, med), trend(mids, flight)
    if lat is None or fl is None:
        return False
    return lat.climbing and fl.climbing and lat.rise_share >= min_rise
