"""The Kubernetes HPA v2 algorithm as pure functions (no I/O, the clock is an argument).

In: an ``HpaSpec``, the current replica count, the pods with their metric samples, Object/External
samples, the ``HpaState`` returned by the previous sync and ``now_s``.  Out: a ``Decision`` with the
desired replica count, per-metric proposals, upstream's condition reasons and the next ``HpaState``.

Faithful to kubernetes/kubernetes pkg/controller/podautoscaler (replica_calculator.go, horizontal.go);
``python -m harness.autoscale.check`` runs upstream's test tables, ported to case files.
"""

from harness.autoscale.hpa import desired_replicas, normalize_replicas
from harness.autoscale.model import (
    Behavior,
    Condition,
    ControllerConfig,
    Decision,
    HpaSpec,
    HpaState,
    MetricProposal,
    MetricSpec,
    PodSample,
    Recommendation,
    ScaleEvent,
    ScalingPolicy,
    ScalingRules,
)

__all__ = [
    "Behavior",
    "Condition",
    "ControllerConfig",
    "Decision",
    "HpaSpec",
    "HpaState",
    "MetricProposal",
    "MetricSpec",
    "PodSample",
    "Recommendation",
    "ScaleEvent",
    "ScalingPolicy",
    "ScalingRules",
    "desired_replicas",
    "normalize_replicas",
]
