"""``kibench cluster run``'s objects: kibench itself as a Job, with the least RBAC its run needs.

In: the scenario file's text, the ``--set`` overrides, the namespace the run works in and the harness image.
Out: ``HarnessObjects``, plain manifests in the order to create them: ServiceAccount, Role, RoleBinding,
ClusterRole and ClusterRoleBinding (nodes read; what a drain needs when a fault drains a node), the ConfigMap
with the scenario, and the Job.  The same objects, for namespace ``kibench`` and the scenario in
``deploy/harness/scenario.yaml``, are ``deploy/harness/`` (Kustomize); ``tests/kube/test_harness_job.py``
checks that ``kubectl kustomize deploy/harness`` renders them.

The Job's pod runs ``kibench cluster in-pod /etc/kibench/scenario.yaml --results /var/kibench/results
[--set ...]`` as the service account: the scenario on kind ``kubernetes`` in the pod's own namespace through
its in-cluster config, then the run folder printed to the log (``runcopy``), and the run's exit code as the
container's.  ``restartPolicy: Never`` and ``backoffLimit: 0``: a benchmark is not retried behind the user's
back (a second run would measure something else), and the pod's exit code is the run's.

Why each permission (the in-pod run is ``platform.kind: kubernetes`` with a named namespace: the driver
checks each name it will create, creates the service's objects, follows them through watches, and deletes
them at the end, waiting until the pods are gone; ``tests/kube/test_cluster_run.py`` checks against the
embedded cluster's audit that each rule is used and nothing else is asked):

============================  ===================================  ==========================================
resources (group)             verbs                                why
============================  ===================================  ==========================================
secrets ("")                  create; get, delete of one name      the service's admin token: made; checked and
                                                                   removed by name (``resourceNames``: no other
                                                                   secret of the namespace is readable)
services ("")                 get, create, delete, list, watch     the Service: checked, made, followed (its
                                                                   address), removed
pods, events ("")             list, watch                          the replicas and their Events, followed
deployments (apps)            get, create, delete, list, watch     the service's Deployment
replicasets (apps)            list                                 clean-up waits until they are gone
pods (metrics.k8s.io)         list                                 the replicas' CPU and memory (usage.parquet)
horizontalpodautoscalers      list, watch; get, create, delete     followed always (the timeline's HPA
(autoscaling)                 when the scenario has an HPA         columns); written when there is one
poddisruptionbudgets (policy) get, create, delete                  the PDB (when the scenario has one)
verticalpodautoscalers        get, create, delete                  the VPA (``platform.vpa``): made, its
(autoscaling.k8s.io)                                               recommendation read at the end, removed
nodes ("", ClusterRole)       list, watch                          the timeline's nodes (read only)
============================  ===================================  ==========================================

Faults (``faults:``) add only the verbs their activities send that the rules above do not give yet
(``harness.chaos.fault_access`` reads each experiment's probes, actions and rollbacks; a scenario without
faults gets exactly the rules above), and ``CHAOSTOOLKIT_IN_POD=true`` (admin faults post to pod IPs):

============================  ===================================  ==========================================
resources (group)             verbs                                why (which fault)
============================  ===================================  ==========================================
pods ("")                     delete                               pod kill (chaosk8s ``terminate_pods``)
pods ("")                     get                                  hung replica (``hang_pods`` reads the pod
                                                                   until its liveness probe restarted it)
deployments (apps)            patch                                rolling update (``rollout_deployment``),
                                                                   ``scale_deployment``
pods/log ("")                 get                                  chaosk8s ``read_pod_logs``
nodes ("", ClusterRole)       patch                                node drain, cordon, uncordon (rollback)
pods ("", ClusterRole)        list, get                            node drain: every pod on the node, in
                                                                   every namespace, as ``kubectl drain``;
                                                                   read until each is gone
pods/eviction ("",            create                               node drain: evicts them (PDBs honoured)
ClusterRole)
============================  ===================================  ==========================================

Latency and error faults need nothing more (pods list, and the admin Secret by name, are granted above).
Hard node loss (``fail_node``) is refused before anything is sent: the embedded cluster only.

Not granted: ``pods/exec`` (results come back through the log), ``pods/portforward`` (in the pod, admin faults
reach pod IPs directly), ``update``, ``escalate``, ``bind``, anything on namespaces or on other namespaces
(except what a node drain does to the pods of its node).
With ``load.placement: cluster`` the workers' Service and Deployment are created by ``kibench cluster run``
itself, beside the Job (``load_workers``): the in-pod run only listens for them, so the Role stays as above.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from harness import deployspec
from harness.platform.kubernetes import load_workers as load_workers_objects
from harness.platform.kubernetes import manifests
from harness.scenario import Scenario

Obj = dict[str, Any]

#: The harness image (kibench itself; its entrypoint is ``kibench``).  One constant: change it here.
HARNESS_IMAGE = deployspec.HARNESS_IMAGE
NAME = "kibench-harness"
APP_LABEL = "app.kubernetes.io/name"
CONTAINER = "kibench"
SCENARIO_DIR = "/etc/kibench"
SCENARIO_KEY = "scenario.yaml"
RESULTS_DIR = "/var/kibench/results"
RBAC = "rbac.authorization.k8s.io"
STOP_GRACE_S = 120

#: The Role's rules (namespace of the run), by the service's object they serve; see the table above.
ALWAYS_RULES: list[Obj] = [
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},  # + get, delete of the admin token's, by name
    {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "create", "delete", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods", "events"], "verbs": ["list", "watch"]},
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "create", "delete", "list", "watch"]},
    {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["list"]},
    {"apiGroups": ["metrics.k8s.io"], "resources": ["pods"], "verbs": ["list"]},
]
HPA_RULE: Obj = {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": ["list", "watch"]}
HPA_WRITE = ["get", "create", "delete"]
PDB_RULE: Obj = {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["get", "create", "delete"]}
VPA_RULE: Obj = {
    "apiGroups": ["autoscaling.k8s.io"], "resources": ["verticalpodautoscalers"], "verbs": ["get", "create", "delete"]
}  # fmt: skip
CLUSTER_RULES: list[Obj] = [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list", "watch"]}]


@dataclass(frozen=True)
class FaultRules:
    """What a scenario's faults need (``harness.chaos.fault_access``): rules for the Role and the ClusterRole."""

    namespaced: list[Obj] = field(default_factory=list)
    cluster: list[Obj] = field(default_factory=list)


