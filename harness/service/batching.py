"""Dynamic batching (Triton-style) in front of one device that runs one batch at a time.

In: requests via ``await submit(payload)`` (``QueueFull`` at once when the bounded queue is full, or when
the request would not have its result within ``max_wait_s``: the request timeout, so an overload is shed
with 429 instead of answered late with 504) and
a ``run_batch(payloads, start_s)`` function that starts a batch on the device and returns a future of
``BatchResult``, the tuple ``(outputs, end_s)`` (one output per payload, and when the device finished),
or that tuple itself when the batch has finished already (a zero-time or virtual device whose end has
passed).  Out: each ``await submit()`` returns the request's ``Ticket`` with its output, batch size,
queue and device seconds (``enqueue`` is the same without the wait, for callers that await only when
they must).

Dispatch rule: a batch leaves when ``max_batch_size`` requests wait, or when the oldest has waited
``max_queue_delay_s``, and never before the device is free.  Times are ``time.monotonic()`` seconds; the
emulated device keeps a virtual timeline (a batch starts at ``max(device free, batch ready)`` even when
the loop wakes late), so event-loop jitter on a busy host adds latency but never lowers throughput.
The dispatcher is driven by callbacks (an arrival, the device finishing, one timer for the queue delay),
not by a task of its own: a request costs no extra task switch.  When the device is free, nobody waits
and the policy lets a lone request leave at once (batch size 1 or no queue delay), the request goes
straight to the device without entering the queue; a device that finishes at once then answers without
a future, and its batch of one is completed inline.  A request cancelled while it waits (timeout,
client gone) leaves the queue at once; one already on the device runs to the end of its batch and its
result is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any


class QueueFull(Exception):
    """The bounded queue is full; ``retry_after_s`` estimates when there will be room."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"queue full; retry after {retry_after_s:.3f}s")
        self.retry_after_s = retry_after_s


BatchResult = tuple[list[Any], float]
"""What the device returned: ``(outputs, end_s)``, one output per payload and when it finished
(``time.monotonic()``).  A plain tuple: the emulated device builds one per request at full load."""


class Ticket:
    """One request in the batcher, and its result once its batch is done: ``output``, ``batch_size``,
    ``queue_s`` and ``device_s`` (``done`` is True then).  A request that has to wait gets a ``future``
    that resolves to the ticket itself; one whose batch finished at once never needs one."""

    __slots__ = ("payload", "t_s", "future", "done", "output", "batch_size", "queue_s", "device_s")
    output: Any  # these four are set with ``done``
    batch_size: int
    queue_s: float
    device_s: float

    def __init__(self, payload: Any, t_s: float) -> None:
        self.payload, self.t_s = payload, t_s
        self.future: asyncio.Future[Ticket] | None = None
        self.done = False


