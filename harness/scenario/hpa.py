"""The scenario's ``platform.hpa`` section: a HorizontalPodAutoscaler (autoscaling/v2) and its controller flags.

In: the ``hpa`` mapping.  Out: a frozen ``HpaSettings`` (metrics, behavior, Kubernetes' defaults).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from harness.scenario.units import SIMULATED_MAX_SCALE, Duration, _Model


class HpaMetric(_Model):
    """One HPA metric: ``Pods`` (a gauge on each replica's /metrics) or ``Resource`` cpu."""

    type: Literal["Pods", "Resource"] = "Pods"
    name: str = Field(description="Pods: queue_depth | in_flight | device_busy | a gauge name; Resource: cpu")
    target_average_value: float | None = Field(None, gt=0, description="per-pod target (Pods; Resource: cores)")
    target_utilization: int | None = Field(None, gt=0, description="Resource only: percent of the CPU request")
    prometheus: str | None = Field(None, description="the gauge's name on /metrics when it is not the usual one")

    @model_validator(mode="after")
    def _target(self) -> HpaMetric:
        if self.type == "Resource" and self.name != "cpu":
            raise ValueError(f"the local platform measures only the cpu resource (got {self.name!r})")
        if (self.target_average_value is None) == (self.target_utilization is None):
            raise ValueError("give exactly one of target_average_value or target_utilization")
        if self.type == "Pods" and self.target_utilization is not None:
            raise ValueError("Pods metrics take target_average_value, not target_utilization")
        return self


class HpaPolicy(_Model):
    type: Literal["Pods", "Percent"]
    value: int = Field(ge=1)
    period: Duration = Field(gt=0)


class HpaRules(_Model):
    stabilization_window: Duration | None = None
    select_policy: Literal["Max", "Min", "Disabled"] | None = None
    policies: list[HpaPolicy] | None = None
    tolerance: float | None = Field(None, ge=0)


class HpaBehavior(_Model):
    scale_up: HpaRules | None = None
    scale_down: HpaRules | None = None


class HpaSettings(_Model):
    """The HorizontalPodAutoscaler (autoscaling/v2) and the controller-manager flags, Kubernetes' defaults."""

    enabled: bool = False
    min_replicas: int = Field(1, ge=1, le=SIMULATED_MAX_SCALE)
    max_replicas: int = Field(10, ge=1, le=SIMULATED_MAX_SCALE)
    metrics: list[HpaMetric] = Field(default_factory=list, description="empty: cpu at 80% utilization")
    behavior: HpaBehavior | None = Field(None, description="unset: the legacy (pre-behavior) path")
    sync_period: Duration = Field(15.0, gt=0, description="--horizontal-pod-autoscaler-sync-period")
    tolerance: float = Field(0.1, ge=0, description="--horizontal-pod-autoscaler-tolerance")
    cpu_initialization_period: Duration = Field(300.0, description="young pods' CPU counts only once Ready")
    initial_readiness_delay: Duration = Field(30.0, description="--horizontal-pod-autoscaler-initial-readiness-delay")
    downscale_stabilization: Duration = Field(300.0, description="--horizontal-pod-autoscaler-downscale-stabilization")
    metric_resolution: Duration = Field(15.0, gt=0, description="scrape period of pod metrics (metrics-server)")

    @model_validator(mode="after")
    def _bounds(self) -> HpaSettings:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) must be <= max_replicas ({self.max_replicas})")
        return self
