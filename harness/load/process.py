"""The load process: Locust as a library, on an open-model arrival schedule or with closed-model users.

In: ``python -m harness.load --config-file PATH [--role local|master|worker]`` (a ``LoadConfig``;
``--config JSON`` also works; ``--await-config-file`` reads PATH from stdin once its imports are done, so that
a run can start it while it deploys).  Out, on stdout, JSON lines: ``{"event": "load_start", "t_s"}``, one
``{"event": "progress", ...}`` per second and ``{"event": "load_end", ...}``; in ``out_dir``:
``requests.parquet/<worker>-*.parquet`` parts and ``load-<worker>.json`` (session.py).

``--role remote-worker`` (no config: the master sends it) is a worker in a pod of its own (remote.py).
``local`` runs everything in this process.  ``master`` and ``worker`` are Locust's own master/worker
mode over loopback (distributed.py): N worker processes record their share, the master coordinates
and prints the progress lines.  SIGTERM/SIGINT stop the schedule, let in-flight requests finish for
up to 2 s and close the Parquet parts so that they stay readable.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from typing import Any

import gevent

from harness import deployspec
from harness.errors import HarnessError
from harness.load.config import LoadConfig
from harness.load.session import LoadSession
from harness.procs import poll_until

STOP_GRACE_S = 2.0


def emit(event: str, **fields: Any) -> None:
    """One JSON line on stdout (the launcher reads them)."""
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def run_time(cfg: LoadConfig) -> float:
    return time.monotonic() - cfg.t0_monotonic


def on_stop_signals(callback: Any) -> None:
    """Call ``callback`` on SIGTERM/SIGINT (inside the gevent loop)."""
    gevent.signal_handler(signal.SIGTERM, callback)
    gevent.signal_handler(signal.SIGINT, callback)


def tick_until(session: LoadSession, done: Any, on_tick: Any) -> None:
    """Until ``done()``: every ``flush_interval_s`` call ``on_tick(session.tick())``; ``done`` is polled
    ten times a second so that a run ends right after its schedule, not at the next tick, and so is
    ``session.poll`` (rows written early when many wait)."""
    interval = session.cfg.flush_interval_s
    next_tick = time.monotonic() + interval
    while not done():
        gevent.sleep(max(0.0, min(0.1, next_tick - time.monotonic())))
        session.poll()
        if time.monotonic() >= next_tick:
            on_tick(session.tick())
            next_tick += interval


def drain(session: LoadSession, runner: Any, grace_s: float) -> None:
    """Stop the schedule, then wait until in-flight requests are done or ``grace_s`` passed.

    Our users stop sending on their own (the dispatch's ``stopping`` flag; an open-model user asleep
    until the arrival it took gives it up unsent, or is killed by ``runner.quit``); ``runner.stop`` is
    avoided for them because it calls ``inspect.stack()``, which stalls the gevent loop for tens of ms
    and would delay the reads of the streams still in flight.  A locustfile's users are stopped by Locust
    (they finish the request they are in: stop_timeout).
    """
    session.stop_dispatch()
    if session.cfg.locustfile:
        runner.stop()
    poll_until(lambda: session.in_flight() <= 0, grace_s, 0.05, sleep=gevent.sleep)


def run_local(cfg: LoadConfig) -> int:
    """Run the whole load in this process; returns the exit code."""
    session = LoadSession(cfg)
    env = session.environment()
    runner = env.create_local_runner()
    interrupted: list[bool] = []
    on_stop_signals(lambda *_: interrupted.append(True))
    count = session.concurrency if cfg.model == "open" else cfg.users
    rate = max(count * 50, 1000) if cfg.model == "open" else cfg.spawn_rate
    if cfg.model == "open":
        runner.start(count, spawn_rate=rate)
        poll_until(session.users_ready, 10.0, 0.01, sleep=gevent.sleep, give_up=lambda: bool(interrupted))
    load_start = run_time(cfg)
    emit("load_start", t_s=round(load_start, 6), duration_s=cfg.duration_s, worker=cfg.worker)
    session.begin(load_start)
    if cfg.model == "closed":
        runner.start(count, spawn_rate=rate)
    try:
        tick_until(session, lambda: bool(interrupted) or session.schedule_over(), lambda p: emit("progress", **p))
        grace = STOP_GRACE_S if interrupted else cfg.timeout_s + 1.0
        drain(session, runner, grace_s=grace)
    finally:
        runner.quit()
        stats = session.finish()
    emit("load_end", t_s=round(run_time(cfg), 6), requests=stats["recorded"], dropped=stats["dropped"])
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.load")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", help="LoadConfig as JSON")
    source.add_argument("--config-file", help="a file holding the LoadConfig as JSON")
    source.add_argument(
        "--await-config-file", action="store_true", help="started ahead of its run: read that file's path from stdin"
    )
    parser.add_argument("--role", choices=("local", "master", "worker", "remote-worker"), default="local")
    parser.add_argument("--master-service", default=deployspec.LOAD_MASTER_SERVICE, help="remote-worker: the Service")
    parser.add_argument("--master-port", type=int, default=deployspec.LOAD_MASTER_PORT, help="remote-worker: its port")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # Our users start idle (open model) or at the scenario's spawn rate: Locust's warning does not apply.
    logging.getLogger("locust.runners").addFilter(lambda record: "spawn rate is very high" not in record.getMessage())
    if args.role == "remote-worker":  # its config comes from the master (remote.py)
        from harness.load.remote import run_remote_worker

        sys.exit(run_remote_worker(args.master_service, args.master_port))
    if args.await_config_file:  # imports are done: wait for the run to be deployed (EOF: it never was)
        args.config_file = sys.stdin.readline().strip()
        if not args.config_file:
            sys.exit(0)
    if not (args.config or args.config_file):
        parser.error("--config or --config-file is required")
    if args.config_file:
        with open(args.config_file, encoding="utf-8") as fh:
            cfg = LoadConfig.from_json(fh.read())
    else:
        cfg = LoadConfig.from_json(args.config)
    try:
        if args.role == "local":
            code = run_local(cfg)
        else:
            from harness.load.distributed import run_master, run_worker

            code = run_master(cfg) if args.role == "master" else run_worker(cfg)
    except HarnessError as exc:
        sys.stderr.write(f"error: {exc}\n")
        code = exc.exit_code
    sys.exit(code)
