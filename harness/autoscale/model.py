"""Typed inputs and outputs of the HPA algorithm: frozen dataclasses, units in the names.

In: nothing (pure data definitions).  Out: the types every other module of ``harness.autoscale`` and
its callers use:

- ``HpaSpec`` (min/max replicas, ``MetricSpec`` list, optional ``Behavior``) - the HPA object's spec;
- ``ControllerConfig`` - the kube-controller-manager flags (tolerance, CPU initialization period, ...);
- ``PodSample`` - one pod of the scale target as the controller sees it (phase, readiness, metric values);
- ``HpaState`` - the only state the caller keeps between syncs (recommendations and scale events);
- ``Decision`` - what one sync decides (desired replicas, per-metric proposals, conditions, new state).

Metric values are integer milli-units, as Kubernetes quantities are (``1`` CPU core = ``1000``,
``15`` requests per second = ``15000``).  Times are seconds on the caller's clock (``now_s``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

MetricType = Literal["Resource", "ContainerResource", "Pods", "Object", "External"]
PodPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"]
PolicyType = Literal["Pods", "Percent"]
SelectPolicy = Literal["Max", "Min", "Disabled"]

METRIC_TYPES: tuple[str, ...] = ("Resource", "ContainerResource", "Pods", "Object", "External")
_TARGETS_ALLOWED: dict[str, tuple[str, ...]] = {
    "Resource": ("utilization_pct", "average_value_milli"),
    "ContainerResource": ("utilization_pct", "average_value_milli"),
    "Pods": ("average_value_milli",),
    "Object": ("value_milli", "average_value_milli"),
    "External": ("value_milli", "average_value_milli"),
}


@dataclass(frozen=True)
class MetricSpec:
    """One entry of ``spec.metrics``; exactly one of the three target fields is set.

    ``utilization_pct`` is a percentage of the pods' requests (Resource/ContainerResource only);
    ``average_value_milli`` is a per-pod target; ``value_milli`` a total (Object/External only).
    """

    type: MetricType
    name: str
    utilization_pct: int | None = None
    average_value_milli: int | None = None
    value_milli: int | None = None
    container: str | None = None

    def __post_init__(self) -> None:
        if self.type not in _TARGETS_ALLOWED:
            raise ValueError(f"type must be one of {', '.join(METRIC_TYPES)} (got {self.type!r})")
        targets = {
            "utilization_pct": self.utilization_pct,
            "average_value_milli": self.average_value_milli,
            "value_milli": self.value_milli,
        }
        given = [k for k, v in targets.items() if v is not None]
        allowed = _TARGETS_ALLOWED[self.type]
        if len(given) != 1 or given[0] not in allowed:
            raise ValueError(f"a {self.type} metric needs exactly one of {', '.join(allowed)} (got {given})")
        if targets[given[0]] <= 0:  # type: ignore[operator]
            raise ValueError(f"{given[0]} must be > 0 (got {targets[given[0]]})")
        if (self.type == "ContainerResource") != (self.container is not None):
            raise ValueError("container is required for ContainerResource metrics and only for them")

    @property
    def key(self) -> str:
        """Where pods carry this metric's value and request: ``cpu`` or ``container/cpu``."""
        return f"{self.container}/{self.name}" if self.container else self.name

    @property
    def target_type(self) -> str:
        if self.utilization_pct is not None:
            return "Utilization"
        return "AverageValue" if self.average_value_milli is not None else "Value"


@dataclass(frozen=True)
class ScalingPolicy:
    """``Pods``: add/remove at most ``value`` pods per ``period_s``; ``Percent``: ``value`` % of them."""

    type: PolicyType
    value: int
    period_s: int


@dataclass(frozen=True)
class ScalingRules:
    """``spec.behavior.scaleUp`` or ``scaleDown``; ``None`` fields take upstream's defaults."""

    stabilization_window_s: float | None = None
    select_policy: SelectPolicy | None = None
    policies: tuple[ScalingPolicy, ...] | None = None
    tolerance: float | None = None


@dataclass(frozen=True)
class Behavior:
    """``spec.behavior``; setting it (even empty) switches from the legacy path to behaviors."""

    scale_up: ScalingRules | None = None
    scale_down: ScalingRules | None = None