RunBatch = Callable[[list[Any], float], "BatchResult | asyncio.Future[BatchResult]"]
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
        max_wait_s: float = math.inf,
    ) -> None:
        self._run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_queue_delay_s = max_queue_delay_s
        self.max_queue = max_queue
        self.max_wait_s = max_wait_s  # admission: refuse a request that would wait longer for its result
        self._batch_s = batch_s  # estimated device time of a batch (for Retry-After)
        self._on_batch = on_batch
        self._at_once = max_batch_size == 1 or max_queue_delay_s <= 0  # a lone request needs no company
        self._queue: deque[Ticket] = deque()
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
        for ticket in self._queue:
            if ticket.future is not None:
                ticket.future.cancel()
        self._queue.clear()

    def retry_after_s(self) -> float:
        """Time until the queue has drained by one batch, at the full-batch rate."""
        batches = math.ceil((len(self._queue) + 1) / self.max_batch_size)
        return batches * self._batch_s(self.max_batch_size)

    async def submit(self, payload: Any) -> Ticket:
        """Queue one request and wait for its result; QueueFull when ``max_queue`` requests already wait.

        Cancelling the caller (timeout, client gone) takes the request out of the queue at once."""
        ticket = self.enqueue(payload)
        if ticket.done:
            return ticket
        try:
            return await ticket.future  # type: ignore[misc]
        except asyncio.CancelledError:
            self.withdraw(ticket)
            raise

    def enqueue(self, payload: Any) -> Ticket:
        """``submit`` without the wait: the ticket is ``done`` when its batch finished at once, else
        await its ``future`` (and ``withdraw`` it when the wait is cancelled)."""
        if (self._queue or self._device is not None) and self._full():
            raise QueueFull(self.retry_after_s())
        now = time.monotonic()
        ticket = Ticket(payload, now)
        if self._at_once and self._device is None and not self._queue and self._open:
            # the device is free and nobody waits: a batch of one leaves now, without queueing
            start_s = self._free_at_s if self._free_at_s > now else now
            self.running = 1
            device = self._run_batch([payload], start_s)
            if type(device) is not tuple:
                self._on_device(device, [ticket], start_s)
            else:  # finished at once: ``_complete`` for a batch of one, inlined (the hottest path)
                (ticket.output,), end_s = device  # ValueError unless the device gave exactly one output
                ticket.batch_size, ticket.queue_s, ticket.device_s = 1, start_s - now, end_s - start_s
                ticket.done = True
                self.running, self._free_at_s = 0, end_s
                self.batches += 1
                self.items += 1
                if self._on_batch is not None:
                    self._on_batch(1, start_s, end_s)
                return ticket
        else:
            self._queue.append(ticket)
            if self._device is None and (self._timer is None or len(self._queue) >= self.max_batch_size):
                self._dispatch()
            if ticket.done:
                return ticket
        ticket.future = asyncio.get_running_loop().create_future()
        return ticket

    def _full(self) -> bool:
        """No room: ``max_queue`` requests wait, or a new one would not have its result within
        ``max_wait_s`` (the batch on the device, then full batches up to and including its own)."""
        depth = len(self._queue)
        if depth >= self.max_queue:
            return True
        return (depth // self.max_batch_size + 2) * self._batch_s(self.max_batch_size) > self.max_wait_s

    def withdraw(self, ticket: Ticket) -> None:
        """A request that stopped waiting leaves the queue (one already on the device runs on)."""
        with contextlib.suppress(ValueError):
            self._queue.remove(ticket)

    def _ready_at(self) -> float:
        """When the head batch may leave: full, or the oldest request's delay is up."""
        if len(self._queue) >= self.max_batch_size:
            return self._queue[self.max_batch_size - 1].t_s
        return self._queue[0].t_s + self.max_queue_delay_s

    def _dispatch(self) -> None:
        """Start batches while the head batch is ready and the device free; else arm the delay timer.

        A device that finishes at once (it returns a ``BatchResult``, not a future) is handled in
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
            batch: list[Ticket] = []
            while self._queue and len(batch) < self.max_batch_size and self._queue[0].t_s <= start_s:
                batch.append(self._queue.popleft())
            if not self._start(batch, [ticket.payload for ticket in batch], start_s):
                return

    def _start(self, batch: list[Ticket], payloads: list[Any], start_s: float) -> bool:
        """Put ``batch`` on the device; True when it finished at once (its results are in place)."""
        self.running = len(batch)
        device = self._run_batch(payloads, start_s)
        if type(device) is tuple:
            self._complete(device, batch, start_s)
            return True
        self._on_device(device, batch, start_s)
        return False

    def _on_device(self, device: asyncio.Future[BatchResult], batch: list[Ticket], start_s: float) -> None:
        self._device = device
        device.add_done_callback(functools.partial(self._finished, batch=batch, start_s=start_s))

    def _finished(self, device: asyncio.Future[BatchResult], batch: list[Ticket], start_s: float) -> None:
        self._device = None
        if device.cancelled():
            self.running = 0
            return
        exc = device.exception()
        if exc is None:
            self._complete(device.result(), batch, start_s)
        else:  # the device failed: every request of the batch fails with it
            self.running = 0
            for ticket in batch:
                if ticket.future is not None and not ticket.future.done():
                    ticket.future.set_exception(exc)
            self._free_at_s = time.monotonic()
        self._dispatch()

    def _complete(self, result: BatchResult, batch: list[Ticket], start_s: float) -> None:
        outputs, end_s = result
        size = len(batch)
        if len(outputs) != size:
            raise RuntimeError(f"the device returned {len(outputs)} outputs for a batch of {size}")
        self.running = 0
        self._free_at_s = end_s
        self.batches += 1
        self.items += size
        device_s = end_s - start_s
        for ticket, output in zip(batch, outputs):  # noqa: B905 - lengths checked above
            ticket.output, ticket.batch_size, ticket.device_s = output, size, device_s
            ticket.queue_s = start_s - ticket.t_s
            ticket.done = True
            if ticket.future is not None and not ticket.future.done():
                ticket.future.set_result(ticket)
        if self._on_batch is not None:
            self._on_batch(size, start_s, end_s)


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