@dataclass(frozen=True)
class HarnessObjects:
    """Every object of one in-cluster run, in the order to create them."""

    namespace: str
    objects: list[Obj] = field(default_factory=list)

    def get(self, kind: str) -> Obj:
        return next(o for o in self.objects if o["kind"] == kind)

    @property
    def job_name(self) -> str:
        return str(self.get("Job")["metadata"]["name"])


def cluster_name(namespace: str) -> str:
    """The ClusterRole's and ClusterRoleBinding's name: cluster-wide, so it names the namespace."""
    return f"{NAME}-{namespace}"


def container_args(sets: list[str]) -> list[str]:
    args = ["cluster", "in-pod", f"{SCENARIO_DIR}/{SCENARIO_KEY}", "--results", RESULTS_DIR]
    for item in sets:
        args += ["--set", item]
    return args


def missing(granted: list[Obj], wanted: list[Obj]) -> list[Obj]:
    """The rules of ``wanted`` less the verbs ``granted`` already gives on the same group and resource (rules
    limited to ``resourceNames`` give nothing here): what a scenario's faults add to a role."""
    have = {(g, r, v) for rule in granted if not rule.get("resourceNames") for g in rule["apiGroups"]
            for r in rule["resources"] for v in rule["verbs"]}  # fmt: skip
    out = []
    for rule in wanted:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                verbs = [v for v in rule["verbs"] if (group, resource, v) not in have]
                if verbs:
                    out.append({"apiGroups": [group], "resources": [resource], "verbs": verbs})
    return out


def role_rules(service_kinds: set[str], secret: str | None = None, faults: list[Obj] | None = None) -> list[Obj]:
    """The least rules for a run whose service has objects of ``service_kinds`` (``manifests.render``'s) and,
    when it has one, the Secret ``secret`` (read and deleted by name only: other secrets stay unreadable); with
    ``faults`` (the namespaced rules the scenario's faults need, ``harness.chaos.fault_access``), their verbs
    that the rest does not grant yet."""
    hpa = (
        {**HPA_RULE, "verbs": [*HPA_WRITE, *HPA_RULE["verbs"]]}
        if "HorizontalPodAutoscaler" in service_kinds
        else HPA_RULE
    )
    rules = [*ALWAYS_RULES, hpa]
    if secret is not None:
        rules.insert(
            1, {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [secret], "verbs": ["get", "delete"]}
        )
    if "PodDisruptionBudget" in service_kinds:
        rules.append(PDB_RULE)
    if "VerticalPodAutoscaler" in service_kinds:
        rules.append(VPA_RULE)
    rules += missing(rules, faults or [])
    return [dict(r) for r in rules]


