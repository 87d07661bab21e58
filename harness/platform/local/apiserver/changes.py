"""Published object versions, the change log (the watch history) and one watcher's queue.

In: ``Change`` records the store appends after every write (ADDED / MODIFIED / DELETED with the object before and
after).  Out: ``ChangeLog.since(resource, rv)`` replays what a watcher missed (``ApiError`` 410 Gone when the
history has dropped it: each resource keeps its last 100 changes and those of the last 75 s, as kube-apiserver's
watch cache does, so the daemon's memory levels off; informers relist on 410), and ``Watch`` queues the events
one watcher should see (label and field selectors applied to the object before and after, so an object that
stops matching is DELETED for that watcher, as in Kubernetes), for an async consumer on the same event loop.

An ``Entry`` is one published version of one object: never mutated, with its JSON encoding cached on first use.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.platform.local.apiserver.errors import gone
from harness.platform.local.apiserver.selectors import FieldSelector, LabelSelector


class Entry:
    """One published, immutable version of an object, with its JSON bytes cached."""

    __slots__ = ("obj", "_json")

    def __init__(self, obj: dict[str, Any]) -> None:
        self.obj = obj
        self._json: bytes | None = None

    def json(self) -> bytes:
        if self._json is None:
            self._json = dumps(self.obj)
        return self._json

    @property
    def rv(self) -> str:
        return self.obj["metadata"]["resourceVersion"]


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class Change:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    resource: str
    namespace: str | None
    entry: Entry
    old: Entry | None = None


class ChangeLog:
    """Each resource's recent changes, for watchers that resume from a resourceVersion.

    As kube-apiserver's watch cache (one per resource): a resource's history keeps its last ``min_size``
    changes and every change younger than ``window_s`` (75 s, its ``eventFreshDuration``), never more than
    ``size``; a watch resuming from before what its resource's history holds gets 410 Gone and relists.  A
    quiet resource (nodes) keeps its few changes however old, so its watchers resume; a busy one (pods,
    events) holds about 75 s.  One count-bounded history for the whole store made the daemon's memory grow
    through a long run until 10,000 changes were held.
    """

    WINDOW_S = 75.0
    MIN_SIZE = 100

    def __init__(
        self,
        size: int,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        min_size: int = MIN_SIZE,
    ) -> None:
        self._size = max(1, size)
        self._min_size = min(min_size, self._size)
        self._window_s = window_s
        self._clock = clock
        self._changes: dict[str, deque[tuple[float, Change]]] = {}
        self._dropped_rv: dict[str, int] = {}  # per resource: every change with rv <= this is gone

    def append(self, change: Change) -> None:
        now = self._clock()
        changes = self._changes.setdefault(change.resource, deque())
        changes.append((now, change))
        while len(changes) > self._size or (len(changes) > self._min_size and changes[0][0] < now - self._window_s):
            self._dropped_rv[change.resource] = changes.popleft()[1].rv

    def __len__(self) -> int:
        return sum(len(changes) for changes in self._changes.values())

    def since(self, resource: str, rv: int, current_rv: int) -> list[Change]:
        """``resource``'s changes after ``rv``; 410 Gone when some were dropped or ``rv`` is from the future."""
        dropped = self._dropped_rv.get(resource, 0)
        if rv < dropped:
            raise gone(f"too old resource version: {rv} ({dropped + 1})")
        if rv > current_rv:
            raise gone(f"too large resource version: {rv}, current: {current_rv}")
        out: list[Change] = []
        for _, change in reversed(self._changes.get(resource, ())):
            if change.rv <= rv:
                break
            out.append(change)
        out.reverse()
        return out


@dataclass(frozen=True)
class WatchFilter:
    """Which changes one watcher sees: one resource, optionally one namespace, selectors."""

    resource: str
    namespace: str | None = None
    labels: LabelSelector = LabelSelector()
    fields: FieldSelector = FieldSelector()

    def matches(self, obj: dict[str, Any]) -> bool:
        return self.labels.matches(obj["metadata"].get("labels")) and self.fields.matches(obj)

    def event_type(self, change: Change) -> str | None:
        """The event this watcher gets for ``change``, or None."""
        if change.resource != self.resource or (self.namespace is not None and change.namespace != self.namespace):
            return None
        if self.labels.empty and self.fields.empty:
            return change.type
        now = self.matches(change.entry.obj)
        if change.type != "MODIFIED" or change.old is None:
            return change.type if now else None
        before = self.matches(change.old.obj)
        if now:
            return "MODIFIED" if before else "ADDED"
        return "DELETED" if before else None


class Watch:
    """One watcher's pending events; the store pushes, one async consumer pulls in batches."""

    def __init__(self, filter: WatchFilter, max_pending: int, on_close: Callable[[Watch], None]) -> None:
        self.filter = filter
        self._pending: deque[tuple[str, Entry]] = deque()
        self._max_pending = max_pending
        self._wake = asyncio.Event()
        self._on_close = on_close
        self.closed = False
        self.close_reason = ""

    def push(self, event_type: str, entry: Entry) -> None:
        if self.closed:
            return
        self._pending.append((event_type, entry))
        if len(self._pending) > self._max_pending:
            self.close("the watcher fell too far behind")
        self._wake.set()

    def offer(self, change: Change) -> None:
        event_type = self.filter.event_type(change)
        if event_type is not None:
            self.push(event_type, change.entry)

    def drain(self) -> list[tuple[str, Entry]]:
        """Whatever is pending now, without waiting."""
        out = list(self._pending)
        self._pending.clear()
        self._wake.clear()
        return out

    async def next_batch(self, timeout_s: float) -> list[tuple[str, Entry]]:
        """The pending events, waiting up to ``timeout_s`` for one; empty on timeout or once closed."""
        if not self._pending and not self.closed:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout_s)
            except TimeoutError:
                return []
        if self.closed and len(self._pending) > self._max_pending:
            self._pending.clear()
        return self.drain()

    def close(self, reason: str = "closed") -> None:
        if self.closed:
            return
        self.closed, self.close_reason = True, reason
        self._wake.set()
        self._on_close(self)
