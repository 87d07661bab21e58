"""Fixtures for the chaos tests: the embedded cluster with compressed timings and the service deployed on it.

``kube_platform`` (module scope) starts the embedded cluster (``harness.platform.local.client.start_daemon``:
the daemon process, its kubeconfig) with 3 nodes, deploys the reference service (3 replicas) through the
Kubernetes driver (``harness.platform.kubernetes``: manifests, the official client, watches), points
in-process chaostoolkit-kubernetes at the cluster (as ``kibench run`` does) and returns a ``KubePlatform``:
the kubeconfig, the experiment ``configuration`` a run would pass, the official client, the run events the
driver derives from its watches, and bounded waits.  Every cluster started is shut down after its module.
"""

from __future__ import annotations

import contextlib
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client
from kubernetes import config as k8s_config

from harness.chaos.runner import use_kubeconfig
from harness.platform.kubernetes.driver import KubernetesDriver, Target
from harness.platform.local.client import start_daemon
from harness.platform.local.spec import ClusterSpec
from harness.procs import poll_until, stop
from harness.scenario import Scenario, validate

ROOT = Path(__file__).resolve().parents[2]
CHAOS_BIN = Path(sys.executable).with_name("chaos")
SELECTOR = "app.kubernetes.io/name=kibench-service"
UNREACHABLE = "node.kubernetes.io/unreachable"

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


def _ready(obj: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (obj.status.conditions or []))


@dataclass
class KubePlatform:
    """The embedded cluster with the service deployed, seen through the Kubernetes API."""

    kubeconfig: Path
    hello: dict[str, Any]
    proc: subprocess.Popen[str]
    driver: KubernetesDriver
    api: client.ApiClient
    replicas: int = 3

    @property
    def name(self) -> str:
        """The Deployment's name."""
        return self.driver.name

    @property
    def config(self) -> dict[str, Any]:
        """The experiment configuration ``kibench run`` passes for this cluster."""
        return {
            "kibench_kubeconfig": str(self.kubeconfig),
            "kibench_namespace": "default",
            "kibench_deployment": self.name,
        }

    @property
    def details(self) -> dict[str, Any]:
        """``Deployment.details`` as the platform reports them (for ``chaos_context``)."""
        return {"kubeconfig": str(self.kubeconfig), "namespace": "default", "deployment": self.name}

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    def pods(self, live_only: bool = True) -> list[client.V1Pod]:
        pods = self.core.list_namespaced_pod("default", label_selector=SELECTOR).items
        return [p for p in pods if not live_only or p.metadata.deletion_timestamp is None]

    def pod_names(self) -> set[str]:
        return {p.metadata.name for p in self.pods()}

    def nodes(self) -> list[client.V1Node]:
        return self.core.list_node().items

    def deployment(self) -> client.V1Deployment:
        return self.apps.read_namespaced_deployment(self.name, "default")

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The run events the driver derived from its watches (events.jsonl's shape)."""
        events = [e.to_json() for e in self.driver.events(0)[0]]
        return [e for e in events if kind is None or e["kind"] == kind]

    def wait_for(self, predicate: Callable[[], Any], timeout_s: float = 40.0, what: str = "condition") -> Any:
        """Poll ``predicate()`` until truthy; fail the test with ``what`` otherwise."""
        value = poll_until(predicate, timeout_s, 0.1)
        if value:
            return value
        pods = [(p.metadata.name, p.status.phase, _ready(p), p.spec.node_name) for p in self.pods(live_only=False)]
        pytest.fail(f"timed out after {timeout_s:g}s waiting for {what}; pods: {pods}")

    def healthy(self) -> bool:
        """Every node Ready and schedulable; exactly the desired replicas, all Ready, none terminating."""
        nodes_ok = all(_ready(n) and not n.spec.unschedulable for n in self.nodes())
        pods = self.pods(live_only=False)
        desired = int(self.deployment().spec.replicas)
        return nodes_ok and desired == self.replicas and len(pods) == desired and all(_ready(p) for p in pods)

    def wait_healthy(self, timeout_s: float = 60.0) -> list[client.V1Pod]:
        self.wait_for(self.healthy, timeout_s, f"{self.replicas} Ready replicas on Ready, schedulable nodes")
        return self.pods()

    def private(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        """The daemon's private API (``/kibench/v1/...``), with the kubeconfig's token and CA."""
        verify = ssl.create_default_context(cadata=self.hello["ca_pem"])
        headers = {"Authorization": f"Bearer {self.hello['token']}"}
        return httpx.post(f"{self.hello['api']}{path}", json=body or {}, headers=headers, verify=verify)

    def stop(self) -> None:
        self.driver.teardown()
        self.api.close()
        with contextlib.suppress(httpx.HTTPError, KeyError):
            self.private("/kibench/v1/shutdown")
        stop(self.proc, grace_s=15)


def start_kube_platform(log_dir: Path, scenario: Scenario) -> KubePlatform:
    """Start the embedded cluster and deploy ``scenario``'s service on it through the Kubernetes driver."""
    kubeconfig = log_dir / "kubeconfig"
    spec = ClusterSpec(platform=scenario.platform.model_dump(mode="json"))
    proc, hello = start_daemon(spec, str(log_dir), str(kubeconfig))
    driver = KubernetesDriver(scenario, Target(str(kubeconfig)), time.monotonic(), owns_cluster=True)
    api = k8s_config.new_client_from_config(config_file=str(kubeconfig))
    platform = KubePlatform(kubeconfig, hello, proc, driver, api, scenario.service.replicas)
    try:
        driver.deploy()
    except BaseException:
        platform.stop()
        raise
    return platform


@pytest.fixture(scope="module")
def kube_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubePlatform]:
    platform = start_kube_platform(tmp_path_factory.mktemp("cluster"), fast_scenario())
    undo = use_kubeconfig(str(platform.kubeconfig))  # chaosk8s in this process targets the cluster
    try:
        yield platform
    finally:
        undo()
        platform.stop()
