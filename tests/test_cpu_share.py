"""The suite's CPU lock (tests/cpu_share.py): an exclusive test keeps every other out, shared ones run together."""

from __future__ import annotations

import fcntl
import os
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.cpu_share import holding


def can_lock(path: Path, mode: int) -> bool:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_exclusive_keeps_others_out_and_shared_holders_run_together(monkeypatch: pytest.MonkeyPatch) -> None:
    run = uuid.uuid4().hex
    monkeypatch.setenv("PYTEST_XDIST_TESTRUNUID", run)
    lock = Path(tempfile.gettempdir()) / f"kibench-tests-{run}.lock"
    gate = lock.with_suffix(".gate")
    try:
        with holding(exclusive=True):
            assert not can_lock(lock, fcntl.LOCK_SH) and not can_lock(gate, fcntl.LOCK_EX)  # nobody else gets in
        with holding(exclusive=False):
            assert can_lock(lock, fcntl.LOCK_SH)  # a second shared holder runs beside it
            assert not can_lock(lock, fcntl.LOCK_EX)  # an exclusive one waits
            assert can_lock(gate, fcntl.LOCK_EX)  # and may wait at the lock holding the gate
        assert can_lock(lock, fcntl.LOCK_EX)
    finally:
        lock.unlink(missing_ok=True)
        gate.unlink(missing_ok=True)


def test_outside_xdist_nothing_is_locked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_TESTRUNUID", raising=False)
    with holding(exclusive=True):
        assert not list(Path(tempfile.gettempdir()).glob("kibench-tests-None*"))
