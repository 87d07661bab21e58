"""Dynamic batching (Triton-style) in front of one device that runs one batch at a time.

In: requests via ``await submit(payload)`` (``QueueFull`` at once when the bounded queue is full) and
a ``run_batch(payloads, start_s)`` function that starts a batch on the device and returns a future of
``BatchResult`` (outputs, and when the device finished).  Out: each ``await submit()`` returns ``Done``
(output, batch size, queue and device seconds).

Dispatch rule: a batch leaves when ``max_batch_size`` requests wait, or when the oldest has waited
``max_queue_delay_s``, and never before the device is free.  Times are ``time.monotonic()`` seconds; the
emulated device keeps a virtual timeline (a batch starts at ``max(device free, batch ready)`` even when
the loop wakes late), so event-loop jitter on a busy host adds latency but never lowers throughput.
The dispatcher is driven by callbacks (an arrival, the device finishing, one timer for the queue delay),
not by a task of its own: a request costs no extra task switch.  A request cancelled while it waits
(timeout, client gone) leaves the queue at once; one already on the device runs to the end of its
batch and its result is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple


class QueueFull(Exception):
    """The bounded queue is full; ``retry_after_s`` estimates when there will be room."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"queue full; retry after {retry_after_s:.3f}s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class BatchResult:
    """What the device returned: one output per payload, and when it finished (``time.monotonic()``)."""

    outputs: list[Any]
    end_s: float


class Done(NamedTuple):
    """One request's result (a NamedTuple: immutable and cheap to build on the hot path)."""

    output: Any
    batch_size: int
    queue_s: float
    device_s: float


class _Item:
    __slots__ = ("payload", "t_s", "future")

    def __init__(self, payload: Any, t_s: float, future: asyncio.Future[Done]) -> None:
        self.payload, self.t_s, self.future = payload, t_s, future


RunBatch = Callable[[list[Any], float], "asyncio.Future[BatchResult]"]
OnBatch = Callable[[int, float, float], None]  # (size, start_s, end_s)


class DynamicBatcher:
    """Bounded queue + dispatcher for one device."""

    def __init__(
        self,
        run_batch: RunBatch,
        max_batch_size: int,
        max_queue_delay_s: float,
        max_queue: int,
        batch_s: Callable[[int], float],
        on_batch: OnBatch | None = None,
    ) -> None:
        self._run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_queue_delay_s = max_queue_delay_s
        self.max_queue = max_queue
        self._batch_s = batch_s  # estimated device time of a batch (for Retry-After)
        self._on_batch = on_batch
        self._queue: deque[_Item] = deque()
        self._free_at_s = 0.0
        self._timer: asyncio.TimerHandle | None = None  # the queue-delay timer
        self._device: asyncio.Future[BatchResult] | None = None  # the batch on the device
        self._open = False
        self.running = 0  # size of the batch on the device now
        self.batches = 0
        self.items = 0

    @property
    def depth(self) -> int:
        """Requests waiting (not yet on the device)."""
        return len(self._queue)

    def start(self) -> None:
        self._open = True
        self._dispatch()

    async def stop(self) -> None:
        self._open = False
        if self._timer is not None:
            self._timer.cancel()
        if self._device is not None:
            self._device.cancel()
        for item in self._queue:
            item.future.cancel()
        self._queue.clear()

    def retry_after_s(self) -> float:
        """Time until the queue has drained by one batch, at the full-batch rate."""
        batches = math.ceil((len(self._queue) + 1) / self.max_batch_size)
        return batches * self._batch_s(self.max_batch_size)

    async def submit(self, payload: Any) -> Done:
        """Queue one request and wait for its result; QueueFull when ``max_queue`` requests already wait.

        Cancelling the caller (timeout, client gone) takes the request out of the queue at once."""
        if len(self._queue) >= self.max_queue:
            raise QueueFull(self.retry_after_s())
        item = _Item(payload, time.monotonic(), asyncio.get_running_loop().create_future())
        self._queue.append(item)
        if self._device is None and (self._timer is None or len(self._queue) >= self.max_batch_size):
            self._dispatch()
        try:
            return await item.future
        except asyncio.CancelledError:
            with contextlib.suppress(ValueError):  # ValueError: already taken onto the device
                self._queue.remove(item)
            raise

    def _ready_at(self) -> float:
        """When the head batch may leave: full, or the oldest request's delay is up."""
        if len(self._queue) >= self.max_batch_size:
            return self._queue[self.max_batch_size - 1].t_s
        return self._queue[0].t_s + self.max_queue_delay_s

    def _dispatch(self) -> None:
        """Start batches while the head batch is ready and the device free; else arm the delay timer.

        A device that finishes at once (zero device time, or a virtual end already past) is handled in
        this loop, so its requests resume without waiting for another turn of the event loop."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._open and self._device is None and self._queue:
            ready_s = self._ready_at()
            now = time.monotonic()
            if ready_s > now:
                self._timer = asyncio.get_running_loop().call_later(ready_s - now, self._dispatch)
                return
            start_s = max(self._free_at_s, ready_s)
            batch: list[_Item] = []
            while self._queue and len(batch) < self.max_batch_size and self._queue[0].t_s <= start_s:
                batch.append(self._queue.popleft())
            self.running = len(batch)
            self._device = device = self._run_batch([item.payload for item in batch], start_s)
            if not device.done():
                device.add_done_callback(functools.partial(self._finished, batch=batch, start_s=start_s))
                return
            self._complete(device, batch, start_s)

    def _finished(self, device: asyncio.Future[BatchResult], batch: list[_Item], start_s: float) -> None:
        self._complete(device, batch, start_s)
        self._dispatch()

    def _complete(self, device: asyncio.Future[BatchResult], batch: list[_Item], start_s: float) -> None:
        self._device = None
        self.running = 0
        if device.cancelled():
            return
        exc = device.exception()
        if exc is not None:  # the device failed: every request of the batch fails with it
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            self._free_at_s = time.monotonic()
            return
        result = device.result()
        self._free_at_s = result.end_s
        self.batches += 1
        self.items += len(batch)
        device_s = result.end_s - start_s
        for item, output in zip(batch, result.outputs, strict=True):
            if not item.future.done():
                item.future.set_result(Done(output, len(batch), start_s - item.t_s, device_s))
        if self._on_batch is not None:
            self._on_batch(len(batch), start_s, result.end_s)


def resolve_at(when_s: float, result: Any) -> asyncio.Future[Any]:
    """A future that resolves to ``result`` at ``when_s`` (``time.monotonic()``; at once when past)."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    delay = when_s - time.monotonic()
    if delay > 0:
        loop.call_later(delay, _set_result, future, result, when_s)
    else:
        future.set_result(result)
    return future


def _set_result(future: asyncio.Future[Any], result: Any, when_s: float | None = None) -> None:
    """Resolve ``future``; a timer that fired early (uvloop's have millisecond resolution) waits on."""
    if future.done():
        return
    early_s = 0.0 if when_s is None else when_s - time.monotonic()
    if early_s > 0:
        asyncio.get_running_loop().call_later(early_s, _set_result, future, result, when_s)
    else:
        future.set_result(result)


async def sleep_until(when_s: float) -> None:
    """Sleep until ``when_s`` (``time.monotonic()``; at once when it has passed; never early, though
    uvloop's timers have millisecond resolution)."""
    while (delay := when_s - time.monotonic()) > 0:
        await asyncio.sleep(delay)
