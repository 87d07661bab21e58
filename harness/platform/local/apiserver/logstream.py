"""Streaming ``GET …/pods/{name}/log?follow=true``: the log so far, then what the container writes, to its end.

In: a ``LogFollow`` (the log so far, its file, how much of the file was read, whether the container still
runs), the ASGI ``send``/``receive``.  Out: a chunked ``text/plain`` 200 whose body grows as the file does;
it ends once the container is no longer running and the file has been read to its end (as the kubelet ends
a follow when the container exits), when the client goes away, or when the server shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from harness.platform.local.apiserver.handlers import LogFollow

POLL_S = 0.1
CHUNK_BYTES = 256 * 1024
HEADERS = [(b"content-type", b"text/plain"), (b"cache-control", b"no-cache, private")]


async def _until_disconnect(receive: Any, gone: asyncio.Event) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return


async def stream(plan: LogFollow, send: Any, receive: Any, closing: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    gone = asyncio.Event()
    watcher = asyncio.create_task(_until_disconnect(receive, gone))
    try:
        if plan.initial:
            await send({"type": "http.response.body", "body": plan.initial, "more_body": True})
        offset = plan.offset
        while not gone.is_set() and not closing():
            running = plan.running()  # asked before reading: what it wrote before it ended is read below
            try:
                with open(plan.path, "rb") as fh:
                    fh.seek(offset)
                    data = fh.read(CHUNK_BYTES)
            except OSError:
                data = b""
            if data:
                offset += len(data)
                await send({"type": "http.response.body", "body": data, "more_body": True})
                continue
            if not running:
                break
            await asyncio.sleep(POLL_S)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        if not gone.is_set():
            await send({"type": "http.response.body", "body": b"", "more_body": False})
