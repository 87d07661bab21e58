"""``as=Table`` answers: the columns ``kubectl get`` prints, computed as kube-apiserver's printers compute them.

In: a ``ResourceInfo``, stored objects and the time now.  Out: a ``meta.k8s.io/v1`` Table with every column
(priority-1 columns are what ``-o wide`` adds) and one row per object, each row carrying
``PartialObjectMetadata`` (``includeObject=Metadata``, the default), the object (``Object``) or nothing (``None``).

pods NAME READY STATUS RESTARTS AGE | IP NODE NOMINATED NODE READINESS GATES;  nodes NAME STATUS ROLES AGE VERSION |
INTERNAL-IP …;  deployments NAME READY UP-TO-DATE AVAILABLE AGE | CONTAINERS IMAGES SELECTOR;  replicasets NAME
DESIRED CURRENT READY AGE | …;  hpa NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE;  pdb NAME MIN AVAILABLE
MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE;  services NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE | SELECTOR;
events LAST SEEN TYPE REASON OBJECT MESSAGE | SUBOBJECT SOURCE FIRST SEEN COUNT NAME;  namespaces NAME STATUS AGE;
verticalpodautoscalers NAME MODE CPU MEM PROVIDED AGE;
anything else NAME AGE.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from harness.platform.local.apiserver.errors import bad_request
from harness.platform.local.apiserver.podstatus import pod_row
from harness.platform.local.apiserver.resources import ResourceInfo
from harness.platform.local.apiserver.selectors import format_label_selector
from harness.platform.local.apiserver.timefmt import age, human_duration, parse_rfc3339
from harness.platform.local.apiserver.views import event_time, partial_metadata, to_served

log = logging.getLogger(__name__)
Row = list[Any]


def _col(name: str, kind: str = "string", priority: int = 0, fmt: str = "") -> dict[str, Any]:
    return {"name": name, "type": kind, "format": fmt, "description": name, "priority": priority}


NAME = _col("Name", fmt="name")
AGE = _col("Age")


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["metadata"]


def _or_none(value: Any, empty: str = "<none>") -> Any:
    return value if value not in (None, "", []) else empty


# --- other kinds -----------------------------------------------------------------------------------------------


def _node_row(node: dict[str, Any], now: float) -> Row:
    status, labels = node.get("status") or {}, _meta(node).get("labels") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    states = [] if ready is None else ["Ready" if ready.get("status") == "True" else "NotReady"]
    states = states or ["Unknown"]
    if (node.get("spec") or {}).get("unschedulable"):
        states.append("SchedulingDisabled")
    roles = sorted({k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")} - {""})
    if labels.get("kubernetes.io/role"):
        roles = sorted({*roles, labels["kubernetes.io/role"]})
    info = status.get("nodeInfo") or {}
    addrs = {a.get("type"): a.get("address") for a in status.get("addresses") or [] if isinstance(a, dict)}
    return [
        _meta(node)["name"],
        ",".join(states),
        ",".join(roles) or "<none>",
        age(_meta(node).get("creationTimestamp"), now),
        info.get("kubeletVersion") or "",
        _or_none(addrs.get("InternalIP")),
        _or_none(addrs.get("ExternalIP")),
        _or_none(info.get("osImage"), "<unknown>"),
        _or_none(info.get("kernelVersion"), "<unknown>"),
        _or_none(info.get("containerRuntimeVersion"), "<unknown>"),
    ]


def _workload_cells(obj: dict[str, Any]) -> Row:
    spec = obj.get("spec") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return [
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
        format_label_selector(spec.get("selector")) or "<none>",
    ]


def _deployment_row(obj: dict[str, Any], now: float) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        _meta(obj)["name"],
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        age(_meta(obj).get("creationTimestamp"), now),
        *_workload_cells(obj),
    ]


def _replicaset_row(obj: dict[str, Any], now: float) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        _meta(obj)["name"],
        spec.get("replicas", 1),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        age(_meta(obj).get("creationTimestamp"), now),
        *_workload_cells(obj),
    ]


def _metric_target(spec: dict[str, Any], status: dict[str, Any] | None) -> str:
    kind = spec.get("type", "")
    source = spec.get(kind[:1].lower() + kind[1:]) or {}
    current_src = ((status or {}).get(kind[:1].lower() + kind[1:]) or {}).get("current") or {}
    target = source.get("target") or {}
    if kind == "Resource" and target.get("averageValue") is None:
        current = current_src.get("averageUtilization")
        shown = f"{current}%" if current is not None else "<unknown>"
        wanted = f"{target['averageUtilization']}%" if target.get("averageUtilization") is not None else "<auto>"
        return f"{source.get('name', '')}: {shown}/{wanted}"
    current = current_src.get("averageValue") or current_src.get("value") or "<unknown>"
    wanted = target.get("averageValue") or target.get("value") or "<unknown>"
    return f"{source.get('name', '')}: {current}/{wanted}" if kind == "Resource" else f"{current}/{wanted}"


def _hpa_row(obj: dict[str, Any], now: float) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    metrics, current = spec.get("metrics") or [], status.get("currentMetrics") or []
    shown = [_metric_target(m, current[i] if i < len(current) else None) for i, m in enumerate(metrics)]
    targets = ", ".join(shown[:2]) + (f" + {len(shown) - 2} more..." if len(shown) > 2 else "") if shown else "<none>"
    ref = spec.get("scaleTargetRef") or {}
    return [
        _meta(obj)["name"],
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        targets,
        str(spec["minReplicas"]) if spec.get("minReplicas") is not None else "<unset>",
        spec.get("maxReplicas", 0),
        status.get("currentReplicas", 0),
        age(_meta(obj).get("creationTimestamp"), now),
    ]


def _pdb_row(obj: dict[str, Any], now: float) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        _meta(obj)["name"],
        str(spec["minAvailable"]) if spec.get("minAvailable") is not None else "N/A",
        str(spec["maxUnavailable"]) if spec.get("maxUnavailable") is not None else "N/A",
        status.get("disruptionsAllowed", 0),
        age(_meta(obj).get("creationTimestamp"), now),
    ]


def _vpa_row(obj: dict[str, Any], now: float) -> Row:
    """The VPA CRD's printer columns: MODE CPU MEM PROVIDED AGE (the first container's target)."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    recs = (status.get("recommendation") or {}).get("containerRecommendations") or [{}]
    target = recs[0].get("target") or {}
    provided = next(
        (c.get("status") for c in status.get("conditions") or [] if c.get("type") == "RecommendationProvided"), ""
    )
    return [
        _meta(obj)["name"],
        (spec.get("updatePolicy") or {}).get("updateMode", "Auto"),
        target.get("cpu", ""),
        target.get("memory", ""),
        provided,
        age(_meta(obj).get("creationTimestamp"), now),
    ]


