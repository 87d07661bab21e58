"""Every action and probe of ``harness.chaos.local`` against a real local platform daemon.

One daemon (3 replicas on 3 nodes, compressed timings) serves the whole module; each test starts
from a healthy platform and leaves it recovering.  ``delete_nodes`` removes a node for good, so
it runs last.
"""

from __future__ import annotations

import pytest
from chaoslib.exceptions import ActivityFailed

import harness.chaos.local as local
from harness.chaos.live import LiveStatsWriter


def _names(state: dict) -> set[str]:
    return {p["name"] for p in state["replicas"]}


def test_probes_report_a_healthy_platform(local_platform) -> None:
    cfg = local_platform.config
    local_platform.wait_healthy()
    assert local.count_pods(configuration=cfg) == 3
    assert local.count_pods(phase="Running", configuration=cfg) == 3
    assert local.count_pods(label_selector="app.kubernetes.io/name=other", configuration=cfg) == 0
    assert local.pods_in_phase(phase="Running", configuration=cfg) is True
    with pytest.raises(ActivityFailed, match="not in phase Pending"):
        local.pods_in_phase(phase="Pending", configuration=cfg)
    assert local.deployment_available_and_healthy(configuration=cfg) is True
    assert local.deployment_fully_available(timeout=5, configuration=cfg) is True
    assert local.all_nodes_are_ok(configuration=cfg) is True
    assert local.slo_holds(p95_ms=2000, error_rate=0.0, samples=10, configuration=cfg) is True


def test_terminate_pods_kills_the_chosen_pod_and_the_replicaset_replaces_it(local_platform) -> None:
    cfg = local_platform.config
    before = _names(local_platform.wait_healthy())
    out = local.terminate_pods(qty=1, rand=True, grace_period=0, configuration=cfg)
    assert len(out["pods"]) == 1 and out["pods"][0] in before
    killed = out["pods"][0]
    local_platform.wait_for(lambda: killed not in _names(local_platform.state()), 20, f"{killed} gone")
    assert local.deployment_fully_available(timeout=40, configuration=cfg) is True
    after = _names(local_platform.state())
    assert len(after) == 3 and killed not in after
    deleted = [e for e in local_platform.events("pod_deleted") if e["pod"] == killed]
    assert deleted, "the daemon reported no pod_deleted event for the killed pod"


def test_terminate_pods_by_percentage_and_name_pattern(local_platform) -> None:
    cfg = local_platform.config
    state = local_platform.wait_healthy()
    target = sorted(_names(state))[-1]
    out = local.terminate_pods(name_pattern=f"^{target}$", all=True, configuration=cfg)
    assert out["pods"] == [target]
    local.deployment_fully_available(timeout=40, configuration=cfg)
    state = local_platform.wait_healthy()
    out = local.terminate_pods(mode="percentage", qty=70, grace_period=0, configuration=cfg)  # int(0.7 * 3) = 2
    assert len(out["pods"]) == 2 and set(out["pods"]) <= _names(state)
    assert local.deployment_fully_available(timeout=40, configuration=cfg) is True


def test_delete_pods_by_name_and_refusal_of_unknown_names(local_platform) -> None:
    cfg = local_platform.config
    name = sorted(_names(local_platform.wait_healthy()))[0]
    assert local.delete_pods(name=name, configuration=cfg) == {"pods": [name]}
    with pytest.raises(ActivityFailed, match="not one of this platform's pods"):
        local.delete_pods(name="someone-elses-pod", configuration=cfg)
    with pytest.raises(ActivityFailed, match="no pod matched"):
        local.terminate_pods(name_pattern="^nothing-like-this$", configuration=cfg)
    assert local.deployment_fully_available(timeout=40, configuration=cfg) is True


def test_scale_deployment_up_and_back(local_platform) -> None:
    cfg = local_platform.config
    deployment = local_platform.wait_healthy()["deployment"]
    assert local.scale_deployment(replicas=4, configuration=cfg)["replicas"] == 4
    local_platform.wait_for(lambda: local.count_pods(phase="Running", configuration=cfg) == 4, 40, "4 running pods")
    with pytest.raises(ActivityFailed, match="not this platform's"):
        local.scale_deployment(name="another-deployment", replicas=1, configuration=cfg)
    assert local.scale_deployment(name=deployment, replicas=3, configuration=cfg)["replicas"] == 3
    local_platform.wait_for(lambda: local.count_pods(configuration=cfg) == 3, 40, "back to 3 pods")


def test_cordon_and_uncordon_node(local_platform) -> None:
    cfg = local_platform.config
    node = local_platform.wait_healthy()["nodes"][0]["name"]
    assert local.cordon_node(name=node, configuration=cfg) == {"nodes": [node]}
    cordoned = {n["name"]: n["cordoned"] for n in local_platform.state()["nodes"]}
    assert cordoned[node] is True and sum(cordoned.values()) == 1
    assert local.all_nodes_are_ok(configuration=cfg) is False
    with pytest.raises(ActivityFailed, match="not one of this platform's nodes"):
        local.cordon_node(name="node-of-another-cluster", configuration=cfg)
    assert node in local.uncordon_node(configuration=cfg)["nodes"]
    assert local.all_nodes_are_ok(configuration=cfg) is True


