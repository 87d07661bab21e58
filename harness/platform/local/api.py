"""The local platform's JSON API on loopback (the role kube-apiserver plays for Kubernetes).

In: HTTP requests (routes and bodies in docs/local-api.md).  Out: JSON.
  GET    /state                   deployment, desired replicas, replicas, nodes, HPA status, admin token
  GET    /events?since=N          events after cursor N: {"events": [...], "next": M}
  POST   /scale                   {"replicas": int}
  POST   /pods/{name}/kill        {"grace_period_s": float?}: delete a pod (SIGTERM, grace, SIGKILL)
  POST   /nodes/{name}/fail       {"duration_s": float?}: hard node loss
  POST   /nodes/{name}/cordon     /uncordon: mark (un)schedulable
  POST   /nodes/{name}/drain      {"grace_period_s": float?}: cordon + evict honouring the PDB (202)
  DELETE /nodes/{name}            remove a node
  POST   /rollout                 {"service": {...}}: rolling update (202)
  POST   /shutdown                stop every replica and the daemon
  GET    /healthz                 the daemon itself is alive
Errors are JSON ``{"error": ...}`` with 4xx codes that say what to fix.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.platform.local import nodeops
from harness.platform.local.supervisor import Supervisor

Handler = Callable[[Request], Awaitable[Response]]


class BadRequest(ValueError):
    """A body or parameter the client must fix; ``status`` is 400 or 422."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise BadRequest("body is not valid JSON", 400) from exc
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object", 400)
    return data


def _seconds(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise BadRequest(f"{key} must be a number of seconds >= 0 or null (got {value!r})")
    return float(value)


def _errors(handler: Handler) -> Handler:
    """Map client mistakes to 4xx JSON answers."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except BadRequest as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except nodeops.NodeError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)

    return wrapped


class _Handlers:
    """One method per route; client mistakes raise ``BadRequest`` / ``NodeError`` (see ``_errors``)."""

    def __init__(self, sup: Supervisor, on_shutdown: Callable[[], None], extra: dict[str, Any]) -> None:
        self.sup, self.on_shutdown, self.extra = sup, on_shutdown, extra

    async def state(self, request: Request) -> Response:
        return JSONResponse({**self.sup.snapshot(), **self.extra})

    async def events(self, request: Request) -> Response:
        try:
            since = int(request.query_params.get("since", "0"))
        except ValueError as exc:
            raise BadRequest("since must be an integer cursor", 400) from exc
        return JSONResponse({"events": self.sup.events[since:], "next": len(self.sup.events)})

    async def kill(self, request: Request) -> Response:
        grace = _seconds(await _body(request), "grace_period_s")
        name = request.path_params["name"]
        if not await self.sup.kill_pod(name, grace):
            return JSONResponse({"error": f"no live pod named {name!r}; see GET /state"}, status_code=404)
        return JSONResponse({"killed": name})

    async def scale(self, request: Request) -> Response:
        replicas = (await _body(request)).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or not 0 <= replicas <= 64:
            raise BadRequest(f"replicas must be an integer in [0, 64] (got {replicas!r})")
        self.sup.scale(replicas)
        return JSONResponse({"desired_replicas": replicas})

    async def fail(self, request: Request) -> Response:
        duration = _seconds(await _body(request), "duration_s")
        nodeops.fail_node(self.sup, request.path_params["name"], duration)
        return JSONResponse({"failed": request.path_params["name"], "duration_s": duration})

    async def cordon(self, request: Request) -> Response:
        nodeops.cordon(self.sup, request.path_params["name"], True)
        return JSONResponse({"cordoned": request.path_params["name"]})

    async def uncordon(self, request: Request) -> Response:
        nodeops.cordon(self.sup, request.path_params["name"], False)
        return JSONResponse({"uncordoned": request.path_params["name"]})

    async def drain(self, request: Request) -> Response:
        grace = _seconds(await _body(request), "grace_period_s")
        nodeops.drain_node(self.sup, request.path_params["name"], grace)
        return JSONResponse({"draining": request.path_params["name"]}, status_code=202)

    async def delete_node(self, request: Request) -> Response:
        nodeops.delete_node(self.sup, request.path_params["name"])
        return JSONResponse({"removed": request.path_params["name"]})

    async def rollout(self, request: Request) -> Response:
        patch = (await _body(request)).get("service")
        if not isinstance(patch, dict) or not patch:
            raise BadRequest('body must be {"service": {...}} with the service fields to change')
        try:
            revision = self.sup.rollout(patch)
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
        return JSONResponse({"revision": revision}, status_code=202)

    async def shutdown(self, request: Request) -> Response:
        self.on_shutdown()
        return JSONResponse({"stopping": True})

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"ok": True})


def create_api(supervisor: Supervisor, on_shutdown: Callable[[], None], extra: dict[str, Any]) -> Starlette:
    """Build the API app; ``extra`` (e.g. the balancer URL) is merged into /state."""
    h = _Handlers(supervisor, on_shutdown, extra)
    routes = [
        ("/state", h.state, ["GET"]),
        ("/events", h.events, ["GET"]),
        ("/pods/{name}/kill", h.kill, ["POST"]),
        ("/scale", h.scale, ["POST"]),
        ("/nodes/{name}/fail", h.fail, ["POST"]),
        ("/nodes/{name}/cordon", h.cordon, ["POST"]),
        ("/nodes/{name}/uncordon", h.uncordon, ["POST"]),
        ("/nodes/{name}/drain", h.drain, ["POST"]),
        ("/nodes/{name}", h.delete_node, ["DELETE"]),
        ("/rollout", h.rollout, ["POST"]),
        ("/shutdown", h.shutdown, ["POST"]),
        ("/healthz", h.healthz, ["GET"]),
    ]
    return Starlette(routes=[Route(path, _errors(fn), methods=methods) for path, fn, methods in routes])
