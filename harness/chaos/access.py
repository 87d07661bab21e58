"""What a scenario's faults ask of the Kubernetes API, as RBAC rules: the least a service account needs to run them.

In: a ``FaultPlan`` (``plan_faults``).  Out: ``FaultAccess``: the rules for the run's namespace (a Role), the
cluster-scoped ones (a ClusterRole: nodes, and what a drain does to every pod of a node) and one reason per
rule; ``kibench cluster run`` adds them to the Role of the Job that runs kibench in the cluster.

Each activity of each experiment (steady-state probes, method, rollbacks, and configuration keys that are
probes, except those kibench sets) is looked up in ``ACCESS``: the requests that chaostoolkit-kubernetes'
function (``chaosk8s``, 0.39) or kibench's own (``harness.chaos.kube``) sends, read from their code.  A
``chaosk8s`` or ``harness.chaos.kube`` function that is not in the table is refused (``ScenarioError``, exit 2):
guessing its permissions would grant too much or fail half-way.  Activities of other modules, processes and
HTTP calls get no permission (they do not reach the cluster through kibench's service account).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.chaos.plan import HARNESS_KEYS, FaultPlan
from harness.errors import ScenarioError

#: One permission: (scope, API group, resource, verbs); scope "ns" (the run's namespace) or "cluster".
Grant = tuple[str, str, str, tuple[str, ...]]

_POD_LIST: Grant = ("ns", "", "pods", ("list",))
_DEPLOY_LIST: Grant = ("ns", "apps", "deployments", ("list",))
_NODES: Grant = ("cluster", "", "nodes", ("list", "patch"))

#: (module, function) -> what it sends, and why (for the docs and the plan).
ACCESS: dict[tuple[str, str], tuple[tuple[Grant, ...], str]] = {
    ("chaosk8s.pod.actions", "terminate_pods"): (
        (("ns", "", "pods", ("list", "delete")),), "pod kill: lists the pods, deletes the chosen ones"),
    ("chaosk8s.pod.probes", "pods_in_phase"): ((_POD_LIST,), "lists the pods"),
    ("chaosk8s.pod.probes", "pods_not_in_phase"): ((_POD_LIST,), "lists the pods"),
    ("chaosk8s.pod.probes", "pods_in_conditions"): ((_POD_LIST,), "lists the pods"),
    ("chaosk8s.pod.probes", "count_pods"): ((_POD_LIST,), "lists the pods"),
    ("chaosk8s.pod.probes", "count_min_pods"): ((_POD_LIST,), "lists the pods"),
    ("chaosk8s.pod.probes", "pod_is_not_available"): ((_POD_LIST,), "lists the pods"),
    ("chaosk8s.pod.probes", "all_pods_healthy"): ((_POD_LIST,), "lists the pods"),
    ("chaosk8s.pod.probes", "read_pod_logs"): (
        (_POD_LIST, ("ns", "", "pods/log", ("get",))), "lists the pods, reads their logs"),
    ("chaosk8s.deployment.probes", "deployment_available_and_healthy"): ((_DEPLOY_LIST,), "lists the Deployment"),
    ("chaosk8s.deployment.probes", "deployment_partially_available"): ((_DEPLOY_LIST,), "lists the Deployment"),
    ("chaosk8s.deployment.probes", "deployment_fully_available"): (
        (("ns", "apps", "deployments", ("list", "watch")),), "watches the Deployment until its replicas are Ready"),
    ("chaosk8s.deployment.probes", "deployment_not_fully_available"): (
        (("ns", "apps", "deployments", ("list", "watch")),), "watches the Deployment"),
    ("chaosk8s.deployment.actions", "rollout_deployment"): (
        (("ns", "apps", "deployments", ("patch",)),), "rolling update: patches the pod template's restartedAt"),
    ("chaosk8s.deployment.actions", "scale_deployment"): (
        (("ns", "apps", "deployments", ("patch",)),), "patches the Deployment's replicas"),
    ("chaosk8s.node.actions", "cordon_node"): ((_NODES,), "finds the node, marks it unschedulable"),
    ("chaosk8s.node.actions", "uncordon_node"): ((_NODES,), "finds the nodes, marks them schedulable again"),
    ("chaosk8s.node.actions", "drain_nodes"): (
        (_NODES, ("cluster", "", "pods", ("list", "get")), ("cluster", "", "pods/eviction", ("create",))),
        "drain: cordons the node, lists every pod on it (all namespaces, as kubectl drain), evicts them and "
        "reads each until it is gone"),
    ("harness.chaos.kube", "deployment_name"): ((_DEPLOY_LIST,), "finds the service's Deployment by its label"),
    ("harness.chaos.kube", "rollout_complete"): (
        (("ns", "apps", "deployments", ("get",)),), "reads the Deployment until its rollout is complete"),
    ("harness.chaos.kube", "slo_holds"): (
        (("ns", "", "services", ("list",)),), "judges the live traffic (without it: finds the Service)"),
    ("harness.chaos.kube", "hang_pods"): (
        (("ns", "", "pods", ("list", "get")),),
        "hung replica: lists the pods, posts to the chosen one's admin API (token: the admin Secret, by name), "
        "reads it until it restarted"),
    ("harness.chaos.kube", "inject_latency"): ((_POD_LIST,), "lists the pods, posts to their admin API"),
    ("harness.chaos.kube", "inject_errors"): ((_POD_LIST,), "lists the pods, posts to their admin API"),
    ("harness.chaos.kube", "reset_faults"): ((_POD_LIST,), "lists the pods, posts to their admin API"),
}  # fmt: skip
#: Modules whose functions talk to the cluster through the run's service account: unknown ones are refused.
KNOWN_MODULES = ("chaosk8s", "harness.chaos.kube")


@dataclass(frozen=True)
class FaultAccess:
    """The RBAC rules a plan's activities need: ``namespaced`` (a Role's), ``cluster`` (a ClusterRole's), and
    ``reasons``: ``module.function: why`` for each activity that needs any."""

    namespaced: list[dict[str, Any]] = field(default_factory=list)
    cluster: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.namespaced or self.cluster)


def _activities(experiment: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key, value in (experiment.get("configuration") or {}).items():
        if key not in HARNESS_KEYS and isinstance(value, dict) and value.get("type") == "probe":
            yield value  # a dynamic configuration value (kibench's own keys are set, never probed)
    yield from (experiment.get("steady-state-hypothesis") or {}).get("probes") or []
    yield from experiment.get("method") or []
    yield from experiment.get("rollbacks") or []


def _rules(grants: dict[tuple[str, str, str], set[str]], scope: str) -> list[dict[str, Any]]:
    return [
        {"apiGroups": [group], "resources": [resource], "verbs": sorted(verbs)}
        for (s, group, resource), verbs in sorted(grants.items())
        if s == scope
    ]


def fault_access(plan: FaultPlan, source: str) -> FaultAccess:
    """The rules every activity of ``plan`` needs (``ScenarioError`` naming the fault for an unknown one)."""
    grants: dict[tuple[str, str, str], set[str]] = {}
    reasons: dict[str, str] = {}
    for fault in plan.faults:
        for activity in _activities(fault.experiment):
            provider = activity.get("provider") or {}
            if provider.get("type") != "python":
                continue
            module, func = str(provider.get("module", "")), str(provider.get("func", ""))
            if not module.startswith(KNOWN_MODULES):
                continue
            found = ACCESS.get((module, func))
            if found is None:
                raise ScenarioError(
                    source,
                    f"faults[{fault.index}].experiment",
                    f"{fault.path.name}: kibench cluster run does not know which permissions {module}.{func} needs, "
                    f"so its Role cannot grant them; it knows: {', '.join(sorted({f for _, f in ACCESS}))}. "
                    "Run this scenario with kibench run --set platform.kind=kubernetes instead",
                )
            needs, why = found
            for scope, group, resource, verbs in needs:
                grants.setdefault((scope, group, resource), set()).update(verbs)
            reasons[f"{module}.{func}"] = why
    return FaultAccess(
        _rules(grants, "ns"), _rules(grants, "cluster"), [f"{name}: {why}" for name, why in sorted(reasons.items())]
    )
