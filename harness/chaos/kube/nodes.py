"""Hard node loss, which Kubernetes has no verb for: ``fail_node`` and ``recover_node``.

In: chaosk8s-style node selection (``name``, ``label_selector``, ``count``, ``rand``,
``pod_label_selector`` / ``pod_namespace``: only nodes running such a pod) and the experiment's
``configuration``.  Nodes are chosen through the Kubernetes API; the loss itself goes to the embedded
cluster's private API (``POST /kibench/v1/nodes/{name}/fail`` and ``.../recover``, on the kubeconfig's
server, with its token and CA).  On any other cluster the activity fails and says so: lose a node there
through the cloud provider (or chaosk8s' ``delete_nodes``, which removes the Node object only).
Out: ``{"nodes": [...], "pods": [...]}``: the nodes lost and the pods that were running on them.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness.chaos.kube import targets
from harness.chaos.kube.connect import Config, cluster, failed, namespace, private

UNREACHABLE = "node.kubernetes.io/unreachable"


def _pods_on(core: client.CoreV1Api, node: str) -> list[str]:
    try:
        pods = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
    except ApiException as exc:
        raise failed(exc, f"listing the pods on node {node!r}") from exc
    return sorted(str(p.metadata.name) for p in pods if p.metadata.deletion_timestamp is None)


def fail_node(
    name: str | None = None,
    label_selector: str | None = None,
    rand: bool = True,
    count: int | None = 1,
    duration: float | None = None,
    pod_label_selector: str | None = None,
    pod_namespace: str | None = None,
    configuration: Config = None,
    secrets: Any = None,
) -> dict[str, Any]:
    """Lose nodes hard, as when a machine loses power: every container on them dies at once and the node turns
    NotReady (Ready Unknown, tainted unreachable); it comes back after ``duration`` s (None: at ``recover_node``).

    ``name`` picks one node; otherwise ``count`` (default 1; None: all) of the nodes matching
    ``label_selector`` and, with ``pod_label_selector``, running such a pod in ``pod_namespace``."""
    seconds = None if duration is None else float(duration)
    with cluster(configuration) as api:
        core = client.CoreV1Api(api)
        pod_ns = namespace(configuration, pod_namespace)
        chosen = targets.nodes(core, name, label_selector, None if name else count, rand, pod_label_selector, pod_ns)
        lost = targets.names(chosen)
        pods = sorted(p for node in lost for p in _pods_on(core, node))
        for node in lost:
            private(api, f"/nodes/{node}/fail", {"duration_s": seconds})
    return {"nodes": lost, "pods": pods, "duration_s": seconds}


def _lost(node: client.V1Node) -> bool:
    return any(t.key == UNREACHABLE for t in (node.spec.taints or []))


def recover_node(
    name: str | None = None, label_selector: str | None = None, configuration: Config = None, secrets: Any = None
) -> dict[str, Any]:
    """Bring lost nodes back now (the rollback of ``fail_node`` without a duration): the node named ``name``, or
    every lost node matching ``label_selector`` (neither: every lost node).  Nodes that are not lost are left alone."""
    with cluster(configuration) as api:
        core = client.CoreV1Api(api)
        try:
            listed = core.list_node(
                field_selector=f"metadata.name={name}" if name else None, label_selector=label_selector or None
            ).items
        except ApiException as exc:
            raise failed(exc, "listing nodes") from exc
        back = sorted(str(n.metadata.name) for n in listed if _lost(n))
        for node in back:
            private(api, f"/nodes/{node}/recover")
    return {"nodes": back}
