"""Virtual nodes of the local platform and the scheduler that places pods on them.

In: node settings (count, GPU slots) and the pods' GPU requests.  Out: ``Node`` records (ready,
cordoned, GPU slots) and ``pick_node``: the node a Pending pod goes to, or ``None`` (it stays Pending).

Scheduling follows kube-scheduler's default profile in small: filter (node Ready, not cordoned,
enough free GPU slots: NodeResourcesFit) then score (LeastAllocated: most free slots; ties by name).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass
class Node:
    """One virtual node.  ``ready`` is its Ready condition; ``back_at_s`` ends a simulated failure."""

    name: str
    gpu_slots: int
    created_s: float
    ready: bool = True
    cordoned: bool = False
    back_at_s: float | None = None
    draining: bool = False
    unneeded_since_s: float | None = None
    provisioned: bool = False  # added by the node autoscaler

    def to_json(self, gpu_used: int) -> dict[str, Any]:
        return {
            "name": self.name,
            "ready": self.ready,
            "cordoned": self.cordoned,
            "gpu_slots": self.gpu_slots,
            "gpu_used": gpu_used,
            "created_s": round(self.created_s, 6),
        }


def gpu_used(nodes: Iterable[Node], placements: Iterable[tuple[str | None, int]]) -> dict[str, int]:
    """GPU slots in use per node name, from ``(node, gpus)`` of every pod bound to a node."""
    used = {node.name: 0 for node in nodes}
    for node, gpus in placements:
        if node is not None and node in used:
            used[node] += gpus
    return used


def schedulable(node: Node) -> bool:
    return node.ready and not node.cordoned


def pick_node(gpus: int, nodes: Iterable[Node], used: Mapping[str, int]) -> Node | None:
    """The node a pod needing ``gpus`` slots is bound to, or ``None`` when none fits (Pending)."""
    fits = [n for n in nodes if schedulable(n) and n.gpu_slots - used.get(n.name, 0) >= gpus]
    if not fits:
        return None
    return min(fits, key=lambda n: (used.get(n.name, 0) - n.gpu_slots, n.created_s, n.name))


def fits_elsewhere(demands: list[int], nodes: Iterable[Node], used: Mapping[str, int], excluded: str) -> bool:
    """Could every demand (GPU slots of one pod) be placed on schedulable nodes other than ``excluded``?

    First-fit decreasing, as cluster-autoscaler's scale-down simulation checks that a node's pods
    fit on the remaining nodes.
    """
    free = {n.name: n.gpu_slots - used.get(n.name, 0) for n in nodes if schedulable(n) and n.name != excluded}
    for need in sorted(demands, reverse=True):
        target = next((name for name, slots in sorted(free.items()) if slots >= need), None)
        if target is None:
            return False
        free[target] -= need
    return True
