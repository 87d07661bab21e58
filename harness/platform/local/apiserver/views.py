"""Objects served in another shape than they are stored.

In: stored objects.  Out: what an endpoint answers with:
- ``to_served``: the object as a resource's endpoint shows it: events.k8s.io/v1 ``Event`` (from a core Event:
  ``regarding``, ``note``, ``reportingController``, a non-null ``eventTime`` with microseconds), policy/v1beta1
  PodDisruptionBudget (the apiVersion changes), anything else as stored;
- ``scale_of``: the autoscaling/v1 ``Scale`` of a Deployment or ReplicaSet (``status.selector`` as a string);
- ``partial_metadata``: ``PartialObjectMetadata`` (what a Table row carries by default).
"""

from __future__ import annotations

from typing import Any

from harness.platform.local.apiserver.resources import ResourceInfo
from harness.platform.local.apiserver.selectors import format_label_selector
from harness.platform.local.apiserver.timefmt import parse_rfc3339, rfc3339_micro


def to_served(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` (stored under ``info.stored_key``) as ``info``'s endpoint serves it; read-only result."""
    if not info.is_view:
        return obj
    if info.group == "events.k8s.io":
        return event_v1(obj)
    return {**obj, "apiVersion": info.api_version}


def event_time(ev: dict[str, Any]) -> float:
    """When a core Event happened: eventTime, else lastTimestamp, firstTimestamp, creationTimestamp."""
    for value in (ev.get("eventTime"), ev.get("lastTimestamp"), ev.get("firstTimestamp")):
        t = parse_rfc3339(value)
        if t is not None:
            return t
    return parse_rfc3339(ev["metadata"].get("creationTimestamp")) or 0.0


def event_v1(ev: dict[str, Any]) -> dict[str, Any]:
    """A core/v1 Event as an events.k8s.io/v1 Event."""
    source = ev.get("source") or {}
    out: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        "metadata": ev["metadata"],
        "eventTime": rfc3339_micro(event_time(ev)),
        "reportingController": ev.get("reportingComponent") or source.get("component") or "",
        "reportingInstance": ev.get("reportingInstance") or source.get("host") or "",
        "action": ev.get("action") or "",
        "reason": ev.get("reason") or "",
        "regarding": ev.get("involvedObject") or {},
        "note": ev.get("message") or "",
        "type": ev.get("type") or "Normal",
    }
    if ev.get("related"):
        out["related"] = ev["related"]
    series = ev.get("series")
    if isinstance(series, dict):
        out["series"] = {
            "count": series.get("count", 1),
            "lastObservedTime": rfc3339_micro(parse_rfc3339(series.get("lastObservedTime")) or event_time(ev)),
        }
    if source:
        out["deprecatedSource"] = source
    for key, new in (("firstTimestamp", "deprecatedFirstTimestamp"), ("lastTimestamp", "deprecatedLastTimestamp")):
        if ev.get(key):
            out[new] = ev[key]
    if ev.get("count"):
        out["deprecatedCount"] = ev["count"]
    return out


def scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The autoscaling/v1 Scale of a Deployment or ReplicaSet."""
    meta = obj["metadata"]
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: meta[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in meta
        },
        "spec": {"replicas": spec.get("replicas", 1)},
        "status": {"replicas": status.get("replicas", 0), "selector": format_label_selector(spec.get("selector"))},
    }


def partial_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
