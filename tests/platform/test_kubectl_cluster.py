"""kubectl 1.32 against the whole embedded cluster (controllers running): a kill seen by ``get pods -w``, and
``rollout restart`` followed by ``rollout status`` until the Deployment controller has replaced every pod."""

from __future__ import annotations

import shutil
import subprocess
import threading

import pytest

from harness.procs import poll_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH (1.32 is on the dev machines)"),
]


def _kubectl(cluster, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    argv = ["kubectl", "--kubeconfig", str(cluster.kubeconfig), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=True)


def test_watch_sees_a_kill_and_rollout_status_waits_for_the_rollout(start_cluster):
    cluster = start_cluster(replicas=2)
    victim = cluster.wait_ready(2)[0].name
    argv = ["kubectl", "--kubeconfig", str(cluster.kubeconfig), "get", "pods", "-w", "--output-watch-events"]
    watch = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(watch.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        assert poll_until(lambda: any(victim in line for line in seen), 30.0), "the watch's initial list never came"
        cluster.driver.kill_pod(victim)  # graceful: Terminating (MODIFIED), then gone (DELETED)
        cluster.wait_for(lambda: victim not in {p["metadata"]["name"] for p in cluster.pods()}, 20, "the kill")
        poll_until(lambda: any(line.startswith("DELETED") and victim in line for line in seen), 10.0)
    finally:
        watch.terminate()
        watch.wait(timeout=10)
        reader.join(10)
    out = "".join(seen)
    lines = [line for line in out.splitlines() if victim in line]
    assert any(line.startswith("MODIFIED") for line in lines) and any(line.startswith("DELETED") for line in lines), out

    cluster.wait_ready(2)
    before = {p["metadata"]["name"] for p in cluster.pods()}
    assert "restarted" in _kubectl(cluster, "rollout", "restart", f"deploy/{cluster.name}").stdout
    status = _kubectl(cluster, "rollout", "status", f"deploy/{cluster.name}", "--timeout=60s", timeout_s=90)
    assert "successfully rolled out" in status.stdout
    after = {p["metadata"]["name"] for p in cluster.pods() if not p["metadata"].get("deletionTimestamp")}
    assert len(after) == 2 and not after & before
