"""Live traffic statistics for ``slo_holds``: written by the harness while load runs, read by probes.

In (writer): one ``record(t_s, requests, errors, p95_ms)`` per load progress report (about one a
second): cumulative requests and errors since the load started and the load process's rolling
10-second p95 latency.  Out: ``<run>/chaos/live.jsonl``, one JSON object per line, flushed at once,
each with ``mono`` (CLOCK_MONOTONIC, shared by every process on the machine) so a reader can tell
stale data from live data.  The harness passes the file's path to experiments as the configuration
key ``kibench_live_stats``.

In (reader): that path and a window.  Out: ``LiveWindow``: requests and errors completed in the last
``window_s`` seconds (exact, from the cumulative counters) and the worst rolling p95 seen in it.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LIVE_FILE = "live.jsonl"
STALE_AFTER_S = 5.0


class LiveStatsWriter:
    """Appends one line per progress report; thread-safe, idempotent close."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())

    def record(self, t_s: float, requests: int, errors: int, p95_ms: float | None) -> None:
        row = {
            "t_s": round(t_s, 3),
            "mono": round(time.monotonic(), 3),
            "requests": int(requests),
            "errors": int(errors),
            "p95_ms": None if p95_ms is None else round(float(p95_ms), 3),
        }
        with self._lock:
            if not self._fh.closed:
                self._fh.write(json.dumps(row) + "\n")
                self._fh.flush()

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.close()


@dataclass(frozen=True)
class LiveWindow:
    """What the load saw in the last ``span_s`` seconds (``span_s`` < window when the load is younger)."""

    requests: int
    errors: int
    p95_ms: float | None
    span_s: float
    age_s: float  # how old the newest report is

    @property
    def error_rate(self) -> float | None:
        return None if self.requests <= 0 else self.errors / self.requests


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Every complete line of the file (a line being written right now is skipped)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and "t_s" in row:
            rows.append(row)
    return rows


def read_window(path: Path, window_s: float) -> LiveWindow | None:
    """The last ``window_s`` seconds of live traffic, or None when nothing was recorded yet."""
    if not path.exists():
        return None
    rows = read_rows(path)
    if not rows:
        return None
    last = rows[-1]
    start = float(last["t_s"]) - window_s
    inside = [r for r in rows if float(r["t_s"]) >= start]
    before = [r for r in rows if float(r["t_s"]) < start]
    # When the load is younger than the window, count from its start (the counters start at 0).
    base = before[-1] if before else {"t_s": float(inside[0]["t_s"]), "requests": 0, "errors": 0}
    p95s = [float(r["p95_ms"]) for r in inside if r.get("p95_ms") is not None]
    return LiveWindow(
        requests=int(last["requests"]) - int(base["requests"]),
        errors=int(last["errors"]) - int(base["errors"]),
        p95_ms=max(p95s) if p95s else None,
        span_s=float(last["t_s"]) - float(base["t_s"]),
        age_s=max(0.0, time.monotonic() - float(last.get("mono", time.monotonic()))),
    )
