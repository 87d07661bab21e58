"""chaostoolkit-kubernetes (chaosk8s 0.39) against the embedded cluster, through its kubeconfig (issue 11).

Each function the issue lists runs in this process against a real embedded cluster with kibench's service
deployed (3 replicas on 3 nodes); the effect is checked through the Kubernetes API and the run events the
driver derives from its watches.  Then ``chaos run chaos/pod-kill.yaml`` runs as a subprocess with nothing but
``KUBECONFIG`` set.  ``delete_nodes`` removes a node for good, so it runs last.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from chaosk8s.deployment.actions import rollout_deployment, scale_deployment
from chaosk8s.deployment.probes import deployment_available_and_healthy, deployment_fully_available
from chaosk8s.node.actions import cordon_node, delete_nodes, drain_nodes, uncordon_node
from chaosk8s.pod.actions import terminate_pods
from chaosk8s.pod.probes import count_pods, pods_in_phase, read_pod_logs
from chaoslib.exceptions import ActivityFailed

from harness.chaos.kube import hang_pods, rollout_complete
from tests.chaos.conftest import CHAOS_BIN, ROOT, SELECTOR


def test_pod_and_deployment_probes_see_a_healthy_service(kube_platform) -> None:
    kube_platform.wait_healthy()
    assert pods_in_phase(SELECTOR, "Running") is True
    with pytest.raises(ActivityFailed):
        pods_in_phase(SELECTOR, "Pending")
    assert count_pods(SELECTOR) == 3 and count_pods(SELECTOR, phase="Running") == 3
    assert count_pods("app.kubernetes.io/name=something-else") == 0
    assert deployment_available_and_healthy(kube_platform.name) is True
    assert deployment_available_and_healthy("no-such-deployment", raise_on_unavailable=False) is False
    assert deployment_fully_available(kube_platform.name, timeout=5) is True


def test_read_pod_logs_returns_each_pods_output(kube_platform) -> None:
    """The service writes its log when it stops: a replica restarted by its liveness probe (hung by kibench's
    admin fault) has the old container's last words in its log."""
    kube_platform.wait_healthy()
    out = hang_pods(qty=1, wait_for_restart=30, configuration=kube_platform.config)
    [hung] = out["pods"]
    assert out["restarted"] == [hung]
    logs = read_pod_logs(label_selector=SELECTOR)
    assert set(logs) == kube_platform.pod_names()
    assert f"replica {hung}: " in logs[hung] and "shutting down" in logs[hung], logs
    assert logs[hung].startswith("20")  # timestamps=true: every line starts with an RFC 3339 time
    assert deployment_fully_available(kube_platform.name, timeout=40) is True


def test_terminate_pods_kills_one_and_the_replicaset_replaces_it(kube_platform) -> None:
    before = {p.metadata.name for p in kube_platform.wait_healthy()}
    killed = terminate_pods(label_selector=SELECTOR, rand=True, grace_period=0)
    assert len(killed) == 1 and killed[0] in before
    kube_platform.wait_for(lambda: killed[0] not in kube_platform.pod_names(), 20, f"{killed[0]} gone")
    assert deployment_fully_available(kube_platform.name, timeout=40) is True
    after = kube_platform.pod_names()
    assert len(after) == 3 and killed[0] not in after
    kube_platform.wait_for(lambda: [e for e in kube_platform.events("pod_deleted") if e["pod"] == killed[0]], 10)


def test_scale_deployment_up_and_back(kube_platform) -> None:
    kube_platform.wait_healthy()
    scale_deployment(kube_platform.name, 4)
    kube_platform.wait_for(lambda: count_pods(SELECTOR, phase="Running") == 4, 40, "4 Running pods")
    assert deployment_fully_available(kube_platform.name, timeout=40) is True
    scale_deployment(kube_platform.name, 3)
    kube_platform.wait_for(lambda: len(kube_platform.pods(live_only=False)) == 3, 40, "back to 3 pods")
    assert any(e.get("to") == 4 for e in kube_platform.events("scale"))


