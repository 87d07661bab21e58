"""One recorder row per finished request: our users' directly, a locustfile's through Locust's request event.

In: a finished request (intended send time, the time it took, status, failure, bytes, headers, stream
measurements) from our users (users.py), or Locust's request-event arguments for any request a scenario's
locustfile makes through Locust's clients.  Out: one tuple per request, in ``recorder.SCHEMA`` column
order, added to the ``Recorder``.  No Locust import here.

Times: ``t_done`` is the run's monotonic clock when the row is made (right after the answer ended);
``t_sent = t_done - response time`` (a perf-counter difference, not rounded); latency counts from the
intended time (``latency_ms``, corrected for coordinated omission) and from the send
(``latency_raw_ms``).  The closed model and locustfiles have no intended time: it is the send time.
"""

from __future__ import annotations

import time
from typing import Any

from harness.load.config import LoadConfig
from harness.load.recorder import Recorder
from harness.load.shapes import Schedule
from harness.load.workloads import usage_tokens

REPLICA_HEADER = "x-kibench-replica"


class Rows:
    """Makes rows for one process's recorder."""

    def __init__(self, cfg: LoadConfig, recorder: Recorder, schedule: Schedule, load_start: list[float]) -> None:
        self.t0 = cfg.t0_monotonic
        self.worker = cfg.worker
        self.add_row = recorder.add
        self.schedule = schedule
        self.load_start = load_start  # [run time of load start], set when the load begins

    def add(
        self,
        t_intended_s: float | None,
        response_ms: float,
        status: int,
        error: BaseException | None,
        bytes_in: int,
        headers: Any,
        tokens_out: int | None = None,
        t_first_token_s: float | None = None,
        itl_mean_ms: float | None = None,
        itl_max_ms: float | None = None,
    ) -> None:
        """Record a request that ended just now; ``t_intended_s`` None means it was sent when intended."""
        t_done = time.monotonic() - self.t0
        t_sent = t_done - response_ms / 1000.0
        t_intended = t_sent if t_intended_s is None else t_intended_s
        self.add_row(
            (
                t_intended,
                t_sent,
                (t_done - t_intended) * 1000.0,
                response_ms,
                None if t_first_token_s is None else (t_first_token_s - t_intended) * 1000.0,
                itl_mean_ms,
                itl_max_ms,
                status,
                error is None,
                None if error is None else f"{type(error).__name__}: {error}"[:200],
                bytes_in,
                tokens_out,
                headers.get(REPLICA_HEADER) if headers is not None else None,
                self.schedule.phase_at(t_intended - self.load_start[0]),
                self.worker,
            )
        )

    def on_request(
        self,
        response_time: float,
        response_length: int,
        response: Any,
        context: dict[str, Any] | None,
        exception: BaseException | None,
        **_: Any,
    ) -> None:
        """Locust's request-event listener (a locustfile's users)."""
        ctx = context or {}
        tokens = ctx.get("tokens_out")
        if tokens is None and ctx.get("usage") and exception is None and response is not None:
            tokens = usage_tokens(response.content or b"")
        self.add(
            ctx.get("t_intended_s"),
            float(response_time or 0.0),
            int(getattr(response, "status_code", 0) or 0),
            exception,
            int(response_length or 0),
            getattr(response, "headers", None) or None,
            tokens,
            ctx.get("t_first_token_s"),
            ctx.get("itl_mean_ms"),
            ctx.get("itl_max_ms"),
        )
