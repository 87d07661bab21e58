"""Rolling updates, drains with a PDB, node failure, node autoscaling: the embedded cluster, compressed timings."""

from __future__ import annotations

import pytest

from harness.platform.kubernetes.translate import parse_time


@pytest.mark.slow
def test_rolling_update_keeps_within_max_surge_and_max_unavailable(start_cluster):
    cluster = start_cluster(replicas=3, platform={"rollout": {"max_surge": 1, "max_unavailable": 1}})
    cluster.wait_ready(3)
    old = {r.name for r in cluster.state().replicas}
    before = len(cluster.events())
    cluster.driver.rollout()  # the restartedAt annotation, as `kubectl rollout restart`
    cluster.wait_for(
        lambda: [e for e in cluster.events("rollout_finished") if e["revision"] == 2], 60, "the rollout (generation 2)"
    )
    events = cluster.events()[before:]
    assert events[0]["kind"] == "rollout_started"
    readiness = cluster.ready_over_time()
    after_start = [n for t, n in readiness if t >= events[0]["t_s"]]
    assert min(after_start) >= 2, f"Ready replicas fell below desired - maxUnavailable: {after_start}"
    live, peak = set(old), 3
    for event in events:  # pods not being deleted never exceed desired + maxSurge
        if event["kind"] == "pod_created":
            live.add(event["pod"])
        elif event["kind"] in ("pod_terminating", "pod_deleted"):
            live.discard(event["pod"])
        peak = max(peak, len(live))
    assert peak == 4, "maxSurge 1: one pod over the desired count at a time"
    replicas = cluster.wait_for(lambda: len(cluster.state().replicas) == 3 and cluster.state().replicas, 20, "3 pods")
    assert len({r.version for r in replicas}) == 1 and old.isdisjoint(r.name for r in replicas)
    scaled = [e["message"] for e in cluster.k8s_events("ScalingReplicaSet")]
    assert any("from 0 to 1" in m for m in scaled[1:]), scaled


@pytest.mark.slow
def test_drain_honours_the_pod_disruption_budget(start_cluster):
    platform = {"nodes": {"count": 3, "gpu_slots": 2}, "pdb": {"max_unavailable": 1}}
    cluster = start_cluster(replicas=4, platform=platform)
    cluster.wait_ready(4)
    by_node: dict[str, list[str]] = {}
    for r in cluster.state().replicas:
        by_node.setdefault(r.node, []).append(r.name)
    node, pods = max(by_node.items(), key=lambda kv: len(kv[1]))
    assert len(pods) == 2, by_node
    t_drain = cluster.state().t_s
    cluster.driver.drain_node(node, timeout_s=60, retry_s=0.3)  # cordon, then the eviction API
    evicted = {e["pod"]: e["t_s"] for e in cluster.events("pod_terminating")}  # an eviction deletes gracefully
    assert set(evicted) == set(pods)
    first, second = sorted(pods, key=evicted.get)
    ready_between = [e for e in cluster.events("pod_ready") if evicted[first] < e["t_s"] <= evicted[second]]
    assert ready_between, "the second eviction must wait (429) until the first pod's replacement is Ready"
    during = [n for t, n in cluster.ready_over_time() if t >= t_drain]
    assert min(during) >= 3, f"a drain took Ready replicas below the budget: {during}"
    cluster.wait_ready(4)
    state = cluster.state()
    assert all(r.node != node for r in state.replicas)
    assert next(n for n in state.nodes if n.name == node).cordoned
    assert [e["node"] for e in cluster.events("node_cordoned")] == [node]
    cluster.driver.cordon(node, False)
    cluster.wait_for(lambda: cluster.events("node_uncordoned"), 5, "node_uncordoned")


