"""The resource table: which kinds the embedded API serves, where, and how discovery describes them.

In: a group/version/plural from a URL, or a stored resource key such as ``"deployments.apps"``.
Out: ``ResourceInfo`` (kind, scope, verbs, short names, subresources, the stored resource it reads) and the
discovery documents kubectl reads (``/api``, ``/api/v1``, ``/apis``, ``/apis/{group}/{version}``, ``/version``).

A *view* (``events.k8s.io/v1`` events, ``policy/v1beta1`` PodDisruptionBudgets) has no storage of its own: it reads
the stored resource named by ``backing`` and converts each object on the way out (``views.py``); views are read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.platform.local.apiserver.errors import ApiError, resource_not_found

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_VERBS = ("get", "list", "watch")
KUBE_VERSION = (1, 32)


@dataclass(frozen=True)
class Subresource:
    """``pods/eviction`` and friends: the kind they take and, when it differs, its group/version."""

    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""
    version: str = ""


@dataclass(frozen=True)
class ResourceInfo:
    """One served resource at one group/version."""

    plural: str
    singular: str
    kind: str
    group: str
    version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    backing: str = ""  # the stored resource a view reads; "" for stored resources
    verbs: tuple[str, ...] = ALL_VERBS
    computed: bool = False  # served from live measurements (metrics.k8s.io), never stored

    @property
    def key(self) -> str:
        """The store's name for it: the plural with its group (``deployments.apps``; ``pods`` for core)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def stored_key(self) -> str:
        return self.backing or self.key

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def is_view(self) -> bool:
        return bool(self.backing)

    def subresource(self, name: str) -> Subresource | None:
        return next((s for s in self.subresources if s.name == name), None)


_STATUS = Subresource("status", "", ("get", "patch", "update"))


def _status(kind: str) -> Subresource:
    return Subresource("status", kind, _STATUS.verbs)


def _scale() -> Subresource:
    return Subresource("scale", "Scale", ("get", "patch", "update"), "autoscaling", "v1")


RBAC = "rbac.authorization.k8s.io"

RESOURCES: tuple[ResourceInfo, ...] = (
    ResourceInfo(
        "pods",
        "pod",
        "Pod",
        "",
        "v1",
        True,
        ("po",),
        ("all",),
        (
            _status("Pod"),
            Subresource("log", "Pod", ("get",)),
            Subresource("eviction", "Eviction", ("create",), "policy", "v1"),
            Subresource("portforward", "PodPortForwardOptions", ("create", "get")),
        ),
    ),
    ResourceInfo("nodes", "node", "Node", "", "v1", False, ("no",), (), (_status("Node"),)),
    ResourceInfo("services", "service", "Service", "", "v1", True, ("svc",), ("all",), (_status("Service"),)),
    ResourceInfo("events", "event", "Event", "", "v1", True, ("ev",)),
    ResourceInfo("namespaces", "namespace", "Namespace", "", "v1", False, ("ns",), (), (_status("Namespace"),)),
    ResourceInfo("secrets", "secret", "Secret", "", "v1", True),
    ResourceInfo("configmaps", "configmap", "ConfigMap", "", "v1", True, ("cm",)),
    ResourceInfo("serviceaccounts", "serviceaccount", "ServiceAccount", "", "v1", True, ("sa",)),
    ResourceInfo("jobs", "job", "Job", "batch", "v1", True, (), ("all",), (_status("Job"),)),
    ResourceInfo("roles", "role", "Role", RBAC, "v1", True),
    ResourceInfo("rolebindings", "rolebinding", "RoleBinding", RBAC, "v1", True),
    ResourceInfo("clusterroles", "clusterrole", "ClusterRole", RBAC, "v1", False),
    ResourceInfo("clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", RBAC, "v1", False),
    ResourceInfo(
        "deployments",
        "deployment",
        "Deployment",
        "apps",
        "v1",
        True,
        ("deploy",),
        ("all",),
        (_scale(), _status("Deployment")),
    ),  # fmt: skip
    ResourceInfo(
        "replicasets",
        "replicaset",
        "ReplicaSet",
        "apps",
        "v1",
        True,
        ("rs",),
        ("all",),
        (_scale(), _status("ReplicaSet")),
    ),  # fmt: skip
    ResourceInfo(
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        "HorizontalPodAutoscaler",
        "autoscaling",
        "v2",
        True,
        ("hpa",),
        ("all",),
        (_status("HorizontalPodAutoscaler"),),
    ),  # fmt: skip
    ResourceInfo(
        "poddisruptionbudgets",
        "poddisruptionbudget",
        "PodDisruptionBudget",
        "policy",
        "v1",
        True,
        ("pdb",),
        (),
        (_status("PodDisruptionBudget"),),
    ),  # fmt: skip
    ResourceInfo(
        "poddisruptionbudgets",
        "poddisruptionbudget",
        "PodDisruptionBudget",
        "policy",
        "v1beta1",
        True,
        ("pdb",),
        backing="poddisruptionbudgets.policy",
        verbs=READ_VERBS,
    ),  # fmt: skip
    ResourceInfo("events", "event", "Event", "events.k8s.io", "v1", True, ("ev",), backing="events", verbs=READ_VERBS),
    # the resource metrics API (metrics-server's): computed from the pods' processes at each GET
    ResourceInfo("pods", "", "PodMetrics", "metrics.k8s.io", "v1beta1", True, verbs=("get", "list"), computed=True),
    ResourceInfo("nodes", "", "NodeMetrics", "metrics.k8s.io", "v1beta1", False, verbs=("get", "list"), computed=True),
    ResourceInfo(
        "verticalpodautoscalers",
        "verticalpodautoscaler",
        "VerticalPodAutoscaler",
        "autoscaling.k8s.io",
        "v1",
        True,
        ("vpa",),
        (),
        (_status("VerticalPodAutoscaler"),),
    ),  # fmt: skip
)

