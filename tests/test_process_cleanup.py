"""The embedded cluster stops every process it started: on SIGTERM, and when its parent dies.

The Service is balanced per request, so the data path's processes (haproxy when installed, and the
forwarder) are among those that must go."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from harness.platform.kubernetes.driver import KubernetesDriver, Target
from harness.platform.local import haproxy
from harness.platform.local.client import start_daemon
from harness.platform.local.spec import ClusterSpec
from harness.procs import poll_until
from harness.scenario import validate

pytestmark = pytest.mark.slow

SCENARIO = {
    "name": "cleanup",
    "platform": {"balancing": "request"},  # with haproxy installed, one more child process to stop
    "service": {"replicas": 2, "device_time_ms": 5, "cold_start": 0},
    "load": {"rate_rps": 1, "duration": "1s"},
}


def _children_of(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _gone(procs: list[psutil.Process], timeout_s: float = 30) -> bool:
    return poll_until(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in procs),
                      timeout_s, 0.2)  # fmt: skip


def test_sigterm_stops_daemon_and_replicas(tmp_path):
    scenario = validate(SCENARIO, "test")
    spec = ClusterSpec(platform=scenario.platform.model_dump(mode="json"))
    proc, _ = start_daemon(spec, str(tmp_path / "logs"), str(tmp_path / "kubeconfig"))
    try:
        driver = KubernetesDriver(scenario, Target(str(tmp_path / "kubeconfig")), time.monotonic())
        driver.deploy()  # waits for both replicas to be Ready
        family = _children_of(proc.pid)
        assert len([p for p in family if "harness.service" in " ".join(p.cmdline())]) == 2
        if haproxy.find()[0]:
            assert any(p.name() == "haproxy" for p in family), [p.cmdline() for p in family]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert _gone(family)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_parent_death_stops_everything(tmp_path):
    # A parent that starts the cluster the way kibench does, then is SIGKILLed (no chance to clean up).
    script = textwrap.dedent(
        f"""
        import sys, time
        from harness.platform.local.client import LocalPlatform
        from harness.scenario import validate
        scenario = validate({SCENARIO!r}, "test")
        platform = LocalPlatform.from_scenario(scenario, time.monotonic(), {str(tmp_path / "logs")!r})
        platform.deploy()
        print(platform.proc.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        daemon_pid = int(parent.stdout.readline())
        family = [psutil.Process(daemon_pid), *_children_of(daemon_pid)]
        assert len(family) >= 3
        parent.kill()
        parent.wait(timeout=10)
        assert _gone(family), "daemon or replicas outlived their parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