def test_rollout_deployment_replaces_every_pod(kube_platform) -> None:
    before = {p.metadata.name: p.metadata.labels["pod-template-hash"] for p in kube_platform.wait_healthy()}
    rollout_deployment(kube_platform.name)
    assert rollout_complete(kube_platform.name, timeout=60, configuration=kube_platform.config) is True
    kube_platform.wait_for(lambda: len(kube_platform.pods(live_only=False)) == 3, 30, "old pods gone")
    after = {p.metadata.name: p.metadata.labels["pod-template-hash"] for p in kube_platform.pods()}
    assert not set(after) & set(before), "a pod of the old revision survived the rollout"
    assert len(set(after.values())) == 1 and set(after.values()) != set(before.values())


def test_cordon_node_and_uncordon_node(kube_platform) -> None:
    kube_platform.wait_healthy()
    node = sorted(n.metadata.name for n in kube_platform.nodes())[0]
    assert cordon_node(name=node) == [node]
    cordoned = {n.metadata.name: bool(n.spec.unschedulable) for n in kube_platform.nodes()}
    assert cordoned[node] is True and sum(cordoned.values()) == 1
    with pytest.raises(ActivityFailed, match="failed to find a node"):
        cordon_node(name="node-of-another-cluster")
    assert uncordon_node(name=node) == [node]
    assert not any(n.spec.unschedulable for n in kube_platform.nodes())
    kube_platform.wait_for(lambda: "node_cordoned" in {e["kind"] for e in kube_platform.events()}, 10)


@pytest.mark.slow  # chaosk8s checks every 10 s whether the evicted pods are gone
def test_drain_nodes_evicts_every_pod_of_the_node(kube_platform) -> None:
    pods = kube_platform.wait_healthy()
    node = pods[0].spec.node_name
    try:
        assert drain_nodes(name=node, timeout=40) == [node]
        assert deployment_fully_available(kube_platform.name, timeout=40) is True
        assert all(p.spec.node_name != node for p in kube_platform.pods(live_only=False))
        cordoned = [e for e in kube_platform.events("node_cordoned") if e["node"] == node]
        gone = [e for e in kube_platform.events("pod_deleted") if e["pod"] == pods[0].metadata.name]
        assert cordoned and gone and cordoned[-1]["t_s"] <= gone[0]["t_s"]
    finally:
        uncordon_node(name=node)


def test_chaos_run_pod_kill_with_only_kubeconfig_set(kube_platform, tmp_path: Path) -> None:
    """The experiment file, unchanged, under the Chaos Toolkit CLI: it finds the cluster through KUBECONFIG and
    the Deployment through its label; its own requests go to the Service's load-balancer address."""
    before = {p.metadata.name for p in kube_platform.wait_healthy()}
    env = {"KUBECONFIG": str(kube_platform.kubeconfig), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    argv = [str(CHAOS_BIN), "--no-log-file", "run", "--var", "settle_s:int=1"]
    argv += ["--journal-path", str(tmp_path / "journal.json"), str(ROOT / "chaos" / "pod-kill.yaml")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert done.returncode == 0, done.stdout + done.stderr
    assert journal["status"] == "completed" and not journal["deviated"], done.stderr
    [kill] = [r for r in journal["run"] if r["activity"]["name"] == "terminate-pod"]
    assert kill["status"] == "succeeded" and len(kill["output"]) == 1 and kill["output"][0] in before
    assert kube_platform.name in json.dumps(journal["run"])  # the Deployment found by its label
    assert kill["output"][0] not in kube_platform.pod_names()


def test_delete_nodes_removes_a_node_and_its_pods_move(kube_platform) -> None:
    pods = kube_platform.wait_healthy()
    node = pods[0].spec.node_name
    assert delete_nodes(label_selector=f"kubernetes.io/hostname={node}") == [node]
    assert node not in {n.metadata.name for n in kube_platform.nodes()}
    kube_platform.wait_for(lambda: pods[0].metadata.name not in kube_platform.pod_names(), 20, "its pod gone")
    assert deployment_fully_available(kube_platform.name, timeout=40) is True
    assert all(p.spec.node_name != node for p in kube_platform.pods())
