"""Node pool autoscaling on the local platform, after cluster-autoscaler's rules.

In: ``platform.nodes.autoscaler`` (min/max nodes, provisioning delay, scan interval, unneeded
time, delay after add, utilization threshold) and the Supervisor's nodes and pods.  Out, every
``scan_interval``:

- scale up: when pods are unschedulable, enough new nodes for their GPU slots (counting nodes
  already on their way), within ``max_nodes``; each is ``node_provisioning`` at once and
  ``node_added`` (Ready) after ``provisioning_delay``;
- scale down: a Ready, uncordoned node whose GPU use is under the threshold and whose pods fit on
  the other nodes is *unneeded*; after ``scale_down_unneeded_time`` unneeded (and not within
  ``scale_down_delay_after_add`` of a scale-up) it is drained (PDB honoured) and removed
  (``node_removed``), one node at a time, never below ``min_nodes``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import TYPE_CHECKING

from harness.platform.local import nodeops
from harness.platform.local.nodes import Node, fits_elsewhere, schedulable

if TYPE_CHECKING:
    from harness.platform.local.supervisor import Supervisor

log = logging.getLogger("kibench.local.nodes")


class NodeAutoscaler:
    """Adds nodes for Pending pods and removes unneeded ones."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.settings = sup.cfg.nodes.autoscaler
        self.provisioning = 0
        self.last_scale_up_s: float | None = None
        self.removing: str | None = None

    async def run(self) -> None:
        while True:
            try:
                self.step()
            except Exception:  # a bug must not stop the autoscaler; logged with its traceback
                log.exception("node autoscaler step failed")
            await asyncio.sleep(self.settings.scan_interval)

    def step(self) -> None:
        if not self._scale_up():
            self._scale_down()

    def _scale_up(self) -> bool:
        sup, s = self.sup, self.settings
        pending = [p for p in sup.pods.values() if p.node is None and not p.terminating and p.unschedulable_since_s]
        fitting = [p for p in pending if p.gpus <= sup.cfg.nodes.gpu_slots]
        if not fitting:
            return False
        needed_slots = sum(p.gpus for p in fitting) - self.provisioning * sup.cfg.nodes.gpu_slots
        room = s.max_nodes - len(sup.nodes) - self.provisioning
        count = min(math.ceil(max(needed_slots, 0) / sup.cfg.nodes.gpu_slots), room)
        if count <= 0:
            return self.provisioning > 0
        self.provisioning += count
        self.last_scale_up_s = sup.now_s()
        sup.emit("node_provisioning", count=count, pending_pods=len(fitting), delay_s=s.provisioning_delay)
        for _ in range(count):
            sup.spawn(self._provision())
        return True

    async def _provision(self) -> None:
        await asyncio.sleep(self.settings.provisioning_delay)
        self.provisioning -= 1
        self.sup.add_node(provisioned=True)

    def _scale_down(self) -> None:
        sup, s = self.sup, self.settings
        now = sup.now_s()
        if self.removing is not None:
            if self.removing in sup.nodes and any(p.node == self.removing for p in sup.pods.values()):
                return  # still draining
            if self.removing in sup.nodes:
                nodeops.delete_node(sup, self.removing)
            self.removing = None
        used = sup.gpu_used()
        candidates = [n for n in sup.nodes.values() if schedulable(n)]
        for node in candidates:
            node.unneeded_since_s = (node.unneeded_since_s or now) if self._unneeded(node, used) else None
        if self.last_scale_up_s is not None and now - self.last_scale_up_s < s.scale_down_delay_after_add:
            return
        if len(sup.nodes) <= s.min_nodes:
            return
        due = [
            n
            for n in candidates
            if n.unneeded_since_s is not None and now - n.unneeded_since_s >= s.scale_down_unneeded_time
        ]
        if due:
            victim = min(due, key=lambda n: (used.get(n.name, 0), -n.created_s))
            self._remove(victim, used.get(victim.name, 0))

    def _unneeded(self, node: Node, used: dict[str, int]) -> bool:
        if used.get(node.name, 0) / node.gpu_slots >= self.settings.scale_down_utilization_threshold:
            return False
        demands = [p.gpus for p in self.sup.pods.values() if p.node == node.name and not p.terminating]
        return fits_elsewhere(demands, self.sup.nodes.values(), used, node.name)

    def _remove(self, node: Node, used_slots: int) -> None:
        self.sup.emit("node_scale_down", node=node.name, gpu_used=used_slots, reason="unneeded")
        if used_slots == 0 and not any(p.node == node.name for p in self.sup.pods.values()):
            nodeops.delete_node(self.sup, node.name)
            return
        self.removing = node.name
        nodeops.drain_node(self.sup, node.name, None)
