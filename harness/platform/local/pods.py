"""Container processes of the embedded kubelet: start, stop, restart back-off.

In: a container's argv and environment.  Out: ``spawn`` (one process per container run, in its own
session, dying with the daemon), ``stop_process`` (SIGTERM, grace period, SIGKILL), ``kill_now`` and
``CrashBackoff`` (the kubelet's restart back-off: first restart at once, then 10 s, 20 s, 40 s ...
capped, reset after 2x the cap).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass

from harness.procs import preexec, record_process


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


async def spawn(argv: list[str], env: dict[str, str], log_path: str | None) -> asyncio.subprocess.Process:
    """Start a container's process in its own session (it dies with the daemon); output to ``log_path``, and
    the process recorded in the run's ``processes.jsonl`` next to it."""
    out = open(log_path, "ab") if log_path else asyncio.subprocess.DEVNULL  # noqa: SIM115 (closed below)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=out, stderr=asyncio.subprocess.STDOUT, env=env, preexec_fn=preexec, start_new_session=True
        )
    finally:
        if not isinstance(out, int):
            out.close()
    if log_path:
        record_process(os.path.dirname(log_path), proc.pid, "pod")
    return proc


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
