"""The local platform's Service: one stable URL that spreads requests over Ready replicas.

In: every HTTP request to the balancer port.  Out: the request proxied (streamed both ways) to the
next Ready replica in round-robin order; 503 when no replica is Ready, 502 when the chosen replica
fails before answering.  Balancing is per request (an L7 proxy, like an ingress or a Gateway), not
per connection as kube-proxy does, so keep-alive clients still reach new replicas after a scale-up.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from harness.platform.local.supervisor import Supervisor

_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host", "content-length"}


def create_balancer(supervisor: Supervisor) -> Starlette:
    """Build the proxy app over the supervisor's Ready pods."""
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(None, connect=2.0),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=512),
    )
    counter = itertools.count()

    async def proxy(request: Request) -> Response:
        pods = supervisor.ready_pods()
        if not pods:
            return JSONResponse({"error": "no ready replicas"}, status_code=503)
        pod = pods[next(counter) % len(pods)]
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS]
        url = httpx.URL(f"http://127.0.0.1:{pod.port}{request.url.path}", query=request.url.query.encode())
        upstream = client.build_request(request.method, url, headers=headers, content=await request.body())
        try:
            response = await client.send(upstream, stream=True)
        except httpx.HTTPError as exc:
            return JSONResponse({"error": f"upstream {pod.name}: {type(exc).__name__}"}, status_code=502)
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
