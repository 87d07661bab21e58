"""Timeline and event recording while a run goes.

In: a ``harness.model.Platform`` and the run's ``RunFiles``.  Out: ``events.jsonl`` (one JSON object
per line, appended and flushed as events happen: the platform's pod events plus the harness's own,
e.g. load phases) and ``timeline.parquet`` (one row per sample: t_s, desired_replicas,
ready_replicas, pods_total, pods_pending, nodes_total, nodes_ready, and ``hpa_<metric>`` for each
HPA metric's value, and ``platform_<gauge>`` for the platform's self-check when it has one),
rewritten every 10 s and at stop so that an interrupted run keeps it.
Sampling runs on a background thread every ``interval_s``.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pandas as pd

from harness.errors import PlatformError
from harness.model import Event, Platform, PlatformState, RunFiles
from harness.runio import write_with

TIMELINE_COLUMNS = (
    "t_s", "desired_replicas", "ready_replicas", "pods_total", "pods_pending", "nodes_total", "nodes_ready",
)  # fmt: skip


class Observer:
    """Samples platform state and collects events on a thread."""

    def __init__(self, platform: Platform, files: RunFiles, t0_monotonic: float, interval_s: float = 1.0) -> None:
        self.platform = platform
        self.files = files
        self.t0 = t0_monotonic
        self.interval_s = interval_s
        self.rows: list[dict[str, Any]] = []
        self.last_state: PlatformState | None = None
        self.failed_samples = 0  # consecutive samples the platform did not answer
        self._cursor = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._events = open(files.events, "a", encoding="utf-8")  # noqa: SIM115 (closed in stop())
        self._last_write = time.monotonic()

    def now_s(self) -> float:
        return time.monotonic() - self.t0

    def log(self, kind: str, at_s: float | None = None, **attrs: Any) -> None:
        """Append a harness event at run time ``at_s`` (default: now)."""
        self._write_events([Event(self.now_s() if at_s is None else at_s, kind, attrs)])

    def _write_events(self, events: list[Event]) -> None:
        with self._lock:
            if self._events.closed:
                return
            for event in events:
                self._events.write(json.dumps(event.to_json(), default=str) + "\n")
            self._events.flush()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="observer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            if time.monotonic() - self._last_write >= 10:
                self.write_timeline()
            self._stop.wait(self.interval_s)

    def sample(self) -> None:
        """Take one sample and drain new platform events; platform errors become events."""
        try:
            state = self.platform.state()
            events, self._cursor = self.platform.events(self._cursor)
        except PlatformError as exc:
            self.failed_samples += 1
            self.log("platform_error", error=str(exc))
            return
        self.failed_samples = 0
        self.last_state = state
        self._write_events(events)
        with self._lock:
            self.rows.append(
                {
                    "t_s": round(self.now_s(), 6),
                    "desired_replicas": state.desired_replicas,
                    "ready_replicas": state.ready_replicas,
                    "pods_total": state.pods_total,
                    "pods_pending": state.pods_pending,
                    "nodes_total": len(state.nodes),
                    "nodes_ready": state.nodes_ready,
                    **{f"hpa_{name}": value for name, value in state.hpa_metrics.items()},
                    **{f"platform_{name}": value for name, value in state.platform_gauges.items()},
                }
            )

    def write_timeline(self) -> None:
        with self._lock:
            extra = sorted({k for row in self.rows for k in row} - set(TIMELINE_COLUMNS))  # hpa_*, platform_*
            frame = pd.DataFrame(self.rows, columns=[*TIMELINE_COLUMNS, *extra])
        write_with(self.files.timeline, lambda tmp: frame.to_parquet(tmp, index=False))  # never torn
        self._last_write = time.monotonic()

    def stop(self) -> None:
        """Final sample, write the timeline, close the event log; idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
            self.sample()
        self.write_timeline()
        with self._lock:
            if not self._events.closed:
                self._events.close()
