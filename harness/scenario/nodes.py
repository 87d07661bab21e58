"""The scenario's ``platform.nodes`` section: virtual nodes, their GPUs (whole, time-slicing, MIG), the node autoscaler.

In: the ``nodes`` mapping.  Out: a frozen ``NodesSpec``; ``MIG_PROFILES`` names the MIG partitions it accepts.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from harness.scenario.units import SIMULATED_MAX_SCALE, Duration, _Model


class NodeAutoscalerSpec(_Model):
    """Node pool autoscaling in the manner of cluster-autoscaler (its flag defaults)."""

    enabled: bool = False
    min_nodes: int = Field(1, ge=0, le=SIMULATED_MAX_SCALE, description="never fewer nodes")
    max_nodes: int = Field(4, ge=1, le=SIMULATED_MAX_SCALE, description="never more nodes")
    provisioning_delay: Duration = Field(60.0, description="Pending pods -> new node Ready (cloud boot time)")
    scan_interval: Duration = Field(10.0, gt=0, description="--scan-interval: how often it looks")
    scale_down_unneeded_time: Duration = Field(600.0, description="--scale-down-unneeded-time before removal")
    scale_down_delay_after_add: Duration = Field(600.0, description="--scale-down-delay-after-add")
    scale_down_utilization_threshold: float = Field(0.5, ge=0, le=1, description="GPU use below which it is unneeded")

    @model_validator(mode="after")
    def _bounds(self) -> NodeAutoscalerSpec:
        if self.min_nodes > self.max_nodes:
            raise ValueError(f"min_nodes ({self.min_nodes}) must be <= max_nodes ({self.max_nodes})")
        return self


#: MIG profiles of an 80 GB H100/A100-class GPU: compute slices (of 7) and memory (GB), as NVIDIA names them.
MIG_PROFILES: dict[str, tuple[int, int]] = {
    "1g.10gb": (1, 10),
    "1g.20gb": (1, 20),
    "2g.20gb": (2, 20),
    "3g.40gb": (3, 40),
    "4g.40gb": (4, 40),
    "7g.80gb": (7, 80),
}


class GpuSpec(_Model):
    """How each node's GPUs are offered, as NVIDIA's device plugin offers them (docs/resources.md)."""

    model: str = Field("NVIDIA-H100-80GB-HBM3", max_length=64, description="the GPU's product name (a node label)")
    memory_gb: int = Field(80, ge=1, le=1024, description="framebuffer of one whole GPU")
    sharing: Literal["none", "time-slicing", "mig"] = Field(
        "none", description="none: whole GPUs; time-slicing: `replicas` pods per GPU; mig: the `mig` partitions"
    )
    replicas: int = Field(2, ge=2, le=48, description="time-slicing: pods per GPU (the device plugin's replicas)")
    mig: dict[str, int] = Field(
        default_factory=dict, description="mig: partitions of each GPU, profile -> count, e.g. {'1g.10gb': 7}"
    )
    time_slice_overhead: float = Field(
        0.05, ge=0, lt=1, description="time-slicing: share of the GPU lost to context switches when >1 pod is busy "
        "(a profile's own time_slice_overhead takes precedence)"
    )

    @model_validator(mode="after")
    def _partitions(self) -> GpuSpec:
        if self.sharing != "mig":
            if self.mig:
                raise ValueError("mig partitions need sharing: mig; set sharing: mig or remove mig")
            return self
        if not self.mig:
            raise ValueError("sharing: mig needs partitions, e.g. mig: {'1g.10gb': 7} or {'3g.40gb': 2}")
        unknown = sorted(set(self.mig) - set(MIG_PROFILES))
        if unknown:
            raise ValueError(f"unknown MIG profile(s) {unknown}; known: {', '.join(MIG_PROFILES)}")
        slices = sum(MIG_PROFILES[p][0] * n for p, n in self.mig.items())
        memory = sum(MIG_PROFILES[p][1] * n for p, n in self.mig.items())
        if slices > 7 or memory > self.memory_gb:
            raise ValueError(
                f"the partitions need {slices} of 7 compute slices and {memory} of {self.memory_gb} GB; "
                "use fewer or smaller profiles"
            )
        return self


class NodesSpec(_Model):
    """The virtual nodes replicas are scheduled on."""

    count: int = Field(2, ge=0, le=SIMULATED_MAX_SCALE, description="nodes at start")
    gpu_slots: int = Field(8, ge=1, le=64, description="physical GPUs per node")
    gpu: GpuSpec = Field(default_factory=GpuSpec, description="the GPUs' model and sharing: whole, time-slicing, MIG")
    eviction_delay: Duration = Field(300.0, description="NotReady node -> its pods are evicted (tolerationSeconds)")
    drain_retry_interval: Duration = Field(5.0, gt=0, description="a drain retries a PDB-blocked eviction this often")
    autoscaler: NodeAutoscalerSpec = NodeAutoscalerSpec()
