"""Probes, restarts and termination on a real daemon with real replica processes (compressed timings)."""

from __future__ import annotations

import os
import signal
import sys
import time

import psutil
import pytest


@pytest.mark.slow
def test_readiness_failure_takes_a_replica_out_of_the_balancer_and_back(start_daemon):
    daemon = start_daemon(replicas=2, platform={"probes": {"liveness": {"enabled": False}}})
    first, second = (r["name"] for r in daemon.wait_ready(2))
    assert set(daemon.replica_hits(20)) == {first, second}
    pid = daemon.pid(first)
    os.kill(pid, signal.SIGSTOP)  # the replica stops answering, its probes included
    try:
        daemon.wait_for(lambda: daemon.events("pod_unready"), 15, "pod_unready after the probe failures")
        assert daemon.events("pod_unready")[0]["pod"] == first
        assert daemon.events("pod_unready")[0]["reason"] == "readiness_probe"
        assert daemon.replica_hits(20) == {second: 20}
    finally:
        os.kill(pid, signal.SIGCONT)
    daemon.wait_ready(2, 15)
    assert set(daemon.replica_hits(20)) == {first, second}
    assert not daemon.events("pod_restarted"), "readiness alone must never restart a container"


@pytest.mark.slow
def test_a_hung_replica_is_restarted_by_its_liveness_probe(start_daemon):
    daemon = start_daemon(replicas=1)
    (pod,) = (r["name"] for r in daemon.wait_ready(1))
    pid = daemon.pid(pod)
    os.kill(pid, signal.SIGSTOP)  # hung: the process lives, nothing answers
    daemon.wait_for(lambda: daemon.events("pod_restarted"), 20, "pod_restarted after the liveness failures")
    failed = daemon.events("pod_liveness_failed")
    exited = daemon.events("container_exited")
    assert failed and failed[0]["pod"] == pod and failed[0]["probe"] == "liveness_probe"
    assert exited[0]["reason"] == "liveness_probe"
    assert exited[0]["exit_code"] == -signal.SIGKILL, "a stopped process ignores SIGTERM: SIGKILL after the grace"
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    daemon.wait_ready(1, 20)
    (replica,) = daemon.state()["replicas"]
    assert replica["name"] == pod and replica["restarts"] == 1 and replica["pid"] != pid


@pytest.mark.slow
def test_a_crash_loop_backs_off_doubling_to_the_cap(start_daemon):
    crash = (sys.executable, "-c", "import sys, time; time.sleep(0.05); sys.exit(3)")
    daemon = start_daemon(replicas=1, command=crash)  # backoff 0.4 s doubling, capped at 1.6 s
    daemon.wait_for(lambda: len(daemon.events("pod_restarted")) >= 5, 40, "five restarts")
    waits = [e["restart_in_s"] for e in daemon.events("container_exited")][:6]
    assert waits[:5] == [0.0, 0.4, 0.8, 1.6, 1.6]
    assert all(e["exit_code"] == 3 for e in daemon.events("container_exited"))
    restarts = [e["t_s"] for e in daemon.events("pod_restarted")]
    gaps = [b - a for a, b in zip(restarts, restarts[1:], strict=False)]
    assert gaps[2] > gaps[0] + 0.5, f"restarts must slow down, gaps were {gaps}"
    phases = daemon.state()["replicas"][0]["phase"]
    assert phases in ("CrashLoopBackOff", "Starting")


@pytest.mark.slow
def test_graceful_termination_then_sigkill_after_the_grace_period(start_daemon):
    daemon = start_daemon(replicas=2, platform={"probes": {"liveness": {"enabled": False}}})
    calm, stuck = (r["name"] for r in daemon.wait_ready(2))
    os.kill(daemon.pid(stuck), signal.SIGSTOP)  # will not act on SIGTERM
    t0 = time.monotonic()
    assert daemon.post(f"/pods/{calm}/kill", {"grace_period_s": 5}).status_code == 200
    assert daemon.post(f"/pods/{stuck}/kill", {"grace_period_s": 0.6}).status_code == 200
    daemon.wait_for(lambda: len(daemon.events("pod_deleted")) >= 2, 20, "both pods deleted")
    deleted = {e["pod"]: e for e in daemon.events("pod_deleted")}
    assert deleted[calm]["exit_code"] == 0, "SIGTERM: the replica drains and exits by itself"
    assert deleted[stuck]["exit_code"] == -signal.SIGKILL
    assert time.monotonic() - t0 >= 0.6
    assert daemon.post("/pods/nope/kill").status_code == 404
    daemon.wait_ready(2, 30)  # the ReplicaSet replaced both
    assert {calm, stuck}.isdisjoint(r["name"] for r in daemon.state()["replicas"])
