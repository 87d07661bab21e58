"""The load process: Locust as a library, issuing requests on an open-model arrival schedule.

In: ``python -m harness.load --config JSON`` (a ``LoadConfig``).  Out, on stdout, JSON lines:
``{"event": "load_start", "t_s"}``, one ``{"event": "progress", ...}`` per second, and
``{"event": "load_end", ...}``; in ``out_dir``: ``requests.parquet/`` parts and ``load-<worker>.json``
(requested, sent, dropped arrivals).

Open model: a dispatcher greenlet hands each arrival, at its intended time, to an idle Locust user
(``max_concurrency`` users = the cap on requests in flight).  When no user is idle the arrival is
counted as dropped (like k6's dropped_iterations), never delayed.  Latency is recorded from the
intended time (corrected) and from the actual send (raw).  SIGTERM/SIGINT stop the dispatcher, let
in-flight requests finish for up to 2 s, and close the Parquet part so that it stays readable.
"""

from __future__ import annotations

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from gevent.queue import Queue  # noqa: E402
from locust import FastHttpUser, constant, task  # first: Locust monkey-patches on import
from locust.env import Environment  # noqa: E402

from harness.load.config import LoadConfig  # noqa: E402
from harness.load.recorder import Recorder  # noqa: E402
from harness.load.shapes import phase_at, rate_at, uniform_arrivals  # noqa: E402

REPLICA_HEADER = "x-kibench-replica"


class Dispatch:
    """State shared by the dispatcher and the users (one gevent thread: no locks needed)."""

    def __init__(self) -> None:
        self.queue: Queue[float] = Queue()
        self.idle = 0
        self.scheduled = 0
        self.dropped = 0
        self.done = False
        self.stopping = False


def make_user(cfg: LoadConfig, dispatch: Dispatch) -> type[FastHttpUser]:
    """The open-model user class: waits for an arrival, sends one request, waits again."""

    class OpenModelUser(FastHttpUser):
        host = cfg.target_url
        wait_time = constant(0)
        network_timeout = cfg.timeout_s
        connection_timeout = min(cfg.timeout_s, 5.0)

        def on_start(self) -> None:
            dispatch.idle += 1

        @task
        def send(self) -> None:
            t_intended = dispatch.queue.get()
            try:
                self.client.post(
                    cfg.endpoint, json=cfg.payload, name=cfg.endpoint, context={"t_intended_s": t_intended}
                )
            finally:
                dispatch.idle += 1

    return OpenModelUser


def make_listener(cfg: LoadConfig, recorder: Recorder, load_start: list[float]) -> Any:
    """Locust request-event listener that records one row per request."""

    def on_request(response_time: float, response_length: int, response: Any, context: dict[str, Any],
                   exception: BaseException | None, **_: Any) -> None:  # fmt: skip
        t_done = time.monotonic() - cfg.t0_monotonic
        raw_ms = float(response_time or 0.0)
        t_sent = t_done - raw_ms / 1000.0
        t_intended = float(context.get("t_intended_s", t_sent))
        status = int(getattr(response, "status_code", 0) or 0)
        headers = getattr(response, "headers", None)
        replica = headers.get(REPLICA_HEADER) if headers else None
        recorder.record({
            "t_intended_s": t_intended,
            "t_sent_s": t_sent,
            "latency_ms": (t_done - t_intended) * 1000.0,
            "latency_raw_ms": raw_ms,
            "status": status,
            "ok": exception is None,
            "error": None if exception is None else f"{type(exception).__name__}: {exception}"[:200],
            "bytes_out": int(response_length or 0),
            "replica": replica,
            "phase": phase_at(cfg.segments, t_intended - load_start[0]),
            "worker": cfg.worker,
        })  # fmt: skip

    return on_request


def dispatch_arrivals(cfg: LoadConfig, dispatch: Dispatch, load_start_s: float) -> None:
    """Hand each arrival to an idle user at its intended time; count the ones no user could take."""
    for t in uniform_arrivals(cfg.segments):
        if dispatch.stopping:
            break
        t_intended = load_start_s + t
        delay = cfg.t0_monotonic + t_intended - time.monotonic()
        if delay > 0:
            gevent.sleep(delay)
        if dispatch.stopping:
            break
        if dispatch.idle > 0:
            dispatch.idle -= 1
            dispatch.scheduled += 1
            dispatch.queue.put(t_intended)
        else:
            dispatch.dropped += 1
    dispatch.done = True


