"""Fixtures for the ``platform.kind: kubernetes`` tests: a bare API server (fast, no controllers) and a scenario.

``bare`` starts the embedded API server alone in a thread (``ThreadedApiServer``: the store and the API, no
kubelet or controllers) and writes its kubeconfig (context ``kibench-local``); ``bare.api()`` is the official
client's ``ApiClient`` on it.  ``cluster_scenario(**platform)`` is a small scenario on kind kubernetes pointed at
that kubeconfig.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from harness.platform.local.apiserver import ThreadedApiServer
from harness.scenario import Scenario, validate


@dataclass
class Bare:
    server: ThreadedApiServer
    kubeconfig: Path

    def api(self) -> client.ApiClient:
        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def resource_version(self) -> str:
        """The store-wide resourceVersion (any write moves it)."""
        with self.api() as api:
            return str(client.CoreV1Api(api).list_namespace().metadata.resource_version)


@pytest.fixture
def bare(tmp_path: Path) -> Iterator[Bare]:
    server = ThreadedApiServer(token="guard-test-token").start()
    kubeconfig = tmp_path / "kubeconfig"
    server.write_kubeconfig(kubeconfig)
    try:
        yield Bare(server, kubeconfig)
    finally:
        server.stop()


def scenario_on(kubeconfig: Path, **platform: Any) -> Scenario:
    data = {
        "name": "guard",
        "platform": {"kind": "kubernetes", "kubeconfig": str(kubeconfig), "ready_timeout": 5, **platform},
        "service": {"replicas": 1, "device_time_ms": 5, "cold_start": 0},
        "load": {"rate_rps": 1, "duration": 1},
    }
    return validate(data, "test scenario")
