"""The replica calculator: what one metric proposes, as upstream's replica_calculator.go computes it.

In: the metric's target, the current replica count, the pods (``PodSample``), object/external samples,
the tolerances, ``now_s`` and ``ControllerConfig``.  Out: ``(replicas, usage)`` for the metric, or
``MetricError`` when upstream would return an error (no metrics, no pods, a missing request, ...).

Rules kept from upstream (kubernetes/kubernetes pkg/controller/podautoscaler):

- pods being deleted and Failed pods are ignored; Pending pods count as unready;
- for CPU only, a Running pod is unready while it is within the CPU initialization period and not
  yet Ready or its sample predates Ready + one metric window, and after that period if it is not
  Ready and never was (Ready flipped within the initial readiness delay of its start);
- unready pods are left out, but on a scale-up they are added back at 0 % usage;
- pods without a sample are "missing": 0 % on a scale-up, 100 % of request (or the target, if that
  is higher) on a scale-down; if the adjusted ratio flips direction or falls in tolerance, no change;
- Object/External metrics scale by the ready-pod count (or from zero replicas, ignoring tolerance).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.autoscale.model import (
    MAX_INT64,
    ControllerConfig,
    PodSample,
    Tolerances,
    ceil_int32,
)


class MetricError(Exception):
    """The metric cannot be computed this sync (upstream returns an error for it)."""


@dataclass(frozen=True)
class PodGroups:
    """``groupPods``: ready pod count, and the names of unready, missing and ignored pods."""

    ready_count: int
    unready: frozenset[str]
    missing: frozenset[str]
    ignored: frozenset[str]


def _cpu_unready(pod: PodSample, now_s: float, config: ControllerConfig) -> bool:
    if pod.ready is None or pod.start_s is None:
        return True
    transition_s = pod.start_s if pod.ready_transition_s is None else pod.ready_transition_s
    if pod.start_s + config.cpu_initialization_period_s > now_s:
        sampled_s = now_s if pod.metric_timestamp_s is None else pod.metric_timestamp_s
        return not pod.ready or sampled_s < transition_s + pod.metric_window_s
    return not pod.ready and pod.start_s + config.initial_readiness_delay_s > transition_s


def group_pods(
    pods: Iterable[PodSample],
    metrics: Mapping[str, int],
    resource: str | None,
    now_s: float,
    config: ControllerConfig,
) -> PodGroups:
    """Sort pods into ready / unready / missing / ignored (``resource`` is ``cpu`` for CPU rules)."""
    ready, unready, missing, ignored = 0, set(), set(), set()
    for pod in pods:
        if pod.deleted or pod.phase == "Failed":
            ignored.add(pod.name)
        elif pod.phase == "Pending":
            unready.add(pod.name)
        elif pod.name not in metrics:
            missing.add(pod.name)
        elif resource == "cpu" and _cpu_unready(pod, now_s, config):
            unready.add(pod.name)
        else:
            ready += 1
    return PodGroups(ready, frozenset(unready), frozenset(missing), frozenset(ignored))


def _utilization_ratio(
    metrics: Mapping[str, int], requests: Mapping[str, int], target_pct: int
) -> tuple[float, int, int]:
    """``GetResourceUtilizationRatio``: (ratio, utilization %, raw average) over pods with requests."""
    total = requested = entries = 0
    for name, value in metrics.items():
        if name in requests:
            total += value
            requested += requests[name]
            entries += 1
    if requested == 0:
        raise MetricError("no metrics returned matched known pods")
    utilization = total * 100 // requested
    return float(utilization) / float(target_pct), utilization, total // entries


def _usage_ratio(metrics: Mapping[str, int], target_milli: int) -> tuple[float, int]:
    """``GetMetricUsageRatio``: (ratio, average usage) with upstream's integer average."""
    usage = sum(metrics.values()) // len(metrics)
    return float(usage) / float(target_milli), usage


def _pod_metrics(pods: Sequence[PodSample], key: str, source: str) -> dict[str, int]:
    metrics = {p.name: p.values_milli[key] for p in pods if key in p.values_milli}
    if not metrics:
        raise MetricError(f"unable to get metric {key}: no metrics returned from {source}")
    return metrics


def _requests(pods: Sequence[PodSample], key: str) -> dict[str, int]:
    missing = [p.name for p in pods if key not in p.requests_milli]
    if missing:
        raise MetricError(f"missing request for {key} in pod {missing[0]}")
    return {p.name: p.requests_milli[key] for p in pods}


def _adjusted(
    current: int,
    groups: PodGroups,
    metrics: dict[str, int],
    ratio: float,
    ratio_of: Callable[[Mapping[str, int]], float],
    missing_value_down: Mapping[str, int],
    tol: Tolerances,
) -> int:
    """Second pass shared by resource and plain metrics: fill in missing/unready pods and re-check."""
    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if groups.missing:
        if ratio < 1.0:
            metrics.update({name: missing_value_down[name] for name in groups.missing})
        elif ratio > 1.0:
            metrics.update(dict.fromkeys(groups.missing, 0))
    if scale_up_with_unready:
        metrics.update(dict.fromkeys(groups.unready, 0))
    new_ratio = ratio_of(metrics)
    if tol.is_within(new_ratio) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current
    new_replicas = ceil_int32(new_ratio * len(metrics))
    if (new_ratio < 1.0 and new_replicas > current) or (new_ratio > 1.0 and new_replicas < current):
        return current
    return new_replicas