def test_drain_nodes_moves_every_pod_off_the_node(local_platform) -> None:
    cfg = local_platform.config
    state = local_platform.wait_healthy()
    node = state["replicas"][0]["node"]
    out = local.drain_nodes(name=node, timeout=40, configuration=cfg)
    assert out["nodes"] == [node] and out["drained"] is True and out["remaining_pods"] == []
    assert local.deployment_fully_available(timeout=40, configuration=cfg) is True
    assert all(p["node"] != node for p in local_platform.state()["replicas"])
    local.uncordon_node(name=node, configuration=cfg)


def test_fail_node_kills_its_pods_and_the_node_comes_back(local_platform) -> None:
    cfg = local_platform.config
    state = local_platform.wait_healthy()
    node = state["replicas"][0]["node"]
    out = local.fail_node(name=node, duration=2.0, configuration=cfg)
    assert out["nodes"] == [node] and out["pods"]
    down = {n["name"]: n["ready"] for n in local_platform.state()["nodes"]}
    assert down[node] is False
    assert any(e["node"] == node for e in local_platform.events("node_down"))
    local_platform.wait_for(lambda: any(e["node"] == node for e in local_platform.events("node_up")), 30, "node_up")
    assert local.deployment_fully_available(timeout=40, configuration=cfg) is True


def test_rollout_deployment_replaces_every_pod_with_the_new_revision(local_platform) -> None:
    cfg = local_platform.config
    before = local_platform.wait_healthy()
    out = local.rollout_deployment(service={"device_time_ms": 25}, configuration=cfg)
    assert out["deployment"] == before["deployment"]
    assert local.deployment_fully_available(timeout=60, configuration=cfg) is True
    after = local_platform.state()
    assert not (_names(after) & _names(before)), "a pod of the old revision survived the rollout"
    assert {p["version"] for p in after["replicas"]} == {after["revision"]}


def test_admin_faults_latency_errors_and_reset(local_platform) -> None:
    cfg = local_platform.config
    local_platform.wait_healthy()
    out = local.inject_latency(add_ms=1500, duration=60, configuration=cfg)
    assert len(out["pods"]) == 3
    assert local.slo_holds(p95_ms=1000, samples=3, window_s=10, configuration=cfg) is False
    out = local.inject_errors(fraction=1.0, status=503, duration=60, configuration=cfg)
    assert local.slo_holds(error_rate=0.5, samples=4, window_s=10, configuration=cfg) is False
    assert sorted(local.reset_faults(configuration=cfg)["pods"]) == sorted(out["pods"])
    # Bounds far from the healthy 20 ms so that a loaded test machine cannot fail them.
    assert local.slo_holds(p95_ms=1000, error_rate=0.0, samples=6, window_s=10, configuration=cfg) is True


@pytest.mark.slow  # waits for readiness, then liveness, to notice (about 5 s)
def test_hang_pods_is_detected_by_the_liveness_probe(local_platform) -> None:
    cfg = local_platform.config
    local_platform.wait_healthy()
    out = local.hang_pods(qty=1, configuration=cfg)
    [hung] = out["pods"]
    local_platform.wait_for(
        lambda: [e for e in local_platform.events("pod_liveness_failed") if e["pod"] == hung], 30, "liveness failure"
    )
    assert local.deployment_fully_available(timeout=40, configuration=cfg) is True


def test_slo_holds_reads_the_live_traffic_file(local_platform, tmp_path) -> None:
    path = tmp_path / "live.jsonl"
    writer = LiveStatsWriter(path)
    for second in range(12):  # 10 requests a second; 5 errors in the last 3 seconds
        writer.record(float(second), requests=10 * (second + 1), errors=max(0, second - 8) * 2, p95_ms=80.0)
    writer.record(12.0, requests=130, errors=7, p95_ms=120.0)
    cfg = {**local_platform.config, "kibench_live_stats": str(path)}
    assert local.slo_holds(window_s=5, p95_ms=150, error_rate=0.2, configuration=cfg) is True
    assert local.slo_holds(window_s=5, p95_ms=100, configuration=cfg) is False  # worst rolling p95 is 120
    assert local.slo_holds(window_s=5, error_rate=0.1, configuration=cfg) is False  # 7 of 50 = 0.14
    assert local.slo_holds(window_s=5, min_requests=1000, configuration=cfg) is False
    writer.close()
    missing = {**local_platform.config, "kibench_live_stats": str(tmp_path / "none.jsonl")}
    assert local.slo_holds(window_s=5, configuration=missing) is False


def test_addresses_outside_loopback_are_refused(monkeypatch) -> None:
    monkeypatch.delenv("KIBENCH_API_URL", raising=False)
    with pytest.raises(ActivityFailed, match="refusing"):
        local.count_pods(configuration={"kibench_api_url": "http://192.0.2.1:7700"})
    with pytest.raises(ActivityFailed, match="KIBENCH_API_URL"):
        local.count_pods(configuration={})


def test_delete_nodes_removes_one_node_for_good(local_platform) -> None:
    cfg = local_platform.config
    state = local_platform.wait_healthy()
    out = local.delete_nodes(count=1, configuration=cfg)
    [gone] = out["nodes"]
    assert gone in {n["name"] for n in state["nodes"]}
    assert gone not in {n["name"] for n in local_platform.state()["nodes"]}
    assert local.deployment_fully_available(timeout=40, configuration=cfg) is True
    assert all(p["node"] != gone for p in local_platform.state()["replicas"])
