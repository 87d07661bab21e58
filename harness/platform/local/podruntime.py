"""What the embedded kubelet keeps of each pod besides its object, and the pod status it writes from it.

In: nothing but the kubelet's updates.  Out: ``PodIPs`` (a loopback address per pod, free for its port),
``PodRuntime`` (the process, probes' state, back-off, restarts of one pod), ``terminated`` (a container's
``state.terminated``) and ``write_status`` (``pod.status`` as a kubelet writes it: phase, conditions,
``containerStatuses``).  Used by harness/platform/local/kubelet.py.
"""

from __future__ import annotations

import asyncio
import random
import socket
from dataclasses import dataclass, field
from typing import Any

from harness.platform.local import images
from harness.platform.local.objects import Obj, rfc3339, set_condition
from harness.platform.local.pods import CrashBackoff


class PodIPs:
    """Loopback addresses for pods: ``127.<base>.x.y``, one per pod, free for the container's port."""

    def __init__(self) -> None:
        self.base = random.randint(20, 250)
        self._next = 0

    def node_ip(self, index: int) -> str:
        return f"127.{self.base}.255.{index % 250 + 1}"

    def allocate(self, port: int) -> str:
        for _ in range(60_000):
            n, self._next = self._next, (self._next + 1) % 60_000
            ip = f"127.{self.base}.{n // 250}.{n % 250 + 1}"
            with socket.socket() as sock:
                try:
                    sock.bind((ip, port))
                except OSError:
                    continue
            return ip
        raise RuntimeError("no free loopback address for a pod")


@dataclass
class PodRuntime:
    """What the kubelet knows of one pod besides its object: the process, probes, back-off."""

    uid: str
    namespace: str
    name: str
    node: str
    ip: str
    port: int
    state_dir: str
    backoff: CrashBackoff
    start_time: str = field(default_factory=rfc3339)
    proc: asyncio.subprocess.Process | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    started_at: str | None = None
    ever_started: bool = False
    ready: bool = False
    started: bool = False
    restarts: int = 0
    waiting: tuple[str, str] | None = ("ContainerCreating", "")
    last_terminated: Obj | None = None
    final: Obj | None = None  # the terminated state once the pod is being deleted and its container stopped
    restart_at: float | None = None
    finished_mono: float | None = None
    terminating: bool = False
    kill_reason: str | None = None
    mount_env: dict[str, str] | None = None  # set once the pod's volumes are mounted (``volumes.mount``)
    done_phase: str | None = None  # Succeeded / Failed once a container that is not restarted has ended


def terminated(code: int | None, started_at: str | None) -> Obj:
    """A container's ``state.terminated``; a signal's exit code is 128 + the signal, as a runtime reports it."""
    return {
        "exitCode": 0 if code is None else (128 - code if code < 0 else code),
        "reason": "Completed" if code == 0 else "Error",
        "startedAt": started_at,
        "finishedAt": rfc3339(),
    }


def write_status(rt: PodRuntime, pod: Obj, host_ip: str) -> None:
    """Write ``rt``'s state into ``pod.status`` as a kubelet does: phase, startTime, hostIP, podIP(s), the
    Initialized / ContainersReady / Ready conditions and the first container's status."""
    container = pod["spec"]["containers"][0]
    status = pod.setdefault("status", {})
    status["phase"] = rt.done_phase or ("Running" if rt.ever_started else "Pending")
    status["startTime"] = rt.start_time
    status["hostIP"] = host_ip
    status["podIP"], status["podIPs"] = rt.ip, [{"ip": rt.ip}]
    status.setdefault("qosClass", "Burstable")
    set_condition(status, "Initialized", True)
    set_condition(status, "ContainersReady", rt.ready)
    set_condition(status, "Ready", rt.ready)
    if rt.final is not None:
        state: Obj = {"terminated": dict(rt.final)}
    elif rt.proc is not None and rt.started_at:
        state = {"running": {"startedAt": rt.started_at}}
    elif rt.waiting is not None:
        state = {"waiting": {"reason": rt.waiting[0], "message": rt.waiting[1]}}
    else:
        state = {"terminated": dict(rt.last_terminated or {})}
    status["containerStatuses"] = [
        {
            "name": container["name"],
            "image": container.get("image", ""),
            "imageID": f"kibench-local://{images.image_name(str(container.get('image', '')))}",
            "containerID": f"kibench://{rt.proc.pid}" if rt.proc is not None else "",
            "ready": rt.ready,
            "started": rt.started,
            "restartCount": rt.restarts,
            "state": state,
            "lastState": {"terminated": rt.last_terminated} if rt.last_terminated else {},
        }
    ]
