"""Distributed load: Locust's own master/worker mode, with N local worker processes or N workers in the cluster.

In: the ``LoadConfig`` of the master (``--role master``) or of worker ``i`` (``--role worker``); the
launcher starts one master and N workers, all bound to 127.0.0.1 on ``master_port``.  Out: the
master prints the run's JSON progress lines (sums over workers); each worker writes its own
``requests.parquet/w<i>-*.parquet`` parts and ``load-w<i>.json``.  With ``placement: cluster`` the master
listens on the pod's IP, the workers are pods (remote.py: their config and clock come in a handshake), and
each ships its files to the master after its load (shipping.py), so the run folder is laid out the same.

Protocol (Locust custom messages on top of its spawn/heartbeat/quit messages):

    worker → master  kb_ready {index}         users spawned and idle (open) / connected (closed)
    master → worker  kb_config {...}          cluster only, before the rest: index, config, clock (remote.py)
    master → workers kb_start {load_start_s}  begin at this run time (local: the master's CLOCK_MONOTONIC
                                              origin; cluster: each worker's, set by kb_config)
    worker → master  kb_progress {...}        once a second
    master → workers kb_stop                  closed model over, or the master was interrupted
    worker → master  kb_part {...} / kb_ack   cluster only: its files, in acknowledged chunks (shipping.py)
    worker → master  kb_done {stats}          schedule over, requests drained, part closed (and shipped)

The open model's users are spawned by the master's ``runner.start`` (Locust splits them evenly);
each worker's users take arrivals ``i, i+N, ...`` of the one global schedule (arrivals.worker_share),
so the rate is split exactly.  The closed model's users are spawned the same way at kb_start.
Every wait is bounded: workers must connect in 30 s (in the cluster: 300 s, as pods may wait for a node
or an image), the run ends by its duration + timeout + 30 s (+ while the workers' files keep arriving).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import gevent

from harness import deployspec
from harness.errors import LoadError
from harness.load.config import LoadConfig
from harness.load.handshake import Handshake
from harness.load.process import STOP_GRACE_S, drain, emit, on_stop_signals, run_time, tick_until
from harness.load.session import LoadSession, stop_timeout_s
from harness.load.shapes import Schedule
from harness.load.shipping import Receiver, Shipper
from harness.load.users import user_classes
from harness.procs import poll_until

CONNECT_TIMEOUT_S = 30.0
REMOTE_CONNECT_TIMEOUT_S = 300.0
WORKER_SELECTOR = f"app.kubernetes.io/name={deployspec.LOAD_WORKERS_NAME}"
FINISH_SLACK_S = 30.0
_SUMMED = ("rate_rps", "requests", "errors", "dropped", "in_flight")


def _wait(predicate: Any, timeout_s: float, stop: list[bool]) -> bool:
    """Poll ``predicate`` on the gevent loop until it holds, ``timeout_s`` passed or a stop was asked."""
    return bool(poll_until(predicate, timeout_s, 0.02, sleep=gevent.sleep, give_up=lambda: bool(stop)))


class _MasterState:
    def __init__(self) -> None:
        self.ready: set[int] = set()
        self.progress: dict[int, dict[str, Any]] = {}
        self.done: dict[int, dict[str, Any]] = {}

    def aggregate(self, base: dict[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for key in _SUMMED:
            out[key] = sum(p.get(key) or 0 for p in self.progress.values())
        p95s = [p["p95_10s_ms"] for p in self.progress.values() if p.get("p95_10s_ms") is not None]
        out["p95_10s_ms"] = max(p95s) if p95s else None  # live display only; analysis reads the rows
        out["cpu"] = [p.get("cpu") for _, p in sorted(self.progress.items())]
        out["workers"] = len(self.progress)
        return out


def run_master(cfg: LoadConfig) -> int:
    """Coordinate N workers; print the run's progress lines; returns the exit code."""
    from locust.env import Environment

    state = _MasterState()
    env = Environment(user_classes=user_classes(None, cfg), host=cfg.target_url, stop_timeout=stop_timeout_s(cfg))
    runner = env.create_master_runner(cfg.master_host, cfg.master_port)
    receiver = Receiver(cfg.out_dir)
    handshake = Handshake(cfg, runner)
    runner.register_message("kb_ready", lambda msg, **_: state.ready.add(int(msg.data["index"])))
    runner.register_message("kb_configured", lambda msg, **_: handshake.on_configured(msg.data))
    runner.register_message(
        "kb_part", lambda msg, **_: runner.send_message("kb_ack", receiver.receive(msg.data), client_id=msg.node_id)
    )
    runner.register_message("kb_progress", lambda msg, **_: state.progress.__setitem__(msg.data["index"], msg.data))
    runner.register_message("kb_done", lambda msg, **_: state.done.__setitem__(int(msg.data["index"]), msg.data))
    stop: list[bool] = []
    on_stop_signals(lambda *_: stop.append(True))
    n, in_cluster = cfg.workers, cfg.placement == "cluster"
    connect_s = REMOTE_CONNECT_TIMEOUT_S if in_cluster else CONNECT_TIMEOUT_S
    try:
        if not _wait(lambda: runner.worker_count >= n, connect_s, stop):
            where = f" (see kubectl get pods -l {WORKER_SELECTOR})" if in_cluster else ""
            raise LoadError(f"only {runner.worker_count} of {n} load workers connected in {connect_s:g}s{where}")
        if in_cluster:
            handshake.configure(lambda p, t: _wait(p, t, stop))
        if cfg.model == "open":
            runner.start(cfg.worker_concurrency * n, spawn_rate=max(cfg.worker_concurrency * n * 50, 1000))
        _wait(lambda: len(state.ready) >= n, CONNECT_TIMEOUT_S, stop)
        load_start = run_time(cfg) + handshake.start_lead_s()  # kb_start reaches every worker before then
        runner.send_message("kb_start", {"load_start_s": load_start})
        emit("load_start", t_s=round(load_start, 6), duration_s=cfg.duration_s, worker="master", workers=n,
             **handshake.clock_fields())  # fmt: skip
        if cfg.model == "closed":
            runner.start(cfg.users, spawn_rate=cfg.spawn_rate)
        _master_loop(cfg, runner, state, load_start, stop, receiver)
    finally:
        runner.quit()
        for problem in receiver.finish():  # a worker's file that did not arrive whole: named in load.log
            sys.stderr.write(f"warning: {problem}\n")
    emit(
        "load_end",
        t_s=round(run_time(cfg), 6),
        requests=sum(d.get("recorded", 0) for d in state.done.values()),
        dropped=sum(d.get("dropped", 0) for d in state.done.values()),
        workers_done=len(state.done),
    )
    return 0 if len(state.done) == n or stop else 3


