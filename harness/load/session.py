"""One load-generating process's state: arrivals, recorder, CPU meter, progress and final stats.

In: a ``LoadConfig`` (a single process, or one worker of a distributed run) and a Locust
``Environment`` to attach to.  Out: the open-model arrivals the users take (dispatch.py), one
``progress`` dict per second, and at the end ``load-<worker>.json`` (requested/generated/scheduled/
dropped arrivals, recorded rows, CPU saturation samples) next to the Parquet parts.  Used by
process.py (local mode) and distributed.py (worker role); imported only inside the load process.

Open model: the users take this worker's arrivals themselves, each sleeping until the one it took
(no dispatcher greenlet).  An arrival that no user was free to take by its intended time, and that
is overdue by more than ``dispatch.LATE_TOLERANCE_S`` when one could, is counted as dropped (like
k6's dropped_iterations), never sent late.  The CPU meter samples this process's CPU time once a
second; a sample at or above 90 % of one core counts as saturated (a gevent loop runs on one core).

Our users record each request themselves (rows.py); a locustfile's users are recorded through Locust's
request event.  Once the load starts, the objects alive from the start-up are frozen out of the garbage
collector's reach (``gc.freeze``), so that a full collection does not walk them in the middle of the
load (tens of ms of stalled sends).
"""

from __future__ import annotations

import gc
import os
import time
from typing import Any

from locust.env import Environment

from harness.load.arrivals import arrival_times, worker_share
from harness.load.config import LoadConfig
from harness.load.dispatch import Dispatch
from harness.load.recorder import Recorder
from harness.load.rows import Rows
from harness.load.shapes import Schedule, requested_arrivals
from harness.load.users import UserContext, user_classes
from harness.load.workloads import Requests
from harness.runio import write_json
from harness.scenario import CompletionsWorkload, PredictWorkload

SATURATED_CPU = 0.9
MIN_SAMPLE_S = 0.5


class CpuMeter:
    """Share of one core this process used, sampled about once a second."""

    def __init__(self) -> None:
        self.samples = self.saturated = 0
        self.total = self.peak = 0.0
        self._last = self._now()

    @staticmethod
    def _now() -> tuple[float, float]:
        t = os.times()
        return time.monotonic(), t.user + t.system

    def sample(self) -> float | None:
        """Record the share since the last sample; intervals under 0.5 s are too short to count (None)."""
        wall, cpu = self._now()
        if wall - self._last[0] < MIN_SAMPLE_S:
            return None
        share = (cpu - self._last[1]) / (wall - self._last[0])
        self._last = (wall, cpu)
        self.samples += 1
        self.saturated += share >= SATURATED_CPU
        self.total += share
        self.peak = max(self.peak, share)
        return share

    def to_json(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "saturated_samples": self.saturated,
            "saturated_share": round(self.saturated / self.samples, 4) if self.samples else None,
            "mean": round(self.total / self.samples, 4) if self.samples else None,
            "max": round(self.peak, 4),
        }


def stop_timeout_s(cfg: LoadConfig) -> float | None:
    """Closed-model users finish their request when stopped; open-model users are idle by then (killed)."""
    return cfg.timeout_s if cfg.model == "closed" else None


def _workload(cfg: LoadConfig) -> PredictWorkload | CompletionsWorkload:
    data = dict(cfg.workload)
    if data.get("kind") == "completions":
        return CompletionsWorkload.model_validate(data)
    return PredictWorkload.model_validate(data)


