"""Fixtures for the local platform tests: the embedded cluster with compressed timings, the service deployed on it.

``start_cluster(replicas=..., platform={...}, service={...}, command=None)`` starts the embedded cluster
(``harness.platform.local.client.start_daemon``) with the settings in ``FAST`` deep-merged with ``platform``,
deploys the scenario's service through the Kubernetes driver (``harness.platform.kubernetes``: manifests, the
official client, watches) and returns an ``Embedded`` handle: the kubeconfig, the official client, the
Service's URL and the run events the driver's translator derives from its watches, with bounded waits.
Every cluster started is shut down after the test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client

from harness.model import PlatformState, Replica
from harness.platform.kubernetes.driver import KubernetesDriver, Target
from harness.platform.kubernetes.informer import Informer
from harness.platform.local.client import start_daemon
from harness.platform.local.objects import parse_quantity
from harness.platform.local.spec import ClusterSpec
from harness.procs import poll_until
from harness.scenario import Scenario, validate

#: Kubernetes' timings compressed about 30x, so each behaviour shows in seconds.
FAST: dict[str, Any] = {
    "ready_timeout": 60,
    "probes": {
        "startup": {"enabled": True, "period": 0.2, "timeout": 1.0, "failure_threshold": 200},
        "readiness": {"period": 0.2, "timeout": 0.5, "failure_threshold": 2},
        "liveness": {"period": 0.25, "timeout": 0.5, "failure_threshold": 3},
    },
    "pod": {"termination_grace_period": 1.0, "restart_backoff_initial": 0.4, "restart_backoff_max": 1.6},
    "nodes": {"count": 2, "gpu_slots": 4, "eviction_delay": 1, "drain_retry_interval": 0.3},
}


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def fast_scenario(
    replicas: int = 2, platform: dict[str, Any] | None = None, service: dict[str, Any] | None = None
) -> Scenario:
    data = {
        "name": "t",
        "platform": merge(FAST, platform or {}),
        "service": {"replicas": replicas, "device_time_ms": 20.0, "cold_start": 0.0, **(service or {})},
        "load": {"rate_rps": 1, "duration": 1},
    }
    return validate(data, "test scenario")


class HpaStatuses:
    """Every status the HPA controller writes, through a watch: (currentReplicas, desiredReplicas, metrics)."""

    def __init__(self, api: client.ApiClient) -> None:
        self.seen: list[tuple[int, int, dict[str, float]]] = []
        lister = client.AutoscalingV2Api(api).list_namespaced_horizontal_pod_autoscaler
        self.informer = Informer("test-hpa", lister, self._changed, namespace="default").start()

    def _changed(self, change: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        status = (new or {}).get("status") or {}
        if "currentMetrics" not in status:
            return
        metrics = {}
        for m in status["currentMetrics"] or []:
            if m["type"] == "Pods":
                metrics[m["pods"]["metric"]["name"]] = parse_quantity(m["pods"]["current"]["averageValue"])
            else:
                metrics["cpu_utilization_pct"] = float(m["resource"]["current"]["averageUtilization"])
        entry = (status["currentReplicas"], status["desiredReplicas"], metrics)
        if not self.seen or self.seen[-1] != entry:
            self.seen.append(entry)

    def decisions(self, up: bool) -> list[tuple[int, int, dict[str, float]]]:
        """The statuses of syncs that scaled up (or down)."""
        return [s for s in self.seen if (s[1] > s[0] if up else s[1] < s[0])]


@dataclass
class Embedded:
    """The embedded cluster with the service deployed: kubeconfig, official client, Service URL, run events."""

    kubeconfig: Path
    hello: dict[str, Any]
    proc: subprocess.Popen[str]
    driver: KubernetesDriver
    log_dir: Path
    url: str = ""
    hpa_statuses: HpaStatuses | None = None

    # ---- the official client ----------------------------------------------------------------
    @property
    def api(self) -> client.ApiClient:
        return self.driver.connect()

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    @property
    def name(self) -> str:
        """The Deployment's (and Service's, HPA's, PDB's) name."""
        return self.driver.name

    # ---- what the driver sees -----------------------------------------------------------------
    def state(self) -> PlatformState:
        return self.driver.state()

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The run events so far (events.jsonl's shape), optionally of one kind."""
        events = [e.to_json() for e in self.driver.events(0)[0]]
        return [e for e in events if kind is None or e["kind"] == kind]

    def pods(self) -> list[dict[str, Any]]:
        """The Pod objects the driver's informer holds (as the API server sent them)."""
        return self.driver.informers["pods"].items()

    def pod(self, name: str) -> dict[str, Any]:
        return next(p for p in self.pods() if p["metadata"]["name"] == name)

    def k8s_events(self, reason: str | None = None) -> list[dict[str, Any]]:
        """core/v1 Events in the namespace (the driver's informer cache), oldest first."""
        events = sorted(self.driver.informers["events"].items(), key=lambda e: int(e["metadata"]["resourceVersion"]))
        return [e for e in events if reason is None or e.get("reason") == reason]

    def wait_for(self, predicate: Callable[[], Any], timeout_s: float = 40.0, what: str = "condition") -> Any:
        """Poll ``predicate()`` until truthy; fail the test with ``what`` and the state otherwise."""
        value = poll_until(predicate, timeout_s, 0.1)
        if not value:
            pytest.fail(f"timed out after {timeout_s:g}s waiting for {what}; state: {self.state()!r}"[:3000])
        return value

    def ready(self) -> list[Replica]:
        return [r for r in self.state().replicas if r.ready]

    def wait_ready(self, count: int, timeout_s: float = 40.0) -> list[Replica]:
        return self.wait_for(lambda: len(self.ready()) >= count and self.ready(), timeout_s, f"{count} Ready replicas")

    def pid(self, pod: str) -> int:
        """The container process of ``pod`` (its containerID is ``kibench://<pid>``)."""
        statuses = (self.pod(pod).get("status") or {}).get("containerStatuses") or [{}]
        container_id = statuses[0].get("containerID") or ""
        assert container_id.startswith("kibench://"), f"{pod} has no running container: {statuses}"
        return int(container_id.removeprefix("kibench://"))

    def ready_over_time(self) -> list[tuple[float, int]]:
        """(t_s, Ready replicas) after each readiness change, rebuilt from the run events."""
        ready: set[str] = set()
        out = []
        for event in self.events():
            if event["kind"] == "pod_ready":
                ready.add(event["pod"])
            elif event["kind"] in ("pod_unready", "pod_deleted", "pod_terminating"):
                ready.discard(event["pod"])
            else:
                continue
            out.append((event["t_s"], len(ready)))
        return out

    def replica_hits(self, requests: int) -> dict[str, int]:
        """Send requests through the Service, each on a new connection (a Service balances connections);
        count answers per replica (X-Kibench-Replica)."""
        hits: dict[str, int] = {}
        for _ in range(requests):
            response = httpx.post(f"{self.url}/v1/predict", json={"inputs": [1]}, timeout=10.0)
            name = response.headers.get("x-kibench-replica", f"status-{response.status_code}")
            hits[name] = hits.get(name, 0) + 1
        return hits

    # ---- the daemon's private API (what Kubernetes has no verb for) -----------------------------
    def private(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        verify = ssl.create_default_context(cadata=self.hello["ca_pem"])
        headers = {"Authorization": f"Bearer {self.hello['token']}"}
        return httpx.request(method, f"{self.hello['api']}{path}", json=body, headers=headers, verify=verify)

    def fail_node(self, node: str, duration_s: float | None = None) -> httpx.Response:
        return self.private("POST", f"/kibench/v1/nodes/{node}/fail", {"duration_s": duration_s})

    def stop(self) -> None:
        self.driver.teardown()
        with contextlib.suppress(httpx.HTTPError, KeyError):
            self.private("POST", "/kibench/v1/shutdown")
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.hpa_statuses is not None:
            self.hpa_statuses.informer.stop()


def start_embedded(
    log_dir: Path,
    scenario: Scenario,
    command: list[str] | None = None,
    wait_ready: bool = True,
    watch_hpa: bool = False,
) -> Embedded:
    """Start the embedded cluster and deploy ``scenario``'s service through the Kubernetes driver.

    ``command`` replaces the container's; ``watch_hpa`` records the HPA's statuses from before it exists.
    """
    kubeconfig = log_dir / "kubeconfig"
    spec = ClusterSpec(platform=scenario.platform.model_dump(mode="json"))
    proc, hello = start_daemon(spec, str(log_dir), str(kubeconfig))
    driver = KubernetesDriver(scenario, Target(str(kubeconfig)), time.monotonic(), owns_cluster=True)
    if command is not None:
        driver.manifests.deployment["spec"]["template"]["spec"]["containers"][0]["command"] = command
    embedded = Embedded(kubeconfig, hello, proc, driver, log_dir)
    try:
        if watch_hpa:
            embedded.hpa_statuses = HpaStatuses(driver.connect())
        embedded.url = driver.deploy(wait_ready=wait_ready).target_url
    except BaseException:
        embedded.stop()
        raise
    return embedded


@pytest.fixture
def start_cluster(tmp_path: Path) -> Iterator[Callable[..., Embedded]]:
    started: list[Embedded] = []

    def start(
        replicas: int = 2,
        platform: dict[str, Any] | None = None,
        service: dict[str, Any] | None = None,
        command: list[str] | None = None,
        wait_ready: bool = True,
        watch_hpa: bool = False,
    ) -> Embedded:
        scenario = fast_scenario(replicas, platform, service)
        log_dir = tmp_path / f"cluster-{len(started)}"
        log_dir.mkdir()
        embedded = start_embedded(log_dir, scenario, command, wait_ready, watch_hpa)
        started.append(embedded)
        return embedded

    yield start
    for embedded in started:
        embedded.stop()
