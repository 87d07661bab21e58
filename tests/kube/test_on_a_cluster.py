"""``cluster`` tests: a run on a cluster the way a user points kibench at theirs, through a kubeconfig only.

``pytest -m cluster`` with ``KUBECONFIG`` set runs them against that cluster (it must be able to pull
``kibench-service:0.1.0``: docs/kubernetes.md); without, and in CI, against an embedded cluster started for the
module (``cluster_under_test``), so that they cannot rot.  The load goes through a port-forward (as it must on a
cluster without a load balancer), the latency fault reaches the replicas' admin API through the cluster too,
and the run leaves nothing behind.  Hard node loss is refused with a message that says what to use instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client, config

from harness.platform.kubernetes import scope

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
KIBENCH = [sys.executable, "-c", "from harness.cli import main; main()"]
LATENCY_FAULT = "[{at: 2s, experiment: chaos/latency-spike.yaml, vars: {spike_s: 2, settle_s: 1, slo_window_s: 2}}]"


def kibench_run(kubeconfig: Path, tmp: Path, scenario: str, *sets: str) -> subprocess.CompletedProcess[str]:
    argv = [*KIBENCH, "run", str(ROOT / "scenarios" / scenario), "--results", str(tmp / "results")]
    for item in ("platform.kind=kubernetes", f"platform.kubeconfig={kubeconfig}", *sets):
        argv += ["--set", item]
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_CONTEXT")}
    return subprocess.run(argv, capture_output=True, text=True, timeout=240, env=env, cwd=ROOT)


def kibench_namespaces(kubeconfig: Path) -> list[str]:
    with config.new_client_from_config(config_file=str(kubeconfig)) as api:
        selector = f"{scope.MANAGED_LABEL}={scope.MANAGER}"
        return [n.metadata.name for n in client.CoreV1Api(api).list_namespace(label_selector=selector).items]


def test_a_run_through_a_port_forward_with_a_latency_fault_warns_and_leaves_nothing(cluster_under_test, tmp_path):
    proc = kibench_run(
        cluster_under_test.kubeconfig, tmp_path, "smoke.yaml",
        "platform.route=port-forward", "platform.pod.gpus=0", "load.duration=8s", f"faults={LATENCY_FAULT}",
    )  # fmt: skip
    assert proc.returncode in (0, 1), f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    (run_dir,) = (tmp_path / "results").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["metrics"]["requests"] >= 120 and summary["metrics"]["error_rate"] < 0.05
    assert any("through a port-forward" in w and "latency includes the tunnel" in w for w in summary["warnings"])
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    deployed = next(e for e in events if e["kind"] == "deployed")
    assert deployed["route"] == "port-forward" and deployed["target_url"].startswith("http://127.0.0.1:")
    journal = json.loads(next((run_dir / "chaos").glob("*.journal.json")).read_text())
    assert journal["experiment"]["configuration"]["kibench_admin_route"] == "port-forward"
    [added] = [r for r in journal["run"] if r["activity"]["name"] == "add-latency"]
    assert added["status"] == "succeeded" and len(added["output"]["pods"]) == 2  # both replicas, through the API
    assert kibench_namespaces(cluster_under_test.kubeconfig) == []


def test_hard_node_loss_is_refused_on_a_cluster_and_says_what_to_use(cluster_under_test, tmp_path):
    proc = kibench_run(cluster_under_test.kubeconfig, tmp_path, "node-failure.yaml")
    assert proc.returncode == 2, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "fail_node (hard node loss) runs on the embedded cluster only" in proc.stderr
    assert "drain the node instead (chaos/node-drain.yaml" in proc.stderr and "cloud's API" in proc.stderr
    assert not (tmp_path / "results").exists()
