"""Helpers for the service tests: in-process clients, a live uvicorn server, subprocess replicas, SSE reading.

Streams are read with the load engine's SSE parser (harness/load/sse.py, written from the WHATWG spec,
section 9.2.6 "Interpreting an event stream", and tested against it in tests/load/test_sse.py), not with
anything of the service's own writer, so the streamed format is checked against the spec rather than
against itself, and kibench's reader against the service it ships.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from harness.load import sse
from harness.load.sse import Event
from harness.procs import free_port, poll_until
from harness.service import ServiceConfig, create_app

LLM_TEST = {
    "kind": "llm", "name": "test-llm", "max_num_seqs": 8, "max_num_batched_tokens": 4096,
    "prefill_per_token_ms": 0.5, "step_base_ms": 20.0, "step_per_seq_ms": 3.0, "max_model_len": 512,
}  # fmt: skip


@contextlib.asynccontextmanager
async def in_process(config: ServiceConfig, wait_ready: bool = True, **kw: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, behind an httpx client on the ASGI transport."""
    app = create_app(config, **kw)
    async with app.router.lifespan_context(app):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service", timeout=30)
        async with client:
            client.app = app  # type: ignore[attr-defined]
            if wait_ready:
                await until_ready(client)
            yield client


async def until_ready(client: httpx.AsyncClient, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while (await client.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, "the service did not get ready"
        await asyncio.sleep(0.01)


async def until(predicate: Callable[[], object], timeout_s: float = 10.0, interval_s: float = 0.01) -> bool:
    """``harness.procs.poll_until`` for a test running in the service's event loop: await until
    ``predicate()`` holds (True) or ``timeout_s`` passed (False), letting the loop run meanwhile."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval_s)
    return True


@contextlib.asynccontextmanager
async def live_server(config: ServiceConfig) -> AsyncIterator[tuple[str, Any]]:
    """The app under a real uvicorn server on 127.0.0.1 in this event loop: (base URL, app)."""
    app = create_app(config)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve())
    base = f"http://127.0.0.1:{port}"
    try:
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=base) as client:
            await until_ready(client)
        yield base, app
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


# ---------------------------------------------------------------- server-sent events (WHATWG spec)


@dataclass(frozen=True)
class TimedEvent:
    data: str
    t_s: float  # when the chunk that completed the event arrived


def parse_sse(text: str) -> list[Event]:
    """Every complete event of a whole stream."""
    return sse.parse(text)


async def stream_completion(client: httpx.AsyncClient, body: dict[str, Any]) -> tuple[float, list[TimedEvent]]:
    """POST a streamed completion; (send time, events with their arrival times)."""
    parser = sse.SseParser()
    events: list[TimedEvent] = []
    sent = time.monotonic()
    async with client.stream("POST", "/v1/completions", json={**body, "stream": True}) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for chunk in response.aiter_raw():
            now = time.monotonic()
            events.extend(TimedEvent(event.data, now) for event in parser.feed(chunk))
    return sent, events


def chunks_of(events: Sequence[Event | TimedEvent]) -> list[dict[str, Any]]:
    """The JSON chunks before ``[DONE]`` (asserting the stream ends with exactly one ``[DONE]``)."""
    assert events and events[-1].data == "[DONE]", "the stream must end with data: [DONE]"
    assert [e.data for e in events].count("[DONE]") == 1
    return [json.loads(e.data) for e in events[:-1]]


# ---------------------------------------------------------------- a replica as a subprocess


@dataclass
class Replica:
    proc: subprocess.Popen[bytes]
    base: str

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)


@contextlib.contextmanager
def replica(section: dict[str, Any], grace_s: float = 5.0, env: dict[str, str] | None = None) -> Iterator[Replica]:
    """``python -m harness.service`` on a free loopback port, as the local platform starts it."""
    port = free_port()
    argv = [sys.executable, "-m", "harness.service", "--port", str(port), "--replica", "test-replica",
            "--config", json.dumps(section), "--grace-s", str(grace_s)]  # fmt: skip
    proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, stderr=subprocess.PIPE)
    try:
        yield Replica(proc, f"http://127.0.0.1:{port}")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


def answers(url: str, status: int | None = None) -> bool:
    """``GET url`` got an answer (with ``status``, when given)."""
    try:
        code = httpx.get(url, timeout=1.0).status_code
    except httpx.HTTPError:
        return False
    return status is None or code == status


def wait_listening(base: str, timeout_s: float = 20.0) -> None:
    if not poll_until(lambda: answers(f"{base}/healthz"), timeout_s, 0.02):
        raise AssertionError(f"{base} never answered /healthz")
