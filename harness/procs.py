"""Process helpers shared by every stage: children that die with the parent, stop for sure, wait, ports.

In: argv lists, Popen objects, predicates.  Out: started processes that get SIGTERM when their parent dies
(Linux ``PR_SET_PDEATHSIG``) and run in their own session, so a terminal's Ctrl-C reaches only the
orchestrator, which then stops them in order; ``poll_until``, the one polling loop (with a deadline on
the monotonic clock); ``free_port``, a loopback TCP port free right now.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

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


def poll_until(
    predicate: Callable[[], T],
    timeout_s: float,
    interval_s: float = 0.05,
    *,
    sleep: Callable[[float], object] | None = None,
    give_up: Callable[[], bool] | None = None,
) -> T:
    """Call ``predicate()`` every ``interval_s`` until it returns something truthy, ``timeout_s`` has passed
    or ``give_up()`` is true; returns its last result (falsy when it never held).

    It is called at least once, and once more at the deadline.  ``sleep`` defaults to ``time.sleep``
    looked up at each call (so gevent's patched one in the load process); pass ``gevent.sleep`` or an
    interruptible sleep explicitly where that matters."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        remaining = deadline - time.monotonic()
        if result or remaining <= 0 or (give_up is not None and give_up()):
            return result
        (sleep or time.sleep)(min(interval_s, remaining))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (whoever binds it next may lose a race: bind it soon)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