def _calculate(
    current: int,
    groups: PodGroups,
    metrics: dict[str, int],
    ratio: float,
    ratio_of: Callable[[Mapping[str, int]], float],
    missing_value_down: Mapping[str, int],
    tol: Tolerances,
) -> int:
    if not (groups.unready and ratio > 1.0) and not groups.missing:
        return current if tol.is_within(ratio) else ceil_int32(ratio * groups.ready_count)
    return _adjusted(current, groups, metrics, ratio, ratio_of, missing_value_down, tol)


def _grouped_metrics(
    pods: Sequence[PodSample], key: str, resource: str | None, now_s: float, config: ControllerConfig
) -> tuple[dict[str, int], PodGroups]:
    source = "custom metrics API" if resource is None else "resource metrics API"
    metrics = _pod_metrics(pods, key, source)
    groups = group_pods(pods, metrics, resource, now_s, config)
    for name in groups.ignored | groups.unready:
        metrics.pop(name, None)
    if not metrics:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    return metrics, groups


def resource_utilization_replicas(
    current: int,
    target_pct: int,
    key: str,
    resource: str,
    pods: Sequence[PodSample],
    tol: Tolerances,
    now_s: float,
    config: ControllerConfig,
) -> tuple[int, int]:
    """``GetResourceReplicas``: Resource/ContainerResource metric with a utilization target."""
    metrics, groups = _grouped_metrics(pods, key, resource, now_s, config)
    requests = _requests(pods, key)
    ratio, utilization, _ = _utilization_ratio(metrics, requests, target_pct)
    fallback_pct = max(100, target_pct)
    missing_down = {name: requests[name] * fallback_pct // 100 for name in groups.missing}

    def ratio_of(m: Mapping[str, int]) -> float:
        return _utilization_ratio(m, requests, target_pct)[0]

    return _calculate(current, groups, metrics, ratio, ratio_of, missing_down, tol), utilization


def plain_metric_replicas(
    current: int,
    target_milli: int,
    key: str,
    resource: str | None,
    pods: Sequence[PodSample],
    tol: Tolerances,
    now_s: float,
    config: ControllerConfig,
) -> tuple[int, int]:
    """``calcPlainMetricReplicas``: Pods metrics, and Resource metrics with an AverageValue target."""
    metrics, groups = _grouped_metrics(pods, key, resource, now_s, config)
    ratio, usage = _usage_ratio(metrics, target_milli)
    missing_down = dict.fromkeys(groups.missing, target_milli)

    def ratio_of(m: Mapping[str, int]) -> float:
        return _usage_ratio(m, target_milli)[0]

    return _calculate(current, groups, metrics, ratio, ratio_of, missing_down, tol), usage


def _ready_pod_count(pods: Sequence[PodSample]) -> int:
    if not pods:
        raise MetricError("unable to calculate ready pods: no pods returned by selector")
    return sum(1 for p in pods if p.phase == "Running" and p.ready is True)


def usage_ratio_replicas(current: int, ratio: float, pods: Sequence[PodSample], tol: Tolerances) -> int:
    """``getUsageRatioReplicaCount``: scale by ready pods; from zero replicas, ``ceil(ratio)``."""
    if current == 0:
        return ceil_int32(ratio)
    if tol.is_within(ratio):
        return current
    return ceil_int32(ratio * _ready_pod_count(pods))


def capped_sum(values: Iterable[int]) -> int:
    """Sum of external metric values, stopping at ``MaxInt64`` as upstream does on overflow."""
    total = 0
    for value in values:
        if value > 0 and total > MAX_INT64 - value:
            return MAX_INT64
        total += value
    return total


def _divide(numerator: float, denominator: float) -> float:
    """Go's float division: x/0 is +Inf (or NaN for 0/0) instead of an exception."""
    if denominator == 0:
        return math.nan if numerator == 0 else math.copysign(math.inf, numerator)
    return numerator / denominator


def per_pod_replicas(status_replicas: int, usage: int, target_avg_milli: int, tol: Tolerances) -> tuple[int, int]:
    """``GetObjectPerPodMetricReplicas`` / ``GetExternalPerPodMetricReplicas`` (AverageValue)."""
    replicas = status_replicas
    ratio = _divide(float(usage), float(target_avg_milli) * float(status_replicas))
    if not tol.is_within(ratio):
        replicas = ceil_int32(float(usage) / float(target_avg_milli))
    if status_replicas == 0:
        return replicas, usage
    average = float(usage) / float(status_replicas)
    return replicas, MAX_INT64 if average >= float(MAX_INT64) else math.ceil(average)


def value_replicas(
    current: int, usage: int, target_milli: int, pods: Sequence[PodSample], tol: Tolerances
) -> tuple[int, int]:
    """``GetObjectMetricReplicas`` / ``GetExternalMetricReplicas`` (Value target)."""
    ratio = float(usage) / float(target_milli)
    return usage_ratio_replicas(current, ratio, pods, tol), usage
