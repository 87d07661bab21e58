"""``LocalPlatform``: starts the local daemon process and talks to its JSON API.

In: a ``Scenario`` (service + platform sections) and the run's clock origin.  Out: an object that
implements ``harness.model.Platform``: ``deploy()`` starts the daemon and waits until the initial
replicas are Ready; ``teardown()`` stops the daemon and with it every replica (idempotent).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
from typing import Any

import httpx

from harness.errors import PlatformError, PlatformTimeout
from harness.model import Deployment, Event, NodeState, PlatformState, Replica
from harness.platform.local.spec import DaemonSpec
from harness.procs import preexec, python_argv, stop
from harness.scenario import Scenario


class LocalPlatform:
    """Client side of the local platform daemon."""

    kind = "local"

    def __init__(self, spec: DaemonSpec, ready_timeout_s: float, log_dir: str) -> None:
        self.spec = spec
        self.ready_timeout_s = ready_timeout_s
        self.log_dir = log_dir
        self.proc: subprocess.Popen[str] | None = None
        self.api_url = ""
        self.balancer_url = ""
        self._http = httpx.Client(timeout=5.0)
        self._lock = threading.Lock()

    @classmethod
    def from_scenario(cls, scenario: Scenario, t0_monotonic: float, log_dir: str) -> LocalPlatform:
        svc = scenario.service
        spec = DaemonSpec(
            replicas=svc.replicas,
            service=svc.model_dump(mode="json"),
            platform=scenario.platform.model_dump(mode="json"),
            t0_monotonic=t0_monotonic,
            deployment=f"{scenario.name}-svc"[:40],
        )
        return cls(spec, scenario.platform.ready_timeout, log_dir)

    # ---- lifecycle ----------------------------------------------------------------------
    def deploy(self) -> Deployment:
        os.makedirs(self.log_dir, exist_ok=True)
        argv = python_argv("harness.platform.local", "--spec", self.spec.to_json(), "--log-dir", self.log_dir)
        with open(os.path.join(self.log_dir, "platform.log"), "ab") as err:
            self.proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=err, text=True, preexec_fn=preexec, start_new_session=True
            )
        line = self._read_hello()
        self.api_url, self.balancer_url = line["api"], line["balancer"]
        self._wait_ready()
        return Deployment(self.balancer_url, self.kind, {"api_url": self.api_url, "daemon_pid": line["pid"]})

    def _read_hello(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout=30)
        if not box or not box[0].strip():
            self.teardown()
            raise PlatformError(f"the local platform daemon did not start; see {self.log_dir}/platform.log")
        return dict(json.loads(box[0]))

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        state = None
        while time.monotonic() < deadline:
            state = self.state()
            if state.ready_replicas >= self.spec.replicas:
                return
            time.sleep(0.1)
        pending = (
            ""
            if state is None or not state.pods_pending
            else (
                f"; {state.pods_pending} pod(s) Pending for lack of a free GPU slot: raise platform.nodes.count "
                "or platform.nodes.gpu_slots"
            )
        )
        raise PlatformTimeout(
            f"replicas not Ready within platform.ready_timeout ({self.ready_timeout_s:g}s){pending}; "
            f"raise it or check {self.log_dir}/*.log"
        )

    def teardown(self) -> None:
        with self._lock:
            if self.proc is None:
                return
            if self.proc.poll() is None:
                with contextlib.suppress(httpx.HTTPError):
                    self._http.post(f"{self.api_url}/shutdown", timeout=2.0)
            stop(self.proc, grace_s=self.spec.termination_grace_s + 5)
            self.proc = None
            self._http.close()

    # ---- API ----------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if self.proc is None or self.proc.poll() is not None:
            raise PlatformError(f"the local platform daemon is not running; see {self.log_dir}/platform.log")
        try:
            response = self._http.request(method, f"{self.api_url}{path}", json=body)
        except httpx.HTTPError as exc:
            raise PlatformError(f"local platform API {method} {path} failed: {exc}") from exc
        if response.status_code >= 400:
            raise PlatformError(f"local platform API {method} {path}: {response.json().get('error')}")
        return response.json()

    def state(self) -> PlatformState:
        return state_from_json(self._call("GET", "/state"))

    def events(self, since: int) -> tuple[list[Event], int]:
        data = self._call("GET", f"/events?since={since}")
        out = [Event(e.pop("t_s"), e.pop("kind"), e) for e in data["events"]]
        return out, int(data["next"])

    def kill_pod(self, name: str) -> None:
        self._call("POST", f"/pods/{name}/kill", {})

    def scale(self, replicas: int) -> None:
        self._call("POST", "/scale", {"replicas": replicas})

    def fail_node(self, name: str, duration_s: float | None = None) -> None:
        self._call("POST", f"/nodes/{name}/fail", {"duration_s": duration_s})

    def drain_node(self, name: str, grace_period_s: float | None = None) -> None:
        self._call("POST", f"/nodes/{name}/drain", {"grace_period_s": grace_period_s})

    def rollout(self, service: dict[str, Any]) -> int:
        return int(self._call("POST", "/rollout", {"service": service})["revision"])


def state_from_json(data: dict[str, Any]) -> PlatformState:
    """GET /state's body as ``PlatformState`` (nodes and the HPA's metric values included)."""
    replicas = tuple(
        Replica(
            r["name"], r["node"], r["port"], r["phase"], r["ready"], r["created_s"], r.get("ready_s"),
            r.get("restarts", 0), r.get("version"),
        )
        for r in data["replicas"]
    )  # fmt: skip
    nodes = tuple(
        NodeState(n["name"], n["ready"], n.get("cordoned", False), n.get("gpu_slots", 0), n.get("gpu_used", 0))
        for n in data.get("nodes", [])
    )
    hpa = data.get("hpa") or {}
    metrics = {**(hpa.get("metrics") or {}), **{f"{k}_target": v for k, v in (hpa.get("targets") or {}).items()}}
    return PlatformState(data["t_s"], data["desired_replicas"], replicas, nodes, metrics)
