"""``kibench run --dry-run`` on ``platform.kind: kubernetes``: the plan and the manifests, touching nothing.

In: a resolved ``Scenario`` and a run id (the dry run's own; a real run makes a new one).  Out: ``Plan`` with
the lines to print (kubeconfig, context and server; the namespace and what happens to it; each object;
clean-up) and the manifests as one YAML stream, exactly as ``kibench run`` would create them (the admin
token's Secret shows a placeholder: a run makes a new token).

``check`` reads the cluster (GET only: the namespace, each object's name) and reports what the run would
refuse; ``ClusterRefused`` (exit 2) when it would refuse, a line saying so when the cluster cannot be
reached.  Resolving the kubeconfig refuses a context the kubeconfig does not have, as a run does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from harness.errors import ClusterRefused, PlatformError
from harness.platform.kubernetes import kubeconfig, rest, route, scope
from harness.platform.kubernetes.cluster import namespace_manifest, require_namespace
from harness.platform.kubernetes.driver import KubernetesDriver, Target
from harness.scenario import Scenario

Obj = dict[str, Any]
TOKEN_PLACEHOLDER = "(a new random token, made by each run)"


@dataclass
class Plan:
    lines: list[str] = field(default_factory=list)
    objects: list[Obj] = field(default_factory=list)

    def yaml(self) -> str:
        return yaml.safe_dump_all(self.objects, sort_keys=False)


def _shown(obj: Obj) -> Obj:
    """The object as printed: a Secret's token replaced by a placeholder (``stringData``)."""
    if obj.get("kind") == "Secret" and "data" in obj:
        obj = {k: v for k, v in obj.items() if k != "data"}
        obj["stringData"] = {"token": TOKEN_PLACEHOLDER}
    return obj


def build(scenario: Scenario, run_id: str, t0_monotonic: float = 0.0) -> tuple[Plan, KubernetesDriver]:
    """The plan, and a driver (not connected) that can check it against the cluster."""
    spec = scenario.platform
    cluster = kubeconfig.resolve(spec.kubeconfig, spec.context)
    namespace = spec.namespace or scope.run_namespace(run_id)
    driver = KubernetesDriver(scenario, Target(cluster.kubeconfig, namespace, cluster.context), t0_monotonic,
                              run_id=run_id)  # fmt: skip
    label = driver.run_label
    objects = [scope.stamp(namespace_manifest(namespace), label)] if spec.namespace is None else []
    for obj in driver.labelled():
        objects.append(_shown({**obj, "metadata": {**obj["metadata"], "namespace": namespace}}))
    plan = Plan(objects=objects)
    add = plan.lines.append
    add(f"cluster: context {cluster.context!r} ({cluster.server}) from kubeconfig {cluster.kubeconfig} "
        f"({cluster.source})")  # fmt: skip
    if spec.namespace is None:
        add(f"namespace: {namespace}, the run's own: created with the labels {scope.RUN_LABEL}={label} and "
            f"{scope.MANAGED_LABEL}={scope.MANAGER}, deleted at the end with everything in it")  # fmt: skip
    else:
        add(f"namespace: {namespace}, named by the scenario: it must exist; kibench never creates or deletes it, "
            "and refuses to run if an object below exists there and is not this run's")  # fmt: skip
    add(f"run label: {scope.RUN_LABEL}={label} on every object (and on the pods, through the pod template)")
    for obj in objects:
        kind = rest.kind_of(obj["kind"])
        add(f"  create {kind.describe(obj['metadata'].get('namespace'), obj['metadata']['name'])}")
    add(f"  then: the Deployment's ReplicaSet and {scenario.service.replicas} pod(s) of image "
        f"{scenario.service.image}; the load goes to {route.describe(spec)}")  # fmt: skip
    if spec.namespace is None:
        add(f"clean-up: delete namespace {namespace} and wait until it is gone (also after a failed or interrupted "
            "run); `kibench run --keep` keeps it")  # fmt: skip
    else:
        add(f"clean-up: delete the objects above that carry the run's label from {namespace} and wait for the run's "
            "pods to go (also after a failed or interrupted run); `kibench run --keep` keeps them")  # fmt: skip
    return plan, driver


def check(plan: Plan, driver: KubernetesDriver, named_namespace: str | None) -> None:
    """Read the cluster (GET only) and add what a run would find; ``ClusterRefused`` where a run would refuse."""
    try:
        guard = driver.guard
        if named_namespace is not None:
            require_namespace(guard, named_namespace)
            conflicts = guard.conflicts(driver.manifests.all())
        else:
            conflicts = guard.conflicts([namespace_manifest(driver.target.namespace)])
    except PlatformError as exc:
        plan.lines.append(f"cluster not checked (it did not answer: {exc}); nothing was sent to it")
        return
    finally:
        driver.close()
    if conflicts:
        raise ClusterRefused("a run would refuse: " + "; ".join(conflicts))
    plan.lines.append("cluster checked (read only): the context answers, no object of these names is another's")