def _emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def _progress(cfg: LoadConfig, recorder: Recorder, dispatch: Dispatch, load_start_s: float) -> dict[str, Any]:
    now = time.monotonic() - cfg.t0_monotonic
    recent = recorder.recent(now)
    last_1s = sum(1 for done, _, _ in recent if done >= now - 1.0)
    lat = sorted(lat for _, lat, _ in recent)
    p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else None
    return {
        "t_s": round(now, 3),
        "elapsed_s": round(now - load_start_s, 3),
        "duration_s": cfg.duration_s,
        "requested_rps": round(rate_at(cfg.segments, now - load_start_s), 3),
        "rate_rps": last_1s,
        "requests": recorder.total,
        "errors": recorder.errors,
        "dropped": dispatch.dropped,
        "in_flight": cfg.max_concurrency - dispatch.idle,
        "p95_10s_ms": None if p95 is None else round(p95, 2),
    }


def run(cfg: LoadConfig) -> int:
    """Run the whole load; returns the exit code."""
    dispatch = Dispatch()
    recorder = Recorder(cfg.out_dir, cfg.worker, cfg.part_rotate_s)
    load_start = [0.0]
    env = Environment(user_classes=[make_user(cfg, dispatch)], host=cfg.target_url)
    env.events.request.add_listener(make_listener(cfg, recorder, load_start))
    runner = env.create_local_runner()

    def _stop(*_: Any) -> None:
        dispatch.stopping = True

    gevent.signal_handler(signal.SIGTERM, _stop)
    gevent.signal_handler(signal.SIGINT, _stop)
    runner.start(cfg.max_concurrency, spawn_rate=max(cfg.max_concurrency * 50, 1000))
    deadline = time.monotonic() + 10
    while dispatch.idle < cfg.max_concurrency and time.monotonic() < deadline:
        gevent.sleep(0.01)
    load_start[0] = time.monotonic() - cfg.t0_monotonic
    _emit("load_start", t_s=round(load_start[0], 6), duration_s=cfg.duration_s, worker=cfg.worker)
    dispatcher = gevent.spawn(dispatch_arrivals, cfg, dispatch, load_start[0])
    drain_until: float | None = None
    try:
        while True:
            gevent.sleep(cfg.flush_interval_s)
            recorder.flush()
            _emit("progress", **_progress(cfg, recorder, dispatch, load_start[0]))
            if dispatch.done or dispatch.stopping:
                grace = 2.0 if dispatch.stopping else cfg.timeout_s + 1.0
                drain_until = drain_until or time.monotonic() + grace
                if dispatch.idle >= cfg.max_concurrency or time.monotonic() >= drain_until:
                    break
    finally:
        dispatch.stopping = True
        dispatcher.kill(block=False)
        runner.quit()
        recorder.close()
        _write_stats(cfg, recorder, dispatch)
    _emit("load_end", t_s=round(time.monotonic() - cfg.t0_monotonic, 6), requests=recorder.total,
          dropped=dispatch.dropped)  # fmt: skip
    return 0


def _write_stats(cfg: LoadConfig, recorder: Recorder, dispatch: Dispatch) -> None:
    requested = sum(seg.arrivals for seg in cfg.segments)
    stats = {
        "worker": cfg.worker,
        "requested_arrivals": round(requested, 3),
        "scheduled": dispatch.scheduled,
        "dropped": dispatch.dropped,
        "recorded": recorder.total,
        "max_concurrency": cfg.max_concurrency,
    }
    with open(os.path.join(cfg.out_dir, f"load-{cfg.worker}.json"), "w", encoding="utf-8") as fh:
        json.dump(stats, fh, indent=2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.load")
    parser.add_argument("--config", required=True, help="LoadConfig as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sys.exit(run(LoadConfig.from_json(args.config)))
