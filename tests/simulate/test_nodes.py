"""The simulated node autoscaler: nodes added for pending pods and, as the embedded one does, unneeded nodes
drained and removed once the replicas shrink (never below ``min_nodes``, one node at a time)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from harness.scenario import validate
from harness.simulate import SimOptions, simulate


def _scenario(min_nodes: int = 1) -> object:
    return validate({
        "name": "nodes",
        "platform": {
            "balancing": "request",
            "nodes": {"count": 1, "gpu_slots": 2, "autoscaler": {
                "enabled": True, "min_nodes": min_nodes, "max_nodes": 4, "provisioning_delay": "3s",
                "scan_interval": "1s", "scale_down_unneeded_time": "5s", "scale_down_delay_after_add": "5s"}},
            "hpa": {"enabled": True, "min_replicas": 1, "max_replicas": 6, "sync_period": "1s",
                    "metric_resolution": "1s", "downscale_stabilization": "3s",
                    "metrics": [{"type": "Pods", "name": "in_flight", "target_average_value": 1}]},
        },
        "service": {"replicas": 1, "device_time_ms": 50, "cold_start": "1s"},
        "load": {"shape": {"kind": "spike", "base_rps": 4, "peak_rps": 50, "before": "3s", "hold": "25s",
                           "after": "40s"}, "max_concurrency": 100000},
        "slo_defaults": False,
    }, "test")  # fmt: skip


def _events(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]


def test_nodes_are_added_for_the_spike_and_removed_after_it(tmp_path: Path) -> None:
    outcome = simulate(_scenario(), tmp_path, SimOptions(mode="des"), analyse=False)
    timeline = pd.read_parquet(outcome.run_dir / "timeline.parquet")
    events = _events(outcome.run_dir)
    assert timeline["nodes_total"].max() >= 3  # 50 rps at 20 a replica: 4-6 replicas, 2 a node
    removed = [e for e in events if e["kind"] == "node_removed"]
    assert removed and timeline["nodes_total"].iloc[-1] < timeline["nodes_total"].max()
    assert timeline["nodes_total"].min() >= 1
    added = [e["t_s"] for e in events if e["kind"] == "node_added" and e.get("provisioned")]
    assert removed[0]["t_s"] >= max(added) + 5.0  # not within scale_down_delay_after_add of the last add
    times = [e["t_s"] for e in removed]
    assert len(set(times)) == len(times)  # one node at a time


def test_never_below_min_nodes(tmp_path: Path) -> None:
    outcome = simulate(_scenario(min_nodes=3), tmp_path, SimOptions(mode="des"), analyse=False)
    timeline = pd.read_parquet(outcome.run_dir / "timeline.parquet")
    peak = int(timeline["nodes_total"].max())
    assert peak >= 3 and timeline["nodes_total"].iloc[-1] >= 3


def test_an_underused_node_is_drained_and_its_pod_moves(tmp_path: Path) -> None:
    scenario = validate({
        "name": "drain",
        "platform": {"nodes": {"count": 2, "gpu_slots": 2, "autoscaler": {
            "enabled": True, "min_nodes": 1, "scan_interval": "1s", "scale_down_unneeded_time": "3s",
            "scale_down_utilization_threshold": 0.6}}},
        "service": {"replicas": 2, "device_time_ms": 50, "cold_start": "1s"},
        "load": {"rate_rps": 10, "duration": "20s"},
        "slo_defaults": False,
    }, "test")  # fmt: skip
    outcome = simulate(scenario, tmp_path, SimOptions(mode="des"), analyse=False)
    events = _events(outcome.run_dir)
    placed = {e["pod"]: e["node"] for e in events if e["kind"] == "pod_scheduled"}
    removed = [e for e in events if e["kind"] == "node_removed"]
    assert len(removed) == 1  # then the other node is full (2 of 2 slots): needed
    gone = removed[0]["node"]
    evicted = [e for e in events if e["kind"] == "pod_evicted"]
    assert evicted and all(placed[e["pod"]] == gone for e in evicted)
    deleted = {e["pod"]: e["t_s"] for e in events if e["kind"] == "pod_deleted"}
    assert all(deleted[e["pod"]] <= removed[0]["t_s"] for e in evicted)  # drained before the node went
    later = [e for e in events if e["kind"] == "pod_scheduled" and e["t_s"] >= evicted[0]["t_s"]]
    assert later and all(e["node"] != gone for e in later)  # the replacement went to the other node
    timeline = pd.read_parquet(outcome.run_dir / "timeline.parquet")
    assert timeline["nodes_total"].iloc[-1] == 1 and timeline["desired_replicas"].iloc[-1] == 2
