"""chaostoolkit-kubernetes (chaosk8s 0.39) functions against the embedded API server, configured by KUBECONFIG.

The ``kubernetes`` client reads ``KUBECONFIG`` once, when ``kubernetes.config`` is imported, so the in-process
tests also point that module's default at the test kubeconfig; ``test_a_fresh_process_reads_kubeconfig`` runs
chaosk8s in a new process with nothing but ``KUBECONFIG`` set.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from chaosk8s.deployment.actions import rollout_deployment, scale_deployment
from chaosk8s.deployment.probes import deployment_available_and_healthy
from chaosk8s.node.actions import cordon_node, delete_nodes, uncordon_node
from chaosk8s.pod.actions import terminate_pods
from chaosk8s.pod.probes import count_pods, pods_in_phase, read_pod_logs
from kubernetes.config import kube_config

from tests.platform.apiserver.manifests import deployment_manifest, node_manifest, pod_manifest, running_status


@pytest.fixture
def cluster(api, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(api.kubeconfig))
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(api.kubeconfig))
    store = api.store
    api.call(store.create, "nodes", None, node_manifest("n1"))
    api.call(
        store.create, "nodes", None, {**node_manifest("n2"), "metadata": {"name": "n2", "labels": {"pool": "spare"}}}
    )
    for name in ("web-a", "web-b"):
        api.call(store.create, "pods", "default", pod_manifest(name, {"app": "web", "name": "web"}, node="n1"))
        api.call(store.mutate, "pods", "default", name, lambda p: p.update(status=running_status()))
    api.call(store.create, "deployments.apps", "default", deployment_manifest("web", replicas=2))
    return api


def test_pod_probes_and_terminate(cluster):
    assert pods_in_phase("app=web", "Running") is True
    assert count_pods("app=web", phase="Running") == 2
    cluster.log_file("default", "web-a", "main").write_text("2025-01-01T00:00:00Z ready\n")
    cluster.log_file("default", "web-b", "main").write_text("ready too\n")
    logs = read_pod_logs(name="web")
    assert logs["web-a"] == "2025-01-01T00:00:00Z ready\n" and logs["web-b"].endswith(" ready too\n")
    terminate_pods(label_selector="app=web", name_pattern="web-a", grace_period=5)
    pod = cluster.call(cluster.store.get, "pods", "default", "web-a")
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 5


def test_deployment_functions(cluster):
    def ready(dep):
        dep["status"].update(replicas=2, readyReplicas=2, availableReplicas=2, updatedReplicas=2)

    cluster.call(cluster.store.mutate, "deployments.apps", "default", "web", ready)
    assert deployment_available_and_healthy("web") is True
    scale_deployment("web", 5)
    assert cluster.call(cluster.store.get, "deployments.apps", "default", "web")["spec"]["replicas"] == 5
    rollout_deployment("web")
    annotations = cluster.call(cluster.store.get, "deployments.apps", "default", "web")["spec"]["template"]["metadata"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations["annotations"]


def test_node_functions(cluster):
    cordon_node(name="n1")
    assert cluster.call(cluster.store.get, "nodes", None, "n1")["spec"]["unschedulable"] is True
    uncordon_node(name="n1")
    assert cluster.call(cluster.store.get, "nodes", None, "n1")["spec"]["unschedulable"] is False
    delete_nodes(label_selector="pool=spare")
    assert [n["metadata"]["name"] for n in cluster.call(cluster.store.list, "nodes")[0]] == ["n1"]


def test_a_fresh_process_reads_kubeconfig(cluster):
    script = (
        "import json; from chaosk8s.pod.probes import count_pods; from chaosk8s.pod.actions import terminate_pods;"
        "n = count_pods('app=web', phase='Running'); terminate_pods(label_selector='app=web', all=True);"
        "print(json.dumps(n))"
    )
    env = {"KUBECONFIG": str(cluster.kubeconfig), "PATH": "/usr/bin:/bin", "HOME": str(cluster.log_dir)}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == 2
    pods = cluster.call(cluster.store.list, "pods", "default")[0]
    assert all(p["metadata"].get("deletionTimestamp") for p in pods)
