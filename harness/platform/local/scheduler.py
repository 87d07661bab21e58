"""The embedded cluster's scheduler: binds Pending pods to nodes, as kube-scheduler's default profile in small.

In: Pod objects without ``spec.nodeName`` and Node objects.  Out: the pod bound (``spec.nodeName``,
condition PodScheduled True, Event ``Scheduled``), or left Pending with PodScheduled False
(reason Unschedulable) and one ``FailedScheduling`` Event per pod and cause, worded as upstream's
(``0/2 nodes are available: 2 Insufficient nvidia.com/gpu.``).

Filter: node Ready, not ``spec.unschedulable``, every NoSchedule/NoExecute taint tolerated, every
``nodeSelector`` label on the node, enough allocatable units left of the GPU resource the pod asks
(``nvidia.com/gpu`` or ``nvidia.com/mig-<profile>``).  Score: LeastAllocated (most free GPU slots; ties by age, name).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from harness.platform.local.objects import (
    NODES,
    PODS,
    Obj,
    gpu_request,
    gpu_resource,
    node_ready,
    parse_quantity,
    set_condition,
)

if TYPE_CHECKING:
    from harness.platform.local.cluster import Cluster


def gpu_slots(node: Obj, resource: str | None = "nvidia.com/gpu") -> int:
    """Allocatable units of a GPU resource on the node (``None``: of every ``nvidia.com/`` resource together)."""
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    if resource is None:
        return sum(int(parse_quantity(v)) for k, v in allocatable.items() if k.startswith("nvidia.com/"))
    return int(parse_quantity(allocatable.get(resource, 0)))


def gpu_used(pods: list[Obj], resource: str | None = None) -> dict[str, int]:
    """Units of a GPU resource (``None``: any) taken per node by the pods bound there (terminating ones still
    hold theirs)."""
    used: dict[str, int] = {}
    for pod in pods:
        node = pod["spec"].get("nodeName")
        if node and (resource is None or gpu_resource(pod) == resource):
            used[node] = used.get(node, 0) + gpu_request(pod)
    return used


def tolerates(pod: Obj, taint: Obj) -> bool:
    for tol in pod["spec"].get("tolerations") or []:
        if tol.get("effect") not in (None, "", taint.get("effect")):
            continue
        if tol.get("operator") == "Exists" and tol.get("key") in (None, "", taint.get("key")):
            return True
        if tol.get("key") == taint.get("key") and tol.get("value", "") == taint.get("value", ""):
            return True
    return False


def why_not(pod: Obj, node: Obj, used: dict[str, int]) -> str | None:
    """Why the pod cannot go to the node (upstream's wording), or ``None`` when it fits."""
    if not node_ready(node):
        return "node(s) were not ready"
    if node.get("spec", {}).get("unschedulable"):
        return "node(s) were unschedulable"
    for taint in node.get("spec", {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(pod, taint):
            return f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(key) != value for key, value in (pod["spec"].get("nodeSelector") or {}).items()):
        return "node(s) didn't match Pod's node affinity/selector"
    resource = gpu_resource(pod)
    if gpu_slots(node, resource) - used.get(node["metadata"]["name"], 0) < gpu_request(pod):
        return f"Insufficient {resource}"
    return None


class Scheduler:
    """Binds each Pending pod to the best node; reports the pods nothing fits."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self._reported: dict[str, str] = {}  # pod uid -> last FailedScheduling message

    def sync(self) -> None:
        pods = self.store.list(PODS, copy=False)[0]
        nodes = self.store.list(NODES, copy=False)[0]
        used_by: dict[str, dict[str, int]] = {}
        pending = [p for p in pods if not p["spec"].get("nodeName") and not p["metadata"].get("deletionTimestamp")]
        for pod in sorted(pending, key=lambda p: p["metadata"].get("creationTimestamp", "")):
            resource = gpu_resource(pod)
            used = used_by.setdefault(resource, gpu_used(pods, resource))
            reasons = {n["metadata"]["name"]: why_not(pod, n, used) for n in nodes}
            fits = [n for n in nodes if reasons[n["metadata"]["name"]] is None]
            if not fits:
                self._unschedulable(pod, len(nodes), Counter(r for r in reasons.values() if r))
                continue
            node = min(
                fits,
                key=lambda n: (
                    used.get(n["metadata"]["name"], 0) - gpu_slots(n, resource),
                    n["metadata"].get("creationTimestamp", ""),
                    n["metadata"]["name"],
                ),
            )
            name = node["metadata"]["name"]
            used[name] = used.get(name, 0) + gpu_request(pod)
            self._bind(pod, name)

    def _bind(self, pod: Obj, node: str) -> None:
        def fn(obj: Obj) -> None:
            obj["spec"]["nodeName"] = node
            set_condition(obj.setdefault("status", {}), "PodScheduled", True)

        meta = pod["metadata"]
        if self.store.mutate(PODS, meta["namespace"], meta["name"], fn) is not None:
            self._reported.pop(meta["uid"], None)
            message = f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}"
            self.cluster.recorder.record(pod, "Scheduled", message, component="default-scheduler")

    def _unschedulable(self, pod: Obj, total: int, reasons: Counter[str]) -> None:
        detail = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
        message = f"0/{total} nodes are available: {detail}." if total else "no nodes available to schedule pods"
        meta = pod["metadata"]

        def fn(obj: Obj) -> None:
            status = obj.setdefault("status", {})
            status.setdefault("phase", "Pending")
            set_condition(status, "PodScheduled", False, "Unschedulable", message)

        self.store.mutate(PODS, meta["namespace"], meta["name"], fn)
        if self._reported.get(meta["uid"]) != message:
            self._reported[meta["uid"]] = message
            self.cluster.recorder.record(pod, "FailedScheduling", message, "Warning", component="default-scheduler")