@pytest.mark.slow
def test_failed_node_pods_come_back_elsewhere_after_the_eviction_delay(start_cluster):
    cluster = start_cluster(replicas=2, platform={"nodes": {"eviction_delay": 2}})  # 2 nodes: one pod each
    cluster.wait_ready(2)
    victim = cluster.state().replicas[0]
    assert cluster.fail_node(victim.node).status_code == 200  # hard loss, no return
    cluster.wait_for(lambda: cluster.events("node_down"), 5, "node_down")

    def lost_pod_unready():  # the node goes Unknown first, then its pods NotReady (two updates, as upstream)
        return next((r for r in cluster.state().replicas if r.name == victim.name and not r.ready), None)

    lost = cluster.wait_for(lost_pod_unready, 5, "the lost node's pod NotReady")
    state = cluster.state()
    assert lost.phase == "Unknown"
    assert not next(n for n in state.nodes if n.name == victim.node).ready
    survivor = next(r.name for r in state.replicas if r.name != victim.name)
    assert cluster.replica_hits(10) == {survivor: 10}
    cluster.wait_ready(2, 40)
    down = cluster.events("node_down")[0]["t_s"]
    terminating = next(e for e in cluster.events("pod_terminating") if e["pod"] == victim.name)
    assert terminating["t_s"] - down >= 2 - 0.05, "pods are evicted only after their tolerationSeconds"
    (taint,) = [e for e in cluster.k8s_events("TaintManagerEviction") if e["involvedObject"]["name"] == victim.name]
    (not_ready,) = cluster.k8s_events("NodeNotReady")
    assert parse_time(taint["lastTimestamp"]) - parse_time(not_ready["lastTimestamp"]) >= 2 - 0.05
    assert all(r.node != victim.node for r in cluster.state().replicas if r.phase != "Terminating")
    assert not cluster.events("pod_deleted"), "the lost node's pod stays Terminating until the node is back"


@pytest.mark.slow
def test_a_node_back_before_the_eviction_delay_restarts_its_pods_in_place(start_cluster):
    cluster = start_cluster(replicas=2, platform={"nodes": {"eviction_delay": 60}})
    cluster.wait_ready(2)
    victim = cluster.state().replicas[0]
    cluster.fail_node(victim.node, 0.5)
    cluster.wait_for(lambda: cluster.events("node_up"), 10, "node_up")
    cluster.wait_ready(2, 30)
    again = next(r for r in cluster.state().replicas if r.name == victim.name)
    assert again.node == victim.node and again.restarts == 1
    assert not cluster.events("pod_terminating") and not cluster.events("pod_deleted")
    assert [e["pod"] for e in cluster.events("pod_unready")] == [victim.name]


@pytest.mark.slow
def test_pending_pods_get_a_node_after_the_provisioning_delay_and_idle_nodes_go(start_cluster):
    autoscaler = {
        "enabled": True, "min_nodes": 1, "max_nodes": 2, "provisioning_delay": 1.0, "scan_interval": 0.2,
        "scale_down_unneeded_time": 1.0, "scale_down_delay_after_add": 0.0,
    }  # fmt: skip
    cluster = start_cluster(replicas=3, platform={"nodes": {"count": 1, "gpu_slots": 2, "autoscaler": autoscaler}})
    cluster.wait_ready(3, 60)
    unschedulable = cluster.events("pod_unschedulable")[0]
    provisioning = cluster.events("node_provisioning")[0]
    added = [e for e in cluster.events("node_added") if e["provisioned"]][0]
    assert "kibench-pool 1 node(s)" in provisioning["reason"]
    assert provisioning["t_s"] >= unschedulable["t_s"]
    assert added["t_s"] - provisioning["t_s"] >= 1.0 - 0.05
    scheduled = next(e for e in cluster.events("pod_scheduled") if e["pod"] == unschedulable["pod"])
    assert scheduled["node"] == added["node"] and scheduled["t_s"] >= added["t_s"]
    assert len(cluster.state().nodes) == 2
    cluster.driver.scale(1)
    cluster.wait_for(lambda: cluster.events("node_removed"), 30, "an unneeded node removed")
    cluster.wait_for(lambda: len(cluster.ready()) == 1 and len(cluster.state().replicas) == 1, 30, "one pod")
    assert len(cluster.state().nodes) == 1
    assert cluster.k8s_events("ScaleDown")
