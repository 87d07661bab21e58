"""Small raw-ASGI helpers for the hot routes: JSON responses, errors, and the client-disconnect guard.

In: ASGI ``send``/``receive`` callables.  Out: ``send_json`` / ``send_error`` write whole responses;
``RequestGuard`` cancels the handler task at its deadline or when the client goes away (watching
``receive`` after the body was read; ``reason`` tells that cancellation apart from a server shutdown), so
queued or running work is dropped at once, streaming included; ``call_app`` drives an ASGI app in-process (the
warm-up request).
"""

from __future__ import annotations

import asyncio
import heapq
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json

from harness.service.schemas import ApiError

if TYPE_CHECKING:
    from harness.service.faults import Faults

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
JSON_HEADERS = [(b"content-type", b"application/json")]
WARMUP_KEY = "kibench.warmup"  # scope key of the warm-up request: not counted, no request_timeout
WARMUP_TIMEOUT_S = 600.0
CLIENT_CLOSED = 499  # nginx's "client closed request": recorded in metrics, never seen by a client


class Endpoint:
    """Wrap an ``async (scope, receive, send)`` function so Starlette routes to it as a plain ASGI app."""

    def __init__(self, handler: Callable[[dict[str, Any], Receive, Send], Awaitable[None]]) -> None:
        self._handler = handler

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await self._handler(scope, receive, send)


async def send_json(send: Send, status: int, obj: Any, headers: Iterable[tuple[bytes, bytes]] = (),
                    faults: Faults | None = None) -> int:  # fmt: skip
    """Send a whole JSON response; returns its status.  With ``faults``, a hung replica holds it back."""
    if faults is not None and faults.hung:
        await faults.wait_unhung()
    body = to_json(obj)  # pydantic-core's serializer: several times faster than json.dumps here
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [*JSON_HEADERS, (b"content-length", str(len(body)).encode()), *headers],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})
    return status


def error_headers(err: ApiError) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]


async def send_error(send: Send, err: ApiError) -> None:
    await send_json(send, err.status, err.body(), error_headers(err))


def retry_after(err: ApiError, seconds: float) -> ApiError:
    """Attach ``Retry-After`` (whole seconds, at least 1, as RFC 9110 requires)."""
    err.headers["Retry-After"] = str(max(1, int(seconds + 0.999)))
    return err


class Deadlines:
    """The deadlines of every request in flight on one shared timer.

    Most requests finish long before anyone needs to watch them, so a request costs one append to a
    queue of young guards (``enroll``), kept in start order because they all wait the same
    ``watch_after_s``; the timer sweeps that queue and arms only the guards still open (skipping
    finished ones).  The few armed deadlines (request timeouts, timeouts shorter than ``watch_after_s``)
    sit in a heap.  Due entries are swept together, at most once per ``GRANULARITY_S``.
    """

    GRANULARITY_S = 0.005  # a deadline fires up to this late

    def __init__(self, watch_after_s: float = 0.25) -> None:
        self.watch_after_s = watch_after_s
        self._young: deque[tuple[float, RequestGuard]] = deque()  # (due_s, guard), due_s ascending
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._armed_s = math.inf
        self._seq = 0

    def enroll(self, guard: RequestGuard, now_s: float) -> None:
        """Arm ``guard`` after ``watch_after_s`` unless it has closed by then."""
        due_s = now_s + self.watch_after_s
        self._young.append((due_s, guard))
        if due_s < self._armed_s:
            self._arm(due_s)

    def add(self, when_s: float, callback: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when_s, self._seq, callback))
        if when_s < self._armed_s:
            self._arm(when_s)

    def _arm(self, when_s: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._armed_s = when_s
        self._timer = asyncio.get_running_loop().call_later(max(0.0, when_s - time.monotonic()), self._fire)

    def _fire(self) -> None:
        self._timer, self._armed_s = None, math.inf
        now = time.monotonic()
        young, heap = self._young, self._heap
        while young and young[0][0] <= now:
            guard = young.popleft()[1]
            if not guard.closed:
                guard.arm()
        while heap and heap[0][0] <= now:
            heapq.heappop(heap)[2]()
        next_s = min(young[0][0] if young else math.inf, heap[0][0] if heap else math.inf)
        if next_s < math.inf:
            self._arm(max(next_s, now + self.GRANULARITY_S))


class RequestGuard:
    """Cancel the handler task when its deadline passes or the client disconnects; ``close()`` when done.

    Watching for a disconnect needs a task blocked in ``receive``; creating one per request would cost
    more than the rest of the request path, so the watcher starts only once the request has waited the
    ``Deadlines``' ``watch_after_s`` (then the deadline is armed too).  After the cancellation, ``reason``
    is ``"timeout"`` or ``"disconnect"`` (None: the cancellation was not ours).
    """

    __slots__ = ("reason", "closed", "_task", "_receive", "_watcher", "_timeout_at_s", "_deadlines")

    def __init__(self, receive: Receive, timeout_s: float, deadlines: Deadlines) -> None:
        self.reason: str | None = None
        self.closed = False
        self._task = asyncio.current_task()
        self._receive: Receive | None = receive
        self._watcher: asyncio.Task[None] | None = None
        now = time.monotonic()
        self._timeout_at_s = now + timeout_s
        self._deadlines = deadlines
        if timeout_s < deadlines.watch_after_s:
            deadlines.add(self._timeout_at_s, self.arm)
        else:
            deadlines.enroll(self, now)

    def arm(self) -> None:
        """Start watching for a disconnect, and expire at the deadline (at once when it has passed)."""
        if self.closed:
            return
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())
        if self._timeout_at_s <= time.monotonic():
            self._stop("timeout")
        elif self._timeout_at_s < math.inf:
            self._deadlines.add(self._timeout_at_s, self._expire)

    def _expire(self) -> None:
        if not self.closed:
            self._stop("timeout")

    def _stop(self, reason: str) -> None:
        if self.reason is None and self._task is not None:
            self.reason = reason
            self._task.cancel()

    async def _watch(self) -> None:
        receive = self._receive
        try:
            while receive is not None and (await receive())["type"] != "http.disconnect":
                pass
        except asyncio.CancelledError:
            # close() cancelled it: end without keeping the CancelledError, whose traceback holds this frame,
            # the guard and the request's ASGI cycle in a reference cycle (uncollected until a full GC run:
            # under overload the service's RSS grew linearly, +20 % in 60 s, bench/overload.py)
            return
        if not self.closed:
            self._stop("disconnect")

    def no_deadline(self) -> None:
        """Streaming has begun: drop the deadline, keep (or start) watching for a disconnect."""
        self._timeout_at_s = math.inf
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    def absorb(self) -> str | None:
        """Inside ``except CancelledError``: our reason (the cancellation is undone), or None (re-raise)."""
        if self.reason is None or self._task is None:
            return None
        self._task.uncancel()
        return self.reason

    def close(self) -> None:
        """The request is done: never cancel it from now on (a young guard waits in the sweep queue for
        up to ``watch_after_s``, so it lets go of the request's task and ``receive`` here)."""
        self.closed = True
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
        if self.reason is None:
            self._task = None
        self._receive = None


async def call_app(app: Any, method: str, path: str, body: bytes, scope_extra: dict[str, Any]) -> tuple[int, bytes]:
    """Run one request through ``app`` in-process; returns (status, body)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 0), **scope_extra,
    }  # fmt: skip
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect: block until the guard is closed
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)
