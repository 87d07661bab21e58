"""The local platform's control plane: Deployment, ReplicaSets, scheduler and kubelet in one loop.

In: a ``DaemonSpec`` and commands (scale, kill pod, rollout; node faults live in ``nodeops``).
Out: replica processes of the reference service on loopback ports, ``snapshot()`` (GET /state)
and an ordered event list (GET /events).

Every ``TICK_S`` the loop: brings failed nodes back and evicts pods of NotReady nodes
(``nodeops``), steps the Deployment (``rollout.rolling_step``: ReplicaSet sizes), creates or deletes
pods so every ReplicaSet has its size (deleting unscheduled, then not-Ready, then newest pods
first, as upstream ranks them), binds Pending pods to nodes (``nodes.pick_node``) and restarts
containers whose back-off is over.  Each container gets a readiness probe (gates the balancer)
and a liveness probe (kills the container after ``failure_threshold`` failures); a container
that exits is restarted with the kubelet's back-off; a deleted pod gets SIGTERM, its grace period,
then SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

import httpx

from harness.platform.local import nodeops
from harness.platform.local.nodes import Node, gpu_used, pick_node
from harness.platform.local.pods import CrashBackoff, Pod, container_argv, free_port, start_container, stop_process
from harness.platform.local.probes import ProbeCounter, run_probe, run_startup_probe
from harness.platform.local.rollout import fenceposts, rolling_step, rollout_complete
from harness.platform.local.spec import DaemonSpec, merged_service

log = logging.getLogger("kibench.local")
TICK_S = 0.1


class Supervisor:
    """Keeps ``desired`` replicas of the current revision on the nodes and knows which are Ready."""

    def __init__(self, spec: DaemonSpec, log_dir: str | None = None) -> None:
        if spec.t0_monotonic <= 0:  # standalone daemon: its own start is t = 0
            spec = dataclasses.replace(spec, t0_monotonic=time.monotonic())
        self.spec = spec
        self.cfg = spec.settings()
        self.log_dir = log_dir
        if log_dir:
            os.makedirs(log_dir, exist_ok=True)
        self.desired = spec.replicas
        self.pods: dict[str, Pod] = {}
        self.nodes: dict[str, Node] = {}
        self.events: list[dict[str, Any]] = []
        self.admin_token = secrets.token_urlsafe(24)
        self.revision = 1
        self.services: dict[int, dict[str, Any]] = {1: dict(spec.service)}
        self.replica_sets: dict[int, int] = {1: 0}
        self.rolling = False
        self.hpa_status: dict[str, Any] = {"enabled": self.cfg.hpa.enabled}
        self.drains: dict[str, asyncio.Task[None]] = {}
        self.state_root = tempfile.mkdtemp(prefix="kibench-pods-")
        self._hashes = {1: secrets.token_hex(3)}
        self._pod_ids = 0
        self._node_ids = 0
        self._client = httpx.AsyncClient()
        self._stopping = False
        self._background: set[asyncio.Task[Any]] = set()
        for _ in range(self.cfg.nodes.count):
            self.add_node()

    # ---- basics ---------------------------------------------------------------------------
    def now_s(self) -> float:
        return time.monotonic() - self.spec.t0_monotonic

    def emit(self, kind: str, **attrs: Any) -> None:
        self.events.append({"t_s": round(self.now_s(), 6), "kind": kind, **attrs})

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """A background task the supervisor keeps a reference to (and cancels at shutdown)."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def ready_pods(self) -> list[Pod]:
        return [p for p in self.pods.values() if p.ready and not p.terminating]

    def gpu_used(self) -> dict[str, int]:
        return gpu_used(self.nodes.values(), ((p.node, p.gpus) for p in self.pods.values()))

    def add_node(self, provisioned: bool = False) -> Node:
        name = f"local-node-{self._node_ids}"
        self._node_ids += 1
        node = Node(name, self.cfg.nodes.gpu_slots, self.now_s(), provisioned=provisioned)
        self.nodes[name] = node
        self.emit("node_added", node=name, gpu_slots=node.gpu_slots, provisioned=provisioned)
        return node

    def snapshot(self) -> dict[str, Any]:
        used = self.gpu_used()
        return {
            "t_s": round(self.now_s(), 6),
            "deployment": self.spec.deployment,
            "desired_replicas": self.desired,
            "revision": self.revision,
            "rolling_update": self.rolling,
            "replicas": [p.to_json() for p in self.pods.values()],
            "nodes": [n.to_json(used.get(n.name, 0)) for n in self.nodes.values()],
            "admin_token": self.admin_token,
            "hpa": self.hpa_status,
        }

    # ---- commands -------------------------------------------------------------------------
    def scale(self, replicas: int, reason: str = "api", **attrs: Any) -> None:
        if replicas != self.desired:
            self.emit("scale", **{"from": self.desired, "to": replicas, "reason": reason, **attrs})
        self.desired = replicas

    async def kill_pod(self, name: str, grace_period_s: float | None = None, reason: str = "killed") -> bool:
        pod = self.pods.get(name)
        if pod is None or pod.terminating:
            return False
        self.terminate(pod, self.cfg.pod.termination_grace_period if grace_period_s is None else grace_period_s, reason)
        return True

    def rollout(self, patch: dict[str, Any]) -> int:
        """Start a rolling update to the service section ``patch`` merges into; the new revision."""
        service = merged_service(self.services[self.revision], patch)
        self.revision += 1
        self.services[self.revision] = service
        self._hashes[self.revision] = secrets.token_hex(3)
        self.replica_sets.setdefault(self.revision, 0)
        self.rolling = True
        self.emit("rollout_started", revision=self.revision, changes=patch, replicas=self.desired)
        return self.revision

    # ---- control loop ---------------------------------------------------------------------
    async def run(self) -> None:
        """Reconcile until stopped."""
        while not self._stopping:
            try:
                await self.tick()
            except Exception:  # a bug must not stop the control loop; it is logged with its traceback
                log.exception("reconcile failed")
            await asyncio.sleep(TICK_S)

    async def tick(self) -> None:
        nodeops.recover_nodes(self)
        nodeops.evict_lost_pods(self)
        self._step_deployment()
        self._reconcile_replica_sets()
        await self._schedule()
        await self._restart_due()

    def _available(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for pod in self.pods.values():
            if pod.ready and pod.live:
                out[pod.revision] = out.get(pod.revision, 0) + 1
        return out

    def _step_deployment(self) -> None:
        ro = self.cfg.rollout
        surge, unavailable = fenceposts(ro.max_surge, ro.max_unavailable, self.desired)
        available = self._available()
        self.replica_sets = rolling_step(self.desired, self.revision, self.replica_sets, available, surge, unavailable)
        done = rollout_complete(self.desired, self.revision, self.replica_sets, available)
        if self.rolling and done and all(p.revision == self.revision for p in self.pods.values()):
            self.rolling = False
            self.emit("rollout_finished", revision=self.revision, replicas=self.desired)

    def _reconcile_replica_sets(self) -> None:
        for rev, size in list(self.replica_sets.items()):
            live = [p for p in self.pods.values() if p.revision == rev and p.live]
            for _ in range(size - len(live)):
                self._create_pod(rev)
            if len(live) > size:
                for pod in sorted(live, key=_deletion_rank)[: len(live) - size]:
                    self.terminate(pod, self.cfg.pod.termination_grace_period, "scale_down")
            if size == 0 and not live and rev != self.revision:
                del self.replica_sets[rev]

    def _create_pod(self, rev: int) -> None:
        name = f"{self.spec.deployment}-{self._hashes[rev]}-{self._pod_ids}"
        self._pod_ids += 1
        pc = self.cfg.pod
        state_dir = os.path.join(self.state_root, name)
        os.makedirs(state_dir, exist_ok=True)
        pod = Pod(
            name,
            rev,
            self.now_s(),
            pc.gpus,
            CrashBackoff(pc.restart_backoff_initial, pc.restart_backoff_max),
            state_dir,
        )
        self.pods[name] = pod
        self.emit("pod_created", pod=name, revision=rev)

    async def _schedule(self) -> None:
        used = self.gpu_used()
        for pod in sorted(self.pods.values(), key=lambda p: p.created_s):
            if pod.node is not None or pod.terminating:
                continue
            node = pick_node(pod.gpus, self.nodes.values(), used)
            if node is None:
                if pod.unschedulable_since_s is None:
                    pod.unschedulable_since_s = self.now_s()
                    self.emit("pod_unschedulable", pod=pod.name, gpus=pod.gpus, reason="no node with a free GPU slot")
                continue
            pod.node, pod.port, pod.scheduled_s = node.name, free_port(), self.now_s()
            used[node.name] = used.get(node.name, 0) + pod.gpus
            self.emit("pod_scheduled", pod=pod.name, node=node.name)
            await self.start(pod)

    async def _restart_due(self) -> None:
        now = self.now_s()
        for pod in list(self.pods.values()):
            due = pod.restart_at_s is not None and now >= pod.restart_at_s
            if due and pod.proc is None and pod.live and pod.node in self.nodes and self.nodes[pod.node].ready:
                waited = now - (pod.finished_s or now)
                pod.backoff.restarted(pod.finished_s or now, now)
                pod.restart_at_s = None
                pod.restarts += 1
                self.emit(
                    "pod_restarted", pod=pod.name, node=pod.node, restarts=pod.restarts, backoff_s=round(waited, 3)
                )
                await self.start(pod)

    # ---- containers -----------------------------------------------------------------------
    async def start(self, pod: Pod) -> None:
        """Start the pod's container with its probes and exit watch."""
        service = json.dumps(self.services[pod.revision])
        argv = container_argv(self.spec.command, pod, service, self.cfg.pod.termination_grace_period)
        log_path = os.path.join(self.log_dir, f"{pod.name}.log") if self.log_dir else None
        try:
            await start_container(argv, pod, self.admin_token, log_path)
        except OSError as exc:  # like a container that cannot start: back off and retry
            now = self.now_s()
            pod.proc, pod.finished_s, pod.phase = None, now, "CrashLoopBackOff"
            pod.restart_at_s = pod.backoff.restart_at_s(now)
            self.emit("container_exited", pod=pod.name, node=pod.node, exit_code=None, reason=f"start failed: {exc}")
            return
        proc = pod.proc
        pod.phase, pod.container_started_s, pod.finished_s = "Starting", self.now_s(), None
        pod.tasks = [asyncio.create_task(self._watch(pod, proc))]

        def alive() -> bool:
            return pod.proc is proc and proc is not None and proc.returncode is None and not pod.terminating

        pod.tasks.append(asyncio.create_task(self._probe(pod, proc, alive)))

    async def _probe(self, pod: Pod, proc: asyncio.subprocess.Process | None, alive: Callable[[], bool]) -> None:
        """Startup probe (if enabled), then readiness and liveness side by side."""
        probes, base = self.cfg.probes, f"http://127.0.0.1:{pod.port}"
        if probes.startup.enabled and not await run_startup_probe(
            self._client, f"{base}/healthz", probes.startup, alive
        ):
            if alive():
                self._liveness_failed(pod, proc, "startup_probe")
            return
        loops = []
        if probes.readiness.enabled:
            counter = ProbeCounter.readiness(probes.readiness)
            on_ready = functools.partial(self._set_ready, pod, reason="readiness_probe")
            loops.append(run_probe(self._client, f"{base}/readyz", probes.readiness, counter, on_ready, alive))
        else:
            self._set_ready(pod, True, "no_probe")
        if probes.liveness.enabled:
            counter = ProbeCounter.liveness(probes.liveness)

            def on_live(ok: bool) -> None:
                if not ok:
                    self._liveness_failed(pod, proc, "liveness_probe")

            loops.append(run_probe(self._client, f"{base}/healthz", probes.liveness, counter, on_live, alive))
        await asyncio.gather(*loops)

    def _set_ready(self, pod: Pod, ready: bool, reason: str) -> None:
        if pod.terminating or ready == pod.ready:
            return
        now = self.now_s()
        pod.ready, pod.ready_transition_s = ready, now
        if ready:
            pod.phase = "Running"
            pod.ready_s = pod.ready_s if pod.ready_s is not None else now
            self.emit("pod_ready", pod=pod.name, node=pod.node, startup_s=round(now - pod.created_s, 6))
        else:
            self.emit("pod_unready", pod=pod.name, node=pod.node, reason=reason)

    def _liveness_failed(self, pod: Pod, proc: asyncio.subprocess.Process | None, probe: str) -> None:
        """The kubelet kills a container whose liveness (or startup) probe failed; it is restarted."""
        if pod.proc is not proc or pod.terminating:
            return
        self.emit("pod_liveness_failed", pod=pod.name, node=pod.node, probe=probe)
        pod.kill_reason = probe
        self.spawn(stop_process(proc, self.cfg.pod.termination_grace_period))

    async def _watch(self, pod: Pod, proc: asyncio.subprocess.Process | None) -> None:
        if proc is None:
            return
        code = await proc.wait()
        if pod.terminating or self._stopping or pod.proc is not proc or pod.evict_at_s is not None:
            return
        now = self.now_s()
        reason, pod.kill_reason = pod.kill_reason or "exited", None
        self._set_ready(pod, False, "container_" + reason)
        for task in pod.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        pod.proc, pod.finished_s, pod.exit_code = None, now, code
        pod.restart_at_s = pod.backoff.restart_at_s(now)
        pod.phase = "CrashLoopBackOff" if pod.restart_at_s > now else "Starting"
        self.emit(
            "container_exited", pod=pod.name, node=pod.node, exit_code=code, reason=reason,
            restart_in_s=round(pod.restart_at_s - now, 3),
        )  # fmt: skip

    def terminate(self, pod: Pod, grace_s: float, reason: str) -> None:
        """Delete a pod: out of the balancer at once, SIGTERM, grace, SIGKILL, then gone."""
        if pod.terminating:
            return
        self._set_ready(pod, False, reason)
        pod.terminating, pod.phase = True, "Terminating"
        self.emit("pod_terminating", pod=pod.name, node=pod.node, reason=reason, grace_period_s=grace_s)
        self.spawn(self._finish_termination(pod, grace_s, reason))

    async def _finish_termination(self, pod: Pod, grace_s: float, reason: str) -> None:
        for task in pod.tasks:
            task.cancel()
        code = None
        try:
            code = await stop_process(pod.proc, grace_s)
        finally:  # whatever happened to the process, the pod is gone (never stuck in Terminating)
            self.pods.pop(pod.name, None)
            shutil.rmtree(pod.state_dir, ignore_errors=True)
            self.emit("pod_deleted", pod=pod.name, node=pod.node, reason=reason, exit_code=code)

    async def shutdown(self) -> None:
        """Stop every pod (graceful, then SIGKILL); idempotent."""
        self._stopping = True
        for task in [*self._background, *self.drains.values()]:
            task.cancel()
        for pod in self.pods.values():
            pod.terminating = True
            for task in pod.tasks:
                task.cancel()
        grace = self.cfg.pod.termination_grace_period
        await asyncio.gather(*(stop_process(p.proc, grace) for p in self.pods.values()))
        self.pods.clear()
        shutil.rmtree(self.state_root, ignore_errors=True)
        with contextlib.suppress(Exception):
            await self._client.aclose()


def _deletion_rank(pod: Pod) -> tuple[Any, ...]:
    """Upstream's ActivePods order: unscheduled, then node lost, then not Ready, then newest first."""
    return (
        pod.node is not None,
        pod.phase != "Unknown",
        pod.ready,
        -(pod.ready_transition_s or 0.0) if pod.ready else 0.0,
        -pod.restarts,
        -pod.created_s,
    )
