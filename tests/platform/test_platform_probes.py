"""Probes, restarts and termination on the embedded cluster with real pod processes (compressed timings)."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from harness.errors import PlatformError
from harness.platform.kubernetes.translate import is_true

SIGKILLED = 128 + signal.SIGKILL  # a container killed by a signal exits with 128 + the signal


@pytest.mark.slow
def test_readiness_failure_takes_a_replica_out_of_the_service_and_back(start_cluster):
    cluster = start_cluster(replicas=2, platform={"probes": {"liveness": {"enabled": False}}})
    first, second = (r.name for r in cluster.wait_ready(2))
    assert set(cluster.replica_hits(20)) == {first, second}
    pid = cluster.pid(first)
    os.kill(pid, signal.SIGSTOP)  # the replica stops answering, its probes included
    try:
        unready = cluster.wait_for(lambda: cluster.events("pod_unready"), 15, "pod_unready after the probe failures")
        assert unready[0]["pod"] == first and unready[0]["reason"] == "readiness_probe"
        assert not is_true(cluster.pod(first), "Ready") and is_true(cluster.pod(second), "Ready")
        assert cluster.replica_hits(20) == {second: 20}
        messages = [e["message"] for e in cluster.k8s_events("Unhealthy")]
        assert any(m.startswith("Readiness probe failed: Get ") and "deadline exceeded" in m for m in messages)
        [failed] = cluster.events("probe_failed")[:1]
        assert failed["pod"] == first and failed["probe"] == "readiness" and isinstance(failed["host_saturated"], bool)
    finally:
        os.kill(pid, signal.SIGCONT)
    cluster.wait_ready(2, 15)
    assert set(cluster.replica_hits(20)) == {first, second}
    assert not cluster.events("pod_restarted"), "readiness alone must never restart a container"


@pytest.mark.slow
def test_a_hung_replica_is_restarted_by_its_liveness_probe(start_cluster):
    cluster = start_cluster(replicas=1)
    (pod,) = (r.name for r in cluster.wait_ready(1))
    pid = cluster.pid(pod)
    os.kill(pid, signal.SIGSTOP)  # hung: the process lives, nothing answers
    cluster.wait_for(lambda: cluster.events("pod_restarted"), 20, "pod_restarted after the liveness failures")
    failed = cluster.events("pod_liveness_failed")
    (exited,) = cluster.events("container_exited")
    assert failed and failed[0]["pod"] == pod and failed[0]["probe"] == "liveness_probe"
    assert exited["reason"] == "liveness_probe"
    assert exited["exit_code"] == SIGKILLED, "a stopped process ignores SIGTERM: SIGKILL after the grace"
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    killing = [e["message"] for e in cluster.k8s_events("Killing")]
    assert "Container service failed liveness probe, will be restarted" in killing
    cluster.wait_ready(1, 20)
    (replica,) = cluster.state().replicas
    assert replica.name == pod and replica.restarts == 1 and cluster.pid(pod) != pid


@pytest.mark.slow
def test_a_crash_loop_backs_off_doubling_to_the_cap(start_cluster):
    crash = ["python", "-c", "import sys, time; time.sleep(0.05); sys.exit(3)"]
    # back-off 0.4 s doubling, capped at 1.6 s; the image is the service's, its command replaced
    cluster = start_cluster(replicas=1, command=crash, wait_ready=False)
    cluster.wait_for(lambda: len(cluster.events("pod_restarted")) >= 5, 40, "five restarts")
    exits = cluster.events("container_exited")
    assert all(e["exit_code"] == 3 for e in exits)
    restarts = cluster.events("pod_restarted")[:5]
    assert [e["restarts"] for e in restarts] == [1, 2, 3, 4, 5]
    waits = [start["t_s"] - end["t_s"] for end, start in zip(exits, restarts, strict=False)]
    for wait, backoff in zip(waits, [0.0, 0.4, 0.8, 1.6, 1.6], strict=True):  # exit -> next start
        assert backoff <= wait < backoff + 0.6, f"restarts must wait 0, 0.4, 0.8, 1.6, 1.6 s; waited {waits}"
    backoffs = cluster.k8s_events("BackOff")
    assert backoffs and backoffs[0]["message"].startswith("Back-off restarting failed container service")
    assert cluster.state().replicas[0].ready is False


@pytest.mark.slow
def test_graceful_termination_then_sigkill_after_the_grace_period(start_cluster):
    cluster = start_cluster(replicas=2, platform={"probes": {"liveness": {"enabled": False}}})
    calm, stuck = (r.name for r in cluster.wait_ready(2))
    os.kill(cluster.pid(stuck), signal.SIGSTOP)  # will not act on SIGTERM
    t0 = time.monotonic()
    cluster.driver.kill_pod(calm, grace_period_s=5)
    cluster.driver.kill_pod(stuck, grace_period_s=1)
    cluster.wait_for(lambda: len(cluster.events("pod_deleted")) >= 2, 20, "both pods deleted")
    deleted = {e["pod"]: e for e in cluster.events("pod_deleted")}
    assert deleted[calm]["exit_code"] == 0, "SIGTERM: the replica drains and exits by itself"
    assert deleted[stuck]["exit_code"] == SIGKILLED
    assert time.monotonic() - t0 >= 1.0
    terminating = {e["pod"]: e for e in cluster.events("pod_terminating")}
    assert terminating[calm]["grace_period_s"] == 5 and terminating[stuck]["grace_period_s"] == 1
    with pytest.raises(PlatformError, match="404"):
        cluster.driver.kill_pod("nope")
    cluster.wait_ready(2, 30)  # the ReplicaSet replaced both
    assert {calm, stuck}.isdisjoint(r.name for r in cluster.state().replicas)
