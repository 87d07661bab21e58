"""The simulated node autoscaler: scale up for pending pods, scale an unneeded node down, as the embedded one.

In: the scenario's ``platform.nodes.autoscaler`` and the cluster's pods and nodes.  Out: node_provisioning,
node_added, pod_evicted and node_removed events and the nodes themselves (harness/simulate/cluster.py's
docstring has the rules; harness/platform/local/node_autoscaler.py is the embedded one); mixed into
``Cluster``.
"""

from __future__ import annotations

import math
from typing import Any

from harness.platform.local.node_autoscaler import fits_elsewhere, unneeded_for
from harness.simulate.cluster_state import ControlPlane, SimNode, SimPod


class NodeAutoscaling(ControlPlane):
    """The node autoscaler's handlers of ``Cluster`` and the state only they use."""

    provisioning: int
    last_scale_up: float | None
    removing: int | None  # the node being drained for removal
    unneeded_since: dict[int, float]

    def _on_ca_scan(self, t: float, _: Any) -> None:
        if not self._ca_scale_up(t):
            self._ca_scale_down(t)
        if not self.finished:
            self.at(t + self.sc.platform.nodes.autoscaler.scan_interval, "ca_scan")

    def _ca_scale_up(self, t: float) -> bool:
        """Enough new nodes for the pending pods' GPU slots (less those on their way), within max_nodes."""
        ca, slots, gpus = self.sc.platform.nodes.autoscaler, self.sc.platform.nodes.gpu_slots, self.sc.platform.pod.gpus
        pending = [p for p in self.pods if p.node is None and p.deleted_s is None]
        if not pending or gpus > slots:
            return False
        needed = len(pending) * gpus - self.provisioning * slots
        room = ca.max_nodes - sum(1 for n in self.nodes if not n.removed) - self.provisioning
        count = min(math.ceil(max(needed, 0) / max(slots, 1)), room)
        if count <= 0:
            return self.provisioning > 0
        self.provisioning += count
        self.last_scale_up = t
        for _ in range(count):
            self.emit(t, "node_provisioning", pod=pending[0].name, reason="scale-up")
            self.at(t + ca.provisioning_delay, "node_ready", None)
        return True

    def _ca_scale_down(self, t: float) -> None:
        """The embedded node autoscaler's scale-down (the module docstring), one node at a time."""
        ca = self.sc.platform.nodes.autoscaler
        on_node = [p for p in self.pods if p.node is not None and not p.gone]
        if self.removing is not None:
            i, self.removing = self.removing, None
            if any(p.node == i for p in on_node):
                self.removing = i
                self._drain(t, i)  # still draining
                return
            node = self.nodes[i]
            node.removed, node.ready = True, False
            self.touch()
            self.emit(t, "node_removed", node=node.name)
            return
        live = [i for i, n in enumerate(self.nodes) if not n.removed]
        candidates = [i for i in live if self.nodes[i].ready and not self.nodes[i].unschedulable]
        due = unneeded_for(
            self.unneeded_since, candidates, lambda i: self._unneeded(i, candidates, on_node), t,
            ca.scale_down_unneeded_time,
        )  # fmt: skip
        if self.last_scale_up is not None and t - self.last_scale_up < ca.scale_down_delay_after_add:
            return
        if len(live) <= ca.min_nodes:
            return
        if due:
            victim = min(due, key=lambda i: (self.nodes[i].used, self.nodes[i].created_s, i))
            self.unneeded_since.pop(victim, None)
            self.nodes[victim].unschedulable = True
            self.removing = victim
            self._drain(t, victim)

    def _unneeded(self, i: int, candidates: list[int], on_node: list[SimPod]) -> bool:
        node, gpus = self.nodes[i], self.sc.platform.pod.gpus
        if node.used / max(node.slots, 1) >= self.sc.platform.nodes.autoscaler.scale_down_utilization_threshold:
            return False
        demands = [gpus for p in on_node if p.node == i and p.deleted_s is None]
        free = {self.nodes[k].name: self.nodes[k].slots - self.nodes[k].used for k in candidates if k != i}
        return fits_elsewhere(demands, free)

    def _drain(self, t: float, i: int) -> None:
        """Evict the node's pods (their grace period); the ReplicaSet replaces them elsewhere."""
        evicted = False
        for pod in self.pods:
            if pod.node == i and pod.deleted_s is None:
                self.emit(t, "pod_evicted", pod=pod.name)
                self.delete(pod, t, self.sc.platform.pod.termination_grace_period, "evicted")
                evicted = True
        if evicted:
            self.reconcile(t)

    def _on_node_ready(self, t: float, _: Any) -> None:
        self.provisioning -= 1
        node = SimNode(f"sim-node-{len(self.nodes)}", self.sc.platform.nodes.gpu_slots, created_s=t)
        self.nodes.append(node)
        self.emit(t, "node_added", node=node.name, gpu_slots=node.slots, provisioned=True)
        self.schedule(t)
