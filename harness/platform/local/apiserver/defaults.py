"""Per-kind defaults and validation, the parts of kube-apiserver's registry strategies clients notice.

In: a ``ResourceInfo`` and an object about to be stored (a private copy the store owns), plus the stored object on
updates.  Out: the object with defaults filled in place (pods get ``spec.volumes: []`` and ``status.phase:
Pending``; Services a cluster IP; HPA and PDB a zeroed status; Deployments replicas, strategy and history limit),
or ``ApiError`` 422 Invalid naming the field (``Deployment.apps "web" is invalid: spec.selector: Required value``).
``merge_update`` decides which half of an update counts: the main resource keeps the stored ``status``, the
``status`` subresource keeps everything but ``status``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from harness.platform.local.apiserver import batch
from harness.platform.local.apiserver.errors import ApiError, bad_request, invalid
from harness.platform.local.apiserver.patches import clone
from harness.platform.local.apiserver.resources import ResourceInfo
from harness.platform.local.apiserver.selectors import selector_from_object

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
#: Metadata the client cannot change with an update.
IMMUTABLE_META = ("uid", "name", "namespace", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")
#: Resources whose status only changes through the ``status`` subresource (or a controller's ``mutate``).
WITH_STATUS = {"pods", "nodes", "services", "namespaces", "deployments.apps", "replicasets.apps"} | {
    "horizontalpodautoscalers.autoscaling",
    "poddisruptionbudgets.policy",
    "jobs.batch",
}


class Allocator:
    """Cluster IPs (10.96.0.10 onwards) and node ports (30000-32767) for Services."""

    def __init__(self) -> None:
        self._next_ip = int(ipaddress.IPv4Address("10.96.0.10"))
        self._next_port = 30000

    def cluster_ip(self) -> str:
        ip, self._next_ip = str(ipaddress.IPv4Address(self._next_ip)), self._next_ip + 1
        return ip

    def node_port(self) -> int:
        port = self._next_port
        self._next_port = 30000 + (self._next_port - 30000 + 1) % 2768
        return port


def check_name(info: ResourceInfo, name: str) -> None:
    pattern = _LABEL if info.plural == "namespaces" else _SUBDOMAIN
    if len(name) > (63 if pattern is _LABEL else 253) or not pattern.match(name):
        what = "RFC 1123 label" if pattern is _LABEL else "RFC 1123 subdomain"
        raise invalid(
            info.kind,
            name,
            [
                (
                    "metadata.name",
                    f'Invalid value: "{name}": a lowercase {what} must consist of lower case alphanumeric '
                    "characters, '-' or '.', and must start and end with an alphanumeric character",
                )
            ],
            info.group,
        )


def check_metadata(meta: dict[str, Any]) -> None:
    """400 for ObjectMeta fields of the wrong JSON type (Kubernetes fails to decode them); 422 for owner
    references without apiVersion, kind, name or uid."""

    def wrong(field: str, value: Any, what: str) -> ApiError:
        return bad_request(f"metadata.{field}: must be {what} (got {value!r})")

    for field in ("name", "generateName", "namespace", "uid", "resourceVersion", "creationTimestamp"):
        if meta.get(field) is not None and not isinstance(meta[field], str):
            raise wrong(field, meta[field], "a string")
    for field in ("generation", "deletionGracePeriodSeconds"):
        value = meta.get(field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise wrong(field, value, "an integer")
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is not None and (not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())):
            raise wrong(field, value, "a map of strings")
    finalizers = meta.get("finalizers")
    if finalizers is not None and (not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers)):
        raise wrong("finalizers", finalizers, "a list of strings")
    refs = meta.get("ownerReferences")
    if refs is None:
        return
    if not isinstance(refs, list) or not all(isinstance(r, dict) for r in refs):
        raise wrong("ownerReferences", refs, "a list of objects")
    for ref in refs:
        for key in ("apiVersion", "kind", "name", "uid"):
            if not isinstance(ref.get(key), str) or not ref[key]:
                raise ApiError(422, "Invalid", f"metadata.ownerReferences.{key}: Required value (got {ref!r})")


def apply_defaults(info: ResourceInfo, obj: dict[str, Any], alloc: Allocator | None) -> None:
    """Fill the defaults Kubernetes fills, in place; ``alloc`` is None when no new IPs may be handed out."""
    fill = _DEFAULTS.get(info.key)
    if fill is not None:
        fill(obj, alloc)


def validate(info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None = None) -> None:
    """422 Invalid on what Kubernetes would refuse from a client (create, update, patch)."""
    check = _VALIDATE.get(info.key)
    causes = check(obj, old) if check is not None else []
    if causes:
        raise invalid(info.kind, obj["metadata"].get("name", ""), causes, info.group)


def merge_update(info: ResourceInfo, old: dict[str, Any], new: dict[str, Any], subresource: str | None) -> dict:
    """The object an update stores: immutable metadata from ``old``; status or the rest from ``old`` as due."""
    if subresource == "status":
        result = {k: clone(v) for k, v in old.items() if k != "status"}
        if "status" in new:
            result["status"] = new["status"]
        return result
    meta = new.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    for key in IMMUTABLE_META:
        if key in old["metadata"]:
            meta[key] = old["metadata"][key]
        else:
            meta.pop(key, None)
    if info.key in WITH_STATUS:
        if "status" in old:
            new["status"] = clone(old["status"])
        else:
            new.pop("status", None)
    return new


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    return spec


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    status = obj.get("status")
    if not isinstance(status, dict):
        status = obj["status"] = {}
    return status


def _pod_defaults(obj: dict[str, Any], _alloc: Allocator | None) -> None:
    spec = _spec(obj)
    if not isinstance(spec.get("volumes"), list):
        spec["volumes"] = []
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    status = _status(obj)
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", _qos_class(spec))


def _qos_class(spec: dict[str, Any]) -> str:
    resources = [c.get("resources") or {} for c in spec.get("containers") or [] if isinstance(c, dict)]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(r.get("limits") and (r.get("requests") or r["limits"]) == r["limits"] for r in resources)
    return "Guaranteed" if guaranteed else "Burstable"


def _template_defaults(spec: dict[str, Any]) -> None:
    """The pod-spec defaults Kubernetes fills in a workload's pod template."""
    template = spec.get("template")
    pod_spec = template.get("spec") if isinstance(template, dict) else None
    if isinstance(pod_spec, dict):
        pod_spec.setdefault("restartPolicy", "Always")
        pod_spec.setdefault("terminationGracePeriodSeconds", 30)
        pod_spec.setdefault("dnsPolicy", "ClusterFirst")
        pod_spec.setdefault("schedulerName", "default-scheduler")


