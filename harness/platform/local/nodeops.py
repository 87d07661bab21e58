"""Node faults and maintenance on the local platform: fail, recover, cordon, drain, delete.

In: the ``Supervisor`` (its nodes, pods, events) and a node name.  Out: state changes and events:

- ``fail_node``: hard loss. Every container on the node is SIGKILLed at once, the node turns
  NotReady (``node_down``), its pods turn ``Unknown`` and stay bound; after ``nodes.eviction_delay``
  (tolerationSeconds for node.kubernetes.io/unreachable) they are deleted (``pod_deleted``, reason
  ``node_lost``) and their ReplicaSet replaces them elsewhere.  After ``duration_s`` the node is
  Ready again (``node_up``) and restarts the containers of pods still bound to it.
- ``drain_node``: cordon, then evict every pod through the PodDisruptionBudget (a blocked eviction
  is retried every ``nodes.drain_retry_interval``, as ``kubectl drain`` does), ``node_drained`` at the end.
- ``delete_node``: the node is gone (``node_removed``); its pods are deleted and replaced.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from harness.platform.local.nodes import Node
from harness.platform.local.pods import kill_now
from harness.platform.local.rollout import disruptions_allowed, resolve

if TYPE_CHECKING:
    from harness.platform.local.supervisor import Supervisor


class NodeError(LookupError):
    """The named node does not exist or cannot take the operation (the API answers 404/409)."""


def _node(sup: Supervisor, name: str) -> Node:
    node = sup.nodes.get(name)
    if node is None:
        raise NodeError(f"no node named {name!r}; see GET /state nodes")
    return node


def fail_node(sup: Supervisor, name: str, duration_s: float | None) -> None:
    """Hard node loss; back after ``duration_s`` (never when ``None``)."""
    node = _node(sup, name)
    now = sup.now_s()
    node.back_at_s = None if duration_s is None else now + duration_s
    if not node.ready:
        return
    node.ready = False
    sup.emit("node_down", node=name, duration_s=duration_s)
    for pod in [p for p in sup.pods.values() if p.node == name]:
        for task in pod.tasks:
            task.cancel()
        kill_now(pod.proc)
        pod.proc, pod.restart_at_s = None, None
        if pod.ready:
            pod.ready, pod.ready_transition_s = False, now
            sup.emit("pod_unready", pod=pod.name, node=name, reason="node_down")
        if not pod.terminating:
            pod.phase, pod.evict_at_s = "Unknown", now + sup.cfg.nodes.eviction_delay


def recover_nodes(sup: Supervisor) -> None:
    """Nodes whose failure is over turn Ready and restart the containers of their remaining pods."""
    now = sup.now_s()
    for node in sup.nodes.values():
        if node.ready or node.back_at_s is None or now < node.back_at_s:
            continue
        node.ready, node.back_at_s = True, None
        sup.emit("node_up", node=node.name)
        for pod in sup.pods.values():
            if pod.node == node.name and pod.evict_at_s is not None and not pod.terminating:
                pod.evict_at_s, pod.finished_s = None, now
                pod.restart_at_s = now  # the kubelet starts the pod's containers again


def evict_lost_pods(sup: Supervisor) -> None:
    """Delete pods whose node has been NotReady for the eviction delay (the taint manager)."""
    now = sup.now_s()
    for pod in list(sup.pods.values()):
        if pod.evict_at_s is not None and now >= pod.evict_at_s and not pod.terminating:
            sup.terminate(pod, 0.0, "node_lost")


def cordon(sup: Supervisor, name: str, on: bool) -> None:
    node = _node(sup, name)
    if node.cordoned != on:
        node.cordoned = on
        sup.emit("node_cordoned" if on else "node_uncordoned", node=name)
    if not on and name in sup.drains:
        sup.drains.pop(name).cancel()


def drain_node(sup: Supervisor, name: str, grace_period_s: float | None) -> None:
    """Cordon the node and evict its pods in the background (202: progress comes as events)."""
    cordon(sup, name, True)
    if name not in sup.drains or sup.drains[name].done():
        sup.emit("node_drain_started", node=name)
        sup.drains[name] = sup.spawn(_drain(sup, name, grace_period_s))


def _desired_healthy(sup: Supervisor) -> int:
    pdb = sup.cfg.pdb
    if pdb is None:
        return 0
    if pdb.min_available is not None:
        return resolve(pdb.min_available, sup.desired, round_up=True)
    return sup.desired - resolve(pdb.max_unavailable or 0, sup.desired, round_up=True)


def try_evict(sup: Supervisor, pod_name: str, grace_s: float) -> bool:
    """The Eviction API: delete the pod if the PDB allows it (a not-Ready pod: if the PDB is met)."""
    pod = sup.pods[pod_name]
    healthy = len(sup.ready_pods())
    if pod.ready:
        allowed = disruptions_allowed(sup.cfg.pdb, sup.desired, healthy) > 0
    else:  # unhealthyPodEvictionPolicy IfHealthyBudget
        allowed = healthy >= _desired_healthy(sup)
    if allowed:
        sup.terminate(pod, grace_s, "evicted")
    return allowed


async def _drain(sup: Supervisor, name: str, grace_period_s: float | None) -> None:
    grace = sup.cfg.pod.termination_grace_period if grace_period_s is None else grace_period_s
    blocked: set[str] = set()
    while name in sup.nodes:
        pods = [p for p in sup.pods.values() if p.node == name]
        if not pods:
            sup.emit("node_drained", node=name)
            return
        for pod in [p for p in pods if not p.terminating]:
            if try_evict(sup, pod.name, grace):
                blocked.discard(pod.name)
            elif pod.name not in blocked:
                blocked.add(pod.name)
                sup.emit("eviction_blocked", pod=pod.name, node=name, reason="PodDisruptionBudget")
        await asyncio.sleep(sup.cfg.nodes.drain_retry_interval if blocked else 0.2)


def delete_node(sup: Supervisor, name: str) -> None:
    """Remove the node; its pods are deleted (graceful) and replaced on other nodes."""
    _node(sup, name)
    if name in sup.drains:
        sup.drains.pop(name).cancel()
    for pod in [p for p in sup.pods.values() if p.node == name]:
        sup.terminate(pod, 0.0 if pod.proc is None else sup.cfg.pod.termination_grace_period, "node_removed")
    del sup.nodes[name]
    sup.emit("node_removed", node=name)