@dataclass(frozen=True)
class HpaSpec:
    """The HPA spec.  An empty ``metrics`` means upstream's API default: CPU at 80 % utilization."""

    max_replicas: int
    metrics: tuple[MetricSpec, ...] = ()
    min_replicas: int = 1
    behavior: Behavior | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.min_replicas <= self.max_replicas or self.max_replicas < 1:
            raise ValueError(
                f"need 0 <= min_replicas <= max_replicas and max_replicas >= 1 "
                f"(got min_replicas={self.min_replicas}, max_replicas={self.max_replicas})"
            )


@dataclass(frozen=True)
class ControllerConfig:
    """kube-controller-manager's HPA flags, with their upstream defaults."""

    tolerance: float = 0.1
    cpu_initialization_period_s: float = 300.0
    initial_readiness_delay_s: float = 30.0
    downscale_stabilization_window_s: float = 300.0
    scale_up_limit_factor: float = 2.0
    scale_up_limit_minimum: float = 4.0


@dataclass(frozen=True)
class Tolerances:
    """Usage-ratio dead band: no change while ``1 - scale_down <= ratio <= 1 + scale_up``."""

    scale_down: float
    scale_up: float

    def is_within(self, ratio: float) -> bool:
        return (1.0 - self.scale_down) <= ratio <= (1.0 + self.scale_up)


@dataclass(frozen=True)
class PodSample:
    """One pod selected by the scale target, with its metric values and requests (milli-units).

    ``ready`` is the Ready condition (``None``: no condition).  ``ready_transition_s`` defaults to
    ``start_s``; ``metric_timestamp_s`` (end of the sample window) defaults to ``now_s``.
    A missing key in ``values_milli`` means the metrics pipeline has no sample for this pod.
    """

    name: str
    phase: PodPhase = "Running"
    ready: bool | None = True
    start_s: float | None = 0.0
    ready_transition_s: float | None = None
    deleted: bool = False
    metric_timestamp_s: float | None = None
    metric_window_s: float = 60.0
    values_milli: Mapping[str, int] = field(default_factory=dict)
    requests_milli: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Recommendation:
    """An unstabilized recommendation recorded at ``timestamp_s`` (input to stabilization windows)."""

    replicas: int
    timestamp_s: float


@dataclass(frozen=True)
class ScaleEvent:
    """A rescale of ``replica_change`` pods (always positive) at ``timestamp_s`` (input to policies)."""

    replica_change: int
    timestamp_s: float
    outdated: bool = False


@dataclass(frozen=True)
class HpaState:
    """Everything the caller keeps between syncs of one HPA; pass ``None`` on the first sync."""

    recommendations: tuple[Recommendation, ...] = ()
    scale_up_events: tuple[ScaleEvent, ...] = ()
    scale_down_events: tuple[ScaleEvent, ...] = ()


@dataclass(frozen=True)
class MetricProposal:
    """What one metric proposes; ``replicas`` is ``None`` when the metric could not be computed.

    ``usage`` is what upstream reports in status: utilization % for Utilization targets, the
    per-pod average (milli) for AverageValue targets, the total (milli) for Value targets.
    """

    metric: str
    replicas: int | None
    usage: int | None = None
    error: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Condition:
    """An HPA status condition: ``AbleToScale``, ``ScalingActive`` or ``ScalingLimited``."""

    type: str
    status: bool
    reason: str


@dataclass(frozen=True)
class Decision:
    """The outcome of one sync.  ``state`` replaces the caller's ``HpaState`` for the next sync.

    ``reason`` is the most telling condition reason: the limit that clamped the count (e.g.
    ``ScaleUpLimit``, ``TooFewReplicas``), else the stabilization that held it (``ScaleDownStabilized``),
    else ``DesiredWithinRange``; or why nothing was computed (``ScalingDisabled``, ``FailedGet...Metric``).
    """

    desired_replicas: int
    current_replicas: int
    reason: str
    state: HpaState
    metric_desired_replicas: int | None = None
    proposals: tuple[MetricProposal, ...] = ()
    conditions: tuple[Condition, ...] = ()
    error: str | None = None

    @property
    def rescale(self) -> bool:
        return self.desired_replicas != self.current_replicas

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)


MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1


def ceil_int32(x: float) -> int:
    """``int32(math.Ceil(x))`` without Go's overflow: large values stop at ``MaxInt32``."""
    if math.isnan(x):
        return 0
    return MAX_INT32 if x > MAX_INT32 else math.ceil(x)
