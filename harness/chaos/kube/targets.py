"""Which pods and nodes an activity touches, chosen the way chaostoolkit-kubernetes chooses them.

In: an ``ApiClient``, the namespace and chaosk8s's selection arguments (``label_selector``,
``name_pattern`` (``re.search``), ``all``, ``rand``, ``mode`` fixed|percentage, ``qty``, ``order``
alphabetic|oldest for pods; ``name``, ``label_selector``, ``count``, ``pod_label_selector`` /
``pod_namespace`` for nodes).  Out: ``V1Pod`` / ``V1Node`` objects listed through the API.  Pods being
deleted are never chosen (chaosk8s would pick them too; a fault on a pod that is going away is no fault).
Nothing matched is an ``ActivityFailed`` naming the selector.
"""

from __future__ import annotations

import math
import random
import re

from chaoslib.exceptions import ActivityFailed
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness.chaos.kube.connect import failed


def live_pods(
    core: client.CoreV1Api, ns: str, label_selector: str | None, name_pattern: str | None = None
) -> list[client.V1Pod]:
    """Pods of ``ns`` matching the selector and the name pattern, not being deleted, in name order."""
    try:
        pattern = re.compile(name_pattern) if name_pattern else None
    except re.error as exc:
        raise ActivityFailed(f"name_pattern {name_pattern!r} is not a regular expression: {exc}") from exc
    try:
        listed = core.list_namespaced_pod(ns, label_selector=label_selector or None).items
    except ApiException as exc:
        raise failed(exc, f"listing pods in {ns!r} ({label_selector or 'every pod'})") from exc
    found = [
        p
        for p in listed
        if p.metadata.deletion_timestamp is None and (pattern is None or pattern.search(p.metadata.name))
    ]
    return sorted(found, key=lambda p: str(p.metadata.name))


def pick(
    pods: list[client.V1Pod],
    all: bool = False,
    rand: bool = False,
    mode: str = "fixed",
    qty: int | float = 1,
    order: str = "alphabetic",
) -> list[client.V1Pod]:
    """chaosk8s's choice: every pod (``all``), else ``qty`` of them (a count, or a percentage rounded up)."""
    if mode not in ("fixed", "percentage"):
        raise ActivityFailed(f"mode {mode!r}: use 'fixed' or 'percentage'")
    if order not in ("alphabetic", "oldest"):
        raise ActivityFailed(f"order {order!r}: use 'alphabetic' or 'oldest'")
    if float(qty) < 0:
        raise ActivityFailed(f"qty must be >= 0 (got {qty})")
    if all:
        return list(pods)
    ordered = sorted(pods, key=lambda p: p.metadata.creation_timestamp) if order == "oldest" else list(pods)
    count = int(qty) if mode == "fixed" else math.ceil(float(qty) * len(pods) / 100)
    count = min(count, len(pods))
    return random.sample(ordered, count) if rand else ordered[:count]


def need(items: list[client.V1Pod], what: str, ns: str, label_selector: str | None) -> list[client.V1Pod]:
    if not items:
        raise ActivityFailed(f"no {what} matches {label_selector or 'every pod'!r} in namespace {ns!r}")
    return items


def nodes(
    core: client.CoreV1Api,
    name: str | None = None,
    label_selector: str | None = None,
    count: int | None = None,
    rand: bool = True,
    pod_label_selector: str | None = None,
    pod_namespace: str | None = None,
) -> list[client.V1Node]:
    """Nodes by exact name or label selector (neither: every node), optionally only those running a pod that
    matches ``pod_label_selector`` in ``pod_namespace``; then ``count`` of them (random unless ``rand`` is False)."""
    try:
        listed = core.list_node(
            field_selector=f"metadata.name={name}" if name else None, label_selector=label_selector or None
        ).items
        if pod_label_selector:
            ns = pod_namespace or "default"
            hosts = {p.spec.node_name for p in live_pods(core, ns, pod_label_selector) if p.spec.node_name}
            listed = [n for n in listed if n.metadata.name in hosts]
    except ApiException as exc:
        raise failed(exc, "listing nodes") from exc
    if not listed:
        wanted = name or label_selector or "any node"
        hosting = f" running a pod that matches {pod_label_selector!r}" if pod_label_selector else ""
        raise ActivityFailed(f"no node matches {wanted!r}{hosting}; see kubectl get nodes")
    listed.sort(key=lambda n: str(n.metadata.name))
    if count is not None:
        count = min(max(int(count), 0), len(listed))
        listed = random.sample(listed, count) if rand else listed[:count]
    return listed


def names(items: list[client.V1Pod] | list[client.V1Node]) -> list[str]:
    return [str(item.metadata.name) for item in items]
