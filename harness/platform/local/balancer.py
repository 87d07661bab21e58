"""The embedded cluster's Services: one loopback endpoint per Service object that spreads requests over its pods.

In: Service objects (``spec.selector``, ``ports[].targetPort``) and the Ready pods they select.
Out: for every Service, a proxy listening on ``127.0.0.1:<port>``, published in the Service's
``status.loadBalancer.ingress`` (``ip: 127.0.0.1``, ``ports[0].port``), as a cloud load balancer or
``minikube tunnel`` would publish it; the platform driver finds the URL there.  Each request goes to
the next Ready pod in round-robin order (per request, like an ingress or a Gateway, not per connection
as kube-proxy does); 503 when no pod is Ready, 502 when the chosen pod fails before answering.
A pod that is not Ready or is being deleted gets no new requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from harness.platform.local.objects import PODS, SERVICES, Obj, pod_ready

if TYPE_CHECKING:
    from harness.platform.local.cluster import Cluster

_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host", "content-length"}

Endpoints = Callable[[], list[tuple[str, str, int]]]  # (pod name, ip, port)


def create_proxy(endpoints: Endpoints) -> Starlette:
    """The proxy app over ``endpoints()``."""
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(None, connect=2.0),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=512),
    )
    counter = itertools.count()

    async def proxy(request: Request) -> Response:
        pods = endpoints()
        if not pods:
            return JSONResponse({"error": "no ready replicas"}, status_code=503)
        name, ip, port = pods[next(counter) % len(pods)]
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS]
        url = httpx.URL(f"http://{ip}:{port}{request.url.path}", query=request.url.query.encode())
        upstream = client.build_request(request.method, url, headers=headers, content=await request.body())
        try:
            response = await client.send(upstream, stream=True)
        except httpx.HTTPError as exc:
            return JSONResponse({"error": f"upstream {name}: {type(exc).__name__}"}, status_code=502)
        out_headers = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_HEADERS}
        return StreamingResponse(
            _relay(response),
            status_code=response.status_code,
            headers=out_headers,
            background=BackgroundTask(response.aclose),
        )

    async def _relay(response: httpx.Response) -> Any:
        try:
            async for chunk in response.aiter_raw():
                yield chunk
        except httpx.HTTPError:
            return

    app = Starlette(routes=[Route("/{path:path}", proxy, methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"])])
    app.state.client = client
    return app


def _target_port(pod: Obj, target: Any) -> int:
    if isinstance(target, int):
        return target
    for container in pod["spec"].get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target:
                return int(port["containerPort"])
    return int(target) if str(target).isdigit() else 8000


class _Quiet(uvicorn.Server):
    def capture_signals(self) -> Any:  # type: ignore[override]
        return contextlib.nullcontext()


class Balancers:
    """Starts a proxy for each Service and stops it when the Service goes."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.servers: dict[str, tuple[_Quiet, asyncio.Task[Any], int]] = {}  # uid -> (server, task, port)

    def _endpoints(self, namespace: str, name: str) -> Endpoints:
        def endpoints() -> list[tuple[str, str, int]]:
            try:
                svc = self.store.get(SERVICES, namespace, name)
            except Exception:  # noqa: BLE001 (deleted)
                return []
            selector = svc["spec"].get("selector") or {}
            target = ((svc["spec"].get("ports") or [{}])[0]).get("targetPort") or (
                (svc["spec"].get("ports") or [{}])[0]
            ).get("port", 8000)
            out = []
            for pod in self.store.list(PODS, namespace, copy=False)[0]:
                labels = pod["metadata"].get("labels") or {}
                ip = (pod.get("status") or {}).get("podIP")
                if selector and ip and pod_ready(pod) and all(labels.get(k) == v for k, v in selector.items()):
                    out.append((pod["metadata"]["name"], ip, _target_port(pod, target)))
            return out

        return endpoints

    async def sync(self) -> None:
        services = {s["metadata"]["uid"]: s for s in self.store.list(SERVICES, copy=False)[0]}
        for uid in [u for u in self.servers if u not in services]:
            server, task, _ = self.servers.pop(uid)
            server.should_exit = True
        for uid, svc in services.items():
            if uid not in self.servers:
                await self._start(svc)
            port = self.servers[uid][2]

            def fn(obj: Obj, port: int = port) -> None:
                ingress = [{"ip": "127.0.0.1", "ports": [{"port": port, "protocol": "TCP"}]}]
                obj.setdefault("status", {})["loadBalancer"] = {"ingress": ingress}

            self.store.mutate(SERVICES, svc["metadata"]["namespace"], svc["metadata"]["name"], fn)

    async def _start(self, svc: Obj) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(2048)
        sock.set_inheritable(False)
        app = create_proxy(self._endpoints(svc["metadata"]["namespace"], svc["metadata"]["name"]))
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30)
        server = _Quiet(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        self.servers[svc["metadata"]["uid"]] = (server, task, sock.getsockname()[1])

    async def shutdown(self) -> None:
        for server, _task, _port in self.servers.values():
            server.should_exit = True
        tasks = [task for _s, task, _p in self.servers.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        self.servers.clear()
