"""Arrival processes: the intended send times a rate shape implies.

In: rate ``Segment`` pieces, a process (``uniform``, ``poisson``, ``gamma``), the gamma burstiness and a
seed.  Out: an iterator of intended send times (seconds since load start, increasing) and, for
distributed runs, one worker's share of them.

All three work by time rescaling: arrivals of a unit-rate process are drawn on the axis of *cumulative
expected arrivals* Λ(t) (the area under the rate) and mapped back through Λ⁻¹, so they follow any
piecewise-linear rate exactly.

- ``uniform``: the k-th arrival sits where Λ reaches k − ½ (deterministic; the count is the area).
- ``poisson``: unit exponential gaps on the Λ axis (a non-homogeneous Poisson process).
- ``gamma``: gamma gaps with shape ``burstiness`` and mean 1, as in vLLM's benchmark: 1 is Poisson,
  below 1 burstier (coefficient of variation 1/√burstiness), above 1 more even.

Random draws come from ``random.Random(seed)``: the same seed gives the same times on any machine.
Every worker of a distributed run draws the same global sequence and keeps arrivals ``index``,
``index + count``, ...: the union over workers is exactly the single-process schedule.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from typing import Literal

from harness.load.shapes import Segment

Process = Literal["uniform", "poisson", "gamma"]


def unit_arrivals(process: Process, burstiness: float = 1.0, seed: int = 1) -> Iterator[float]:
    """Increasing arrival positions of a unit-rate process on the cumulative-arrivals axis."""
    if process == "uniform":
        return (k - 0.5 for k in itertools.count(1))
    rng = random.Random(seed)
    if process == "poisson":
        return itertools.accumulate(rng.expovariate(1.0) for _ in itertools.count())
    if process == "gamma":
        scale = 1.0 / burstiness
        return itertools.accumulate(rng.gammavariate(burstiness, scale) for _ in itertools.count())
    raise ValueError(f"unknown arrival process {process!r}; use uniform, poisson or gamma")


def arrival_times(
    segments: tuple[Segment, ...], process: Process = "uniform", burstiness: float = 1.0, seed: int = 1
) -> Iterator[float]:
    """Intended send times (seconds since load start) for the rate ``segments``."""
    positions = unit_arrivals(process, burstiness, seed)
    done = 0.0  # cumulative arrivals before the current segment
    target = next(positions)
    for seg in segments:
        area = seg.arrivals
        while target <= done + area:
            yield seg.start_s + _time_for_area(seg, target - done)
            target = next(positions)
        done += area


def worker_share(times: Iterator[float], index: int, count: int) -> Iterator[float]:
    """Arrivals ``index``, ``index + count``, ... of ``times`` (the whole sequence when count is 1)."""
    if count <= 1:
        return times
    return itertools.islice(times, index, None, count)


def _time_for_area(seg: Segment, area: float) -> float:
    """Solve start_rps*u + slope*u^2/2 = area for 0 <= u <= span (the time into the segment)."""
    span = seg.end_s - seg.start_s
    slope = 0.0 if span <= 0 else (seg.end_rps - seg.start_rps) / span
    a = seg.start_rps
    if abs(slope) < 1e-12:
        return min(area / a, span) if a > 0 else span
    disc = max(a * a + 2 * slope * area, 0.0)
    # The numerically stable root: 2*area / (a + sqrt(disc)) equals (sqrt(disc) - a) / slope.
    denom = a + math.sqrt(disc)
    return min(2 * area / denom, span) if denom > 0 else span