def cluster_rules(faults: list[Obj] | None = None) -> list[Obj]:
    """The ClusterRole's rules: nodes read, and what the scenario's faults need at the cluster scope."""
    return [*(dict(r) for r in CLUSTER_RULES), *missing(CLUSTER_RULES, faults or [])]


def service_objects(scenario: Scenario) -> dict[str, str]:
    """The objects the in-pod run will create for the scenario's service: kind -> name."""
    return {m["kind"]: m["metadata"]["name"] for m in manifests.render(scenario, admin_token="-").all()}


def render(
    scenario_text: str,
    sets: list[str],
    namespace: str,
    kinds: dict[str, str],
    image: str = HARNESS_IMAGE,
    load_workers: int = 0,
    faults: FaultRules | None = None,
) -> HarnessObjects:
    """The objects of an in-cluster run of the scenario ``scenario_text`` with ``sets`` in ``namespace``, whose
    service has the objects ``kinds`` (kind -> name, ``service_objects``); with ``load_workers`` (its
    ``load.placement: cluster``), the workers' Service and Deployment before the Job (``load_workers.objects``);
    with ``faults`` (the scenario has some), the rules they need and ``CHAOSTOOLKIT_IN_POD=true``."""
    labels = {APP_LABEL: NAME}
    meta = {"name": NAME, "namespace": namespace, "labels": dict(labels)}
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(meta)}
    role = {
        "apiVersion": f"{RBAC}/v1",
        "kind": "Role",
        "metadata": dict(meta),
        "rules": role_rules(set(kinds), kinds.get("Secret"), faults.namespaced if faults else None),
    }
    subject = [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}]
    binding = {
        "apiVersion": f"{RBAC}/v1",
        "kind": "RoleBinding",
        "metadata": dict(meta),
        "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": NAME},
        "subjects": subject,
    }
    cmeta = {"name": cluster_name(namespace), "labels": dict(labels)}
    cluster_role = {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": dict(cmeta),
                    "rules": cluster_rules(faults.cluster if faults else None)}  # fmt: skip
    cluster_binding = {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": dict(cmeta),
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": cluster_name(namespace)},
        "subjects": subject,
    }
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": dict(meta),
        "data": {SCENARIO_KEY: scenario_text},
    }
    job: Obj = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": dict(meta),
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "serviceAccountName": NAME,
                    "restartPolicy": "Never",
                    # Stopped (Ctrl-C), the run stops its load, removes its service, analyses and prints its folder
                    "terminationGracePeriodSeconds": STOP_GRACE_S,
                    "containers": [
                        {
                            "name": CONTAINER,
                            "image": image,
                            "args": container_args(sets),
                            "env": [
                                {"name": "PYTHONUNBUFFERED", "value": "1"},  # progress lines reach the log at once
                                {"name": "MPLCONFIGDIR", "value": "/tmp/matplotlib"},  # the plots' cache, writable
                            ],
                            "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
                            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                            "volumeMounts": [
                                {"name": "scenario", "mountPath": SCENARIO_DIR, "readOnly": True},
                                {"name": "results", "mountPath": RESULTS_DIR},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "scenario", "configMap": {"name": NAME}},
                        {"name": "results", "emptyDir": {}},
                    ],
                },
            },
        },
    }
    if faults is not None:  # chaostoolkit's "runs in a pod": admin faults go straight to pod IPs, no port-forward
        job["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "CHAOSTOOLKIT_IN_POD", "value": "true"})
    workers: list[Obj] = []
    if load_workers:
        spec = job["spec"]["template"]["spec"]
        spec["containers"][0] = load_workers_objects.master_container(spec["containers"][0])
        workers = load_workers_objects.objects(namespace, load_workers, image, labels)
    return HarnessObjects(namespace, [account, role, binding, cluster_role, cluster_binding, config_map, *workers, job])


def describe_command(sets: list[str]) -> str:
    """The in-pod command line, for the plan."""
    return "kibench " + " ".join(shlex.quote(a) for a in container_args(sets))


def as_json(objects: HarnessObjects) -> str:
    return json.dumps(objects.objects, indent=2)