def _master_loop(
    cfg: LoadConfig, runner: Any, state: _MasterState, load_start: float, stop: list[bool], receiver: Receiver
) -> None:
    n = cfg.workers
    hard_end = load_start + cfg.duration_s + cfg.timeout_s + FINISH_SLACK_S
    stop_sent_at: float | None = None
    schedule = Schedule(cfg.segments)
    next_tick = run_time(cfg) + cfg.flush_interval_s
    while len(state.done) < n:
        gevent.sleep(0.1)
        now = run_time(cfg)
        if now >= next_tick:
            next_tick += cfg.flush_interval_s
            base = {
                "t_s": round(now, 3),
                "elapsed_s": round(now - load_start, 3),
                "duration_s": cfg.duration_s,
                "requested_rps": round(schedule.rate_at(now - load_start), 3),
            }
            emit("progress", **state.aggregate(base))
        over = cfg.model == "closed" and now - load_start >= cfg.duration_s
        if stop_sent_at is None and (stop or over or now >= hard_end):
            runner.send_message("kb_stop", {"interrupted": bool(stop)})
            stop_sent_at = now
        patience_s = STOP_GRACE_S + 3.0 if stop else cfg.timeout_s + 5.0
        shipping_s = time.monotonic() - receiver.last_chunk_mono  # a worker's files still arriving: wait on
        if stop_sent_at is not None and now - stop_sent_at > patience_s and shipping_s > patience_s:
            break  # a worker that did not answer: the launcher stops it


def run_worker(cfg: LoadConfig) -> int:
    """One local worker: this process's share of the users and arrivals; returns the exit code."""
    session = LoadSession(cfg)
    env = session.environment()
    return work(session, env.create_worker_runner(cfg.master_host, cfg.master_port))


def work(session: LoadSession, runner: Any, shipper: Shipper | None = None) -> int:
    """A worker's load on a connected ``runner``; with a ``shipper``, its files go to the master before kb_done."""
    cfg = session.cfg
    stop_requests: list[dict[str, Any]] = []
    interrupted: list[bool] = []
    runner.register_message("kb_start", lambda msg, **_: session.begin(float(msg.data["load_start_s"])))
    runner.register_message("kb_stop", lambda msg, **_: stop_requests.append(msg.data or {}))
    on_stop_signals(lambda *_: interrupted.append(True))
    master_alive = lambda: len(runner.greenlet) > 0  # noqa: E731 - Locust kills the group on "quit"
    index = {"index": cfg.worker_index}
    try:
        _wait(session.users_ready, CONNECT_TIMEOUT_S, interrupted)
        runner.send_message("kb_ready", index)
        _wait(lambda: session.started, CONNECT_TIMEOUT_S, interrupted)
        if session.started:
            over = lambda: bool(interrupted or stop_requests) or session.schedule_over() or not master_alive()  # noqa: E731
            tick_until(session, over, lambda p: runner.send_message("kb_progress", {**index, **p}))
        cut_short = bool(interrupted or any(s.get("interrupted") for s in stop_requests))
        drain(session, runner, grace_s=STOP_GRACE_S if cut_short else cfg.timeout_s + 1.0)
    finally:
        stats = session.finish()
        if master_alive():
            runner.send_message("kb_progress", {**index, **session.tick(sample_cpu=False)})
            if shipper is not None:
                try:
                    shipper.ship()
                except LoadError as exc:  # the master is gone or stuck: it reports the files that did not arrive
                    sys.stderr.write(f"error: {exc}\n")
            runner.send_message("kb_done", {**index, **stats})
            _wait(lambda: not master_alive(), 5.0, interrupted)
        runner.quit()
    return 0
