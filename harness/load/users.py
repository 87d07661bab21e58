"""Locust user classes and the request listener that records one row per request.

In: a ``LoadConfig`` and the process's ``UserContext`` (arrival hand-off, request bodies, headers).
Out: ``open_user``/``closed_user`` classes (or a user's own locustfile classes from
``locustfile_users``) and ``make_listener``: a Locust request-event listener that turns every
request (ours, or any request a user's locustfile makes through Locust's clients) into a row for the
``Recorder``.  Imported only inside the load process: Locust monkey-patches the standard library.

Predict and non-streamed requests go through ``FastHttpSession.request`` as usual.  A streamed
completion is read line by line inside Locust's ``catch_response`` block; before the block exits,
the request's time is set to the whole stream and its context gets the first-token time, the
inter-token gaps and the tokens out, so the same request event carries them to the listener.
Latency comes from Locust's ``response_time`` (a perf-counter difference, not rounded) and the
monotonic clock at completion; Locust's aggregated statistics are never read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gevent.queue import Queue
from locust import FastHttpUser, User, between, constant, task
from locust.exception import StopUser
from locust.util.load_locustfile import load_locustfile

from harness.errors import InputError
from harness.load.config import LoadConfig
from harness.load.recorder import Recorder
from harness.load.shapes import Schedule
from harness.load.workloads import Requests, StreamStats, usage_tokens

REPLICA_HEADER = "x-kibench-replica"


class Dispatch:
    """Open-model hand-off shared by the dispatcher and the users (one gevent thread: no locks)."""

    def __init__(self) -> None:
        self.queue: Queue[float] = Queue()
        self.idle = 0
        self.generated = 0
        self.scheduled = 0
        self.dropped = 0
        self.active = 0  # closed model: requests in flight
        self.done = False
        self.stopping = False


@dataclass
class UserContext:
    """What our users share in one process."""

    cfg: LoadConfig
    dispatch: Dispatch
    requests: Requests
    headers: dict[str, str]


def send_one(user: FastHttpUser, ctx: UserContext, t_intended_s: float) -> None:
    """One request of the workload, recorded through Locust's request event."""
    body = ctx.requests.next_body()
    context = {"t_intended_s": t_intended_s, "usage": ctx.cfg.workload.get("kind") == "completions"}
    if ctx.requests.streaming:
        _stream(user, ctx, body, context)
        return
    user.client.request(
        "POST", ctx.cfg.endpoint, data=body, headers=ctx.headers, name=ctx.cfg.endpoint, context=context
    )


def _stream(user: FastHttpUser, ctx: UserContext, body: str, context: dict[str, Any]) -> None:
    """A streamed completion: SSE lines read as they arrive, timed on the run's monotonic clock."""
    t0 = ctx.cfg.t0_monotonic
    stats = StreamStats()
    start = time.perf_counter()
    received = 0
    headers = {**ctx.headers, "Accept": "text/event-stream", "Accept-Encoding": "identity"}
    with user.client.request(
        "POST",
        ctx.cfg.endpoint,
        data=body,
        headers=headers,
        name=ctx.cfg.endpoint,
        context=context,
        stream=True,
        catch_response=True,
    ) as resp:
        raw = getattr(resp, "_response", None)
        ok_status = 200 <= int(getattr(resp, "status_code", 0) or 0) < 300
        try:
            while raw is not None and ok_status:
                line = raw.readline(b"\n")
                if not line:
                    break
                received += len(line)
                stats.add_line(line, time.monotonic() - t0)
        except Exception as exc:  # noqa: BLE001 - a broken stream is a failed request, recorded as such
            resp.failure(exc)
        meta = resp.request_meta
        meta["response_time"] = (time.perf_counter() - start) * 1000.0
        meta["response_length"] = received or meta.get("response_length", 0)
        if ok_status:
            meta["context"].update(
                t_first_token_s=stats.first_token_s,
                itl_mean_ms=stats.itl_mean_ms,
                itl_max_ms=stats.itl_max_ms,
                tokens_out=stats.tokens_out,
            )
        if ok_status and raw is not None and not stats.done and resp._manual_result is None:
            resp.failure(ValueError("stream ended without data: [DONE]"))


def open_user(ctx: UserContext | None, cfg: LoadConfig) -> type[FastHttpUser]:
    """The open-model user: takes an arrival from the dispatcher, sends one request, waits again."""

    class OpenModelUser(FastHttpUser):
        host = cfg.target_url
        wait_time = constant(0)
        network_timeout = cfg.timeout_s
        connection_timeout = min(cfg.timeout_s, 5.0)

        def on_start(self) -> None:
            assert ctx is not None
            ctx.dispatch.idle += 1

        @task
        def send(self) -> None:
            assert ctx is not None
            t_intended = ctx.dispatch.queue.get()
            try:
                send_one(self, ctx, t_intended)
            finally:
                ctx.dispatch.idle += 1

    return OpenModelUser


def closed_user(ctx: UserContext | None, cfg: LoadConfig) -> type[FastHttpUser]:
    """The closed-model user: send, wait ``wait_time`` (or a draw up to ``wait_time_max``), repeat."""
    wait_max = cfg.wait_time_max_s

    class ClosedModelUser(FastHttpUser):
        host = cfg.target_url
        wait_time = constant(cfg.wait_time_s) if wait_max is None else between(cfg.wait_time_s, wait_max)
        network_timeout = cfg.timeout_s
        connection_timeout = min(cfg.timeout_s, 5.0)

        @task
        def send(self) -> None:
            assert ctx is not None
            if ctx.dispatch.stopping:  # the load is over: stop without a request (see process.drain)
                raise StopUser()
            ctx.dispatch.active += 1
            try:
                send_one(self, ctx, time.monotonic() - cfg.t0_monotonic)
            finally:
                ctx.dispatch.active -= 1

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


def make_listener(cfg: LoadConfig, recorder: Recorder, schedule: Schedule, load_start: list[float]) -> Any:
    """Locust request-event listener that records one row per request."""
    t0, worker = cfg.t0_monotonic, cfg.worker

    def on_request(
        response_time: float,
        response_length: int,
        response: Any,
        context: dict[str, Any] | None,
        exception: BaseException | None,
        **_: Any,
    ) -> None:
        t_done = time.monotonic() - t0
        ctx = context or {}
        raw_ms = float(response_time or 0.0)
        t_sent = t_done - raw_ms / 1000.0
        t_intended = float(ctx.get("t_intended_s", t_sent))
        first = ctx.get("t_first_token_s")
        tokens = ctx.get("tokens_out")
        if tokens is None and ctx.get("usage") and exception is None and response is not None:
            tokens = usage_tokens(response.content or b"")
        headers = getattr(response, "headers", None)
        recorder.record(
            {
                "t_intended_s": t_intended,
                "t_sent_s": t_sent,
                "latency_ms": (t_done - t_intended) * 1000.0,
                "latency_raw_ms": raw_ms,
                "ttft_ms": None if first is None else (first - t_intended) * 1000.0,
                "itl_mean_ms": ctx.get("itl_mean_ms"),
                "itl_max_ms": ctx.get("itl_max_ms"),
                "status": int(getattr(response, "status_code", 0) or 0),
                "ok": exception is None,
                "error": None if exception is None else f"{type(exception).__name__}: {exception}"[:200],
                "bytes_out": int(response_length or 0),
                "tokens_out": tokens,
                "replica": headers.get(REPLICA_HEADER) if headers else None,
                "phase": schedule.phase_at(t_intended - load_start[0]),
                "worker": worker,
            }
        )

    return on_request
