"""Child-process helpers shared by every stage that starts processes: die with the parent, stop for sure.

In: argv lists and Popen objects.  Out: started processes that get SIGTERM when their parent dies
(Linux ``PR_SET_PDEATHSIG``) and run in their own session, so a terminal's Ctrl-C reaches only the
orchestrator, which then stops them in order.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: the child's own parent watch still applies
        pass


def preexec() -> None:
    """preexec_fn for children that must not outlive their parent."""
    _die_with_parent()


def python_argv(module: str, *args: str) -> list[str]:
    """argv running ``python -m module args`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str], grace_s: float = 5.0) -> int | None:
    """SIGTERM, wait up to ``grace_s``, then SIGKILL; returns the exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
    try:
        return proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return None


def parent_alive(original_ppid: int) -> bool:
    """False once this process has been re-parented (its parent died)."""
    return os.getppid() == original_ppid


def wait_for(predicate: object, timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll ``predicate()`` until true or timeout; returns the last result."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(interval_s)
    return bool(predicate())  # type: ignore[operator]
