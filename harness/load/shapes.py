"""Arrival-rate shapes and the arrival times they imply.

In: the scenario's load section (constant ``rate_rps`` + ``duration``, or k6-style ``stages``).
Out: ``Segment`` pieces of a piecewise-linear rate function (seconds since load start → rps) and
``uniform_arrivals``: the exact intended send times, the k-th arrival where the integral of the rate
reaches k (no randomness, so the request count is exactly the area under the rate).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from harness.scenario import LoadSpec


@dataclass(frozen=True)
class Segment:
    """The rate goes linearly from ``start_rps`` to ``end_rps`` over [start_s, end_s)."""

    start_s: float
    end_s: float
    start_rps: float
    end_rps: float
    phase: str

    def rate_at(self, t_s: float) -> float:
        span = self.end_s - self.start_s
        frac = 0.0 if span <= 0 else (t_s - self.start_s) / span
        return self.start_rps + (self.end_rps - self.start_rps) * frac

    @property
    def arrivals(self) -> float:
        """Expected arrivals in the segment (area under the rate)."""
        return (self.start_rps + self.end_rps) / 2 * (self.end_s - self.start_s)


def segments_for(spec: LoadSpec) -> tuple[Segment, ...]:
    """The load section as rate segments."""
    if spec.stages is None:
        rate = float(spec.rate_rps or 0.0)
        return (Segment(0.0, spec.duration_s, rate, rate, "steady"),)
    out, t, rate = [], 0.0, spec.start_rps
    for i, stage in enumerate(spec.stages):
        out.append(Segment(t, t + stage.duration, rate, stage.target_rps, f"stage-{i}"))
        t, rate = t + stage.duration, stage.target_rps
    return tuple(out)


def rate_at(segments: tuple[Segment, ...], t_s: float) -> float:
    """The requested rate at ``t_s`` (0 outside the schedule)."""
    for seg in segments:
        if seg.start_s <= t_s < seg.end_s:
            return seg.rate_at(t_s)
    return 0.0


def phase_at(segments: tuple[Segment, ...], t_s: float) -> str:
    """The phase name at ``t_s``."""
    for seg in segments:
        if t_s < seg.end_s:
            return seg.phase
    return segments[-1].phase if segments else ""


def uniform_arrivals(segments: tuple[Segment, ...]) -> Iterator[float]:
    """Intended send times (seconds since load start), evenly spaced in cumulative arrivals."""
    done = 0.0  # arrivals' worth of area before the current segment
    k = 1
    for seg in segments:
        area = seg.arrivals
        while k - 0.5 <= done + area:  # arrival k sits at cumulative area k - 0.5 (midpoint rule)
            need = k - 0.5 - done
            yield seg.start_s + _time_for_area(seg, need)
            k += 1
        done += area


def _time_for_area(seg: Segment, area: float) -> float:
    """Solve start_rps*u + slope*u^2/2 = area for u >= 0."""
    span = seg.end_s - seg.start_s
    slope = 0.0 if span <= 0 else (seg.end_rps - seg.start_rps) / span
    a = seg.start_rps
    if abs(slope) < 1e-12:
        return area / a if a > 0 else span
    disc = max(a * a + 2 * slope * area, 0.0)
    return min((-a + math.sqrt(disc)) / slope, span)
