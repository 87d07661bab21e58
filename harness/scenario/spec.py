"""The whole scenario: ``Scenario``, the sections together and the checks that span them.

In: a scenario mapping (through ``harness.scenario.loading.validate``).  Out: a frozen ``Scenario`` with
``thresholds()`` (its SLOs parsed) and ``phase_names()`` (the phases an SLO may name).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, assert_never

from pydantic import Field, model_validator

from harness import deployspec, thresholds
from harness.scenario.capacity import CapacitySpec
from harness.scenario.cost import CostSpec
from harness.scenario.faults import FaultSpec
from harness.scenario.load import LoadSpec, TargetSpec
from harness.scenario.platform import PlatformSpec
from harness.scenario.service import ServiceSpec
from harness.scenario.shapes import ConstantShape, SineShape, SpikeShape, StagesShape, StepShape, TraceShape
from harness.scenario.slos import SloSpec, _parse_slo
from harness.scenario.units import _Model


class Scenario(_Model):
    """A complete benchmark scenario."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    description: str = ""
    platform: PlatformSpec = PlatformSpec()
    service: ServiceSpec = ServiceSpec()
    load: LoadSpec
    target: TargetSpec | None = Field(None, description="send the load to this running endpoint; deploy nothing")
    slos: dict[str, list[str | SloSpec]] = Field(
        default_factory=dict, description="k6-style thresholds per metric (or metric{phase:NAME})"
    )
    slo_defaults: bool = Field(
        True, description="add the default SLOs (errors, load generator and rate self-checks) unless slos override"
    )
    faults: list[FaultSpec] = Field(default_factory=list, description="Chaos Toolkit experiments on a schedule")
    cost: CostSpec | None = Field(None, description="prices for cost_usd, cost_per_1k_requests, cost_per_1m_tokens")
    capacity: CapacitySpec | None = Field(None, description="kibench capacity: search and planner settings")

    @model_validator(mode="before")
    @classmethod
    def _platform_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("platform"), str):
            data = {**data, "platform": {"kind": data["platform"]}}
        return data

    @model_validator(mode="after")
    def _pod_resources(self) -> Scenario:
        pod = self.platform.pod
        update = deployspec.pod_update(self.service.resources, pod.gpus, pod.cpu_request, pod.model_fields_set)
        if not update:
            return self
        platform = self.platform.model_copy(update={"pod": pod.model_copy(update=update)})
        return self.model_copy(update={"platform": platform})

    @model_validator(mode="after")
    def _cluster_workers(self) -> Scenario:
        if self.load.placement == "cluster" and (self.platform.kind != "kubernetes" or self.target is not None):
            raise ValueError("load.placement: cluster runs the Locust workers in the cluster next to a master in the "
                             "Job's pod: run it with kibench cluster run (platform kind kubernetes, no target), or "
                             "use placement: local")  # fmt: skip
        return self

    @model_validator(mode="after")
    def _faults_within_load(self) -> Scenario:
        if self.faults and self.target is not None:
            raise ValueError("faults need a platform kibench deploys; remove target (an external endpoint) or faults")
        for i, fault in enumerate(self.faults):
            if fault.at >= self.load.duration_s:
                raise ValueError(
                    f"faults[{i}].at: {fault.at:g}s is not before the load ends ({self.load.duration_s:g}s); "
                    "lower it or lengthen the load"
                )
        return self

    def thresholds(self) -> list[thresholds.Threshold]:
        """Every SLO, parsed (already validated at load time)."""
        return [_parse_slo(m, e) for m, exprs in self.slos.items() for e in exprs]

    def phase_names(self) -> list[str]:
        """Phases an SLO may name: the load shape's (as harness.load.shapes names them), ``spike`` for a
        spike shape, each fault's window (its name) and ``steady_state`` (docs/reports.md#phases)."""
        shape = self.load.resolved_shape
        match shape:
            case None:
                names = ["closed"]
            case ConstantShape():
                names = ["steady"]
            case StagesShape():
                names = [f"stage-{i}" for i in range(len(shape.stages))]
            case SpikeShape():
                names = ["before", "rise", "peak", "fall", "after", "spike"]
            case StepShape():
                names = [f"step-{i}" for i in range(shape.steps)]
            case SineShape() | TraceShape():
                names = [shape.kind]
            case _:
                assert_never(shape)
        faults = [f.name or Path(f.experiment).stem for f in self.faults]
        return [*names, *faults, "steady_state"]
