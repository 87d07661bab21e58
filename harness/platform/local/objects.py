"""Small helpers the embedded cluster's controllers share for reading and writing API objects.

In: plain Kubernetes objects (dicts as the API server stores them).  Out: timestamps in RFC 3339 with
microseconds, condition upserts that keep ``lastTransitionTime`` while a status holds, LabelSelector
matching (matchLabels + matchExpressions), owner references, pod readiness and IntOrString arithmetic.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

# Resource names as the API server's Store knows them.
PODS, NODES, SERVICES, EVENTS = "pods", "nodes", "services", "events"
DEPLOYMENTS, REPLICASETS = "deployments.apps", "replicasets.apps"
HPAS, PDBS, SECRETS = "horizontalpodautoscalers.autoscaling", "poddisruptionbudgets.policy", "secrets"

Obj = dict[str, Any]


def rfc3339(t: float | None = None) -> str:
    """Wall-clock time ``t`` (default now) as ``2026-11-29T01:02:03.456789Z``."""
    stamp = datetime.fromtimestamp(time.time() if t is None else t, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> float | None:
    """An RFC 3339 timestamp as seconds since the epoch (``None`` stays ``None``)."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def meta(obj: Obj) -> Obj:
    return obj.setdefault("metadata", {})


def key(obj: Obj) -> tuple[str | None, str]:
    m = obj["metadata"]
    return m.get("namespace"), m["name"]


def set_condition(
    status: Obj, ctype: str, value: bool | str, reason: str = "", message: str = "", **extra: Any
) -> None:
    """Upsert a condition; ``lastTransitionTime`` changes only when its status does."""
    text = value if isinstance(value, str) else ("True" if value else "False")
    conditions: list[Obj] = status.setdefault("conditions", [])
    for cond in conditions:
        if cond["type"] == ctype:
            if cond["status"] != text:
                cond["lastTransitionTime"] = rfc3339()
            cond.update(status=text, **extra)
            if reason:
                cond["reason"] = reason
            cond["message"] = message if message else cond.get("message", "")
            return
    conditions.append(
        {"type": ctype, "status": text, "lastTransitionTime": rfc3339(), "reason": reason, "message": message, **extra}
    )


def condition(obj: Obj, ctype: str) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return dict(cond)
    return None


def is_true(obj: Obj, ctype: str) -> bool:
    cond = condition(obj, ctype)
    return cond is not None and cond.get("status") == "True"


def pod_ready(pod: Obj) -> bool:
    return is_true(pod, "Ready") and not pod["metadata"].get("deletionTimestamp")


def node_ready(node: Obj) -> bool:
    return is_true(node, "Ready")


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against labels; an empty selector matches all."""
    if selector is None:
        return False
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        k, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(k) not in values:
            return False
        if op == "NotIn" and k in labels and labels[k] in values:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


def owner_ref(owner: Obj, controller: bool = True) -> Obj:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def owned_by(obj: Obj, uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


def controller_of(obj: Obj) -> Obj | None:
    return next((r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")), None)


def int_or_percent(value: Any, total: int, round_up: bool) -> int:
    """IntOrString against ``total``: ``3`` is 3, ``'25%'`` of 10 is 3 (up) or 2 (down)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.endswith("%"):
        return int(text)
    scaled = total * int(text.rstrip("%")) / 100.0
    return math.ceil(scaled) if round_up else math.floor(scaled)


def parse_quantity(text: Any) -> float:
    """A Kubernetes quantity (``"500m"``, ``"2"``, ``"1Gi"``) as a float."""
    if isinstance(text, int | float):
        return float(text)
    s = str(text).strip()
    suffixes = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1024.0, "Mi": 1024.0**2, "Gi": 1024.0**3}
    for suffix in sorted(suffixes, key=len, reverse=True):
        if s.endswith(suffix):
            return float(s[: -len(suffix)]) * suffixes[suffix]
    return float(s)


def gpu_resource(pod: Obj) -> str:
    """The GPU resource the pod asks for: ``nvidia.com/gpu`` or a MIG slice ``nvidia.com/mig-<profile>``."""
    for container in pod["spec"].get("containers") or []:
        res = container.get("resources") or {}
        for name in (*(res.get("requests") or {}), *(res.get("limits") or {})):
            if name.startswith("nvidia.com/"):
                return str(name)
    return "nvidia.com/gpu"


def gpu_request(pod: Obj) -> int:
    """Units of the pod's GPU resource (``gpu_resource``) its containers request (limits count when requests
    do not say)."""
    name, total = gpu_resource(pod), 0
    for container in pod["spec"].get("containers") or []:
        res = container.get("resources") or {}
        value = (res.get("requests") or {}).get(name, (res.get("limits") or {}).get(name, 0))
        total += int(parse_quantity(value))
    return total


def names(objs: Iterable[Obj]) -> list[str]:
    return [o["metadata"]["name"] for o in objs]
