"""The local platform daemon process: supervisor + API + balancer in one asyncio loop.

In: ``python -m harness.platform.local --spec JSON [--log-dir DIR]``.  Out: one JSON line on stdout,
``{"api": URL, "balancer": URL, "pid": N}``, once both servers listen on loopback; then it serves
until SIGTERM/SIGINT, ``POST /shutdown`` or the death of its parent, and stops every replica it
started before it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Coroutine
from typing import Any

import uvicorn

from harness.platform.local.api import create_api
from harness.platform.local.balancer import create_balancer
from harness.platform.local.hpa_controller import HpaController, gauges_wanted, wants_cpu
from harness.platform.local.metrics_scrape import MetricsScraper
from harness.platform.local.node_autoscaler import NodeAutoscaler
from harness.platform.local.spec import DaemonSpec
from harness.platform.local.supervisor import Supervisor


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the daemon."""

    def capture_signals(self) -> Any:  # type: ignore[override]
        import contextlib

        return contextlib.nullcontext()


def _listen(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock


def _server(app: Any) -> _QuietServer:
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30)
    return _QuietServer(config)


def controllers(supervisor: Supervisor) -> list[Coroutine[Any, Any, None]]:
    """The control loops to run: the supervisor's, plus the HPA and node autoscaler when enabled."""
    cfg = supervisor.cfg
    loops: list[Coroutine[Any, Any, None]] = [supervisor.run()]
    if cfg.hpa.enabled:
        scraper = MetricsScraper(supervisor, gauges_wanted(cfg.hpa), wants_cpu(cfg.hpa), cfg.hpa.metric_resolution)
        loops += [scraper.run(), HpaController(supervisor, scraper).run()]
    if cfg.nodes.autoscaler.enabled:
        loops.append(NodeAutoscaler(supervisor).run())
    return loops


async def run_daemon(spec: DaemonSpec, log_dir: str | None, api_port: int = 0, balancer_port: int = 0) -> None:
    """Serve until told to stop; always stops every replica."""
    supervisor = Supervisor(spec, log_dir)
    stop = asyncio.Event()
    api_sock, lb_sock = _listen(port=api_port), _listen(port=balancer_port)
    api_url = f"http://127.0.0.1:{api_sock.getsockname()[1]}"
    lb_url = f"http://127.0.0.1:{lb_sock.getsockname()[1]}"
    api_server = _server(create_api(supervisor, stop.set, {"balancer_url": lb_url, "api_url": api_url}))
    lb_server = _server(create_balancer(supervisor))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [
        asyncio.create_task(api_server.serve(sockets=[api_sock])),
        asyncio.create_task(lb_server.serve(sockets=[lb_sock])),
        asyncio.create_task(_watch_parent(os.getppid(), stop)),
        *(asyncio.create_task(coro) for coro in controllers(supervisor)),
    ]
    while not (api_server.started and lb_server.started):
        await asyncio.sleep(0.01)
    print(json.dumps({"api": api_url, "balancer": lb_url, "pid": os.getpid()}), flush=True)
    try:
        await stop.wait()
    finally:
        api_server.should_exit = lb_server.should_exit = True
        for task in tasks[2:]:
            task.cancel()
        await supervisor.shutdown()
        await asyncio.wait(tasks[:2], timeout=5)
        for task in tasks:
            task.cancel()


async def _watch_parent(ppid: int, stop: asyncio.Event) -> None:
    while os.getppid() == ppid:
        await asyncio.sleep(0.5)
    stop.set()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.platform.local")
    parser.add_argument("--spec", default="{}", help="DaemonSpec as JSON")
    parser.add_argument("--log-dir", default=None)
    parser.add_argument("--api-port", type=int, default=0)
    parser.add_argument("--balancer-port", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    spec = DaemonSpec.from_json(args.spec)
    if args.log_dir:
        os.makedirs(args.log_dir, exist_ok=True)
    asyncio.run(run_daemon(spec, args.log_dir, args.api_port, args.balancer_port))