def _service_row(obj: dict[str, Any], now: float) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    kind = spec.get("type", "ClusterIP")
    external = list(spec.get("externalIPs") or [])
    if kind == "LoadBalancer":
        ingress = [i.get("ip") or i.get("hostname") for i in (status.get("loadBalancer") or {}).get("ingress") or []]
        external = [*ingress, *external] or ["<pending>"]
    elif kind == "ExternalName":
        external = [spec.get("externalName", "")]
    ports = [
        (f"{p.get('port')}:{p['nodePort']}" if p.get("nodePort") else f"{p.get('port')}")
        + f"/{p.get('protocol', 'TCP')}"
        for p in spec.get("ports") or []
    ]
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
    return [
        _meta(obj)["name"],
        kind,
        (spec.get("clusterIPs") or [spec.get("clusterIP") or "<none>"])[0],
        ",".join(external) or "<none>",
        ",".join(ports) or "<none>",
        age(_meta(obj).get("creationTimestamp"), now),
        selector or "<none>",
    ]


def _event_row(ev: dict[str, Any], now: float) -> Row:
    involved, source = ev.get("involvedObject") or {}, ev.get("source") or {}
    first = parse_rfc3339(ev.get("firstTimestamp")) or event_time(ev)
    last = parse_rfc3339(ev.get("lastTimestamp")) or first
    count = ev.get("count") or 1
    if isinstance(ev.get("series"), dict):
        last = parse_rfc3339(ev["series"].get("lastObservedTime")) or last
        count = ev["series"].get("count", count)
    kind = str(involved.get("kind", "")).lower()
    component = source.get("component") or ev.get("reportingComponent") or ""
    instance = source.get("host") or ev.get("reportingInstance") or ""
    return [
        human_duration(now - last),
        ev.get("type", ""),
        ev.get("reason", ""),
        f"{kind}/{involved['name']}" if involved.get("name") else kind,
        involved.get("fieldPath", ""),
        f"{component}, {instance}" if instance else component,
        ev.get("message", ""),
        human_duration(now - first),
        count,
        _meta(ev)["name"],
    ]


def _namespace_row(obj: dict[str, Any], now: float) -> Row:
    return [
        _meta(obj)["name"],
        (obj.get("status") or {}).get("phase", ""),
        age(_meta(obj).get("creationTimestamp"), now),
    ]


