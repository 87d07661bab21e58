"""Choosing which pods and nodes an action touches, the way chaostoolkit-kubernetes chooses them.

In: a ``GET /state`` answer and chaosk8s-style arguments (``label_selector``, ``name_pattern``,
``all``, ``rand``, ``mode`` fixed|percentage, ``qty``, ``order`` alphabetic|oldest, ``count``).
Out: lists of pod / node dicts from that state, never anything else: a name that the platform does not
list is refused (``ActivityFailed``), so an experiment can only touch its own run's pods and nodes.

Labels: the local platform has no label store.  When ``/state`` lists no ``labels`` for a pod, these
are its labels: ``app=<deployment>``, ``app.kubernetes.io/name=kibench-service``,
``kibench.io/deployment=<deployment>``, ``kibench.io/node=<node>`` and ``kibench.io/version=<n>``; a
node's are ``kubernetes.io/hostname=<name>``.  Selectors are equality-based: ``k=v``, ``k==v``,
``k!=v``, ``k`` (exists) and ``!k`` (absent), joined by commas.
"""

from __future__ import annotations

import random
import re
from typing import Any

from chaoslib.exceptions import ActivityFailed

SERVICE_LABEL = "app.kubernetes.io/name=kibench-service"


def pod_labels(state: dict[str, Any], pod: dict[str, Any]) -> dict[str, str]:
    if isinstance(pod.get("labels"), dict):
        return {str(k): str(v) for k, v in pod["labels"].items()}
    deployment = str(state.get("deployment", ""))
    key, _, value = SERVICE_LABEL.partition("=")
    return {
        "app": deployment,
        key: value,
        "kibench.io/deployment": deployment,
        "kibench.io/node": str(pod.get("node", "")),
        "kibench.io/version": str(pod.get("version", 1)),
    }


def node_labels(node: dict[str, Any]) -> dict[str, str]:
    if isinstance(node.get("labels"), dict):
        return {str(k): str(v) for k, v in node["labels"].items()}
    return {"kubernetes.io/hostname": str(node.get("name", ""))}


def matches(selector: str | None, labels: dict[str, str]) -> bool:
    """Equality-based Kubernetes label selector semantics."""
    for raw in (selector or "").split(","):
        term = raw.strip()
        if not term:
            continue
        if " in " in term or " notin " in term or "(" in term:
            raise ActivityFailed(f"label selector term {term!r}: use k=v, k!=v, k or !k (no set-based terms)")
        if "!=" in term:
            key, value = (p.strip() for p in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (p.strip() for p in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def pods(
    state: dict[str, Any], label_selector: str | None = None, name_pattern: str | None = None, live_only: bool = True
) -> list[dict[str, Any]]:
    """Pods of this platform matching the selector and the name regex (``re.search``)."""
    try:
        pattern = re.compile(name_pattern) if name_pattern else None
    except re.error as exc:
        raise ActivityFailed(f"name_pattern {name_pattern!r} is not a regular expression: {exc}") from exc
    out = []
    for pod in state.get("replicas", []):
        if live_only and pod.get("phase") == "Terminating":
            continue
        if pattern is not None and not pattern.search(str(pod.get("name", ""))):
            continue
        if matches(label_selector, pod_labels(state, pod)):
            out.append(pod)
    return out


def pick(
    candidates: list[dict[str, Any]],
    all: bool = False,
    rand: bool = False,
    mode: str = "fixed",
    qty: int | float = 1,
    order: str = "alphabetic",
) -> list[dict[str, Any]]:
    """chaosk8s's selection: every candidate, or ``qty`` (a count or a percentage) of them."""
    if all:
        return list(candidates)
    if mode not in ("fixed", "percentage"):
        raise ActivityFailed(f"mode {mode!r}: use 'fixed' or 'percentage'")
    if order not in ("alphabetic", "oldest"):
        raise ActivityFailed(f"order {order!r}: use 'alphabetic' or 'oldest'")
    count = int(qty) if mode == "fixed" else int(float(qty) * len(candidates) / 100)
    if count < 0:
        raise ActivityFailed(f"qty must be >= 0 (got {qty})")
    count = min(count, len(candidates))
    if rand:
        return random.sample(candidates, count)
    key = (lambda p: p.get("created_s", 0.0)) if order == "oldest" else (lambda p: str(p.get("name", "")))
    return sorted(candidates, key=key)[:count]


def nodes(state: dict[str, Any], name: str | None = None, label_selector: str | None = None) -> list[dict[str, Any]]:
    """This platform's nodes by exact name or label selector (neither: every node)."""
    listed = state.get("nodes")
    if listed is None:
        raise ActivityFailed("GET /state lists no nodes: this local platform has no node API (docs/local-api.md)")
    if name:
        found = [n for n in listed if n.get("name") == name]
        if not found:
            known = ", ".join(str(n.get("name")) for n in listed) or "none"
            raise ActivityFailed(f"node {name!r} is not one of this platform's nodes ({known}); refusing it")
        return found
    return [n for n in listed if matches(label_selector, node_labels(n))]


def pod_named(state: dict[str, Any], name: str) -> dict[str, Any]:
    for pod in state.get("replicas", []):
        if pod.get("name") == name:
            return dict(pod)
    known = ", ".join(str(p.get("name")) for p in state.get("replicas", [])) or "none"
    raise ActivityFailed(f"pod {name!r} is not one of this platform's pods ({known}); refusing it")


def check_deployment(state: dict[str, Any], name: str | None) -> str:
    """The platform's one deployment; ``name``, when given, must be it."""
    deployment = str(state.get("deployment", ""))
    if name and name != deployment:
        raise ActivityFailed(f"deployment {name!r} is not this platform's (it runs {deployment!r}); refusing it")
    return deployment


def names(items: list[dict[str, Any]]) -> list[str]:
    return [str(item.get("name")) for item in items]
