"""The local platform's controller: replica processes, readiness probes, restarts, events.

In: a ``DaemonSpec`` and commands (scale, kill pod).  Out: replica processes of the reference
service on free loopback ports, their state (``snapshot()``) and an ordered event list.

Rules (Kubernetes' where they exist): a ReplicaSet-like reconcile keeps ``desired`` live pods;
a pod is Ready only after its readiness probe (``GET /readyz``) succeeds, and loses readiness after
``probe_failure_threshold`` failures in a row; a container that exits on its own is restarted in
place after a back-off (``pod_restarted``); a deleted pod is terminated (SIGTERM, grace period,
SIGKILL) and replaced by a new pod.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import logging
import secrets
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.platform.local.spec import DaemonSpec
from harness.procs import preexec

log = logging.getLogger("kibench.local")


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Pod:
    """A replica: one service process at a time (restarts keep the pod)."""

    name: str
    node: str
    port: int
    created_s: float
    proc: asyncio.subprocess.Process | None = None
    ready: bool = False
    ready_s: float | None = None
    phase: str = "Starting"
    terminating: bool = False
    restarts: int = 0
    probe_failures: int = 0
    restart_at_s: float | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "node": self.node,
            "port": self.port,
            "phase": self.phase,
            "ready": self.ready,
            "created_s": round(self.created_s, 6),
            "ready_s": None if self.ready_s is None else round(self.ready_s, 6),
            "restarts": self.restarts,
        }


class Supervisor:
    """Keeps ``desired`` replicas running and knows which are Ready."""

    def __init__(self, spec: DaemonSpec, log_dir: str | None = None) -> None:
        if spec.t0_monotonic <= 0:  # standalone daemon: its own start is t = 0
            spec = dataclasses.replace(spec, t0_monotonic=time.monotonic())
        self.spec = spec
        self.desired = spec.replicas
        self.pods: dict[str, Pod] = {}
        self.events: list[dict[str, Any]] = []
        self.log_dir = log_dir
        self._ids = itertools.count()
        self._suffix = secrets.token_hex(3)
        self._client = httpx.AsyncClient(timeout=spec.probe_timeout_s)
        self._stopping = False

    def now_s(self) -> float:
        return time.monotonic() - self.spec.t0_monotonic

    def emit(self, kind: str, **attrs: Any) -> None:
        self.events.append({"t_s": round(self.now_s(), 6), "kind": kind, **attrs})

    def ready_pods(self) -> list[Pod]:
        return [p for p in self.pods.values() if p.ready and not p.terminating]

    def snapshot(self) -> dict[str, Any]:
        return {
            "t_s": round(self.now_s(), 6),
            "deployment": self.spec.deployment,
            "desired_replicas": self.desired,
            "replicas": [p.to_json() for p in self.pods.values()],
        }

    # ---- commands -------------------------------------------------------------------------
    def scale(self, replicas: int, reason: str = "api") -> None:
        if replicas != self.desired:
            self.emit("scale", **{"from": self.desired, "to": replicas, "reason": reason})
        self.desired = replicas

    async def kill_pod(self, name: str, grace_period_s: float | None = None, reason: str = "killed") -> bool:
        pod = self.pods.get(name)
        if pod is None or pod.terminating:
            return False
        await self._terminate(pod, self.spec.termination_grace_s if grace_period_s is None else grace_period_s, reason)
        return True

    # ---- control loop ---------------------------------------------------------------------
    async def run(self) -> None:
        """Reconcile until stopped."""
        while not self._stopping:
            await self._reconcile()
            await asyncio.sleep(0.1)

    async def _reconcile(self) -> None:
        live = [p for p in self.pods.values() if not p.terminating]
        for _ in range(self.desired - len(live)):
            await self._create_pod()
        if len(live) > self.desired:
            # Kubernetes' ReplicaSet prefers deleting not-ready, then newest pods.
            victims = sorted(live, key=lambda p: (p.ready, -p.created_s))[: len(live) - self.desired]
            for pod in victims:
                await self._terminate(pod, self.spec.termination_grace_s, "scale_down")
        now = self.now_s()
        for pod in live:
            if pod.proc is None and pod.restart_at_s is not None and now >= pod.restart_at_s:
                pod.restart_at_s = None
                await self._start_container(pod)

    async def _create_pod(self) -> None:
        name = f"{self.spec.deployment}-{self._suffix}-{next(self._ids)}"
        pod = Pod(name=name, node=self.spec.node, port=free_port(), created_s=self.now_s())
        self.pods[name] = pod
        self.emit("pod_created", pod=name, node=pod.node)
        self.emit("pod_scheduled", pod=name, node=pod.node)
        await self._start_container(pod)

    async def _start_container(self, pod: Pod) -> None:
        argv = [
            sys.executable, "-m", "harness.service",
            "--port", str(pod.port),
            "--replica", pod.name,
            "--config", json.dumps(self.spec.service),
            "--grace-s", str(self.spec.termination_grace_s),
        ]  # fmt: skip
        out = open(f"{self.log_dir}/{pod.name}.log", "ab") if self.log_dir else asyncio.subprocess.DEVNULL  # noqa: SIM115
        pod.proc = await asyncio.create_subprocess_exec(
            *argv, stdout=out, stderr=asyncio.subprocess.STDOUT, preexec_fn=preexec, start_new_session=True
        )
        if not isinstance(out, int):
            out.close()
        pod.phase = "Starting"
        pod.tasks = [asyncio.create_task(self._probe_loop(pod)), asyncio.create_task(self._watch(pod, pod.proc))]

    async def _probe_loop(self, pod: Pod) -> None:
        url = f"http://127.0.0.1:{pod.port}/readyz"
        while not pod.terminating and pod.proc is not None and pod.proc.returncode is None:
            try:
                ok = (await self._client.get(url)).status_code == 200
            except httpx.HTTPError:
                ok = False
            if pod.terminating:
                return
            self._record_probe(pod, ok)
            await asyncio.sleep(self.spec.probe_period_s)

    def _record_probe(self, pod: Pod, ok: bool) -> None:
        if ok:
            pod.probe_failures = 0
            if not pod.ready:
                pod.ready, pod.phase = True, "Running"
                pod.ready_s = pod.ready_s if pod.ready_s is not None else self.now_s()
                self.emit("pod_ready", pod=pod.name, node=pod.node, startup_s=round(self.now_s() - pod.created_s, 6))
            return
        pod.probe_failures += 1
        if pod.ready and pod.probe_failures >= self.spec.probe_failure_threshold:
            pod.ready = False
            self.emit("pod_unready", pod=pod.name, node=pod.node, reason="readiness_probe")

    async def _watch(self, pod: Pod, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        if pod.terminating or self._stopping:
            return
        was_ready, pod.ready, pod.proc, pod.phase = pod.ready, False, None, "CrashLoopBackOff"
        if was_ready:
            self.emit("pod_unready", pod=pod.name, node=pod.node, reason="container_exited")
        pod.restarts += 1
        pod.restart_at_s = self.now_s() + self.spec.restart_backoff_s
        self.emit("pod_restarted", pod=pod.name, node=pod.node, exit_code=code, restarts=pod.restarts)

    async def _terminate(self, pod: Pod, grace_s: float, reason: str) -> None:
        pod.terminating, pod.phase = True, "Terminating"
        if pod.ready:
            pod.ready = False
            self.emit("pod_unready", pod=pod.name, node=pod.node, reason=reason)
        asyncio.create_task(self._finish_termination(pod, grace_s, reason))

    async def _finish_termination(self, pod: Pod, grace_s: float, reason: str) -> None:
        for task in pod.tasks:
            task.cancel()
        await _stop_process(pod.proc, grace_s)
        self.pods.pop(pod.name, None)
        self.emit("pod_deleted", pod=pod.name, node=pod.node, reason=reason)

    async def shutdown(self) -> None:
        """Stop every pod (graceful, then SIGKILL); idempotent."""
        self._stopping = True
        for pod in list(self.pods.values()):
            pod.terminating = True
            for task in pod.tasks:
                task.cancel()
        await asyncio.gather(*(_stop_process(p.proc, self.spec.termination_grace_s) for p in self.pods.values()))
        self.pods.clear()
        await self._client.aclose()


async def _stop_process(proc: asyncio.subprocess.Process | None, grace_s: float) -> None:
    if proc is None or proc.returncode is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM if grace_s > 0 else signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), timeout=max(grace_s, 0.001))
    except TimeoutError:
        proc.kill()
        await proc.wait()
    except ProcessLookupError:
        pass
