"""Node pool autoscaling on the local platform, after cluster-autoscaler's rules.

In: ``platform.nodes.autoscaler`` (min/max nodes, provisioning delay, scan interval, unneeded
time, delay after add, utilization threshold) and the Node and Pod objects.  Out, every
``scan_interval``:

- scale up: when pods are unschedulable, enough new nodes for their GPU slots (counting nodes
  already on their way), within ``max_nodes``; each is added (Ready, labelled
  ``kibench.io/provisioned``) after ``provisioning_delay``;
- scale down: a Ready, uncordoned node whose GPU use is under the threshold and whose pods fit on
  the other nodes is *unneeded*; after ``scale_down_unneeded_time`` unneeded (and not within
  ``scale_down_delay_after_add`` of a scale-up) it is drained (PDB honoured) and removed
  (the Node object is deleted), one node at a time, never below ``min_nodes``.  Events
  ``TriggeredScaleUp`` (on the pods) and ``ScaleDown`` (on the node) as cluster-autoscaler records them.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from harness.platform.local.control import control_loop
from harness.platform.local.gpus import units_per_node
from harness.platform.local.objects import NODES, PODS, Obj, condition, gpu_request, gpu_resource, node_ready
from harness.platform.local.scheduler import gpu_slots, gpu_used

if TYPE_CHECKING:
    from harness.platform.local.cluster import Cluster

K = TypeVar("K")

PROVISIONED_LABEL = "kibench.io/provisioned"


def fits_elsewhere(demands: list[int], free: dict[str, int]) -> bool:
    """Could every demand (GPU slots of one pod) be placed in ``free`` slots per node?

    First-fit decreasing, as cluster-autoscaler's scale-down simulation checks that a node's pods
    fit on the remaining nodes.
    """
    free = dict(free)
    for need in sorted(demands, reverse=True):
        target = next((name for name, slots in sorted(free.items()) if slots >= need), None)
        if target is None:
            return False
        free[target] -= need
    return True


def unneeded_for(
    since: dict[K, float], candidates: list[K], unneeded: Callable[[K], bool], now_s: float, hold_s: float
) -> list[K]:
    """cluster-autoscaler's unneeded-node bookkeeping: each candidate unneeded now keeps the time it first
    was (``since``, updated in place; one needed again is forgotten); returns those unneeded for ``hold_s``."""
    for key in candidates:
        if unneeded(key):
            since.setdefault(key, now_s)
        else:
            since.pop(key, None)
    return [key for key in candidates if key in since and now_s - since[key] >= hold_s]


class NodeAutoscaler:
    """Adds nodes for Pending pods and removes unneeded ones."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.settings = cluster.cfg.nodes.autoscaler
        self.nodes_spec = cluster.cfg.nodes  # the node template: new nodes are of the declared GPU kind
        self.provisioning = 0
        self.last_scale_up: float | None = None
        self.removing: str | None = None
        self.unneeded_since: dict[str, float] = {}

    async def run(self) -> None:
        await control_loop(self.step, self.settings.scan_interval, "cluster-autoscaler", self.cluster.recorder)

    def step(self) -> None:
        if not self._scale_up():
            self._scale_down()

    def _scale_up(self) -> bool:
        s = self.settings
        pods = self.store.list(PODS, copy=False)[0]
        pending = [
            p
            for p in pods
            if not p["spec"].get("nodeName")
            and not p["metadata"].get("deletionTimestamp")
            and (condition(p, "PodScheduled") or {}).get("reason") == "Unschedulable"
        ]
        fitting = [p for p in pending if gpu_request(p) <= units_per_node(self.nodes_spec, gpu_resource(p))]
        if not fitting:
            return False
        slots = max(units_per_node(self.nodes_spec, gpu_resource(fitting[0])), 1)
        needed_slots = sum(gpu_request(p) for p in fitting) - self.provisioning * slots
        room = s.max_nodes - len(self.store.list(NODES, copy=False)[0]) - self.provisioning
        count = min(math.ceil(max(needed_slots, 0) / slots), room)
        if count <= 0:
            return self.provisioning > 0
        self.provisioning += count
        self.last_scale_up = time.monotonic()
        for pod in fitting:
            message = f"pod triggered scale-up: [{{kibench-pool {count} node(s), max: {s.max_nodes}}}]"
            self.cluster.recorder.record(pod, "TriggeredScaleUp", message, component="cluster-autoscaler")
        for _ in range(count):
            self.cluster.spawn(self._provision())
        return True

    async def _provision(self) -> None:
        await asyncio.sleep(self.settings.provisioning_delay)
        self.provisioning -= 1
        self.cluster.add_node(provisioned=True)

    def _scale_down(self) -> None:
        s, now = self.settings, time.monotonic()
        nodes = {n["metadata"]["name"]: n for n in self.store.list(NODES, copy=False)[0]}
        pods = [p for p in self.store.list(PODS, copy=False)[0] if p["spec"].get("nodeName")]
        if self.removing is not None:
            if self.removing in nodes and any(p["spec"]["nodeName"] == self.removing for p in pods):
                self._evict_all(self.removing, pods)
                return  # still draining
            if self.removing in nodes:
                self.store.remove(NODES, None, self.removing)
            self.removing = None
            return
        used = gpu_used(pods)
        candidates = [n for n in nodes.values() if node_ready(n) and not n["spec"].get("unschedulable")]
        names = [n["metadata"]["name"] for n in candidates]
        due = unneeded_for(
            self.unneeded_since, names, lambda name: self._unneeded(nodes[name], candidates, pods, used), now,
            s.scale_down_unneeded_time,
        )  # fmt: skip
        if self.last_scale_up is not None and now - self.last_scale_up < s.scale_down_delay_after_add:
            return
        if len(nodes) <= s.min_nodes:
            return
        if due:
            created = {name: nodes[name]["metadata"].get("creationTimestamp", "") for name in due}
            victim = min(due, key=lambda name: (used.get(name, 0), created[name]))
            self._remove(nodes[victim], pods)

    def _unneeded(self, node: Obj, candidates: list[Obj], pods: list[Obj], used: dict[str, int]) -> bool:
        name = node["metadata"]["name"]
        if used.get(name, 0) / max(gpu_slots(node, None), 1) >= self.settings.scale_down_utilization_threshold:
            return False
        demands = [
            gpu_request(p) for p in pods if p["spec"]["nodeName"] == name and not p["metadata"].get("deletionTimestamp")
        ]
        free = {
            n["metadata"]["name"]: gpu_slots(n, None) - used.get(n["metadata"]["name"], 0)
            for n in candidates
            if n["metadata"]["name"] != name
        }
        return fits_elsewhere(demands, free)

    def _remove(self, node: Obj, pods: list[Obj]) -> None:
        name = node["metadata"]["name"]
        self.unneeded_since.pop(name, None)
        self.cluster.recorder.record(
            node, "ScaleDown", "marked the node as toBeDeleted/unschedulable", component="cluster-autoscaler"
        )
        self.store.mutate(NODES, None, name, lambda n: n["spec"].update(unschedulable=True))
        self.removing = name
        self._evict_all(name, pods)

    def _evict_all(self, name: str, pods: list[Obj]) -> None:
        for pod in pods:
            if pod["spec"]["nodeName"] == name and not pod["metadata"].get("deletionTimestamp"):
                self.cluster.evict(pod)
