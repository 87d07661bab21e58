"""kibench's own activities (``harness.chaos.kube``) against a real embedded cluster, through its kubeconfig.

One cluster (3 replicas of the reference service on 3 nodes, compressed timings) serves the module; each
test starts from a healthy cluster and leaves it recovering.  The admin faults go to the pods' own
addresses with the token from the service's Secret; hard node loss goes to the daemon's private API; the
run events the driver derives from its watches show the cluster's reaction.  A bare API server (no
private API) plays a real cluster for the refusal.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from chaosk8s.deployment.actions import rollout_deployment
from chaosk8s.deployment.probes import deployment_fully_available
from chaoslib.exceptions import ActivityFailed

from harness.chaos import kube
from harness.chaos.live import LiveStatsWriter
from harness.platform.local.apiserver import ThreadedApiServer
from harness.platform.local.nodelifecycle import node_object


def _lost(platform, node: str) -> bool:
    [obj] = [n for n in platform.nodes() if n.metadata.name == node]
    ready = next(c.status for c in obj.status.conditions if c.type == "Ready")
    return ready != "True" and any(t.key == "node.kubernetes.io/unreachable" for t in obj.spec.taints or [])


def test_deployment_name_finds_the_service_by_its_label(kube_platform, monkeypatch) -> None:
    monkeypatch.delenv("KIBENCH_DEPLOYMENT", raising=False)
    cfg = {"kibench_kubeconfig": str(kube_platform.kubeconfig)}
    assert kube.deployment_name(configuration=cfg) == kube_platform.name
    with pytest.raises(ActivityFailed, match="no Deployment in namespace 'default' carries 'app=nothing'"):
        kube.deployment_name(label_selector="app=nothing", configuration=cfg)
    with pytest.raises(ActivityFailed, match="no Deployment in namespace 'elsewhere'"):
        kube.deployment_name(configuration={**cfg, "kibench_namespace": "elsewhere"})
    monkeypatch.setenv("KIBENCH_DEPLOYMENT", "chosen-by-the-user")
    assert kube.deployment_name(configuration=cfg) == "chosen-by-the-user"


def test_slo_holds_sends_its_own_requests_to_the_service(kube_platform) -> None:
    kube_platform.wait_healthy()
    cfg = kube_platform.config
    assert kube.slo_holds(p95_ms=2000, error_rate=0.0, samples=10, configuration=cfg) is True
    assert kube.slo_holds(p95_ms=0.001, samples=3, configuration=cfg) is False  # no answer is that fast
    with pytest.raises(ActivityFailed, match="has a load-balancer address"):
        kube.slo_holds(label_selector="app=nothing", configuration=cfg)


def test_admin_faults_latency_errors_and_reset(kube_platform) -> None:
    cfg = kube_platform.config
    names = {p.metadata.name for p in kube_platform.wait_healthy()}
    try:
        out = kube.inject_latency(add_ms=1500, duration=60, configuration=cfg)
        assert set(out["pods"]) == names
        assert kube.slo_holds(p95_ms=1000, samples=3, window_s=10, configuration=cfg) is False
        out = kube.inject_errors(fraction=1.0, status=503, duration=60, qty=2, all=False, configuration=cfg)
        assert len(out["pods"]) == 2 and set(out["pods"]) <= names
        with pytest.raises(ActivityFailed, match=r"fraction must be within \[0, 1\]"):
            kube.inject_errors(fraction=1.5, configuration=cfg)
        with pytest.raises(ActivityFailed, match="no running pod matches 'app=nothing'"):
            kube.inject_latency(add_ms=1, label_selector="app=nothing", configuration=cfg)
    finally:
        reset = kube.reset_faults(configuration=cfg)
    assert set(reset["pods"]) == names and reset["unreachable"] == []
    # Bounds far from the healthy 20 ms so that a loaded test machine cannot fail them.
    assert kube.slo_holds(p95_ms=1000, error_rate=0.0, samples=6, window_s=10, configuration=cfg) is True


def test_hang_pods_is_detected_by_the_liveness_probe_and_reported_as_events(kube_platform) -> None:
    """What harness/analysis/faults.py keys on: hang_pods' pods, then pod_liveness_failed and container_exited."""
    cfg = kube_platform.config
    kube_platform.wait_healthy()
    out = kube.hang_pods(qty=1, rand=True, wait_for_restart=30, configuration=cfg)
    [hung] = out["pods"]
    assert out["restarted"] == [hung]
    for kind in ("pod_liveness_failed", "container_exited", "pod_ready"):
        kube_platform.wait_for(lambda k=kind: [e for e in kube_platform.events(k) if e["pod"] == hung], 20, kind)
    assert deployment_fully_available(kube_platform.name, timeout=40) is True
    assert hung in kube_platform.pod_names()  # restarted in place, not replaced


def test_fail_node_kills_its_pods_and_the_node_comes_back(kube_platform) -> None:
    cfg = kube_platform.config
    pods = kube_platform.wait_healthy()
    node = pods[0].spec.node_name
    out = kube.fail_node(name=node, duration=2.0, configuration=cfg)
    assert out["nodes"] == [node] and pods[0].metadata.name in out["pods"] and out["duration_s"] == 2.0
    assert _lost(kube_platform, node)
    kube_platform.wait_for(lambda: [e for e in kube_platform.events("node_down") if e["node"] == node], 10, "down")
    kube_platform.wait_for(lambda: [e for e in kube_platform.events("node_up") if e["node"] == node], 30, "node_up")
    assert deployment_fully_available(kube_platform.name, timeout=40) is True
    kube_platform.wait_healthy()