#: Group → versions served, the preferred one first.
GROUPS: dict[str, tuple[str, ...]] = {
    "apps": ("v1",),
    "autoscaling": ("v2",),
    "batch": ("v1",),
    "policy": ("v1", "v1beta1"),
    "events.k8s.io": ("v1",),
    RBAC: ("v1",),
    "metrics.k8s.io": ("v1beta1",),
    "autoscaling.k8s.io": ("v1",),
}

_BY_PATH: dict[tuple[str, str, str], ResourceInfo] = {(r.group, r.version, r.plural): r for r in RESOURCES}
_STORED: dict[str, ResourceInfo] = {r.key: r for r in RESOURCES if not r.is_view and not r.computed}


@dataclass
class _Index:
    by_kind: dict[tuple[str, str], ResourceInfo] = field(default_factory=dict)


def by_path(group: str, version: str, plural: str) -> ResourceInfo:
    """The resource a URL names; 404 (``the server could not find the requested resource``) otherwise."""
    info = _BY_PATH.get((group, version, plural))
    if info is None:
        raise resource_not_found()
    return info


def stored(key: str) -> ResourceInfo:
    """The stored resource called ``key`` (``pods``, ``deployments.apps``); 404 for anything else."""
    info = _STORED.get(key)
    if info is None:
        raise ApiError(404, "NotFound", f"the server does not store the resource {key!r}")
    return info


def stored_resources() -> list[ResourceInfo]:
    return list(_STORED.values())


def group_version_known(group: str, version: str) -> bool:
    return version in GROUPS.get(group, ()) if group else version == "v1"


# --- discovery documents ---------------------------------------------------------------------------------------


def _resource_entry(info: ResourceInfo) -> dict[str, object]:
    entry: dict[str, object] = {
        "name": info.plural,
        "singularName": info.singular,
        "namespaced": info.namespaced,
        "kind": info.kind,
        "verbs": list(info.verbs),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    return entry


def _subresource_entry(info: ResourceInfo, sub: Subresource) -> dict[str, object]:
    entry: dict[str, object] = {
        "name": f"{info.plural}/{sub.name}",
        "singularName": "",
        "namespaced": info.namespaced,
        "kind": sub.kind,
        "verbs": list(sub.verbs),
    }
    if sub.group or sub.version:
        entry["group"] = sub.group
        entry["version"] = sub.version
    return entry


def api_resource_list(group: str, version: str) -> dict[str, object]:
    """The APIResourceList of one group/version (``/api/v1``, ``/apis/apps/v1``)."""
    if not group_version_known(group, version):
        raise resource_not_found()
    entries: list[dict[str, object]] = []
    for info in RESOURCES:
        if info.group == group and info.version == version:
            entries.append(_resource_entry(info))
            entries.extend(_subresource_entry(info, sub) for sub in info.subresources if not info.is_view)
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries}


def api_versions(server_address: str) -> dict[str, object]:
    """``/api``."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group(name: str) -> dict[str, object]:
    """``/apis/{group}``."""
    versions = GROUPS.get(name)
    if versions is None:
        raise resource_not_found()
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": listed, "preferredVersion": listed[0]}


def api_group_list() -> dict[str, object]:
    """``/apis``."""
    groups = [{k: v for k, v in api_group(name).items() if k not in ("kind", "apiVersion")} for name in GROUPS]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def version_info() -> dict[str, str]:
    """``/version``: all nine VersionInfo fields (the Python client requires every one)."""
    major, minor = KUBE_VERSION
    return {
        "major": str(major),
        "minor": str(minor),
        "gitVersion": f"v{major}.{minor}.0-kibench",
        "gitCommit": "0" * 40,
        "gitTreeState": "clean",
        "buildDate": "2024-12-11T00:00:00Z",
        "goVersion": "go1.23.4",
        "compiler": "gc",
        "platform": "linux/amd64",
    }
