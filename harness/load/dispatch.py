"""Open-model arrivals that the users take themselves, and the rule that counts an arrival as dropped.

In: this worker's intended send times (seconds since load start, increasing; arrivals.py) and the
monotonic time the load started (``begin``).  Out: ``take`` for a user that is free: the next arrival
it should send, or None once the schedule is over; and the counters written to ``load-<worker>.json``
(generated = scheduled + dropped) and shown in the progress lines (dropped, in flight).

There is no dispatcher greenlet: the users of one process share this object (one gevent thread, no
locks).  A free user takes the next arrival, sleeps until its intended time and sends it; when its
request is done it takes the next one.  Free users therefore always hold the next arrivals in order,
and an arrival that nobody took by its intended time found every user busy (the ``max_concurrency``
cap was full).

**Dropped-arrival rule.**  When a user becomes free and the next arrival's intended time has passed by
more than ``LATE_TOLERANCE_S``, that arrival is counted as dropped (like k6's ``dropped_iterations``)
and the user takes the next one: an arrival is never sent late silently.  An arrival within the
tolerance is sent, and its lateness shows in the send lag (``t_sent_s - t_intended_s``).  The same rule
runs once a second from the progress tick while no user is free (``drop_overdue``), so that the
dropped count stays live when every user hangs on a slow target.

The closed model uses only ``in_flight`` and ``stopping`` of this object.
"""

from __future__ import annotations

from collections.abc import Iterator

import gevent.event

LATE_TOLERANCE_S = 0.005
"""An arrival whose intended time passed by more than this when a user could take it is dropped.

Large enough for the event loop's own latency at high load (a gevent loop runs ready greenlets for
up to a few ms before it looks at its timers again), small enough that a sent request's lag stays
within the 5 ms a healthy generator is held to (bench/loadgen.py); anything later was not sent on
time because every user was busy, so it is counted, not sent."""


class Dispatch:
    """Arrivals and counters shared by the users of one load process."""

    def __init__(self) -> None:
        self.generated = 0  # arrivals whose time came: scheduled + dropped
        self.scheduled = 0  # sent
        self.dropped = 0
        self.ready = 0  # open-model users spawned and waiting for the start
        self.holding = 0  # users asleep until the arrival they took
        self.in_flight = 0  # requests being sent or read (open and closed model)
        self.stopping = False
        self.started = gevent.event.Event()
        self.start_monotonic_s = 0.0  # monotonic time of load start
        self.load_start_s = 0.0  # the same, in run time (seconds since the run's t0)
        self._times: Iterator[float] = iter(())
        self._next: float | None = None  # the next arrival nobody has taken (seconds since load start)

    def begin(self, offsets_s: Iterator[float], start_monotonic_s: float, load_start_s: float) -> None:
        """Start handing out ``offsets_s`` (this worker's arrivals, seconds since load start)."""
        self._times = offsets_s
        self._next = next(offsets_s, None)
        self.start_monotonic_s = start_monotonic_s
        self.load_start_s = load_start_s
        self.started.set()

    @property
    def exhausted(self) -> bool:
        """Every arrival was taken or dropped."""
        return self.started.is_set() and self._next is None

    @property
    def over(self) -> bool:
        """Every arrival was sent or dropped (none is held by a sleeping user)."""
        return self.exhausted and self.holding == 0

    def take(self, now_s: float) -> float | None:
        """For a user free at monotonic ``now_s``: the next arrival (seconds since load start) it should
        send at ``start_monotonic_s + offset``; overdue arrivals on the way are dropped.  None when the
        schedule is over or stopping."""
        if self.stopping:
            return None
        self._drop_until(now_s)
        offset = self._next
        if offset is None:
            return None
        self._next = next(self._times, None)
        self.holding += 1
        return offset

    def sent(self) -> None:
        """A held arrival's time came and its request starts (``done`` when it ends)."""
        self.holding -= 1
        self.generated += 1
        self.scheduled += 1
        self.in_flight += 1

    def done(self) -> None:
        self.in_flight -= 1

    def release(self) -> None:
        """A held arrival is given up unsent (the load is stopping)."""
        self.holding -= 1

    def drop_overdue(self, now_s: float) -> None:
        """Count the arrivals overdue at ``now_s`` as dropped, if no user is free to take them."""
        if self.holding == 0 and self.started.is_set():
            self._drop_until(now_s)

    def _drop_until(self, now_s: float) -> None:
        """Drop the untaken arrivals whose intended time passed by more than the tolerance at ``now_s``."""
        deadline_s = now_s - LATE_TOLERANCE_S - self.start_monotonic_s
        while self._next is not None and self._next < deadline_s:
            self.generated += 1
            self.dropped += 1
            self._next = next(self._times, None)
