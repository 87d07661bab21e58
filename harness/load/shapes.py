"""Arrival-rate shapes as piecewise-linear rate functions.

In: the scenario's ``load`` section (its ``resolved_shape``: constant, stages, spike, step, sine/diurnal,
trace).  Out: ``Segment`` pieces of the rate function (seconds since load start → requests per second),
``phase_windows`` (consecutive pieces of one phase merged, for the event log) and ``Schedule``, which
answers ``rate_at``/``phase_at`` in O(log n) for long shapes (a day-long trace has thousands of pieces).

Every shape is exactly piecewise linear except the sine, which is sampled at ``points_per_period``
points per cycle and joined linearly (the area error of 48 points is below 0.1 % of a cycle).
The closed model has no arrival rate: one zero-rate segment named ``closed`` spans its duration.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import assert_never

from harness.scenario import (
    AnyShape,
    ConstantShape,
    LoadSpec,
    SineShape,
    SpikeShape,
    StagesShape,
    StepShape,
    TraceShape,
)


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
    """The load section as rate segments (zero-length pieces left out)."""
    shape = spec.resolved_shape
    if shape is None:
        return (Segment(0.0, spec.duration_s, 0.0, 0.0, "closed"),)
    return tuple(seg for seg in _pieces(shape) if seg.end_s > seg.start_s)


def _pieces(shape: AnyShape) -> list[Segment]:
    match shape:
        case ConstantShape():
            return [Segment(0.0, shape.duration, shape.rate_rps, shape.rate_rps, "steady")]
        case StagesShape():
            stages = ((f"stage-{i}", s.duration, s.target_rps) for i, s in enumerate(shape.stages))
            return _chain(shape.start_rps, stages)
        case SpikeShape():
            base, peak = shape.base_rps, shape.peak_rps
            legs = (
                ("before", shape.before, base),
                ("rise", shape.rise, peak),
                ("peak", shape.hold, peak),
                ("fall", shape.fall, base),
                ("after", shape.after, base),
            )
            return _chain(base, legs)
        case StepShape():
            out = []
            for i in range(shape.steps):
                rate = shape.start_rps + i * shape.step_rps
                t = i * shape.step_duration
                out.append(Segment(t, t + shape.step_duration, rate, rate, f"step-{i}"))
            return out
        case SineShape():
            return _sine(shape)
        case TraceShape():
            return _trace(shape)
        case _:
            assert_never(shape)


def _chain(start_rps: float, legs: Iterable[tuple[str, float, float]]) -> list[Segment]:
    """Legs of (phase, duration, rate at the end), each ramping from where the previous one ended."""
    out, t, rate = [], 0.0, start_rps
    for phase, duration_s, end_rps in legs:
        out.append(Segment(t, t + duration_s, rate, end_rps, phase))
        t, rate = t + duration_s, end_rps
    return out


def sine_rate(shape: SineShape, t_s: float) -> float:
    """The exact rate of a sine shape: the trough at t = 0, the crest at half a period."""
    return shape.min_rps + (shape.max_rps - shape.min_rps) * (1 - math.cos(2 * math.pi * t_s / shape.period)) / 2


def _sine(shape: SineShape) -> list[Segment]:
    step = shape.period / shape.points_per_period
    n = max(1, math.ceil(shape.duration / step - 1e-9))
    times = [min(i * step, shape.duration) for i in range(n + 1)]
    return [
        Segment(a, b, sine_rate(shape, a), sine_rate(shape, b), shape.kind)
        for a, b in zip(times, times[1:], strict=False)
    ]


def _trace(shape: TraceShape) -> list[Segment]:
    points = shape.points or []
    t_origin = points[0][0]
    out = []
    for (t1, r1), (t2, r2) in zip(points, points[1:], strict=False):
        start, end = (t1 - t_origin) * shape.time_scale, (t2 - t_origin) * shape.time_scale
        rate1 = r1 * shape.rate_scale
        rate2 = rate1 if shape.interpolate == "step" else r2 * shape.rate_scale
        out.append(Segment(start, end, rate1, rate2, "trace"))
    return out


def phase_windows(segments: tuple[Segment, ...]) -> tuple[Segment, ...]:
    """Consecutive segments of the same phase merged into one (start rate of the first, end of the last)."""
    out: list[Segment] = []
    for seg in segments:
        if out and out[-1].phase == seg.phase and out[-1].end_s == seg.start_s:
            last = out[-1]
            out[-1] = Segment(last.start_s, seg.end_s, last.start_rps, seg.end_rps, seg.phase)
        else:
            out.append(seg)
    return tuple(out)


def requested_arrivals(segments: tuple[Segment, ...]) -> float:
    """Expected arrivals of the whole shape (area under the rate)."""
    return sum(seg.arrivals for seg in segments)


class Schedule:
    """A shape's segments with O(log n) lookups by time (seconds since load start)."""

    def __init__(self, segments: tuple[Segment, ...]) -> None:
        self.segments = segments
        self._ends = [seg.end_s for seg in segments]

    @property
    def duration_s(self) -> float:
        return self._ends[-1] if self._ends else 0.0

    def _index(self, t_s: float) -> int | None:
        i = bisect.bisect_right(self._ends, t_s)
        return i if i < len(self.segments) else None

    def rate_at(self, t_s: float) -> float:
        """The requested rate at ``t_s`` (0 outside the schedule)."""
        i = self._index(t_s)
        return 0.0 if i is None or t_s < 0 else self.segments[i].rate_at(t_s)

    def phase_at(self, t_s: float) -> str:
        """The phase name at ``t_s`` (the last phase after the end)."""
        i = self._index(t_s)
        if i is None:
            return self.segments[-1].phase if self.segments else ""
        return self.segments[i].phase


def rate_at(segments: tuple[Segment, ...], t_s: float) -> float:
    """The requested rate at ``t_s`` (0 outside the schedule)."""
    return Schedule(segments).rate_at(t_s)


def phase_at(segments: tuple[Segment, ...], t_s: float) -> str:
    """The phase name at ``t_s``."""
    return Schedule(segments).phase_at(t_s)
