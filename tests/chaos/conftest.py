"""Fixtures for the chaos tests: a real local platform daemon with compressed timings.

``local_platform`` (module scope) deploys the platform the way ``kibench run`` does (a scenario →
``create_platform`` → ``deploy``) with 3 replicas on 3 nodes and Kubernetes' timings compressed,
and returns a ``LivePlatform``: its API URL, the experiment ``configuration`` that points at it,
and helpers that poll its ``/state`` and ``/events`` with bounded waits.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.platform import create_platform
from harness.scenario import Scenario, validate
from tests.daemon_api import DaemonApi

ROOT = Path(__file__).resolve().parents[2]
CHAOS_BIN = Path(sys.executable).with_name("chaos")

#: Kubernetes' probe, grace and eviction timings compressed so that each behaviour shows in seconds.
FAST_PLATFORM: dict[str, Any] = {
    "kind": "local",
    "ready_timeout": 60,
    "nodes": {"count": 3, "gpu_slots": 4, "eviction_delay": 1.0},
    "probes": {
        "startup": {"enabled": True, "period": 0.2, "timeout": 1.0, "failure_threshold": 300},
        "readiness": {"period": 0.25, "timeout": 0.5, "failure_threshold": 2},
        "liveness": {"period": 0.3, "timeout": 0.5, "failure_threshold": 2},
    },
    "pod": {"termination_grace_period": 2.0, "restart_backoff_initial": 0.3, "restart_backoff_max": 1.0},
}


def fast_scenario(name: str = "chaos-test", replicas: int = 3, **sections: Any) -> Scenario:
    data: dict[str, Any] = {
        "name": name,
        "platform": FAST_PLATFORM,
        "service": {"replicas": replicas, "device_time_ms": 20, "cold_start": 0.2},
        "load": {"rate_rps": 10, "duration": 60},
    }
    data.update(sections)
    return validate(data, "test scenario")


@dataclass
class LivePlatform(DaemonApi):
    """A deployed local platform and ways to watch it."""

    @property
    def config(self) -> dict[str, Any]:
        """The experiment configuration that targets this platform."""
        return {"kibench_api_url": self.api_url}

    def healthy(self) -> bool:
        state = self.state()
        live = [p for p in state["replicas"] if p["phase"] != "Terminating"]
        nodes_ok = all(n["ready"] and not n.get("cordoned") for n in state.get("nodes", []))
        ready = sum(1 for p in live if p["ready"])
        return nodes_ok and ready >= state["desired_replicas"] and len(live) == state["desired_replicas"]

    def wait_healthy(self, timeout_s: float = 60.0) -> dict[str, Any]:
        self.wait_for(self.healthy, timeout_s, "every desired replica Ready on ready, uncordoned nodes")
        return self.state()


@pytest.fixture(scope="module")
def local_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePlatform]:
    log_dir = tmp_path_factory.mktemp("platform-logs")
    platform = create_platform(fast_scenario(), t0_monotonic=time.monotonic(), log_dir=str(log_dir))
    try:
        deployment = platform.deploy()
        with httpx.Client(timeout=5.0) as http:
            yield LivePlatform(str(deployment.details["api_url"]), deployment.target_url, http)
    finally:
        platform.teardown()