def test_fail_node_chooses_a_node_running_the_service_and_recover_node_brings_it_back(kube_platform) -> None:
    cfg = kube_platform.config
    hosts = {p.spec.node_name for p in kube_platform.wait_healthy()}
    try:
        out = kube.fail_node(pod_label_selector="app.kubernetes.io/name=kibench-service", configuration=cfg)
        [node] = out["nodes"]
        assert node in hosts and out["pods"] and out["duration_s"] is None
        assert kube.recover_node(name="local-node-does-not-exist", configuration=cfg) == {"nodes": []}
    finally:
        back = kube.recover_node(configuration=cfg)
    assert back == {"nodes": [node]} and not _lost(kube_platform, node)
    assert kube.recover_node(configuration=cfg) == {"nodes": []}  # nothing lost: nothing touched
    with pytest.raises(ActivityFailed, match="no node matches 'node-of-another-cluster'"):
        kube.fail_node(name="node-of-another-cluster", configuration=cfg)
    kube_platform.wait_healthy()


def test_rollout_complete_waits_for_every_replica_on_the_new_template(kube_platform) -> None:
    cfg = kube_platform.config
    kube_platform.wait_healthy()
    rollout_deployment(kube_platform.name)
    assert kube.rollout_complete(kube_platform.name, timeout=0, raise_on_timeout=False, configuration=cfg) is False
    assert kube.rollout_complete(kube_platform.name, timeout=60, configuration=cfg) is True
    with pytest.raises(ActivityFailed, match="reading Deployment 'nope'"):
        kube.rollout_complete("nope", timeout=1, configuration=cfg)
    kube_platform.wait_healthy()


def test_slo_holds_reads_the_live_traffic_file(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    writer = LiveStatsWriter(path)
    for second in range(12):  # 10 requests a second; 5 errors in the last 3 seconds
        writer.record(float(second), requests=10 * (second + 1), errors=max(0, second - 8) * 2, p95_ms=80.0)
    writer.record(12.0, requests=130, errors=7, p95_ms=120.0)
    cfg = {"kibench_live_stats": str(path)}
    assert kube.slo_holds(window_s=5, p95_ms=150, error_rate=0.2, configuration=cfg) is True
    assert kube.slo_holds(window_s=5, p95_ms=100, configuration=cfg) is False  # worst rolling p95 is 120
    assert kube.slo_holds(window_s=5, error_rate=0.1, configuration=cfg) is False  # 7 of 50 = 0.14
    assert kube.slo_holds(window_s=5, min_requests=1000, configuration=cfg) is False
    writer.close()
    assert kube.slo_holds(window_s=5, configuration={"kibench_live_stats": str(tmp_path / "none.jsonl")}) is False


def test_without_a_kubeconfig_activities_say_how_to_get_one(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("CHAOSTOOLKIT_IN_POD", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ActivityFailed, match=r"no kubeconfig at .*\.kube/config: set KUBECONFIG"):
        kube.reset_faults()


def test_fail_node_on_a_cluster_without_kibenchs_private_api_is_refused(tmp_path: Path) -> None:
    """A bare API server (the embedded one without its daemon) stands in for a real cluster."""
    server = ThreadedApiServer(token="a-real-cluster").start()
    try:
        server.call(server.store.create, "nodes", None, node_object("worker-1", 1, "127.0.0.1"))
        server.write_kubeconfig(tmp_path / "kubeconfig")
        cfg = {"kibench_kubeconfig": str(tmp_path / "kubeconfig")}
        with pytest.raises(ActivityFailed, match="is not kibench's embedded cluster"):
            kube.fail_node(name="worker-1", configuration=cfg)
    finally:
        server.stop()


def test_admin_faults_reach_the_pods_through_a_port_forward(kube_platform, monkeypatch) -> None:
    """As from a machine outside a real cluster: every admin POST goes through the API server's port-forward."""
    from harness.chaos.kube import admin

    tunnels: list[str] = []

    class Counted(admin.Tunnel):
        def start(self) -> admin.Tunnel:
            tunnels.append(str(self.pick()))
            return super().start()

    monkeypatch.setattr(admin, "Tunnel", Counted)
    cfg = {**kube_platform.config, "kibench_admin_route": "port-forward"}
    names = {p.metadata.name for p in kube_platform.wait_healthy()}
    try:
        out = kube.inject_latency(add_ms=1500, duration=60, configuration=cfg)
        assert set(out["pods"]) == names and sorted(tunnels) == sorted(names)
        assert kube.slo_holds(p95_ms=1000, samples=3, window_s=10, configuration=cfg) is False
    finally:
        reset = kube.reset_faults(configuration=cfg)
    assert set(reset["pods"]) == names and len(tunnels) == 2 * len(names)
    assert kube.slo_holds(p95_ms=1000, error_rate=0.0, samples=6, window_s=10, configuration=cfg) is True
    with pytest.raises(ActivityFailed, match="is not one of auto, direct, port-forward"):
        kube.inject_latency(add_ms=1, configuration={**cfg, "kibench_admin_route": "tunnel"})
