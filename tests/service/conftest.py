"""Helpers for the service tests: in-process clients, a live uvicorn server, subprocess replicas, an SSE parser.

``parse_sse`` is written here from the WHATWG server-sent events spec (section 9.2.6, "Interpreting an
event stream"), independently of the service's own writer, so the streamed format is checked against
the spec rather than against itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from harness.service import ServiceConfig, create_app

LLM_TEST = {
    "kind": "llm", "name": "test-llm", "max_num_seqs": 8, "max_num_batched_tokens": 4096,
    "prefill_per_token_ms": 0.5, "step_base_ms": 20.0, "step_per_seq_ms": 3.0, "max_model_len": 512,
}  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


@dataclass
class SseEvent:
    event: str = "message"
    data: str = ""
    id: str | None = None
    retry_ms: int | None = None
    t_s: float = 0.0  # when the event was dispatched (set by the reader)


@dataclass
class SseParser:
    """Feed text in any chunking; complete events come out of ``feed``."""

    _buffer: str = ""
    _data: list[str] = field(default_factory=list)
    _event: str = ""
    _last_id: str | None = None
    _retry: int | None = None
    _seen_data: bool = False

    def feed(self, text: str) -> list[SseEvent]:
        self._buffer += text
        out: list[SseEvent] = []
        while True:
            cut = _line_end(self._buffer)
            if cut is None:
                return out
            end, width = cut
            line, self._buffer = self._buffer[:end], self._buffer[end + width :]
            event = self._line(line)
            if event is not None:
                out.append(event)

    def _line(self, line: str) -> SseEvent | None:
        if line == "":  # dispatch
            if not self._seen_data:
                self._event = ""
                return None
            data = "\n".join(self._data)
            event = SseEvent(self._event or "message", data, self._last_id, self._retry)
            self._data, self._event, self._seen_data = [], "", False
            return event
        if line.startswith(":"):
            return None  # comment
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._seen_data = True
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._last_id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None


def _line_end(buffer: str) -> tuple[int, int] | None:
    """Index and width of the first line terminator (CRLF, LF or CR); a trailing CR may still become CRLF."""
    for i, char in enumerate(buffer):
        if char == "\n":
            return i, 1
        if char == "\r":
            if i + 1 == len(buffer):
                return None
            return i, 2 if buffer[i + 1] == "\n" else 1
    return None


def parse_sse(text: str) -> list[SseEvent]:
    """Every complete event of a whole stream."""
    return SseParser().feed(text)


async def stream_completion(client: httpx.AsyncClient, body: dict[str, Any]) -> tuple[float, list[SseEvent]]:
    """POST a streamed completion; (send time, events with their arrival times)."""
    parser = SseParser()
    events: list[SseEvent] = []
    sent = time.monotonic()
    async with client.stream("POST", "/v1/completions", json={**body, "stream": True}) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for text in response.aiter_text():
            now = time.monotonic()
            for event in parser.feed(text):
                event.t_s = now
                events.append(event)
    return sent, events


def chunks_of(events: list[SseEvent]) -> list[dict[str, Any]]:
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


def wait_listening(base: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/healthz", timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.02)
    raise AssertionError(f"{base} never answered /healthz")
