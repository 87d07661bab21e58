"""Pods of the local platform: their record, their container process, restart back-off, termination.

In: a pod's name, revision, node and port, the container command and environment.  Out: ``Pod``
(the mutable record the supervisor keeps), ``start_container`` (one process per container run,
with KIBENCH_REPLICA, KIBENCH_PORT, KIBENCH_ADMIN_TOKEN and KIBENCH_STATE_DIR in its environment),
``stop_process`` (SIGTERM, grace period, SIGKILL) and ``CrashBackoff`` (the kubelet's restart
back-off: first restart at once, then 10 s, 20 s, 40 s ... capped, reset after 2x the cap).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from typing import Any

from harness.procs import preexec


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (the pod's 'IP:port')."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class CrashBackoff:
    """kubelet's per-container ``flowcontrol.Backoff`` (initial 10 s, max 300 s by default)."""

    initial_s: float
    max_s: float
    backoff_s: float | None = None
    last_update_s: float = 0.0

    def _expired(self, finished_s: float) -> bool:
        return self.backoff_s is None or finished_s - self.last_update_s > 2 * self.max_s

    def restart_at_s(self, finished_s: float) -> float:
        """When a container that exited at ``finished_s`` may start again."""
        return finished_s if self._expired(finished_s) else finished_s + float(self.backoff_s or 0.0)

    def restarted(self, finished_s: float, now_s: float) -> None:
        """Record a restart (upstream's ``Next``): the next crash waits twice as long."""
        if self._expired(finished_s):
            self.backoff_s = self.initial_s
        else:
            self.backoff_s = min(2 * float(self.backoff_s or 0.0), self.max_s)
        self.last_update_s = now_s


@dataclass
class Pod:
    """One replica.  A pod keeps its name, node, port and state dir across container restarts."""

    name: str
    revision: int
    created_s: float
    gpus: int
    backoff: CrashBackoff
    state_dir: str
    node: str | None = None
    port: int | None = None
    scheduled_s: float | None = None
    proc: asyncio.subprocess.Process | None = None
    container_started_s: float | None = None
    finished_s: float | None = None
    exit_code: int | None = None
    phase: str = "Pending"  # Pending | Starting | Running | CrashLoopBackOff | Unknown | Terminating
    ready: bool = False
    ready_s: float | None = None
    ready_transition_s: float | None = None
    terminating: bool = False
    restarts: int = 0
    restart_at_s: float | None = None
    evict_at_s: float | None = None  # its node is NotReady: evicted at this time
    unschedulable_since_s: float | None = None
    kill_reason: str | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @property
    def live(self) -> bool:
        """Counts toward its ReplicaSet (not being deleted)."""
        return not self.terminating

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

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
            "version": self.revision,
            "pid": self.proc.pid if self.running and self.proc is not None else None,
        }


def container_argv(command: tuple[str, ...] | None, pod: Pod, service_json: str, grace_s: float) -> list[str]:
    """The container's argv: the reference service, or ``command`` with {port}/{replica} filled in."""
    if command is not None:
        return [part.format(port=pod.port, replica=pod.name) for part in command]
    return [
        sys.executable, "-m", "harness.service",
        "--port", str(pod.port),
        "--replica", pod.name,
        "--config", service_json,
        "--grace-s", str(grace_s),
    ]  # fmt: skip


async def start_container(argv: list[str], pod: Pod, admin_token: str, log_path: str | None) -> None:
    """Start the pod's container process (its own session; dies with the daemon)."""
    env = {
        **os.environ,
        "KIBENCH_REPLICA": pod.name,
        "KIBENCH_PORT": str(pod.port),
        "KIBENCH_ADMIN_TOKEN": admin_token,
        "KIBENCH_STATE_DIR": pod.state_dir,
    }
    out = open(log_path, "ab") if log_path else asyncio.subprocess.DEVNULL  # noqa: SIM115 (closed below)
    try:
        pod.proc = await asyncio.create_subprocess_exec(
            *argv, stdout=out, stderr=asyncio.subprocess.STDOUT, env=env, preexec_fn=preexec, start_new_session=True
        )
    finally:
        if not isinstance(out, int):
            out.close()


async def stop_process(proc: asyncio.subprocess.Process | None, grace_s: float) -> int | None:
    """SIGTERM, wait up to ``grace_s``, then SIGKILL (``grace_s`` 0: SIGKILL at once); the exit code."""
    if proc is None:
        return None
    if proc.returncode is not None:
        return proc.returncode
    try:
        proc.send_signal(signal.SIGTERM if grace_s > 0 else signal.SIGKILL)
        return await asyncio.wait_for(proc.wait(), timeout=max(grace_s, 0.001))
    except TimeoutError:
        # The process may exit between the timeout and this kill: asyncio then raises ProcessLookupError,
        # which a sibling ``except`` clause would not catch.
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        return await proc.wait()
    except ProcessLookupError:
        return await proc.wait()


def kill_now(proc: asyncio.subprocess.Process | None) -> None:
    """SIGKILL without waiting (a node lost: nothing gets a chance to drain)."""
    if proc is not None and proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