def _default_row(obj: dict[str, Any], now: float) -> Row:
    return [_meta(obj)["name"], age(_meta(obj).get("creationTimestamp"), now)]


_WORKLOAD_WIDE = [_col("Containers", priority=1), _col("Images", priority=1), _col("Selector", priority=1)]
PRINTERS: dict[str, tuple[list[dict[str, Any]], Callable[[dict[str, Any], float], Row]]] = {
    "verticalpodautoscalers.autoscaling.k8s.io": (
        [NAME, _col("Mode"), _col("CPU"), _col("Mem"), _col("Provided"), AGE],
        _vpa_row,
    ),
    "pods": (
        [
            NAME,
            _col("Ready"),
            _col("Status"),
            _col("Restarts"),
            AGE,
            _col("IP", priority=1),
            _col("Node", priority=1),
            _col("Nominated Node", priority=1),
            _col("Readiness Gates", priority=1),
        ],
        pod_row,
    ),  # fmt: skip
    "nodes": (
        [
            NAME,
            _col("Status"),
            _col("Roles"),
            AGE,
            _col("Version"),
            _col("Internal-IP", priority=1),
            _col("External-IP", priority=1),
            _col("OS-Image", priority=1),
            _col("Kernel-Version", priority=1),
            _col("Container-Runtime", priority=1),
        ],
        _node_row,
    ),  # fmt: skip
    "deployments.apps": (
        [NAME, _col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"), AGE, *_WORKLOAD_WIDE],
        _deployment_row,
    ),
    "replicasets.apps": (
        [NAME, _col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"), AGE, *_WORKLOAD_WIDE],
        _replicaset_row,
    ),
    "horizontalpodautoscalers.autoscaling": (
        [
            NAME,
            _col("Reference"),
            _col("Targets"),
            _col("MinPods"),
            _col("MaxPods", "integer"),
            _col("Replicas", "integer"),
            AGE,
        ],
        _hpa_row,
    ),  # fmt: skip
    "poddisruptionbudgets.policy": (
        [NAME, _col("Min Available"), _col("Max Unavailable"), _col("Allowed Disruptions", "integer"), AGE],
        _pdb_row,
    ),
    "services": (
        [
            NAME,
            _col("Type"),
            _col("Cluster-IP"),
            _col("External-IP"),
            _col("Port(s)"),
            AGE,
            _col("Selector", priority=1),
        ],
        _service_row,
    ),  # fmt: skip
    "events": (
        [
            _col("Last Seen"),
            _col("Type"),
            _col("Reason"),
            _col("Object"),
            _col("Subobject", priority=1),
            _col("Source", priority=1),
            _col("Message"),
            _col("First Seen", priority=1),
            _col("Count", "integer", priority=1),
            _col("Name", priority=1),
        ],
        _event_row,
    ),  # fmt: skip
    "namespaces": ([NAME, _col("Status"), AGE], _namespace_row),
}


def _cells(row_fn: Callable[[dict[str, Any], float], Row], obj: dict[str, Any], now: float, width: int) -> Row:
    """The row's cells; an object a printer cannot read (odd status a controller wrote) shows its name only."""
    try:
        return row_fn(obj, now)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError):
        log.warning("cannot print %s %s as a table row", obj.get("kind"), obj["metadata"].get("name"), exc_info=True)
        return [obj["metadata"].get("name", "")] + ["<unknown>"] * (width - 1)


def include_mode(value: str | None) -> str:
    """``includeObject``: None (default Metadata), ``Metadata``, ``Object`` or ``None``; 400 otherwise."""
    if value in (None, ""):
        return "Metadata"
    if value not in ("Metadata", "Object", "None"):
        raise bad_request(f"includeObject must be one of None, Metadata or Object (got {value!r})")
    return value


def table(
    info: ResourceInfo,
    objs: list[dict[str, Any]],
    now: float,
    resource_version: str,
    include: str = "Metadata",
    continue_token: str = "",
) -> dict[str, Any]:
    """A Table of the stored objects ``objs`` of ``info`` (rows in order)."""
    columns, row_fn = PRINTERS.get(info.stored_key, ([NAME, AGE], _default_row))
    rows = []
    for obj in objs:
        row: dict[str, Any] = {"cells": _cells(row_fn, obj, now, len(columns))}
        if include == "Metadata":
            row["object"] = partial_metadata(obj)
        elif include == "Object":
            row["object"] = to_served(info, obj)
        rows.append(row)
    meta: dict[str, Any] = {"resourceVersion": resource_version}
    if continue_token:
        meta["continue"] = continue_token
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": columns,
        "rows": rows,
    }