class LoadSession:
    """The load side of one process; ``attach`` it to a Locust Environment before the runner starts."""

    def __init__(self, cfg: LoadConfig) -> None:
        self.cfg = cfg
        self.schedule = Schedule(cfg.segments)
        self.dispatch = Dispatch()
        self.recorder = Recorder(cfg.out_dir, cfg.worker, cfg.part_rotate_s)
        self.cpu = CpuMeter()
        self.load_start = [0.0]
        requests = Requests(_workload(cfg), seed=cfg.seed * 1009 + cfg.worker_index + 1)
        headers = {"Content-Type": "application/json", **cfg.request_headers()}
        self.rows = Rows(cfg, self.recorder, self.schedule, self.load_start)
        self.ctx = UserContext(cfg, self.dispatch, requests, headers, self.rows)
        self.started = False

    @property
    def concurrency(self) -> int:
        return self.cfg.worker_concurrency

    def environment(self) -> Environment:
        """A Locust Environment running this session's users (a locustfile's are recorded by a listener)."""
        return self.attach(Environment())

    def attach(self, env: Environment) -> Environment:
        """Make ``env`` run this session's users (a remote worker's was made before its config arrived)."""
        env.user_classes = user_classes(self.ctx, self.cfg)
        env.host = self.cfg.target_url
        env.stop_timeout = stop_timeout_s(self.cfg) or 0.0
        if self.cfg.locustfile:
            env.events.request.add_listener(self.rows.on_request)
        return env

    def users_ready(self) -> bool:
        """Open model: every user is spawned and waits for the start (closed model: always)."""
        return self.cfg.model != "open" or self.dispatch.ready >= self.concurrency

    def begin(self, load_start_s: float) -> None:
        """Start the load at run time ``load_start_s`` (the users take arrivals, for the open model)."""
        cfg = self.cfg
        self.load_start[0] = load_start_s
        gc.freeze()  # start-up objects out of the collector's reach: no long full collections mid-load
        self.cpu = CpuMeter()  # count the load only, not the start-up
        self.started = True
        if cfg.model == "open":
            times = arrival_times(cfg.segments, cfg.arrivals, cfg.burstiness, cfg.seed)  # type: ignore[arg-type]
            share = worker_share(times, cfg.worker_index, cfg.workers)
            self.dispatch.begin(share, cfg.t0_monotonic + load_start_s, load_start_s)

    def elapsed_s(self) -> float:
        return time.monotonic() - self.cfg.t0_monotonic - self.load_start[0]

    def schedule_over(self) -> bool:
        """Open model: every arrival sent or dropped; closed model: the duration has passed."""
        if self.cfg.model == "open":
            return self.dispatch.over
        return self.started and self.elapsed_s() >= self.cfg.duration_s

    def in_flight(self) -> int:
        """Our users' requests in flight (a locustfile's users are not counted)."""
        return self.dispatch.in_flight

    def poll(self) -> None:
        """Ten times a second: write the rows early when many are waiting (shorter holds of the loop)."""
        self.recorder.flush_if_full()

    def tick(self, sample_cpu: bool = True) -> dict[str, Any]:
        """Once a second: flush the recorder, sample the CPU, return a progress dict."""
        if self.started and not self.dispatch.stopping:
            self.dispatch.drop_overdue(time.monotonic())  # live drop count while every user is busy
        self.recorder.flush()
        cpu = self.cpu.sample() if self.started and sample_cpu else None
        now = time.monotonic() - self.cfg.t0_monotonic
        p95 = self.recorder.recent_p95_ms()
        return {
            "t_s": round(now, 3),
            "elapsed_s": round(now - self.load_start[0], 3) if self.started else 0.0,
            "duration_s": self.cfg.duration_s,
            "requested_rps": round(self.schedule.rate_at(now - self.load_start[0]), 3) if self.started else 0.0,
            "rate_rps": round(self.recorder.take_count() / self.cfg.flush_interval_s),
            "requests": self.recorder.total,
            "errors": self.recorder.errors,
            "dropped": self.dispatch.dropped,
            "in_flight": self.in_flight(),
            "p95_10s_ms": None if p95 is None else round(p95, 2),
            "cpu": None if cpu is None else round(cpu, 3),
        }

    def stop_dispatch(self) -> None:
        """No arrival is sent from now on; those whose time came while every user was busy are dropped."""
        if self.started and not self.dispatch.stopping:
            self.dispatch.drop_overdue(time.monotonic())
        self.dispatch.stopping = True

    def finish(self) -> dict[str, Any]:
        """Close the Parquet part and write ``load-<worker>.json``; returns the stats."""
        self.stop_dispatch()
        self.recorder.close()
        cfg, dispatch = self.cfg, self.dispatch
        open_model = cfg.model == "open"
        stats = {
            "worker": cfg.worker,
            "model": cfg.model,
            "arrivals": cfg.arrivals if open_model else None,
            "requested_arrivals": round(requested_arrivals(cfg.segments) / cfg.workers, 3),
            "generated_arrivals": dispatch.generated,
            "scheduled": dispatch.scheduled if open_model else self.recorder.total,
            "dropped": dispatch.dropped,
            "recorded": self.recorder.total,
            "max_concurrency": self.concurrency,
            "cpu": self.cpu.to_json(),
        }
        write_json(os.path.join(cfg.out_dir, f"load-{cfg.worker}.json"), stats)
        return stats
