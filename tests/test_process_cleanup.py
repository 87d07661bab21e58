"""The local platform daemon stops every process it started: on SIGTERM, and when its parent dies."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time

import httpx
import psutil
import pytest

pytestmark = pytest.mark.slow

SPEC = json.dumps({"replicas": 2, "service": {"device_time_ms": 5, "cold_start": 0}})


def _children_of(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _wait_replicas(api: str, n: int, timeout_s: float = 60) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = httpx.get(f"{api}/state", timeout=5).json()
        ready = [r for r in state["replicas"] if r["ready"]]
        if len(ready) >= n:
            return [r["port"] for r in ready]
        time.sleep(0.2)
    raise AssertionError("replicas never became Ready")


def _gone(procs: list[psutil.Process], timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in procs):
            return True
        time.sleep(0.2)
    return False


def test_sigterm_stops_daemon_and_replicas(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.platform.local", "--spec", SPEC, "--log-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    hello = json.loads(proc.stdout.readline())
    _wait_replicas(hello["api"], 2)
    replicas = _children_of(proc.pid)
    assert len(replicas) >= 2
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert _gone(replicas)


def test_parent_death_stops_everything(tmp_path):
    # A parent that starts the daemon the way kibench does, then is SIGKILLed (no chance to clean up).
    script = textwrap.dedent(
        f"""
        import json, sys, time
        from harness.platform.local.client import LocalPlatform
        from harness.platform.local.spec import DaemonSpec
        spec = DaemonSpec(**json.loads({SPEC!r}))
        platform = LocalPlatform(spec, 60, {str(tmp_path)!r})
        platform.deploy()
        print(platform.proc.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    daemon_pid = int(parent.stdout.readline())
    family = [psutil.Process(daemon_pid), *_children_of(daemon_pid)]
    assert len(family) >= 3
    parent.kill()
    parent.wait(timeout=10)
    assert _gone(family), "daemon or replicas outlived their parent"
