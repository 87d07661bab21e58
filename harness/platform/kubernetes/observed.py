"""What the watched objects say about the run: Pod, Node, Deployment and HPA objects to ``PlatformState``.

In: the objects as the informers hold them (plain dicts, as the API server sent them), the run clock and a
function turning an RFC 3339 timestamp into run seconds.  Out: ``platform_state``: the desired replicas, each
replica (phase, readiness and its time from the pod's own Ready condition, restarts, template hash), each node
(Ready, cordoned, ``nvidia.com/gpu`` allocatable and used) and the HPA's metrics as the timeline's
``hpa_<metric>`` / ``hpa_<metric>_target`` columns.  No API call; the driver calls it from ``state()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes.utils import parse_quantity

from harness.model import NodeState, PlatformState, Replica
from harness.platform.kubernetes.translate import cond, container, gpu_units, is_true

Obj = dict[str, Any]


def platform_state(
    now_s: float,
    at: Callable[[str | None], float],
    pods: list[Obj],
    nodes: list[Obj],
    deployment: Obj | None,
    hpa: Obj | None,
) -> PlatformState:
    used: dict[str, int] = {}
    for pod in pods:
        node = pod["spec"].get("nodeName")
        if node:
            used[node] = used.get(node, 0) + gpus(pod)
    desired = int(deployment["spec"].get("replicas", 1)) if deployment else 0
    node_ready = {n["metadata"]["name"]: is_true(n, "Ready") for n in nodes}
    replicas = tuple(replica(p, node_ready, at) for p in pods)
    node_states = tuple(
        NodeState(
            n["metadata"]["name"],
            is_true(n, "Ready"),
            bool(n["spec"].get("unschedulable")),
            gpu_units((n.get("status") or {}).get("allocatable") or {}),
            used.get(n["metadata"]["name"], 0),
        )
        for n in nodes
    )
    return PlatformState(now_s, desired, replicas, node_states, hpa_metrics(hpa))


def replica(pod: Obj, node_ready: dict[str, bool], at: Callable[[str | None], float]) -> Replica:
    meta, spec = pod["metadata"], pod["spec"]
    ready_cond = cond(pod, "Ready")
    ready = ready_cond.get("status") == "True" and not meta.get("deletionTimestamp")
    return Replica(
        name=meta["name"],
        node=spec.get("nodeName"),
        port=next((p["containerPort"] for p in spec["containers"][0].get("ports") or []), None),
        phase=phase(pod, node_ready),
        ready=ready,
        created_s=round(at(meta.get("creationTimestamp")), 6),
        ready_s=round(at(ready_cond["lastTransitionTime"]), 6) if ready else None,
        restarts=int(container(pod).get("restartCount", 0)),
        version=(meta.get("labels") or {}).get("pod-template-hash"),
    )


def gpus(pod: Obj) -> int:
    """GPU units (``nvidia.com/gpu`` or MIG slices) the pod's containers request."""
    return sum(gpu_units((c.get("resources") or {}).get("requests") or {}) for c in pod["spec"].get("containers") or [])


def phase(pod: Obj, node_ready: dict[str, bool]) -> str:
    """The phase the run reports: Pending, Starting, Running, CrashLoopBackOff, ErrImagePull, Unknown, Terminating."""
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    node = pod["spec"].get("nodeName")
    if not node:
        return "Pending"
    if not node_ready.get(node, True):
        return "Unknown"
    waiting = ((container(pod).get("state") or {}).get("waiting") or {}).get("reason")
    if waiting in ("CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff"):
        return str(waiting)
    return "Running" if is_true(pod, "Ready") else "Starting"


def hpa_metrics(hpa: Obj | None) -> dict[str, float | None]:
    """``{metric: current, metric_target: target}`` from the HPA's spec and status (empty without an HPA)."""
    if hpa is None:
        return {}
    out: dict[str, float | None] = {}
    for metric in hpa["spec"].get("metrics") or []:
        label, target = _target(metric)
        out[label] = None
        out[f"{label}_target"] = target
    for current in (hpa.get("status") or {}).get("currentMetrics") or []:
        label, value = _current(current)
        if label is not None:
            out[label] = value
    return out


def _target(metric: Obj) -> tuple[str, float | None]:
    if metric.get("type") == "Resource":
        res = metric["resource"]
        target = res.get("target") or {}
        if target.get("type") == "Utilization":
            return f"{res['name']}_utilization_pct", float(target["averageUtilization"])
        return res["name"], float(parse_quantity(target.get("averageValue", 0)))
    if metric.get("type") == "Pods":
        return metric["pods"]["metric"]["name"], float(parse_quantity(metric["pods"]["target"]["averageValue"]))
    return str(metric.get("type")), None


def _current(metric: Obj) -> tuple[str | None, float | None]:
    if metric.get("type") == "Resource":
        res = metric["resource"]
        current = res.get("current") or {}
        if current.get("averageUtilization") is not None:
            return f"{res['name']}_utilization_pct", float(current["averageUtilization"])
        return res["name"], float(parse_quantity(current.get("averageValue", 0)))
    if metric.get("type") == "Pods":
        return metric["pods"]["metric"]["name"], round(
            float(parse_quantity(metric["pods"]["current"]["averageValue"])), 4
        )
    return None, None
