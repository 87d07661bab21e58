"""The embedded cluster's GPUs: what each node advertises and which device each pod gets (NVIDIA's device plugin).

In: the scenario's ``platform.nodes`` (``gpu_slots`` physical GPUs per node, ``gpu``: model, memory, sharing).
Out:
- ``node_resources``: a node's extended resources and labels, as the device plugin and GPU feature discovery
  advertise them: whole GPUs ``nvidia.com/gpu: N``; time-slicing ``nvidia.com/gpu: N x replicas`` (label
  ``nvidia.com/gpu.replicas``); MIG (mixed strategy) ``nvidia.com/mig-<profile>: N x count`` per profile;
- ``units_per_node(resource)``: how many of a resource one node offers (the node autoscaler's node template);
- ``Devices.assign``: the devices a pod on a node gets for the GPU resource it asks (``nvidia.com/gpu`` or
  ``nvidia.com/mig-<profile>``), as ``GpuAssignment`` JSON for the pod's ``KIBENCH_GPU`` variable: its UUID, the
  mode, the compute fraction (a MIG slice: g/7), the framebuffer, and for time-slicing the share file every pod
  on that physical GPU uses to know how many are busy (``harness.service.gpushare``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from harness.scenario import MIG_PROFILES, NodesSpec

GPU = "nvidia.com/gpu"
MIG_PREFIX = "nvidia.com/mig-"


def node_resources(nodes: NodesSpec) -> tuple[dict[str, str], dict[str, str]]:
    """(extended resources, labels) of one node."""
    gpu, n = nodes.gpu, nodes.gpu_slots
    labels = {"nvidia.com/gpu.product": gpu.model, "nvidia.com/gpu.count": str(n)}
    if gpu.sharing == "time-slicing":
        labels |= {"nvidia.com/gpu.replicas": str(gpu.replicas), "nvidia.com/gpu.sharing-strategy": "time-slicing"}
        return {GPU: str(n * gpu.replicas)}, labels
    if gpu.sharing == "mig":
        labels |= {"nvidia.com/mig.strategy": "mixed"}
        return {f"{MIG_PREFIX}{p}": str(n * count) for p, count in sorted(gpu.mig.items())}, labels
    return {GPU: str(n)}, labels


def units_per_node(nodes: NodesSpec, resource: str) -> int:
    return int(node_resources(nodes)[0].get(resource, 0))


@dataclass(frozen=True)
class GpuAssignment:
    """What a replica's emulated device is (the service reads it from ``KIBENCH_GPU``)."""

    uuid: str
    mode: str  # whole | time-slicing | mig
    model: str
    compute_fraction: float  # of a whole GPU: 1, or g/7 for a MIG slice
    memory_mib: int
    share_file: str = ""  # time-slicing: the physical GPU's share file
    time_slice_overhead: float = 0.0
    mig_profile: str = ""

    def to_env(self) -> str:
        return json.dumps(asdict(self))


@dataclass(frozen=True)
class _Device:
    """One schedulable unit: a whole GPU, a time-slicing replica of one, or a MIG instance."""

    resource: str
    gpu_index: int
    instance: int  # the replica or MIG instance number on that GPU


class Devices:
    """The device plugin of every node: which pod holds which device."""

    def __init__(self, nodes: NodesSpec, state_root: str) -> None:
        self.nodes = nodes
        self.share_dir = os.path.join(state_root, "gpus")
        os.makedirs(self.share_dir, exist_ok=True)
        self.held: dict[str, tuple[str, list[_Device]]] = {}  # pod uid -> (node, devices)

    def _inventory(self) -> list[_Device]:
        gpu, out = self.nodes.gpu, []
        for index in range(self.nodes.gpu_slots):
            if gpu.sharing == "time-slicing":
                out += [_Device(GPU, index, r) for r in range(gpu.replicas)]
            elif gpu.sharing == "mig":
                instance = 0
                for profile, count in sorted(gpu.mig.items()):
                    for _ in range(count):
                        out.append(_Device(f"{MIG_PREFIX}{profile}", index, instance))
                        instance += 1
            else:
                out.append(_Device(GPU, index, 0))
        return out

    def release(self, uid: str) -> None:
        self.held.pop(uid, None)

    def assign(self, node: str, uid: str, resource: str, count: int) -> list[GpuAssignment]:
        """Devices for a pod (the same ones again if it already holds some); time-sliced replicas are spread
        over the physical GPUs, fewest holders first, as the device plugin's allocator tends to."""
        if count <= 0:
            return []
        if uid not in self.held:
            taken = {d for n, devices in self.held.values() if n == node for d in devices}
            free = [d for d in self._inventory() if d.resource == resource and d not in taken]
            per_gpu = {i: sum(1 for d in taken if d.gpu_index == i) for i in range(self.nodes.gpu_slots)}
            free.sort(key=lambda d: (per_gpu[d.gpu_index], d.gpu_index, d.instance))
            if len(free) < count:
                return []  # none free (the scheduler counts the same units, so only while one is released)
            self.held[uid] = (node, free[:count])
        return [self._describe(node, d) for d in self.held[uid][1]]

    def _describe(self, node: str, device: _Device) -> GpuAssignment:
        gpu = self.nodes.gpu
        uuid = f"GPU-{node}-{device.gpu_index}"
        if device.resource.startswith(MIG_PREFIX):
            profile = device.resource[len(MIG_PREFIX) :]
            slices, memory_gb = MIG_PROFILES[profile]
            return GpuAssignment(
                f"MIG-{node}-{device.gpu_index}-{device.instance}",
                "mig",
                gpu.model,
                slices / 7.0,
                memory_gb * 1024,
                mig_profile=profile,
            )
        if gpu.sharing == "time-slicing":
            share = os.path.join(self.share_dir, f"{node}-gpu{device.gpu_index}.share")
            return GpuAssignment(
                uuid, "time-slicing", gpu.model, 1.0, gpu.memory_gb * 1024, share, gpu.time_slice_overhead
            )
        return GpuAssignment(uuid, "whole", gpu.model, 1.0, gpu.memory_gb * 1024)
