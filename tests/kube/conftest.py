"""Fixtures for the ``platform.kind: kubernetes`` tests: a bare API server (fast, no controllers) and a scenario.

``bare`` starts the embedded API server alone in a thread (``ThreadedApiServer``: the store and the API, no
kubelet or controllers) and writes its kubeconfig (context ``kibench-local``); ``bare.api()`` is the official
client's ``ApiClient`` on it.  ``cluster_scenario(**platform)`` is a small scenario on kind kubernetes pointed at
that kubeconfig.  ``cluster_under_test`` is the cluster of the ``cluster``-marked tests: ``$KUBECONFIG``'s with
``-m cluster``, else an embedded cluster (3 nodes) started for the module, so that they run in CI too.
"""

from __future__ import annotations

import os
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


def real_cluster_kubeconfig(config: pytest.Config) -> str | None:
    """The kubeconfig of a real cluster for the `cluster` tests: ``$KUBECONFIG`` when ``-m cluster`` was asked for
    explicitly; otherwise None, and they run against an embedded cluster started for them (tests/kube/conftest.py),
    so that a plain run of the suite never touches the cluster a developer's KUBECONFIG points at."""
    wanted = "cluster" in (config.getoption("markexpr", "") or "")
    return (os.environ.get("KUBECONFIG") or None) if wanted else None


@dataclass
class ClusterUnderTest:
    """The cluster the ``cluster`` tests work on: a real one (``-m cluster`` with ``KUBECONFIG``) or an embedded
    cluster started for them, reached the same way, through a kubeconfig."""

    kubeconfig: Path
    real: bool


@pytest.fixture(scope="module")
def cluster_under_test(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    from harness.platform.local.client import start_daemon
    from harness.platform.local.spec import ClusterSpec
    from harness.procs import stop

    given = real_cluster_kubeconfig(request.config)
    if given:
        yield ClusterUnderTest(Path(given.split(os.pathsep)[0]).expanduser(), real=True)
        return
    folder = tmp_path_factory.mktemp("cluster-under-test")
    kubeconfig = folder / "kubeconfig"
    proc, _ = start_daemon(ClusterSpec({"nodes": {"count": 3, "gpu_slots": 4}}), str(folder / "logs"), str(kubeconfig))
    try:
        yield ClusterUnderTest(kubeconfig, real=False)
    finally:
        stop(proc, grace_s=10)
