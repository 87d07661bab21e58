"""The resource metrics API on the embedded cluster: ``kubectl top pods`` / ``kubectl top nodes`` (kubectl 1.32:
discovery, then ``/apis/metrics.k8s.io/v1beta1/...``), the objects metrics-server serves, and the per-second
usage rows the daemon writes for ``usage.parquet``."""

from __future__ import annotations

import json
import shutil
import subprocess

import httpx
import pytest

from harness.platform.kubernetes.resource_record import write_record
from harness.platform.local.objects import parse_quantity

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH (1.32 is on the dev machines)"),
]


def _kubectl(cluster, *args: str) -> str:
    argv = ["kubectl", "--kubeconfig", str(cluster.kubeconfig), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout


def test_kubectl_top_pods_and_nodes(start_cluster, tmp_path):
    cluster = start_cluster(
        replicas=2, platform={"pod": {"memory_request_mib": 512}, "hpa": {"metric_resolution": 2}, "vpa": True}
    )
    names = sorted(r.name for r in cluster.wait_ready(2))

    def top_pods() -> str | None:
        try:
            out = _kubectl(cluster, "top", "pods", "--no-headers")
        except subprocess.CalledProcessError:
            return None  # "metrics not available yet" until two samples
        return out if all(n in out for n in names) else None

    out = cluster.wait_for(top_pods, 20, "kubectl top pods")
    for line in out.splitlines():
        name, cpu, memory = line.split()
        assert name in names and cpu.endswith("m") and memory.endswith("Mi")
        assert 5 < int(memory[:-2]) < 2000  # a Python process's resident memory, in MiB
    nodes = _kubectl(cluster, "top", "nodes", "--no-headers")
    assert "local-node-0" in nodes and "%" in nodes

    raw = json.loads(_kubectl(cluster, "get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods"))
    assert raw["kind"] == "PodMetricsList" and len(raw["items"]) >= 2
    item = raw["items"][0]
    usage = item["containers"][0]["usage"]
    assert usage["cpu"].endswith("n") and parse_quantity(usage["memory"]) > 5 * 2**20
    assert item["window"].endswith("s") and item["timestamp"].endswith("Z")
    node = json.loads(_kubectl(cluster, "get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes/local-node-0"))
    assert node["kind"] == "NodeMetrics" and "cpu" in node["usage"]
    rows = [json.loads(line) for line in (cluster.log_dir / "usage.jsonl").read_text().splitlines()]
    assert {r["pod"] for r in rows} >= set(names)
    assert all(r["memory_request_bytes"] == 512 * 2**20 and r["cpu_cores"] >= 0 for r in rows)

    def recommendation() -> dict | None:
        vpa = json.loads(_kubectl(cluster, "get", "vpa", cluster.name, "-o", "json"))
        recs = ((vpa.get("status") or {}).get("recommendation") or {}).get("containerRecommendations")
        return recs[0] if recs else None

    rec = cluster.wait_for(recommendation, 15, "the VPA's recommendation")
    assert parse_quantity(rec["target"]["cpu"]) >= 0.025 and parse_quantity(rec["target"]["memory"]) >= 250 * 2**20
    assert parse_quantity(rec["lowerBound"]["cpu"]) <= parse_quantity(rec["target"]["cpu"])
    assert parse_quantity(rec["upperBound"]["cpu"]) >= parse_quantity(rec["target"]["cpu"])
    table = _kubectl(cluster, "get", "vpa")  # the CRD's printer columns: NAME MODE CPU MEM PROVIDED AGE
    assert "MODE" in table and "Off" in table and rec["target"]["cpu"] in table
    record = write_record(cluster.driver, tmp_path)  # what a run reads back for its summary, as on a cluster
    (theirs,) = record["vpa"]["containers"].values()
    assert theirs["cpu_target_cores"] >= 0.025 and theirs["memory_target_mib"] >= 250 and not record["warnings"]


def test_mig_slices_are_scheduled_and_report_dcgm_metrics(start_cluster):
    """One node, one GPU cut in two 3g.40gb slices: two replicas fit, a third is Pending for want of a slice,
    each replica's /metrics carries DCGM's gauges for its slice (and its usage rows them), and the node
    autoscaler adds a node of that kind."""
    gpu = {"sharing": "mig", "mig": {"3g.40gb": 2}}
    autoscaler = {"enabled": True, "max_nodes": 2, "provisioning_delay": 1, "scan_interval": 0.5}
    nodes = {"count": 1, "gpu_slots": 1, "gpu": gpu, "autoscaler": autoscaler}
    platform = {"nodes": nodes, "pod": {"gpu_resource": "nvidia.com/mig-3g.40gb"}, "hpa": {"metric_resolution": 1}}
    cluster = start_cluster(replicas=2, platform=platform)
    cluster.wait_ready(2)
    node = cluster.core.read_node("local-node-0")
    assert (
        node.status.allocatable.get("nvidia.com/mig-3g.40gb") == "2" and "nvidia.com/gpu" not in node.status.allocatable
    )
    pod = cluster.pods()[0]
    metrics = httpx.get(f"http://{pod['status']['podIP']}:8000/metrics", timeout=5).text
    assert "DCGM_FI_DEV_GPU_UTIL{" in metrics and 'GPU_I_PROFILE="3g.40gb"' in metrics
    assert "DCGM_FI_DEV_FB_USED" in metrics

    def gpu_rows() -> list[dict]:  # the usage rows carry each pod's DCGM gauges (usage.parquet's GPU columns)
        path = cluster.log_dir / "usage.jsonl"
        rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        return [r for r in rows if r.get("gpu_memory_used_mib") is not None]

    rows = cluster.wait_for(gpu_rows, 15, "usage rows with the GPU's gauges")
    assert all(r["gpu_memory_used_mib"] > 0 and 0 <= r["gpu_util_pct"] <= 100 for r in rows), rows[:3]
    cluster.driver.scale(3)
    cluster.wait_for(
        lambda: any(
            "Insufficient nvidia.com/mig-3g.40gb" in (e.message or "")
            for e in cluster.core.list_namespaced_event("default").items
        ),
        15,
        "FailedScheduling for the third replica",
    )
    cluster.wait_ready(3, 20)  # on a new node with the declared partitions
    added = cluster.core.read_node("local-node-1")
    assert added.status.allocatable.get("nvidia.com/mig-3g.40gb") == "2"
