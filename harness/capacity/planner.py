"""Turn one replica's rate at the SLO into replicas, nodes and cost, for a peak rate or a trace.

In: ``PlanInputs`` (the found per-replica rate, utilisation target, failures tolerated, the scale-up lag,
GPUs per replica, GPU slots per node, ``cost:`` prices, tokens per request and in-flight requests per
replica at the found rate when measured) and a peak rate or trace points ``(time_s, rate_rps)``.
Out: ``PlanRow``s (one per trace point, or one for the peak) and, for a trace, ``HpaSuggestion``.

    base(rate)   = ceil(rate / (utilization_target x per_replica_rps))
    extra        = ceil(steepest rise of the trace over the lag / (utilization_target x per_replica_rps))
    failures     = failures_tolerated, or with a measured pod kill (headroom.py: ``lost`` replicas a failure
                   takes out): max(0, ceil(rate / per_replica_rps + failures_tolerated x lost) - base(rate))
    replicas     = base(rate) + failures + extra
    nodes        = ceil(replicas x gpus per replica / GPU slots per node)
    cost per h   = replicas x (gpus x gpu_hour_usd + cpu_request x cpu_hour_usd) + nodes x node_hour_usd

The extra covers the load that arrives while new replicas start: the autoscaler sees the rise only as it
happens and its replicas are Ready ``scale_up_lag_s`` later.  A peak alone has no rise (extra 0).  The HPA
suggestion: min = base(lowest rate) + its failures, max = the peak's replicas, and the per-replica target
(requests/s, and in-flight requests by Little's law) at which the peak's fleet without its failure headroom
runs.  Pure functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.capacity.headroom import failure_backlog, failure_replicas
from harness.errors import InputError


@dataclass(frozen=True)
class PlanInputs:
    per_replica_rps: float
    utilization_target: float = 0.8
    failures_tolerated: int = 1
    scale_up_lag_s: float = 0.0
    gpus_per_replica: int = 1
    cpu_per_replica: float = 1.0
    gpu_slots_per_node: int = 8
    gpu_hour_usd: float = 0.0
    cpu_hour_usd: float = 0.0
    node_hour_usd: float = 0.0
    tokens_per_request: float | None = None
    in_flight_per_replica: float | None = None  # at per_replica_rps (Little's law: rate x mean latency)
    lag_source: str = ""
    # measured by a pod-kill run (harness/capacity/headroom.py); None: failures_tolerated replicas flat
    failure_lost_replicas: int | None = None
    failure_duration_s: float | None = None
    failure_failed_requests: int | None = None
    headroom_source: str = "capacity.plan.failures_tolerated"


@dataclass(frozen=True)
class PlanRow:
    time_s: float | None
    rate_rps: float
    base_replicas: int
    failure_replicas: int
    lag_replicas: int
    replicas: int
    nodes: int | None
    cost_per_hour_usd: float
    cost_per_day_usd: float
    cost_per_1m_requests_usd: float | None
    cost_per_1m_tokens_usd: float | None
    failure_backlog_requests: float | None = None  # a failure's backlog without the headroom (measured dip)


@dataclass(frozen=True)
class HpaSuggestion:
    min_replicas: int
    max_replicas: int
    target_rps_per_replica: float
    target_in_flight_per_replica: float | None
    target_utilization: float


def check_trace(points: Sequence[tuple[float, float]], source: str) -> None:
    """A trace the planner can use: two or more points, increasing times, rates >= 0 (InputError, exit 2)."""
    if len(points) < 2:
        raise InputError(f"{source}: a trace needs at least two 'time_s,rate_rps' rows; add rows")
    for i, (t, rate) in enumerate(points):
        if rate < 0:
            raise InputError(f"{source}: row {i + 1} (time {t:g} s) has a negative rate {rate:g}; rates must be >= 0")
        if i and t <= points[i - 1][0]:
            raise InputError(f"{source}: row {i + 1}: times must increase (got {points[i - 1][0]:g} then {t:g})")


def base_replicas(rate_rps: float, inp: PlanInputs) -> int:
    per = inp.utilization_target * inp.per_replica_rps
    return max(0, math.ceil(rate_rps / per - 1e-9)) if rate_rps > 0 else 0


def steepest_rise(points: Sequence[tuple[float, float]], lag_s: float) -> float:
    """The largest rate(t + lag) - rate(t) over the trace (linear between points; 0 when it never rises)."""
    t = np.array([p[0] for p in points], dtype=float)
    r = np.array([p[1] for p in points], dtype=float)
    if lag_s <= 0 or t.size < 2:
        return 0.0
    starts = np.unique(np.concatenate([t, t - lag_s]))
    starts = starts[(starts >= t[0]) & (starts + lag_s <= t[-1])]
    if starts.size == 0:  # the lag outlasts the trace: the whole rise
        return max(0.0, float(r.max() - r[0]))
    rise = np.interp(starts + lag_s, t, r) - np.interp(starts, t, r)
    return max(0.0, float(rise.max()))


def _nodes(replicas: int, inp: PlanInputs) -> int | None:
    if inp.gpus_per_replica <= 0:
        return None
    return math.ceil(replicas * inp.gpus_per_replica / inp.gpu_slots_per_node)


def failure_headroom(rate_rps: float, base: int, inp: PlanInputs) -> tuple[int, float | None]:
    """The failure headroom at a rate, and (measured dip) the backlog a failure would leave without it."""
    lost = inp.failure_lost_replicas
    if lost is None:
        return inp.failures_tolerated, None
    n, mu = inp.failures_tolerated, inp.per_replica_rps
    return failure_replicas(rate_rps, base, mu, n, lost), failure_backlog(rate_rps, base, mu, n, lost,
                                                                          inp.failure_duration_s)  # fmt: skip


def row(time_s: float | None, rate_rps: float, inp: PlanInputs, lag_replicas: int) -> PlanRow:
    """The replicas, nodes and cost for one rate."""
    base = base_replicas(rate_rps, inp)
    failures, backlog = failure_headroom(rate_rps, base, inp)
    replicas = max(1, base + failures + lag_replicas)
    nodes = _nodes(replicas, inp)
    per_hour = replicas * (inp.gpus_per_replica * inp.gpu_hour_usd + inp.cpu_per_replica * inp.cpu_hour_usd)
    per_hour += (nodes or 0) * inp.node_hour_usd
    per_m = per_hour / (rate_rps * 3600.0) * 1e6 if rate_rps > 0 else None
    per_m_tokens = per_m / inp.tokens_per_request if per_m is not None and inp.tokens_per_request else None
    return PlanRow(
        time_s,
        rate_rps,
        base,
        failures,
        lag_replicas,
        replicas,
        nodes,
        per_hour,
        per_hour * 24.0,
        per_m,
        per_m_tokens,
        backlog,
    )


def plan_peak(peak_rps: float, inp: PlanInputs) -> PlanRow:
    return row(None, peak_rps, inp, 0)


def lag_replicas(points: Sequence[tuple[float, float]], inp: PlanInputs) -> int:
    rise = steepest_rise(points, inp.scale_up_lag_s)
    return base_replicas(rise, inp)


def plan_trace(points: Sequence[tuple[float, float]], inp: PlanInputs) -> tuple[list[PlanRow], HpaSuggestion]:
    """Replicas over time (one row per trace point) and the HPA settings that would follow the trace."""
    extra = lag_replicas(points, inp)
    rows = [row(t, rate, inp, extra) for t, rate in points]
    peak = max(rows, key=lambda r: r.rate_rps)
    low = min(p[1] for p in points)
    serving = max(1, peak.replicas - peak.failure_replicas)
    rps_target = peak.rate_rps / serving if peak.rate_rps > 0 else inp.utilization_target * inp.per_replica_rps
    util = rps_target / inp.per_replica_rps
    in_flight = None if inp.in_flight_per_replica is None else inp.in_flight_per_replica * util
    hpa = HpaSuggestion(
        min_replicas=max(1, row(None, low, inp, 0).replicas),
        max_replicas=peak.replicas,
        target_rps_per_replica=rps_target,
        target_in_flight_per_replica=in_flight,
        target_utilization=util,
    )
    return rows, hpa


def trace_totals(rows: Sequence[PlanRow], inp: PlanInputs) -> dict[str, float | None]:
    """Cost of following the trace (replicas change at each point) vs holding the peak's replicas all along,
    and per 1M requests of the trace (rates linear between points, replicas held until the next point)."""
    t = np.array([r.time_s or 0.0 for r in rows], dtype=float)
    rates = np.array([r.rate_rps for r in rows], dtype=float)
    dt = np.diff(t)
    hours = float(t[-1] - t[0]) / 3600.0
    requests = float(np.sum((rates[:-1] + rates[1:]) / 2 * dt))
    follow = float(np.sum(np.array([r.cost_per_hour_usd for r in rows[:-1]]) * dt)) / 3600.0
    peak = max(rows, key=lambda r: r.rate_rps).cost_per_hour_usd * hours
    per_m = follow / requests * 1e6 if requests > 0 else None
    per_m_tokens = per_m / inp.tokens_per_request if per_m is not None and inp.tokens_per_request else None
    return {
        "hours": hours,
        "requests": requests,
        "cost_following_usd": follow,
        "cost_peak_static_usd": peak,
        "cost_per_1m_requests_usd": per_m,
        "cost_per_1m_tokens_usd": per_m_tokens,
    }
