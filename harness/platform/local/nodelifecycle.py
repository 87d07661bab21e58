"""Nodes of the embedded cluster: their objects, hard loss and return, taint-based eviction, pod GC.

In: the cluster's node settings (count, GPU slots) and faults Kubernetes has no verb for (a node lost
for ``duration_s``: the private API).  Out: Node objects (capacity and allocatable ``nvidia.com/gpu``,
condition Ready, nodeInfo), and the node lifecycle controller's work:

- a lost node turns Ready ``Unknown`` (``NodeStatusUnknown``), is tainted
  ``node.kubernetes.io/unreachable:NoExecute``, its pods turn not Ready at once (every container on
  it was SIGKILLed: ``Kubelet.node_down``); each pod is deleted when its toleration of the taint runs
  out (``tolerationSeconds``, 300 s by default) and stays Terminating until the node returns, as on a
  cluster; its ReplicaSet replaces it elsewhere at once;
- a returning node is Ready again, untainted, and restarts its pods' containers;
- pods bound to a node that no longer exists are removed (the pod garbage collector).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from harness.platform.local.objects import NODES, PODS, Obj, parse_time, rfc3339, set_condition

if TYPE_CHECKING:
    from harness.platform.local.cluster import Cluster

UNREACHABLE = "node.kubernetes.io/unreachable"
DEFAULT_TOLERATION_S = 300.0
KUBELET_VERSION = "v1.32.0-kibench"


def node_object(
    name: str, gpu_slots: int, ip: str, labels: dict[str, str] | None = None, gpus: dict[str, str] | None = None
) -> Obj:
    """A Node; ``gpus``: its extended GPU resources (default ``nvidia.com/gpu: gpu_slots``; ``gpus.node_resources``)."""
    capacity = {"cpu": "8", "memory": "32Gi", "pods": "110", **(gpus or {"nvidia.com/gpu": str(gpu_slots)})}
    status: Obj = {
        "capacity": dict(capacity),
        "allocatable": dict(capacity),
        "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
        "nodeInfo": {
            "architecture": "amd64",
            "bootID": name,
            "containerRuntimeVersion": "kibench-local://0.1.0",
            "kernelVersion": "embedded",
            "kubeProxyVersion": KUBELET_VERSION,
            "kubeletVersion": KUBELET_VERSION,
            "machineID": name,
            "operatingSystem": "linux",
            "osImage": "kibench embedded cluster",
            "systemUUID": name,
        },
    }
    set_condition(status, "Ready", True, "KubeletReady", "kubelet is posting ready status", lastHeartbeatTime=rfc3339())
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": "kibench-local",
                "nvidia.com/gpu.present": "true",
                **(labels or {}),
            },
        },
        "spec": {},
        "status": status,
    }


def _toleration_s(pod: Obj) -> float | None:
    for tol in pod["spec"].get("tolerations") or []:
        if tol.get("key") in (UNREACHABLE, None, "") and tol.get("effect") in ("NoExecute", None, ""):
            seconds = tol.get("tolerationSeconds")
            return None if seconds is None else float(seconds)  # None: tolerated forever
    return DEFAULT_TOLERATION_S  # the DefaultTolerationSeconds admission plugin's


class NodeLifecycle:
    """Node loss and return, NoExecute eviction and pod GC."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.back_at: dict[str, float | None] = {}  # lost node -> monotonic time it returns (None: never)

    def fail(self, name: str, duration_s: float | None) -> None:
        """Hard loss of ``name`` (KeyError when there is no such node)."""
        self.store.get(NODES, None, name)
        self.back_at[name] = None if duration_s is None else time.monotonic() + duration_s
        self.cluster.kubelet.node_down(name)

        def fn(node: Obj) -> None:
            status = node.setdefault("status", {})
            message = "Kubelet stopped posting node status."
            set_condition(status, "Ready", "Unknown", "NodeStatusUnknown", message)
            taints = [t for t in node["spec"].get("taints") or [] if t.get("key") != UNREACHABLE]
            node["spec"]["taints"] = [*taints, {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": rfc3339()}]

        node = self.store.mutate(NODES, None, name, fn)
        if node is not None:
            self.cluster.recorder.record(
                node, "NodeNotReady", f"Node {name} status is now: NodeNotReady", component="node-controller"
            )
        for pod in self._pods_on(name):
            self.store.mutate(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"], _not_ready)

    def recover(self, name: str) -> None:
        self.back_at.pop(name, None)

        def fn(node: Obj) -> None:
            set_condition(
                node.setdefault("status", {}), "Ready", True, "KubeletReady", "kubelet is posting ready status"
            )
            taints = [t for t in node["spec"].get("taints") or [] if t.get("key") != UNREACHABLE]
            if taints:
                node["spec"]["taints"] = taints
            else:
                node["spec"].pop("taints", None)

        node = self.store.mutate(NODES, None, name, fn)
        if node is not None:
            self.cluster.recorder.record(
                node, "NodeReady", f"Node {name} status is now: NodeReady", component="kubelet"
            )
        self.cluster.kubelet.node_up(name)

    def sync(self) -> None:
        now = time.monotonic()
        for name, back in list(self.back_at.items()):
            if back is not None and now >= back:
                self.recover(name)
        nodes = {n["metadata"]["name"]: n for n in self.store.list(NODES, copy=False)[0]}
        for pod in self.store.list(PODS, copy=False)[0]:
            node_name = pod["spec"].get("nodeName")
            if not node_name:
                continue
            node = nodes.get(node_name)
            if node is None:  # the pod GC: its node is gone
                self.store.remove(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])
                continue
            taint = next((t for t in node["spec"].get("taints") or [] if t.get("key") == UNREACHABLE), None)
            if taint is None or pod["metadata"].get("deletionTimestamp"):
                continue
            tolerate = _toleration_s(pod)
            added = parse_time(taint.get("timeAdded")) or time.time()
            if tolerate is not None and time.time() >= added + tolerate:
                self.cluster.delete_pod(pod)
                message = f"Marking for deletion Pod {pod['metadata']['namespace']}/{pod['metadata']['name']}"
                self.cluster.recorder.record(
                    pod, "TaintManagerEviction", message, component="taint-eviction-controller"
                )

    def _pods_on(self, node: str) -> list[Obj]:
        return [p for p in self.store.list(PODS, copy=False)[0] if p["spec"].get("nodeName") == node]


def _not_ready(pod: Obj) -> None:
    status = pod.setdefault("status", {})
    set_condition(status, "Ready", False, "NodeLost", "")
    set_condition(status, "ContainersReady", False, "NodeLost", "")
