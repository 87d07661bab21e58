"""Failure headroom measured by a pod-kill run: how many extra replicas keep the SLO through a failure.

In: a finished run's fault records (summary.json ``faults``: ``injected``, ``targets``, ``capacity_before``,
``min_ready_replicas``, ``time_to_capacity_s``, ``requests_in_window``, ``failed_requests``) and its timeline
(``t_s``, ``ready_replicas``) as arrays.  Out: ``FailureDip`` (what one failure cost that run) and, for the
planner, ``failure_replicas`` (the headroom at a rate) and ``failure_backlog`` (what a failure at that rate
would queue without it).  Pure functions.

From the worst injected fault of the run (most replicas lost, then longest):

    lost      = max(pods the fault targeted, capacity_before - min Ready replicas in the fault's window)
    T         = time_to_capacity_s: injection -> Ready replicas back to capacity_before (the failure's length)
    dip       = replica-seconds lost: the integral of capacity_before - Ready over [injection, injection + T]

and for a rate λ with base(λ) = ceil(λ / (u x μ)) replicas and N failures tolerated (``failures_tolerated``):

    headroom(λ) = max(0, ceil(λ / μ + N x lost) - base(λ))

While N failures last, base + headroom - N x lost replicas remain; each sustains μ (the found rate: the SLO
holds there for as long as it is offered, as the repeats confirmed), so together they carry λ when
(base + headroom - N x lost) x μ >= λ.  The spare capacity the utilisation target leaves, base x μ - λ,
absorbs part of the loss and the rest is headroom; at u = 0.8 a fleet of five or more absorbs one lost
replica (headroom 0), a fleet of one needs ``lost`` more.  T does not lower the count (a shortfall of s rps
piles up s x T requests, which reach the SLO's tail whatever T is), but it says what the headroom buys:
``failure_backlog(λ)`` = max(0, λ - (base - N x lost) x μ) x T requests that a failure at λ would queue
without it.  The failed requests of the window (in flight on the killed replica) are reported, not planned
for: no number of replicas saves the requests a replica held when it died.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class FailureDip:
    """What the worst fault of a pod-kill run cost."""

    fault: str
    lost_replicas: int
    capacity_before: int
    duration_s: float | None  # None: not back to capacity_before before the run ended
    replica_seconds_lost: float | None
    failed_requests: int
    requests_in_window: int


def failure_dip(faults: Sequence[dict[str, Any]], t_s: np.ndarray, ready: np.ndarray) -> FailureDip | None:
    """The worst injected fault that took replicas out (None when the run has none)."""
    dips = []
    for f in faults:
        if not f.get("injected") or f.get("capacity_before") is None:
            continue
        before = int(f["capacity_before"])
        low = f.get("min_ready_replicas")
        lost = max(len(f.get("targets") or []), before - int(low) if low is not None else 0)
        if lost <= 0:
            continue
        duration = f.get("time_to_capacity_s")
        start = float(f.get("injection_s") or 0.0)
        end = start + float(duration) if duration is not None else (float(t_s[-1]) if t_s.size else start)
        seconds = _replica_seconds(t_s, ready, before, start, end)
        length = None if duration is None else float(duration)
        failed, total = int(f.get("failed_requests") or 0), int(f.get("requests_in_window") or 0)
        dips.append(FailureDip(str(f.get("name")), lost, before, length, seconds, failed, total))
    inf = float("inf")
    return max(dips, key=lambda d: (d.lost_replicas, inf if d.duration_s is None else d.duration_s), default=None)


def _replica_seconds(t_s: np.ndarray, ready: np.ndarray, before: int, start: float, end: float) -> float | None:
    """The integral of (before - Ready)+ over [start, end], Ready held from one sample to the next."""
    if t_s.size < 2 or end <= start:
        return None
    edges = np.clip(np.append(t_s, t_s[-1]), start, end)
    widths = np.diff(edges)
    return float(np.sum(np.clip(before - ready, 0, None) * widths))


def failure_replicas(rate_rps: float, base: int, per_replica_rps: float, failures: int, lost: int) -> int:
    """The headroom that keeps ``rate_rps`` served at the SLO while ``failures`` x ``lost`` replicas are out."""
    need = math.ceil(rate_rps / per_replica_rps + failures * lost - 1e-9)
    return max(0, need - base)


def failure_backlog(
    rate_rps: float, base: int, per_replica_rps: float, failures: int, lost: int, duration_s: float | None
) -> float | None:
    """Requests a failure at ``rate_rps`` would queue without headroom (None when the failure did not end)."""
    if duration_s is None:
        return None
    shortfall = rate_rps - max(0, base - failures * lost) * per_replica_rps
    return max(0.0, shortfall) * duration_s