def _deployment_defaults(obj: dict[str, Any], _alloc: Allocator | None) -> None:
    spec = _spec(obj)
    _template_defaults(spec)
    spec.setdefault("replicas", 1)
    spec.setdefault(
        "strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    )
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _status(obj)


def _replicaset_defaults(obj: dict[str, Any], _alloc: Allocator | None) -> None:
    _template_defaults(_spec(obj))
    _spec(obj).setdefault("replicas", 1)
    _status(obj).setdefault("replicas", 0)


def _service_defaults(obj: dict[str, Any], alloc: Allocator | None) -> None:
    spec = _spec(obj)
    kind = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if kind != "ExternalName" and not spec.get("clusterIP") and alloc is not None:
        spec["clusterIP"] = alloc.cluster_ip()
    if spec.get("clusterIP") and spec["clusterIP"] != "None":
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
            if kind in ("NodePort", "LoadBalancer") and not port.get("nodePort") and alloc is not None:
                port["nodePort"] = alloc.node_port()
    _status(obj).setdefault("loadBalancer", {})


def _hpa_defaults(obj: dict[str, Any], _alloc: Allocator | None) -> None:
    _spec(obj).setdefault("minReplicas", 1)
    status = _status(obj)
    status.setdefault("currentReplicas", 0)
    status.setdefault("desiredReplicas", 0)


def _pdb_defaults(obj: dict[str, Any], _alloc: Allocator | None) -> None:
    status = _status(obj)
    for key in ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"):
        status.setdefault(key, 0)


def _namespace_defaults(obj: dict[str, Any], _alloc: Allocator | None) -> None:
    meta = obj["metadata"]
    labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
    labels["kubernetes.io/metadata.name"] = meta["name"]
    meta["labels"] = labels
    _spec(obj)
    _status(obj).setdefault("phase", "Active")


_DEFAULTS = {
    "pods": _pod_defaults,
    "deployments.apps": _deployment_defaults,
    "replicasets.apps": _replicaset_defaults,
    "services": _service_defaults,
    "horizontalpodautoscalers.autoscaling": _hpa_defaults,
    "poddisruptionbudgets.policy": _pdb_defaults,
    "namespaces": _namespace_defaults,
    "jobs.batch": batch.job_defaults,
}

Causes = list[tuple[str, str]]


def _pod_valid(obj: dict[str, Any], old: dict[str, Any] | None) -> Causes:
    spec, causes = obj.get("spec") or {}, []
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        return [("spec.containers", "Required value")]
    for i, c in enumerate(containers):
        if not isinstance(c, dict) or not c.get("name"):
            causes.append((f"spec.containers[{i}].name", "Required value"))
        elif not c.get("image"):
            causes.append((f"spec.containers[{i}].image", "Required value"))
    if old is not None and causes == []:
        causes += _pod_update_valid(spec, old.get("spec") or {})
    return causes


def _pod_update_valid(spec: dict[str, Any], old: dict[str, Any]) -> Causes:
    """Pod updates may change images, activeDeadlineSeconds and add tolerations, as in Kubernetes."""

    def without_mutable(s: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in s.items() if k not in ("activeDeadlineSeconds", "tolerations")}
        for key in ("containers", "initContainers"):
            out[key] = [{k: v for k, v in c.items() if k != "image"} for c in s.get(key) or [] if isinstance(c, dict)]
        return out

    if without_mutable(spec) != without_mutable(old):
        return [("spec", "Forbidden: pod updates may not change fields other than `spec.containers[*].image`, "
                 "`spec.initContainers[*].image`, `spec.activeDeadlineSeconds` or `spec.tolerations`")]  # fmt: skip
    return []


def _selector_and_template(obj: dict[str, Any], old: dict[str, Any] | None, template_required: bool) -> Causes:
    spec = obj.get("spec") or {}
    selector, template = spec.get("selector"), spec.get("template")
    causes: Causes = []
    if not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        causes.append(("spec.selector", "Required value"))
    if template is None and template_required:
        causes.append(("spec.template", "Required value"))
    if causes:
        return causes
    replicas = spec.get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        causes.append(("spec.replicas", f"Invalid value: {replicas!r}: must be greater than or equal to 0"))
    try:
        parsed = selector_from_object(selector)
    except ApiError as exc:
        return [("spec.selector", exc.message)]
    labels = ((template or {}).get("metadata") or {}).get("labels") or {}
    if template is not None and parsed is not None and not parsed.matches(labels):
        causes.append(("spec.template.metadata.labels", "Invalid value: `selector` does not match template `labels`"))
    if old is not None and (old.get("spec") or {}).get("selector") != selector:
        causes.append(("spec.selector", "Invalid value: field is immutable"))
    return causes


def _service_valid(obj: dict[str, Any], _old: dict[str, Any] | None) -> Causes:
    causes = []
    for i, port in enumerate((obj.get("spec") or {}).get("ports") or []):
        number = port.get("port") if isinstance(port, dict) else None
        if not isinstance(number, int) or not 0 < number < 65536:
            causes.append((f"spec.ports[{i}].port", f"Invalid value: {number!r}: must be between 1 and 65535"))
    return causes


def _hpa_valid(obj: dict[str, Any], _old: dict[str, Any] | None) -> Causes:
    spec, causes = obj.get("spec") or {}, []
    ref = spec.get("scaleTargetRef")
    if not isinstance(ref, dict) or not ref.get("kind") or not ref.get("name"):
        causes.append(("spec.scaleTargetRef", "Required value: kind and name"))
    high, low = spec.get("maxReplicas"), spec.get("minReplicas", 1)
    if not isinstance(high, int) or high < 1:
        causes.append(("spec.maxReplicas", f"Invalid value: {high!r}: must be greater than or equal to 1"))
    elif isinstance(low, int) and low > high:
        causes.append(("spec.maxReplicas", f"Invalid value: {high}: must be greater than or equal to `minReplicas`"))
    return causes


def _pdb_valid(obj: dict[str, Any], _old: dict[str, Any] | None) -> Causes:
    spec = obj.get("spec") or {}
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        return [("spec", "Invalid value: minAvailable and maxUnavailable cannot be both set")]
    return []


def _event_valid(obj: dict[str, Any], _old: dict[str, Any] | None) -> Causes:
    return [] if isinstance(obj.get("involvedObject"), dict) else [("involvedObject", "Required value")]


_VALIDATE = {
    "pods": _pod_valid,
    "deployments.apps": lambda obj, old: _selector_and_template(obj, old, True),
    "replicasets.apps": lambda obj, old: _selector_and_template(obj, old, False),
    "services": _service_valid,
    "horizontalpodautoscalers.autoscaling": _hpa_valid,
    "poddisruptionbudgets.policy": _pdb_valid,
    "events": _event_valid,
    "jobs.batch": batch.job_valid,
    "rolebindings.rbac.authorization.k8s.io": batch.binding_valid,
    "clusterrolebindings.rbac.authorization.k8s.io": batch.binding_valid,
}
