"""harness/procs.py: the one polling loop and the one free-port helper."""

from __future__ import annotations

import socket
import time

from harness.procs import free_port, poll_until


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
