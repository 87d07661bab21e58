"""Rolling updates, drains with a PDB, node failure, node autoscaling: real daemon, compressed timings."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_rolling_update_keeps_within_max_surge_and_max_unavailable(start_daemon):
    daemon = start_daemon(replicas=3, platform={"rollout": {"max_surge": 1, "max_unavailable": 1}})
    daemon.wait_ready(3)
    before = len(daemon.events())
    response = daemon.post("/rollout", {"service": {"device_time_ms": 5}})
    assert response.status_code == 202 and response.json()["revision"] == 2
    daemon.wait_for(lambda: daemon.events("rollout_finished"), 60, "rollout_finished")
    events = daemon.events()[before:]
    readiness = daemon.ready_over_time()
    after_start = [n for t, n in readiness if t >= events[0]["t_s"]]
    assert min(after_start) >= 2, f"Ready replicas fell below desired - maxUnavailable: {after_start}"
    live, peak = 3, 3
    for event in events:  # pods not being deleted never exceed desired + maxSurge
        live += {"pod_created": 1, "pod_terminating": -1}.get(event["kind"], 0)
        peak = max(peak, live)
    assert peak <= 4
    replicas = daemon.state()["replicas"]
    assert len(replicas) == 3 and {r["version"] for r in replicas} == {2}
    assert daemon.post("/rollout", {"service": {"device_time_ms": -1}}).status_code == 422


@pytest.mark.slow
def test_drain_honours_the_pod_disruption_budget(start_daemon):
    platform = {"nodes": {"count": 3, "gpu_slots": 2}, "pdb": {"max_unavailable": 1}}
    daemon = start_daemon(replicas=4, platform=platform)
    daemon.wait_ready(4)
    by_node: dict[str, list[str]] = {}
    for r in daemon.state()["replicas"]:
        by_node.setdefault(r["node"], []).append(r["name"])
    node, pods = max(by_node.items(), key=lambda kv: len(kv[1]))
    assert len(pods) == 2, by_node
    t_drain = daemon.state()["t_s"]
    assert daemon.post(f"/nodes/{node}/drain").status_code == 202
    daemon.wait_for(lambda: daemon.events("node_drained"), 60, "node_drained")
    blocked = daemon.events("eviction_blocked")
    assert blocked and blocked[0]["pod"] in pods, "the second eviction must wait for the first replacement"
    during = [n for t, n in daemon.ready_over_time() if t >= t_drain]
    assert min(during) >= 3, f"a drain took Ready replicas below minAvailable: {during}"
    daemon.wait_ready(4)
    state = daemon.state()
    assert all(r["node"] != node for r in state["replicas"])
    assert next(n for n in state["nodes"] if n["name"] == node)["cordoned"]
    assert daemon.post(f"/nodes/{node}/uncordon").status_code == 200
    assert daemon.post("/nodes/nowhere/drain").status_code == 404


@pytest.mark.slow
def test_failed_node_pods_come_back_elsewhere_after_the_eviction_delay(start_daemon):
    daemon = start_daemon(replicas=2)  # two nodes, the scheduler spreads: one pod each
    daemon.wait_ready(2)
    victim = daemon.state()["replicas"][0]
    assert daemon.post(f"/nodes/{victim['node']}/fail", {"duration_s": None}).status_code == 200
    state = daemon.state()
    lost = next(r for r in state["replicas"] if r["name"] == victim["name"])
    assert lost["phase"] == "Unknown" and not lost["ready"]
    assert not next(n for n in state["nodes"] if n["name"] == victim["node"])["ready"]
    survivor = next(r["name"] for r in state["replicas"] if r["name"] != victim["name"])
    assert daemon.replica_hits(10) == {survivor: 10}
    daemon.wait_ready(2, 40)
    down = daemon.events("node_down")[0]["t_s"]
    deleted = next(e for e in daemon.events("pod_deleted") if e["pod"] == victim["name"])
    assert deleted["reason"] == "node_lost"
    assert deleted["t_s"] - down >= 1.5 - 0.05, "pods are replaced only after the eviction delay"
    assert all(r["node"] != victim["node"] for r in daemon.state()["replicas"])


@pytest.mark.slow
def test_a_node_back_before_the_eviction_delay_restarts_its_pods_in_place(start_daemon):
    daemon = start_daemon(replicas=2, platform={"nodes": {"eviction_delay": 60}})
    daemon.wait_ready(2)
    victim = daemon.state()["replicas"][0]
    daemon.post(f"/nodes/{victim['node']}/fail", {"duration_s": 0.5})
    daemon.wait_for(lambda: daemon.events("node_up"), 10, "node_up")
    daemon.wait_ready(2, 30)
    again = next(r for r in daemon.state()["replicas"] if r["name"] == victim["name"])
    assert again["node"] == victim["node"] and again["restarts"] == 1
    assert not daemon.events("pod_deleted")


@pytest.mark.slow
def test_pending_pods_get_a_node_after_the_provisioning_delay_and_idle_nodes_go(start_daemon):
    autoscaler = {
        "enabled": True, "min_nodes": 1, "max_nodes": 2, "provisioning_delay": 1.0, "scan_interval": 0.2,
        "scale_down_unneeded_time": 1.0, "scale_down_delay_after_add": 0.0,
    }  # fmt: skip
    daemon = start_daemon(replicas=3, platform={"nodes": {"count": 1, "gpu_slots": 2, "autoscaler": autoscaler}})
    daemon.wait_ready(3, 60)
    unschedulable = daemon.events("pod_unschedulable")[0]
    provisioning = daemon.events("node_provisioning")[0]
    added = [e for e in daemon.events("node_added") if e["provisioned"]][0]
    assert provisioning["count"] == 1
    assert provisioning["t_s"] >= unschedulable["t_s"]
    assert added["t_s"] - provisioning["t_s"] >= 1.0 - 0.05
    scheduled = next(e for e in daemon.events("pod_scheduled") if e["pod"] == unschedulable["pod"])
    assert scheduled["node"] == added["node"] and scheduled["t_s"] >= added["t_s"]
    assert len(daemon.state()["nodes"]) == 2
    daemon.post("/scale", {"replicas": 1})
    daemon.wait_for(lambda: daemon.events("node_removed"), 30, "an unneeded node removed")
    daemon.wait_for(lambda: len(daemon.ready()) == 1 and len(daemon.state()["replicas"]) == 1, 30, "one pod")
    assert len(daemon.state()["nodes"]) == 1
