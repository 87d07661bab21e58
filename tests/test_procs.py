"""harness/procs.py: the one polling loop, the one free-port helper, the run's process records."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from harness.procs import (
    PROCESS_RECORDS,
    defer_signal,
    free_port,
    poll_until,
    preexec,
    read_records,
    record_process,
    running_records,
    signals_deferred,
    stop_recorded,
)


def test_poll_until_returns_the_first_truthy_result():
    calls = iter([0, None, "", "ready", "later"])
    assert poll_until(lambda: next(calls), 5.0, 0.001) == "ready"


def test_poll_until_times_out_with_the_last_falsy_result_after_a_last_try():
    calls: list[float] = []

    def never() -> list[int]:
        calls.append(time.monotonic())
        return []

    start = time.monotonic()
    assert poll_until(never, 0.2, 0.05) == []
    assert 0.2 <= calls[-1] - start < 1.0 and 3 <= len(calls) <= 8  # called again at the deadline


def test_poll_until_is_called_once_with_no_time_and_gives_up_when_asked():
    assert poll_until(lambda: 0, 0.0, 1.0) == 0
    slept: list[float] = []
    start = time.monotonic()
    assert not poll_until(lambda: False, 30.0, 0.01, sleep=slept.append, give_up=lambda: len(slept) >= 2)
    assert slept == [0.01, 0.01] and time.monotonic() - start < 1.0


def test_free_port_can_be_bound_at_once():
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_a_recorded_process_is_found_alive_and_stopped_by_its_record(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], preexec_fn=preexec)
    try:
        record_process(tmp_path, child.pid, "sleeper")
        with (tmp_path / PROCESS_RECORDS).open("a") as fh:
            fh.write('{"pid": 1, "start_time": 0.0, "role": "pid 1 at another start time", "parent_pid": 0}\n{"pid"')
        records = read_records(tmp_path)  # the torn last line is skipped
        assert [r.role for r in records] == ["sleeper", "pid 1 at another start time"]
        assert running_records(tmp_path) == records[:1]
        assert stop_recorded(tmp_path, grace_s=5.0) == records[:1]
        assert child.wait(timeout=5) == -signal.SIGTERM and running_records(tmp_path) == []
    finally:
        child.kill()
        child.wait()


def test_no_records_without_a_log_folder(tmp_path):
    record_process(None, os.getpid(), "me")
    record_process(tmp_path / "gone", os.getpid(), "me")
    assert read_records(tmp_path) == [] and stop_recorded(tmp_path / "gone") == []


def test_a_signal_while_a_process_starts_is_sent_again_once_it_has_started():
    seen: list[str] = []

    def handler(signum: int, frame: object) -> None:  # raises, as kibench run's does
        if defer_signal(signum):
            seen.append("deferred")
            return
        seen.append("raised")
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGUSR1, handler)
    children: list[subprocess.Popen[bytes]] = []
    try:
        with pytest.raises(KeyboardInterrupt), signals_deferred():
            os.kill(os.getpid(), signal.SIGUSR1)  # the handler runs before the next line
            children.append(subprocess.Popen([sys.executable, "-c", "pass"], preexec_fn=preexec))
            seen.append("started")
        assert seen == ["deferred", "started", "raised"]
    finally:
        signal.signal(signal.SIGUSR1, old)
        for child in children:
            child.wait(timeout=10)
