"""How the suite shares the machine's 2 cores when it runs on two pytest-xdist workers (``make test``).

In: whether a test is marked ``exclusive``, the xdist run's id.  Out: every test runs
holding a lock file of the run: shared by default, so two tests run side by side; exclusively for a test marked
``exclusive`` (one that uses most of the machine itself, or whose figures a busy neighbour would move), so
nothing runs beside it.  A turnstile lock in front makes a waiting exclusive test go next instead of waiting
for a gap between its neighbour's shared tests.  Without xdist nothing is locked.

The end-to-end tests spend most of their time waiting (a run's pods, timers, the load's schedule: about 0.45
of a core each on average), so two of them side by side keep their figures; two CPU hogs, or a hog beside a
run, made the run's own self-check report the host saturated (exit 4) in a trial.

``make test`` gives ``--dist loadfile``: the tests of one file run on one worker, so its module fixtures run
once; a session fixture that makes a run for several files (``pod_kill_run``) makes it once for both workers
through ``once_per_session``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def once_per_session(
    factory: pytest.TempPathFactory, name: str, make: Callable[[Path], subprocess.CompletedProcess[str]]
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``make(folder)`` once for the whole test run, xdist workers included: the first worker to ask makes it
    (the others wait on a lock file) and every worker gets its process result and its folder."""
    base = factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / f"once-{name}"
    root.mkdir(exist_ok=True)
    with _flock(root / ".lock", fcntl.LOCK_EX):
        record = root / "done.json"
        if not record.exists():
            (root / "out").mkdir(exist_ok=True)
            done = make(root / "out")
            record.write_text(json.dumps([done.args, done.returncode, done.stdout, done.stderr]), encoding="utf-8")
        args, code, out, err = json.loads(record.read_text(encoding="utf-8"))
    return subprocess.CompletedProcess(args, code, out, err), root / "out"


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def holding(exclusive: bool) -> Iterator[None]:
    """The run's CPU lock, shared or exclusive; nothing outside an xdist worker."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:
        yield
        return
    base = Path(tempfile.gettempdir())
    gate, lock = base / f"kibench-tests-{run}.gate", base / f"kibench-tests-{run}.lock"
    if exclusive:
        with _flock(gate, fcntl.LOCK_EX), _flock(lock, fcntl.LOCK_EX):  # holds the gate: no new shared holder
            yield
        return
    with _flock(gate, fcntl.LOCK_EX):
        pass  # an exclusive test waiting at the lock holds the gate: wait behind it
    with _flock(lock, fcntl.LOCK_SH):
        yield
