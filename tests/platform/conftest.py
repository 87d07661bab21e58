"""Fixtures for the local platform tests: a real daemon process with compressed timings.

``start_daemon(replicas=..., platform={...})`` starts ``python -m harness.platform.local`` with the
settings in ``FAST`` deep-merged with ``platform`` and returns a ``Daemon`` handle that talks to
its JSON API over loopback; every daemon started is shut down after the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.platform.local.spec import DaemonSpec
from tests.daemon_api import DaemonApi

#: Kubernetes' timings compressed about 30x, so each behaviour shows in seconds.
FAST: dict[str, Any] = {
    "probes": {
        "startup": {"enabled": True, "period": 0.2, "timeout": 1.0, "failure_threshold": 200},
        "readiness": {"period": 0.2, "timeout": 0.5, "failure_threshold": 2},
        "liveness": {"period": 0.25, "timeout": 0.5, "failure_threshold": 3},
    },
    "pod": {"termination_grace_period": 1.0, "restart_backoff_initial": 0.4, "restart_backoff_max": 1.6},
    "nodes": {"count": 2, "gpu_slots": 4, "eviction_delay": 1.5, "drain_retry_interval": 0.3},
}


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@dataclass
class Daemon(DaemonApi):
    """A running daemon: its API URL, balancer URL and process."""

    proc: subprocess.Popen[str] | None = None

    def ready(self) -> list[dict[str, Any]]:
        return [r for r in self.state()["replicas"] if r["ready"]]

    def wait_ready(self, count: int, timeout_s: float = 40.0) -> list[dict[str, Any]]:
        return self.wait_for(lambda: len(self.ready()) >= count and self.ready(), timeout_s, f"{count} Ready replicas")

    def pid(self, pod: str) -> int:
        replica = next(r for r in self.state()["replicas"] if r["name"] == pod)
        assert replica["pid"], f"{pod} has no running container"
        return int(replica["pid"])

    def ready_over_time(self) -> list[tuple[float, int]]:
        """(t_s, Ready replicas) after each readiness change, rebuilt from the event stream."""
        ready: set[str] = set()
        out = []
        for event in self.events():
            if event["kind"] == "pod_ready":
                ready.add(event["pod"])
            elif event["kind"] in ("pod_unready", "pod_deleted"):
                ready.discard(event["pod"])
            else:
                continue
            out.append((event["t_s"], len(ready)))
        return out

    def replica_hits(self, requests: int) -> dict[str, int]:
        """Send requests through the balancer; count answers per replica (X-Kibench-Replica)."""
        hits: dict[str, int] = {}
        for _ in range(requests):
            response = self.http.post(f"{self.balancer_url}/v1/predict", json={"inputs": [1]})
            name = response.headers.get("x-kibench-replica", f"status-{response.status_code}")
            hits[name] = hits.get(name, 0) + 1
        return hits


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(
        replicas: int = 2,
        platform: dict[str, Any] | None = None,
        service: dict[str, Any] | None = None,
        command: tuple[str, ...] | None = None,
    ) -> Daemon:
        spec = DaemonSpec(
            replicas=replicas,
            service={"device_time_ms": 20.0, "cold_start": 0.0, **(service or {})},
            platform=merge(FAST, platform or {}),
            deployment="t",
            command=command,
        )
        logs = tmp_path / f"daemon-{len(started)}"
        argv = [sys.executable, "-m", "harness.platform.local", "--spec", spec.to_json(), "--log-dir", str(logs)]
        err = open(tmp_path / f"daemon-{len(started)}.err", "w")  # noqa: SIM115 (the process owns it)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True)
        assert proc.stdout is not None
        hello = json.loads(proc.stdout.readline())
        daemon = Daemon(hello["api"], hello["balancer"], httpx.Client(timeout=10.0), proc)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        with contextlib.suppress(httpx.HTTPError):
            daemon.post("/shutdown")
        try:
            daemon.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.proc.pid, signal.SIGKILL)
            daemon.proc.wait()
        daemon.http.close()
