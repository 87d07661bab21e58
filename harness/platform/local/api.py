"""The local platform's JSON API on loopback (the role kube-apiserver plays for Kubernetes).

In: HTTP requests.  Out:
  GET  /state                 deployment, desired replicas, every replica (name, node, port, phase, ready, times)
  GET  /events?since=N        events after cursor N: {"events": [...], "next": M}
  POST /pods/{name}/kill      body {"grace_period_s": float?}: delete a pod (SIGTERM, grace, SIGKILL)
  POST /scale                 body {"replicas": int}
  POST /shutdown              stop every replica and the daemon
  GET  /healthz               the daemon itself is alive
Errors are JSON ``{"error": ...}`` with 4xx codes that say what to fix.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.platform.local.supervisor import Supervisor


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError("body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def create_api(supervisor: Supervisor, on_shutdown: Callable[[], None], extra: dict[str, Any]) -> Starlette:
    """Build the API app; ``extra`` (e.g. the balancer URL) is merged into /state."""

    async def state(request: Request) -> Response:
        return JSONResponse({**supervisor.snapshot(), **extra})

    async def events(request: Request) -> Response:
        try:
            since = int(request.query_params.get("since", "0"))
        except ValueError:
            return JSONResponse({"error": "since must be an integer cursor"}, status_code=400)
        return JSONResponse({"events": supervisor.events[since:], "next": len(supervisor.events)})

    async def kill(request: Request) -> Response:
        try:
            body = await _body(request)
            grace = body.get("grace_period_s")
            grace = None if grace is None else float(grace)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        name = request.path_params["name"]
        if not await supervisor.kill_pod(name, grace):
            return JSONResponse({"error": f"no live pod named {name!r}; see GET /state"}, status_code=404)
        return JSONResponse({"killed": name})

    async def scale(request: Request) -> Response:
        try:
            replicas = (await _body(request)).get("replicas")
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or not 0 <= replicas <= 64:
            return JSONResponse({"error": "replicas must be an integer in [0, 64]"}, status_code=422)
        supervisor.scale(replicas)
        return JSONResponse({"desired_replicas": replicas})

    async def shutdown(request: Request) -> Response:
        on_shutdown()
        return JSONResponse({"stopping": True})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/state", state),
            Route("/events", events),
            Route("/pods/{name}/kill", kill, methods=["POST"]),
            Route("/scale", scale, methods=["POST"]),
            Route("/shutdown", shutdown, methods=["POST"]),
            Route("/healthz", healthz),
        ]
    )
