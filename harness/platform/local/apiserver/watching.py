"""Streaming one watch over HTTP: chunked 200, one JSON event per line, until timeout, close or disconnect.

In: a ``WatchPlan`` (the store's ``Watch`` queue and how to encode its events), the ASGI ``send``/``receive``.
Out: ``{"type": "ADDED|MODIFIED|DELETED|BOOKMARK|ERROR", "object": {...}}`` lines.  Events queued together go
out in one chunk.  A watch that could not start (410 Gone) sends one ERROR event with the Status and ends.
BOOKMARKs (when asked with ``allowWatchBookmarks``) go out every ``bookmark_interval_s`` while nothing is
pending, carrying the store's current resourceVersion.  The stream ends cleanly (a final empty chunk) at
``timeoutSeconds``, when the watch is closed (``Store.close_watches`` at shutdown, or a watcher that fell too
far behind) and when the client goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from harness.platform.local.apiserver.changes import Watch, dumps
from harness.platform.local.apiserver.handlers import WatchPlan

HEADERS = [(b"content-type", b"application/json"), (b"cache-control", b"no-cache, private")]


async def _wait_disconnect(receive: Any, watch: Watch) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            watch.close("the client went away")
            return


async def stream(plan: WatchPlan, send: Any, receive: Any, bookmark_interval_s: float) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    watch = plan.watch
    if watch is None:
        error = plan.error.status() if plan.error is not None else {}
        line = dumps({"type": "ERROR", "object": error}) + b"\n"
        await send({"type": "http.response.body", "body": line, "more_body": False})
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + plan.timeout_s
    next_bookmark = loop.time() + bookmark_interval_s
    disconnect = asyncio.create_task(_wait_disconnect(receive, watch))
    try:
        initial = b"".join(plan.encode(t, e) for t, e in watch.drain())
        if plan.initial_end_bookmark and plan.bookmark is not None:
            initial += plan.bookmark(True)
        if initial:
            await send({"type": "http.response.body", "body": initial, "more_body": True})
        while not watch.closed:
            now = loop.time()
            if now >= deadline:
                break
            wait = deadline - now
            if plan.bookmark is not None:
                wait = min(wait, max(0.0, next_bookmark - now))
            batch = await watch.next_batch(wait)
            chunk = b"".join(plan.encode(t, e) for t, e in batch)
            if plan.bookmark is not None and loop.time() >= next_bookmark:
                chunk += plan.bookmark(False)
                next_bookmark = loop.time() + bookmark_interval_s
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
    finally:
        watch.close()
        disconnect.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await disconnect
        await send({"type": "http.response.body", "body": b"", "more_body": False})
