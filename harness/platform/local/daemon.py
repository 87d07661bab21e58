"""The embedded cluster's daemon process: the Kubernetes API on loopback, the controllers behind it.

In: ``python -m harness.platform.local [--spec JSON] [--log-dir DIR] [--kubeconfig PATH] [--port N]``.
Out: one JSON line on stdout once the API listens, ``{"api": URL, "token": T, "kubeconfig": PATH, "pid": N,
"ca_pem": PEM}`` (HTTPS with a throw-away self-signed certificate: kubectl sends no token over plain HTTP)
(and a hint for ``kubectl`` on stderr); then it serves until SIGTERM/SIGINT, ``POST /kibench/v1/shutdown``
or the death of its parent, and stops every pod's process before it exits.

One port serves both APIs, bearer token required on each:
- the Kubernetes API subset (``apiserver``; docs/local-api.md), what kubectl, the official client and
  chaostoolkit-kubernetes use;
- under ``/kibench/v1/``, what Kubernetes has no verb for (``private_api``): hard node loss, shutdown.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import secrets
import signal
import sys
from collections.abc import MutableMapping
from typing import Any

from harness.platform.local.apiserver import ApiServer, Store
from harness.platform.local.cluster import Cluster
from harness.platform.local.private_api import PREFIX, create_private_api
from harness.platform.local.spec import ClusterSpec
from harness.platform.local.volumes import ApiAddress

Scope = MutableMapping[str, Any]
GC_PERIOD_S = 10.0


class Dispatch:
    """Route ``/kibench/...`` to the private API and everything else to the Kubernetes API."""

    def __init__(self, kube: Any, private: Any) -> None:
        self.kube, self.private = kube, private

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(PREFIX):
            await self.private(scope, receive, send)
        else:
            await self.kube(scope, receive, send)

    def close(self) -> None:
        self.kube.close()


async def run_daemon(spec: ClusterSpec, log_dir: str | None, kubeconfig: str | None, port: int = 0) -> None:
    """Serve until told to stop; always stops every pod's process."""
    store = Store()
    cluster = Cluster(spec, store, log_dir)
    stop = asyncio.Event()
    server = ApiServer(store, secrets.token_urlsafe(24), port=port, log_path=cluster.log_path)
    kube = server.app
    if spec.metrics_api:
        kube.handlers.computed = cluster.resource_metrics.serve  # metrics.k8s.io
    private = create_private_api(cluster, server.token, stop.set, kube.audit.as_json)
    server.app = Dispatch(kube, private)  # type: ignore[assignment]
    cluster.token_for = kube.tokens.issue  # the kubelet mounts a token per service account, as a kubelet asks
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    url = await server.start()
    cluster.api_address = ApiAddress(server.host, server.port, server.ca_pem or b"")
    tasks = [
        asyncio.create_task(_watch_parent(os.getppid(), stop)),
        asyncio.create_task(_collect_garbage(GC_PERIOD_S)),
        *(asyncio.create_task(coro) for coro in cluster.loops()),
    ]
    if kubeconfig:
        server.write_kubeconfig(kubeconfig)
    hello = {"api": url, "token": server.token, "kubeconfig": kubeconfig, "pid": os.getpid()}
    hello["ca_pem"] = (server.ca_pem or b"").decode()
    print(json.dumps(hello), flush=True)
    if kubeconfig:
        print(f"watch it: kubectl --kubeconfig {kubeconfig} get pods -w", file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        await cluster.shutdown()
        await server.stop()


async def _collect_garbage(period_s: float) -> None:
    """A full collection every ``period_s``, over what the cluster made since it started (start-up objects are
    frozen out of the collector's reach).  httpx leaves each probe's and scrape's request and response in a
    reference cycle (the response and its stream refer to each other): some 40 objects a probe, which only a
    full collection frees, and the daemon's heap made those rare (bench/soak.py: +6.8 % RSS in 30 minutes,
    growing with time, not traffic)."""
    gc.freeze()
    while True:
        await asyncio.sleep(period_s)
        gc.collect()


async def _watch_parent(ppid: int, stop: asyncio.Event) -> None:
    while os.getppid() == ppid:
        await asyncio.sleep(0.5)
    stop.set()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.platform.local", description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="{}", help="ClusterSpec as JSON (the scenario's platform section)")
    parser.add_argument("--log-dir", default=None, help="where each pod's output goes (<pod>.log)")
    parser.add_argument("--kubeconfig", default=None, help="write a kubeconfig for this cluster here")
    parser.add_argument("--port", type=int, default=0, help="the API's port on 127.0.0.1 (default: any free one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    spec = ClusterSpec.from_json(args.spec)
    if args.log_dir:
        os.makedirs(args.log_dir, exist_ok=True)
    kubeconfig = args.kubeconfig
    if kubeconfig is None and sys.stdout.isatty():
        kubeconfig = os.path.abspath("kibench-local.kubeconfig")
    asyncio.run(run_daemon(spec, args.log_dir, kubeconfig, args.port))
