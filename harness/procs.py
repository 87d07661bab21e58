"""Process helpers shared by every stage: children that die with the parent and are recorded, stop, wait, ports.

In: argv lists, Popen objects, predicates, a run's log folder.  Out: started processes that get SIGTERM when
the thread that started them dies (Linux ``PR_SET_PDEATHSIG``, set by ``preexec``) and run in their own
session, so a terminal's Ctrl-C reaches only the orchestrator, which then stops them in order;
``record_process``/``running_records``, the run's own list of the processes it started
(``<run>/logs/processes.jsonl``: pid and start time, one line each, written as soon as each started) and
which of them are still alive; ``stop``; ``poll_until``, the one polling loop (with a deadline on the
monotonic clock); ``free_port``, a loopback TCP port free right now.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psutil

T = TypeVar("T")

#: The file, in a run's ``logs/`` folder, where every process the run starts is recorded.
PROCESS_RECORDS = "processes.jsonl"

_PR_SET_PDEATHSIG = 1
_SIGTERM = int(signal.SIGTERM)


def _bind_prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, looked up now: the forked child only calls it (loading a library after fork in a
    process with threads running can deadlock on the loader's lock)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl  # type: ignore[no-any-return]


_PRCTL = _bind_prctl()
_forking_pid = os.getpid()  # the process about to fork, as the child sees it


def _before_fork() -> None:
    global _forking_pid
    _forking_pid = os.getpid()


os.register_at_fork(before=_before_fork)  # subprocess runs this hook when a preexec_fn is given


def preexec() -> None:
    """preexec_fn for children that must not outlive their parent: runs in the child between fork and exec.

    If the parent died before the death signal was armed, no signal will come: the child exits at once."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, _SIGTERM, 0, 0, 0)
    if os.getppid() != _forking_pid:
        os._exit(1)


_deferring = 0  # signals_deferred blocks entered and not left
_deferred: list[int] = []  # signals a handler deferred, sent again when the last block is left


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Around starting (and recording) a process: a signal whose handler would raise waits until the block
    is left, then is sent again (the handler asks ``defer_signal``).

    An exception a handler raises inside ``fork`` lands in an at-fork hook (``logging``'s holds its module
    lock across the fork): Python prints it as "Exception ignored", the interrupt is lost and the lock
    stays held, so the next logger created deadlocks."""
    global _deferring
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if not _deferring and _deferred:
            pending = list(dict.fromkeys(_deferred))
            _deferred.clear()
            for signum in pending:
                os.kill(os.getpid(), signum)


def defer_signal(signum: int) -> bool:
    """For a signal handler that raises: True while a process is being started (the signal is noted and
    sent again once it has started); the handler then returns without raising."""
    if _deferring:
        _deferred.append(signum)
        return True
    return False


def python_argv(module: str, *args: str) -> list[str]:
    """argv running ``python -m module args`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


@dataclass(frozen=True)
class ProcessRecord:
    """One process a run started: ``pid`` and ``start_time`` (psutil's ``create_time``) name it for sure."""

    pid: int
    start_time: float
    role: str
    parent_pid: int


def record_process(log_dir: str | Path | None, pid: int, role: str) -> None:
    """Append the process to ``<log_dir>/processes.jsonl`` (nothing when ``log_dir`` is None or it is gone).

    One ``write`` of one line to a file opened ``O_APPEND``: lines from several processes never interleave."""
    if log_dir is None:
        return
    try:
        start = psutil.Process(pid).create_time()
    except psutil.Error:
        return  # gone already: nothing to find later
    line = json.dumps({"pid": pid, "start_time": start, "role": role, "parent_pid": os.getpid()}) + "\n"
    with contextlib.suppress(FileNotFoundError):
        fd = os.open(Path(log_dir) / PROCESS_RECORDS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def read_records(log_dir: str | Path) -> list[ProcessRecord]:
    """Every process recorded in ``<log_dir>/processes.jsonl`` (a line cut short by a kill is skipped)."""
    path = Path(log_dir) / PROCESS_RECORDS
    records = []
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                data = json.loads(line)
                records.append(ProcessRecord(int(data["pid"]), float(data["start_time"]), str(data["role"]),
                                             int(data["parent_pid"])))  # fmt: skip
            except (ValueError, KeyError, TypeError):
                continue
    return records


def is_running(record: ProcessRecord) -> bool:
    """The recorded process itself (same pid, same start time) is alive and not a zombie."""
    try:
        proc = psutil.Process(record.pid)
        return proc.create_time() == record.start_time and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def running_records(log_dir: str | Path) -> list[ProcessRecord]:
    """The recorded processes that are still alive."""
    return [r for r in read_records(log_dir) if is_running(r)]


def stop_recorded(log_dir: str | Path, grace_s: float = 5.0) -> list[ProcessRecord]:
    """SIGTERM every recorded process still alive, SIGKILL what is left after ``grace_s``; returns those found.

    The run's last clean-up step: whatever its owner failed to stop (a start cut short by a signal before
    the owner kept the process) is stopped by its record."""
    left = running_records(log_dir)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for record in left:
            if is_running(record):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(record.pid, sig)
        if poll_until(lambda: not any(is_running(r) for r in left), grace_s, 0.05):
            break
    return left


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
