"""Locust user classes: ours for the open and the closed model, or a scenario's own locustfile's.

In: a ``LoadConfig`` and the process's ``UserContext`` (the shared arrivals, request bodies, headers, the
row maker).  Out: ``open_user``/``closed_user`` classes, or the classes of a user's locustfile
(``locustfile_users``).  Imported only inside the load process: Locust monkey-patches the standard library.

Locust spawns and stops our users (also across workers in master/worker mode); each of them sends through
its own ``TargetClient`` (client.py, one keep-alive connection) and records every request itself
(rows.py), so Locust's per-task scheduling, its HTTP session layers and its request statistics are not
on the per-request path.  Each user loops inside a single Locust task:

- **open model**: take the next arrival from the shared ``Dispatch``, sleep until its intended time, send,
  repeat (dispatch.py: an arrival overdue by more than ``LATE_TOLERANCE_S`` when a user is free to take it
  found every user busy and is counted as dropped, never sent late);
- **closed model**: send, wait Locust's ``wait_time`` (through Locust's own ``wait``, so that Locust's stop
  works between requests), repeat, until the load stops.

A streamed completion is read piece by piece as it arrives: first-token time, inter-token gaps and tokens out
come from workloads.StreamStats on the run's monotonic clock, and the request's time is the whole stream.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import gevent
from locust import User, between, constant, task
from locust.env import Environment
from locust.exception import StopUser
from locust.util.load_locustfile import load_locustfile

from harness.errors import InputError
from harness.load.client import TargetClient
from harness.load.config import LoadConfig
from harness.load.dispatch import Dispatch
from harness.load.rows import Rows
from harness.load.workloads import Requests, StreamStats, usage_tokens


@dataclass
class UserContext:
    """What our users share in one process."""

    cfg: LoadConfig
    dispatch: Dispatch
    requests: Requests
    headers: dict[str, str]
    rows: Rows


def send_one(client: TargetClient, ctx: UserContext, t_intended_s: float | None) -> None:
    """One request of the workload, recorded (``t_intended_s`` None: intended when sent, closed model)."""
    body = ctx.requests.next_body()
    if ctx.requests.streaming:
        _stream(client, ctx, body, t_intended_s)
        return
    ex = client.post(body)
    tokens = None
    if ex.error is None and ctx.cfg.workload.get("kind") == "completions":
        tokens = usage_tokens(ex.content)
    ctx.rows.add(t_intended_s, ex.response_ms, ex.status, ex.error, ex.bytes_in, ex.headers, tokens)


def _stream(client: TargetClient, ctx: UserContext, body: str, t_intended_s: float | None) -> None:
    """A streamed completion: SSE chunks timed on the run's monotonic clock as they arrive."""
    t0 = ctx.cfg.t0_monotonic
    stats = StreamStats()
    ex = client.stream(body, lambda chunk: stats.add(chunk, time.monotonic() - t0))
    error = ex.error
    if error is None and not stats.done:
        error = ValueError("stream ended without data: [DONE]")
    ok_status = 200 <= ex.status < 300
    ctx.rows.add(
        t_intended_s,
        ex.response_ms,
        ex.status,
        error,
        ex.bytes_in,
        ex.headers,
        stats.tokens_out if ok_status else None,
        stats.first_token_s if ok_status else None,
        stats.itl_mean_ms if ok_status else None,
        stats.itl_max_ms if ok_status else None,
    )


def open_user(ctx: UserContext | None, cfg: LoadConfig) -> type[User]:
    """The open-model user: takes the next arrival itself, sleeps until it, sends, repeats (dispatch.py)."""

    class OpenModelUser(User):
        host = cfg.target_url
        wait_time = constant(0)

        def __init__(self, environment: Environment) -> None:
            super().__init__(environment)
            assert ctx is not None
            self.http = TargetClient(cfg, ctx.headers)

        def on_start(self) -> None:
            assert ctx is not None
            self.http.connect()  # before the load starts: no burst of connection set-ups at t = 0
            ctx.dispatch.ready += 1

        @task
        def send(self) -> None:
            assert ctx is not None
            ctx.dispatch.started.wait()
            send_arrivals(self.http, ctx)
            raise StopUser()  # the schedule is over or the load is stopping

    return OpenModelUser


def send_arrivals(client: TargetClient, ctx: UserContext) -> None:
    """One open-model user's loop: take an arrival, sleep until it, send it; until none is left."""
    dispatch, clock, sleep = ctx.dispatch, time.monotonic, gevent.sleep
    start_s, load_start_s = dispatch.start_monotonic_s, dispatch.load_start_s
    while True:
        offset_s = dispatch.take(clock())
        if offset_s is None:
            return
        delay_s = start_s + offset_s - clock()
        if delay_s > 0:
            sleep(delay_s)
        if dispatch.stopping:
            dispatch.release()
            return
        dispatch.sent()
        try:
            send_one(client, ctx, load_start_s + offset_s)
        finally:
            dispatch.done()


def closed_user(ctx: UserContext | None, cfg: LoadConfig) -> type[User]:
    """The closed-model user: send, wait ``wait_time`` (or a draw up to ``wait_time_max``), repeat."""
    wait_max = cfg.wait_time_max_s

    class ClosedModelUser(User):
        host = cfg.target_url
        wait_time = constant(cfg.wait_time_s) if wait_max is None else between(cfg.wait_time_s, wait_max)

        def __init__(self, environment: Environment) -> None:
            super().__init__(environment)
            assert ctx is not None
            self.http = TargetClient(cfg, ctx.headers)

        @task
        def send(self) -> None:
            assert ctx is not None
            dispatch = ctx.dispatch
            while not dispatch.stopping:  # stopping: the load is over (see process.drain)
                dispatch.in_flight += 1
                try:
                    send_one(self.http, ctx, None)
                finally:
                    dispatch.in_flight -= 1
                self.wait()
            raise StopUser()

    return ClosedModelUser


def locustfile_users(cfg: LoadConfig) -> list[type[User]]:
    """The user classes of the scenario's locustfile, pointed at the target."""
    path = cfg.locustfile or ""
    try:
        classes, _shapes = load_locustfile(path)
    except Exception as exc:
        raise InputError(f"load.locustfile: {path} failed to import ({type(exc).__name__}: {exc})") from exc
    users = [c for c in classes.values() if not getattr(c, "abstract", False)]
    if not users:
        raise InputError(f"load.locustfile: {path} defines no User class; add one (see docs/load.md)")
    for cls in users:
        cls.host = cfg.target_url
    return users


def user_classes(ctx: UserContext | None, cfg: LoadConfig) -> list[type[User]]:
    """The classes this process runs (the master builds them only for their names)."""
    if cfg.locustfile:
        return locustfile_users(cfg)
    return [open_user(ctx, cfg) if cfg.model == "open" else closed_user(ctx, cfg)]
