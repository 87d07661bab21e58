"""Fixtures for the load-engine tests: small ASGI targets on 127.0.0.1 and a helper that runs a load.

The targets run under uvicorn on a thread of the test process; the load runs as the real
``python -m harness.load`` subprocess(es) started by ``LoadProcess``.  Each target counts what it
served so a test can compare the generator's rows with the server's own count.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import uvicorn

from harness.load.config import config_from_spec
from harness.load.launcher import LoadProcess, Spare
from harness.procs import free_port, poll_until
from harness.scenario import validate


@dataclass
class Target:
    """What a test target saw."""

    url: str = ""
    count: int = 0
    paths: dict[str, int] = field(default_factory=dict)
    headers: list[dict[str, str]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)


async def _drain_body(receive: Any) -> bytes:
    body, more = b"", True
    while more:
        msg = await receive()
        body += msg.get("body", b"")
        more = msg.get("more_body", False)
    return body


async def _reply(send: Any, status: int, body: bytes, content_type: bytes = b"application/json") -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]})
    await send({"type": "http.response.body", "body": body})


def fast_app(target: Target, stall_every_s: float = 0.0, stall_for_s: float = 0.0, delay_s: float = 0.0) -> Any:
    """POST/GET anything → 200 ``{"ok": true}``; /missing → 404.  Optional periodic stall: a request
    arriving while the server is frozen (the first ``stall_for_s`` of every ``stall_every_s``) waits
    until the freeze ends.  Optional ``delay_s``: every request takes that long (a slow service)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await _drain_body(receive)
        target.count += 1
        path = scope["path"]
        target.paths[path] = target.paths.get(path, 0) + 1
        if len(target.headers) < 5:
            target.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        if stall_every_s > 0:
            phase = (time.monotonic() - target.started) % stall_every_s
            if phase < stall_for_s:
                await asyncio.sleep(stall_for_s - phase)
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        await _reply(send, 404 if path == "/missing" else 200, b'{"ok": true}')

    return app


def stream_app(target: Target, first_s: float, gaps_s: list[float], done: bool = True) -> Any:
    """Any POST → SSE: first token after ``first_s``, then one token after each gap, then (if ``done``)
    a usage event and ``data: [DONE]``."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await _drain_body(receive)
        target.count += 1
        if len(target.bodies) < 5:
            target.bodies.append(body)
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        delays = [first_s, *gaps_s]
        for i, delay in enumerate(delays):
            await asyncio.sleep(delay)
            chunk = {"choices": [{"index": 0, "text": f" tok{i}"}]}
            await send(
                {"type": "http.response.body", "body": f"data: {json.dumps(chunk)}\n\n".encode(), "more_body": True}
            )
        usage = {
            "choices": [{"index": 0, "text": "", "finish_reason": "length"}],
            "usage": {"completion_tokens": len(delays)},
        }
        tail = f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode() if done else b""
        await send({"type": "http.response.body", "body": tail, "more_body": False})

    return app


@pytest.fixture
def serve() -> Iterator[Callable[[Any], str]]:
    """Serve an ASGI app on 127.0.0.1 (a thread of this process); returns its base URL."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def _serve(app: Any) -> str:
        port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        assert poll_until(lambda: server.started, 10.0, 0.02), "test target did not start"
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield _serve
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=5)


@dataclass
class LoadResult:
    rows: pd.DataFrame
    stats: list[dict[str, Any]]
    lines: list[dict[str, Any]]
    code: int | None
    out_dir: Path


def run_load(
    out_dir: Path, url: str, load: dict[str, Any], timeout_s: float = 120.0, spare: Spare | None = None
) -> LoadResult:
    """Run ``python -m harness.load`` (via LoadProcess, on ``spare`` if given) for a scenario ``load`` section;
    read what it wrote."""
    spec = validate({"name": "t", "load": load}, "test").load
    out_dir.mkdir(parents=True, exist_ok=True)
    config = config_from_spec(spec, url, str(out_dir), time.monotonic())
    lines: list[dict[str, Any]] = []
    proc = LoadProcess(config, str(out_dir / "logs" / "load.log"), lines.append, spare)
    proc.start()
    try:
        code = proc.wait(timeout_s)
    finally:
        proc.stop()
    parts = sorted(glob.glob(str(out_dir / "requests.parquet" / "*.parquet")))
    rows = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True) if parts else pd.DataFrame()
    stats = [json.loads(Path(p).read_text()) for p in sorted(glob.glob(str(out_dir / "load-*.json")))]
    return LoadResult(rows, stats, lines, code, out_dir)


def load_log(result: LoadResult) -> str:
    logs = sorted(glob.glob(str(result.out_dir / "logs" / "*.log")))
    return "\n".join(f"--- {os.path.basename(p)}\n{Path(p).read_text()[-3000:]}" for p in logs)
