"""The embedded cluster's kubelet: runs the pods bound to its nodes as local processes and writes their status.

In: Pod objects in the API store (``spec.nodeName`` set by the scheduler), the cluster's settings
(restart back-off) and which nodes are down.  Out: one process per pod (its first container, on its
own loopback IP ``127.x.y.z`` and the container's port), status written as a kubelet writes it
(phase, ``startTime``, conditions Initialized / ContainersReady / Ready with ``lastTransitionTime``,
``containerStatuses`` with state, lastState and ``restartCount``, ``podIP``), Events (Pulled, Created,
Started, Unhealthy, Killing, BackOff, Failed), and two-step deletion: a pod with ``deletionTimestamp``
gets SIGTERM, its grace period, SIGKILL, then is removed from the store.

Probes come from the pod spec (httpGet on the pod IP); the exact, possibly sub-second, timings from
the template annotation ``kibench.io/timing`` when present (see ``harness.platform.kubernetes.manifests``).
An image the runtime does not know leaves the container waiting in ``ErrImagePull`` (``images``).  Each
container gets the service links of its namespace's Services (``servicelinks``) unless ``enableServiceLinks``
is false.  What it keeps per pod, and the status it writes from that, are in ``podruntime``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from harness.platform.local import images, servicelinks, volumes
from harness.platform.local.objects import (
    PODS,
    SECRETS,
    SERVICES,
    Obj,
    gpu_request,
    gpu_resource,
    rfc3339,
)
from harness.platform.local.podruntime import PodRuntime, terminated, write_status
from harness.platform.local.pods import CrashBackoff, kill_now, spawn, stop_process
from harness.platform.local.podspec import grace_s, port_of, probe_spec, timing
from harness.platform.local.probes import TIMEOUT_TEXT, ProbeCounter, run_probe, run_startup_probe
from harness.platform.local.selfcheck import HOST_SATURATED

if TYPE_CHECKING:
    from harness.platform.local.cluster import Cluster


class Kubelet:
    """The kubelets of every node, in one object (nodes differ only in which pods they run)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.cfg = cluster.cfg
        self.runtimes: dict[str, PodRuntime] = {}
        self.down_nodes: set[str] = set()
        self.ips = cluster.ips
        self._client = httpx.AsyncClient()
        self._stopping = False

    # ---- reconcile ----------------------------------------------------------------------
    async def sync(self) -> None:
        seen: set[str] = set()
        for pod in self.store.list(PODS, copy=False)[0]:
            node = pod["spec"].get("nodeName")
            uid = pod["metadata"]["uid"]
            seen.add(uid)
            if not node or node in self.down_nodes or self._stopping:
                continue
            rt = self.runtimes.get(uid)
            if pod["metadata"].get("deletionTimestamp"):
                if rt is None:
                    self.store.remove(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])
                elif not rt.terminating:
                    self.terminate(rt, pod)
                continue
            if rt is None:
                rt = self._admit(pod, node)
                await self._start(rt, pod)
            elif rt.proc is None and rt.restart_at is not None and time.monotonic() >= rt.restart_at:
                rt.restart_at = None
                rt.restarts += 1
                rt.backoff.restarted(rt.finished_mono or time.monotonic(), time.monotonic())
                await self._start(rt, pod)
        for uid in [u for u in self.runtimes if u not in seen]:  # removed from the API: stop at once
            rt = self.runtimes.pop(uid)
            self.cluster.devices.release(uid)
            self._cancel(rt)
            kill_now(rt.proc)
            shutil.rmtree(rt.state_dir, ignore_errors=True)

    def _admit(self, pod: Obj, node: str) -> PodRuntime:
        container = pod["spec"]["containers"][0]
        port = next((int(p["containerPort"]) for p in container.get("ports") or []), 8000)
        meta = pod["metadata"]
        state_dir = os.path.join(self.cluster.state_root, f"{meta['namespace']}_{meta['name']}")
        os.makedirs(state_dir, exist_ok=True)
        backoff = CrashBackoff(self.cfg.pod.restart_backoff_initial, self.cfg.pod.restart_backoff_max)
        rt = PodRuntime(
            meta["uid"], meta["namespace"], meta["name"], node, self.ips.allocate(port), port, state_dir, backoff
        )
        self.runtimes[rt.uid] = rt
        self._write(rt)
        return rt

    # ---- containers ---------------------------------------------------------------------
    async def _start(self, rt: PodRuntime, pod: Obj) -> None:
        container = pod["spec"]["containers"][0]
        argv = images.argv_for(container)
        if argv is None:
            image = container.get("image")
            if rt.waiting is None or rt.waiting[0] != "ErrImagePull":
                message = (
                    f'Failed to pull image "{image}": the embedded runtime runs only '
                    f"{', '.join(sorted(images.ENTRYPOINTS))} (any registry and tag)"
                )
                rt.waiting = ("ErrImagePull", message)
                self.cluster.recorder.record(pod, "Failed", message, "Warning", host=rt.node)
                self._write(rt)
            rt.restart_at = time.monotonic() + 5.0  # try again later, as a kubelet retries pulls
            return
        if rt.mount_env is None and not self._mount(rt, pod):
            return
        extra = {
            **(rt.mount_env or {}),
            "KIBENCH_HOST": rt.ip,
            "KIBENCH_PORT": str(rt.port),
            "KIBENCH_REPLICA": rt.name,
            "HOSTNAME": rt.name,
            "KIBENCH_STATE_DIR": rt.state_dir,
        }
        if pod["spec"].get("enableServiceLinks", True):
            extra.update(await self._service_links(rt.namespace))
        devices = self.cluster.devices.assign(rt.node, rt.uid, gpu_resource(pod), gpu_request(pod))
        if devices:  # as the device plugin: the devices' ids, and what kibench's emulated device needs to know
            extra["NVIDIA_VISIBLE_DEVICES"] = ",".join(d.uuid for d in devices)
            extra["KIBENCH_GPU"] = devices[0].to_env()
        env = images.environment(container, pod, rt.ip, extra, self._secret)
        log_path = self.cluster.log_path(rt.namespace, rt.name)
        try:
            rt.proc = await spawn(argv, env, log_path)
        except OSError as exc:
            rt.waiting = ("RunContainerError", str(exc))
            self._exited(rt, None, f"start failed: {exc}")
            return
        record = self.cluster.recorder.record
        if not rt.ever_started:
            record(
                pod, "Pulled", f'Container image "{container.get("image")}" already present on machine', host=rt.node
            )
        record(pod, "Created", f"Created container {container['name']}", host=rt.node)
        record(pod, "Started", f"Started container {container['name']}", host=rt.node)
        rt.started_at, rt.waiting, rt.ever_started, rt.started = rfc3339(), None, True, False
        self._write(rt)
        proc = rt.proc
        rt.tasks = [asyncio.create_task(self._watch(rt, proc)), asyncio.create_task(self._probe(rt, pod, proc))]

    async def _service_links(self, namespace: str) -> dict[str, str]:
        """``<NAME>_SERVICE_HOST``/``_PORT`` of the namespace's Services (``servicelinks``), each with its address."""
        services = [s for s in self.store.list(SERVICES, copy=False)[0] if s["metadata"]["namespace"] == namespace]
        if servicelinks.unpublished(services):  # created since the balancers' last pass: give it its address now
            await self.cluster.balancers.sync()
            services = [s for s in self.store.list(SERVICES, copy=False)[0] if s["metadata"]["namespace"] == namespace]
        return servicelinks.environment(services)

    def _secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._read(SECRETS, namespace, name)

    def _read(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return dict(self.store.get(resource, namespace, name))
        except Exception:  # noqa: BLE001 (no such object)
            return None

    def _mount(self, rt: PodRuntime, pod: Obj) -> bool:
        """Mount the pod's volumes and its service account's token; on a missing source wait and try again."""
        try:
            rt.mount_env = volumes.mount(
                pod,
                os.path.join(rt.state_dir, "root"),
                lambda ns, n: self._read("configmaps", ns, n),
                self._secret,
                lambda ns, n: self._read("serviceaccounts", ns, n),
                self.cluster.token_for,
                self.cluster.api_address,
            )
            return True
        except (volumes.MountError, OSError) as exc:
            if rt.waiting is None or rt.waiting[0] != "CreateContainerConfigError":
                rt.waiting = ("CreateContainerConfigError", str(exc))
                self.cluster.recorder.record(pod, "Failed", f"Error: {exc}", "Warning", host=rt.node)
                self._write(rt)
            rt.restart_at = time.monotonic() + 1.0  # as a kubelet, try again on a later sync
            return False

    async def _probe(self, rt: PodRuntime, pod: Obj, proc: asyncio.subprocess.Process) -> None:
        container, exact = pod["spec"]["containers"][0], timing(pod)

        def alive() -> bool:
            return rt.proc is proc and proc.returncode is None and not rt.terminating

        def url(kind: str) -> str:
            get = (container.get(f"{kind}Probe") or {}).get("httpGet") or {}
            return f"http://{rt.ip}:{port_of(container, get.get('port', rt.port))}{get.get('path', '/')}"

        startup = probe_spec(container, "startup", exact)
        if startup is not None:
            started, why = await run_startup_probe(self._client, url("startup"), startup, alive)
            if not started:
                if alive():
                    self._probe_failed(rt, pod, proc, "Startup", why)
                return
        rt.started = True
        self._write(rt)
        loops = []
        readiness = probe_spec(container, "readiness", exact)
        if readiness is not None:
            counter = ProbeCounter.readiness(readiness)
            loops.append(run_probe(self._client, url("readiness"), readiness, counter, self._on_ready(rt, pod), alive))
        else:
            self._set_ready(rt, pod, True)
        liveness = probe_spec(container, "liveness", exact)
        if liveness is not None:

            def on_live(ok: bool, why: str | None) -> None:
                if not ok:
                    self._probe_failed(rt, pod, proc, "Liveness", why)

            loops.append(
                run_probe(self._client, url("liveness"), liveness, ProbeCounter.liveness(liveness), on_live, alive)
            )
        await asyncio.gather(*loops)

    def _unhealthy(self, rt: PodRuntime, pod: Obj, probe: str, why: str | None) -> None:
        """The ``Unhealthy`` Event of a failed probe; a timeout while the host was saturated says so."""
        message = f"{probe} probe failed" + (f": {why}" if why else "")
        if why and TIMEOUT_TEXT in why:
            busy = self.cluster.selfcheck.saturated_now()
            if busy:
                message += f" ({HOST_SATURATED}: {busy})"
        self.cluster.recorder.record(pod, "Unhealthy", message, "Warning", host=rt.node)

    def _on_ready(self, rt: PodRuntime, pod: Obj) -> Callable[[bool, str | None], None]:
        def on_change(ok: bool, why: str | None) -> None:
            if not ok:
                self._unhealthy(rt, pod, "Readiness", why)
            self._set_ready(rt, pod, ok)

        return on_change

    def _set_ready(self, rt: PodRuntime, pod: Obj, ready: bool) -> None:
        if rt.terminating or rt.ready == ready:
            return
        rt.ready = ready
        self._write(rt)

    def _probe_failed(
        self, rt: PodRuntime, pod: Obj, proc: asyncio.subprocess.Process, probe: str, why: str | None
    ) -> None:
        """A failed liveness (or startup) probe: the kubelet kills the container, which is restarted."""
        if rt.proc is not proc or rt.terminating:
            return
        name = pod["spec"]["containers"][0]["name"]
        record = self.cluster.recorder.record
        self._unhealthy(rt, pod, probe, why)
        record(pod, "Killing", f"Container {name} failed {probe.lower()} probe, will be restarted", host=rt.node)
        rt.kill_reason = f"{probe.lower()}_probe"
        self.cluster.spawn(stop_process(proc, grace_s(pod)))

    async def _watch(self, rt: PodRuntime, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        if rt.terminating or self._stopping or rt.proc is not proc or rt.node in self.down_nodes:
            return
        self._exited(rt, code, rt.kill_reason or "exited")

    def _exited(self, rt: PodRuntime, code: int | None, reason: str) -> None:
        for task in rt.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        now = time.monotonic()
        rt.last_terminated = {**terminated(code, rt.started_at), "message": reason}
        rt.proc, rt.ready, rt.started, rt.kill_reason, rt.finished_mono = None, False, False, None, now
        pod = self._pod(rt)
        policy = (pod or {}).get("spec", {}).get("restartPolicy", "Always")
        if policy == "Never" or (policy == "OnFailure" and code == 0):  # the pod is finished: no restart
            rt.done_phase = "Succeeded" if code == 0 else "Failed"
            rt.final, rt.restart_at, rt.waiting = rt.last_terminated, None, None
            self._write(rt)
            return
        delay = rt.backoff.restart_at_s(now) - now
        rt.restart_at = now + delay
        if delay > 0:
            rt.waiting = ("CrashLoopBackOff", f"back-off {delay:g}s restarting failed container")
            if pod is not None:
                message = (
                    f"Back-off restarting failed container {pod['spec']['containers'][0]['name']} in pod {rt.name}"
                )
                self.cluster.recorder.record(pod, "BackOff", message, "Warning", host=rt.node)
        else:
            rt.waiting = ("ContainerCreating", "")
        self._write(rt)

    # ---- deletion, node loss ------------------------------------------------------------
    def terminate(self, rt: PodRuntime, pod: Obj) -> None:
        """Two-step deletion: out of the endpoints (not Ready), SIGTERM, grace, SIGKILL, then removed."""
        rt.terminating = True
        self._cancel(rt)
        rt.ready = False
        self._write(rt)
        name = pod["spec"]["containers"][0]["name"]
        self.cluster.recorder.record(pod, "Killing", f"Stopping container {name}", host=rt.node)
        self.cluster.spawn(self._finish(rt, grace_s(pod)))

    async def _finish(self, rt: PodRuntime, grace: float) -> None:
        try:
            started, code = rt.started_at, await stop_process(rt.proc, grace)
            if code is not None:  # as a kubelet does, the container's end is in the status before the pod goes
                rt.final = terminated(code, started)
                rt.proc = None
                pod = self._pod(rt)
                if (pod or {}).get("spec", {}).get("restartPolicy") in ("Never", "OnFailure"):
                    rt.done_phase = rt.done_phase or ("Succeeded" if code == 0 else "Failed")
                self._write(rt)
        finally:  # whatever happened to the process, the pod is gone (never stuck in Terminating)
            self.runtimes.pop(rt.uid, None)
            self.cluster.devices.release(rt.uid)
            shutil.rmtree(rt.state_dir, ignore_errors=True)
            self.store.remove(PODS, rt.namespace, rt.name)

    def node_down(self, node: str) -> None:
        """The node is lost: every container on it dies at once and nothing reports for it."""
        self.down_nodes.add(node)
        for rt in self.runtimes.values():
            if rt.node == node:
                self._cancel(rt)
                kill_now(rt.proc)
                rt.proc, rt.ready, rt.restart_at = None, False, None

    def node_up(self, node: str) -> None:
        """The node is back: its pods' containers start again (deleted ones are removed on the next sync)."""
        self.down_nodes.discard(node)
        for rt in list(self.runtimes.values()):
            if rt.node != node:
                continue
            pod = self._pod(rt)
            if pod is not None and pod["metadata"].get("deletionTimestamp"):
                self.runtimes.pop(rt.uid)
                self.cluster.devices.release(rt.uid)
                self.store.remove(PODS, rt.namespace, rt.name)
            else:
                rt.finished_mono, rt.restart_at, rt.started_at = time.monotonic(), time.monotonic(), None
                rt.waiting = ("ContainerCreating", "")

    def _cancel(self, rt: PodRuntime) -> None:
        for task in rt.tasks:
            task.cancel()
        rt.tasks = []

    def _pod(self, rt: PodRuntime) -> Obj | None:
        try:
            return dict(self.store.get(PODS, rt.namespace, rt.name))
        except Exception:  # noqa: BLE001 (gone)
            return None

    # ---- status -------------------------------------------------------------------------
    def _write(self, rt: PodRuntime) -> None:
        def fn(pod: Obj) -> None:
            if pod["metadata"].get("uid") == rt.uid:
                write_status(rt, pod, self.cluster.node_ip(rt.node))

        with contextlib.suppress(Exception):
            self.store.mutate(PODS, rt.namespace, rt.name, fn)

    def pid(self, namespace: str, name: str) -> int | None:
        for rt in self.runtimes.values():
            if rt.namespace == namespace and rt.name == name and rt.proc is not None and rt.proc.returncode is None:
                return rt.proc.pid
        return None

    async def shutdown(self) -> None:
        self._stopping = True
        for rt in self.runtimes.values():
            rt.terminating = True
            self._cancel(rt)
        grace = self.cfg.pod.termination_grace_period
        await asyncio.gather(*(stop_process(rt.proc, min(grace, 5.0)) for rt in self.runtimes.values()))
        for rt in self.runtimes.values():
            shutil.rmtree(rt.state_dir, ignore_errors=True)
        self.runtimes.clear()
        with contextlib.suppress(Exception):
            await self._client.aclose()
