"""A Locust worker in a pod of its own (``load.placement: cluster``): find the master, take a config, load, ship.

In: ``python -m harness.load --role remote-worker [--master-service NAME] [--master-port N]``, the container
command of ``kibench cluster run``'s Deployment ``kibench-load-worker`` (harness image), and the environment a
kubelet gives it: ``<NAME>_SERVICE_HOST`` / ``_SERVICE_PORT`` (the Service ``kibench-load-master`` exists
before the Deployment, so every worker pod has these links; without them the Service's DNS name is used).
Out: this worker's share of the load, its files shipped to the master (shipping.py); then it idles until the
run's clean-up deletes it (SIGTERM: exit 0), so that a finished worker is not restarted into the next run.

Steps: wait until the master's address accepts a TCP connection (the master listens only once the in-pod run has
deployed the service: minutes on a real cluster; no deadline, SIGTERM ends it), connect as a Locust worker
(Locust retries for 5 minutes), take ``kb_config`` (handshake.py: index, config, the run's clock), answer
``kb_configured``, then the same load as a local worker (``distributed.work``), writing into a temporary
folder that is shipped to the master before ``kb_done`` and removed after.  Its log lines also go to
``logs/load-w<i>.log``, which is shipped too.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import time
from typing import Any

import gevent
from locust.env import Environment

from harness.load.distributed import REMOTE_CONNECT_TIMEOUT_S, work
from harness.load.handshake import master_address, worker_config
from harness.load.process import on_stop_signals
from harness.load.session import LoadSession
from harness.load.shipping import Shipper
from harness.procs import poll_until


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def run_remote_worker(service: str, port: int) -> int:
    """One worker pod's life; returns the exit code."""
    host, port = master_address(service, port)
    stopped: list[bool] = []
    on_stop_signals(lambda *_: stopped.append(True))
    logging.getLogger(__name__).warning("waiting for the load master at %s:%d", host, port)
    poll_until(lambda: reachable(host, port), float("inf"), 1.0, sleep=gevent.sleep, give_up=lambda: bool(stopped))
    if stopped:
        return 0
    env = Environment()
    runner = env.create_worker_runner(host, port)
    configs: list[dict[str, Any]] = []
    runner.register_message("kb_config", lambda msg, **_: configs.append({**msg.data, "at": time.monotonic()}))
    master_alive = lambda: len(runner.greenlet) > 0  # noqa: E731
    poll_until(lambda: bool(configs), REMOTE_CONNECT_TIMEOUT_S, 0.02, sleep=gevent.sleep,
               give_up=lambda: bool(stopped) or not master_alive())  # fmt: skip
    if not configs:  # a worker the run did not need (more pods than load.workers), or the master is gone
        runner.quit()
        return _idle(stopped)
    out_dir = tempfile.mkdtemp(prefix="kibench-load-")
    try:
        cfg = worker_config(configs[0], out_dir, configs[0]["at"])
        _log_to_file(out_dir, cfg.worker)
        session = LoadSession(cfg)
        session.attach(env)
        held_s = time.monotonic() - configs[0]["at"]  # building the session: not part of the round trip
        runner.send_message("kb_configured", {"index": cfg.worker_index, "echo_s": configs[0]["master_run_time_s"],
                                              "held_s": held_s})  # fmt: skip
        shipper = Shipper(out_dir, cfg.worker_index, lambda d: runner.send_message("kb_part", d), gevent.sleep,
                          master_alive)  # fmt: skip
        runner.register_message("kb_ack", lambda msg, **_: shipper.on_ack(msg.data))
        work(session, runner, shipper)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    return _idle(stopped)


def _log_to_file(out_dir: str, worker: str) -> None:
    os.makedirs(os.path.join(out_dir, "logs"), exist_ok=True)
    handler = logging.FileHandler(os.path.join(out_dir, "logs", f"load-{worker}.log"))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)


def _idle(stopped: list[bool]) -> int:
    """Wait for the run's clean-up (SIGTERM): a worker serves one run, and is not restarted into another."""
    on_stop_signals(lambda *_: stopped.append(True))
    while not stopped:
        gevent.sleep(0.5)
    return 0
