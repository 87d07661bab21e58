"""``LocalPlatform``: start the embedded cluster, then drive it like any cluster (``platform: local``).

In: a ``Scenario`` and the run's clock origin and folder.  Out: an object implementing
``harness.model.Platform``: ``deploy()`` starts the cluster daemon (its kubeconfig goes to
``<run>/kubeconfig``), then hands over to ``harness.platform.kubernetes.KubernetesDriver``, which applies
the manifests and follows the cluster through the Kubernetes API; ``fail_node`` uses the daemon's own
API (hard node loss has no Kubernetes verb); ``teardown()`` records the VerticalPodAutoscaler's
recommendation (``platform.vpa``: ``resources.json``, as on a cluster), stops the driver, then the daemon and with
it every pod, and writes ``usage.parquet`` (idempotent).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx

from harness.errors import PlatformError
from harness.model import Deployment, Event, PlatformState
from harness.platform.kubernetes.driver import KubernetesDriver, Target
from harness.platform.kubernetes.resource_record import write_record
from harness.platform.local.spec import ClusterSpec
from harness.platform.local.usage_file import write_usage_parquet
from harness.procs import preexec, python_argv, record_process, signals_deferred, stop
from harness.scenario import Scenario


def start_daemon(spec: ClusterSpec, log_dir: str, kubeconfig: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start ``python -m harness.platform.local`` and read its hello line (api, token, pid)."""
    os.makedirs(log_dir, exist_ok=True)
    argv = python_argv(
        "harness.platform.local", "--spec", spec.to_json(), "--log-dir", log_dir, "--kubeconfig", kubeconfig
    )
    proc: subprocess.Popen[str] | None = None
    try:  # a signal while the daemon starts must not leave it running
        with signals_deferred(), open(os.path.join(log_dir, "platform.log"), "ab") as err:
            proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=err, text=True, preexec_fn=preexec, start_new_session=True
            )
            record_process(log_dir, proc.pid, "platform-daemon")
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout=30)
        if not box or not box[0].strip():
            raise PlatformError(f"the embedded cluster did not start; see {log_dir}/platform.log")
        return proc, dict(json.loads(box[0]))
    except BaseException:
        if proc is not None:
            stop(proc, grace_s=5)
        raise


class LocalPlatform:
    """The embedded cluster and the Kubernetes driver over it."""

    kind = "local"

    def __init__(
        self, scenario: Scenario, t0_monotonic: float, log_dir: str, kubeconfig: str, run_id: str | None = None
    ) -> None:
        self.scenario = scenario
        self.run_id = run_id
        self.spec = ClusterSpec(platform=scenario.platform.model_dump(mode="json"))
        self.t0 = t0_monotonic
        self.log_dir = log_dir
        self.kubeconfig = kubeconfig
        self.proc: subprocess.Popen[str] | None = None
        self.hello: dict[str, Any] = {}
        self.driver: KubernetesDriver | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_scenario(
        cls, scenario: Scenario, t0_monotonic: float, log_dir: str, run_id: str | None = None
    ) -> LocalPlatform:
        kubeconfig = str(Path(log_dir).parent / "kubeconfig")
        return cls(scenario, t0_monotonic, log_dir, kubeconfig, run_id or Path(log_dir).parent.name)

    def deploy(self) -> Deployment:
        self.proc, self.hello = start_daemon(self.spec, self.log_dir, self.kubeconfig)
        # The cluster was started for this run alone: everything in it is the run's (nodes too, for drains).
        self.driver = KubernetesDriver(
            self.scenario, Target(self.kubeconfig), self.t0, kind=self.kind, run_id=self.run_id, owns_cluster=True
        )
        try:
            deployment = self.driver.deploy()
        except Exception:
            self.teardown()
            raise
        details = {**deployment.details, "daemon_pid": self.hello.get("pid")}
        return Deployment(deployment.target_url, self.kind, details)

    def _driver(self) -> KubernetesDriver:
        if self.driver is None or self.proc is None or self.proc.poll() is not None:
            raise PlatformError(f"the embedded cluster is not running; see {self.log_dir}/platform.log")
        return self.driver

    def state(self) -> PlatformState:
        """The driver's view of the cluster, with the daemon's self-check since the last sample."""
        state = self._driver().state()
        gauges = self._private("GET", "/kibench/v1/stats", timeout_s=2.0)
        return dataclasses.replace(state, platform_gauges={k: float(v) for k, v in gauges.items()})

    def events(self, since: int) -> tuple[list[Event], int]:
        return self._driver().events(since)

    def kill_pod(self, name: str) -> None:
        self._driver().kill_pod(name)

    def scale(self, replicas: int) -> None:
        self._driver().scale(replicas)

    def fail_node(self, name: str, duration_s: float | None = None) -> None:
        self._private("POST", f"/kibench/v1/nodes/{name}/fail", {"duration_s": duration_s})

    def _private(self, method: str, path: str, body: dict[str, Any] | None = None, timeout_s: float = 5.0) -> Any:
        headers = {"Authorization": f"Bearer {self.hello.get('token', '')}"}
        verify: Any = ssl.create_default_context(cadata=self.hello["ca_pem"]) if self.hello.get("ca_pem") else True
        try:
            response = httpx.request(
                method, f"{self.hello['api']}{path}", json=body, headers=headers, timeout=timeout_s, verify=verify
            )
        except (httpx.HTTPError, KeyError) as exc:
            raise PlatformError(f"the embedded cluster's API {method} {path} failed: {exc}") from exc
        if response.status_code >= 400:
            raise PlatformError(f"the embedded cluster's API {method} {path}: {response.text}")
        return response.json()

    def teardown(self) -> None:
        with self._lock:
            if self.driver is not None:
                if self.scenario.platform.vpa:  # the embedded recommender's status, read as on a cluster
                    with contextlib.suppress(Exception):
                        write_record(self.driver, Path(self.log_dir).parent)
                self.driver.teardown()
                self.driver = None
            if self.proc is None:
                return
            if self.proc.poll() is None:
                with contextlib.suppress(PlatformError):
                    self._private("POST", "/kibench/v1/shutdown", timeout_s=2.0)
            stop(self.proc, grace_s=self.scenario.platform.pod.termination_grace_period + 5)
            self.proc = None
            with contextlib.suppress(OSError, ValueError):  # the usage is a by-product: never fail a teardown on it
                write_usage_parquet(self.log_dir, Path(self.log_dir).parent / "usage.parquet", self.t0)
