"""The embedded cluster's own API, for what Kubernetes has no verb for (docs/local-api.md).

In: HTTP requests under ``/kibench/v1/`` on the daemon's port, with the cluster's bearer token.
Out: JSON.
  POST /kibench/v1/nodes/{name}/fail   {"duration_s": float | null}: hard node loss (back after duration_s)
  POST /kibench/v1/nodes/{name}/recover                               the lost node is back now
  POST /kibench/v1/shutdown                                           stop every pod, then the daemon
  GET  /kibench/v1/healthz                                            the daemon is alive
  GET  /kibench/v1/stats                                              the self-check since the last call (selfcheck)
  GET  /kibench/v1/openapi.json                                       the OpenAPI document of these routes
  GET  /kibench/v1/audit         {"requests": [...]}: what each service account asked the API, allowed or not
Errors: ``{"error": ...}`` with 400 (body not JSON), 401 (token), 404 (no such node), 422 (a field).
Everything else (pods, nodes, deployments, scale, drain, ...) is the Kubernetes API's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.platform.local.objects import NODES
from harness.platform.local.private_openapi import private_openapi_document

if TYPE_CHECKING:
    from harness.platform.local.cluster import Cluster

PREFIX = "/kibench/"


def _authorized(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    return header.removeprefix("Bearer ").strip() == token


async def _body(request: Request) -> dict[str, Any] | Response:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return JSONResponse({"error": "body is not valid JSON"}, status_code=400)
    if not isinstance(data, dict):
        return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
    return data


def create_private_api(
    cluster: Cluster,
    token: str,
    on_shutdown: Callable[[], None],
    audit: Callable[[], list[dict[str, Any]]] | None = None,
) -> Starlette:
    def guarded(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def wrapped(request: Request) -> Response:
            if not _authorized(request, token):
                return JSONResponse(
                    {"error": "a bearer token is required (the one in the kubeconfig)"}, status_code=401
                )
            result: Response = await handler(request)
            return result

        return wrapped

    def node_exists(name: str) -> bool:
        try:
            cluster.store.get(NODES, None, name)
        except Exception:  # noqa: BLE001
            return False
        return True

    async def fail(request: Request) -> Response:
        body = await _body(request)
        if isinstance(body, Response):
            return body
        name = request.path_params["name"]
        duration = body.get("duration_s")
        if duration is not None and (
            isinstance(duration, bool)
            or not isinstance(duration, int | float)
            or not math.isfinite(duration)
            or duration < 0
        ):
            return JSONResponse(
                {"error": f"duration_s must be seconds >= 0 or null (got {duration!r})"}, status_code=422
            )
        if not node_exists(name):
            return JSONResponse({"error": f"no node named {name!r}; see kubectl get nodes"}, status_code=404)
        cluster.lifecycle.fail(name, None if duration is None else float(duration))
        return JSONResponse({"failed": name, "duration_s": duration})

    async def recover(request: Request) -> Response:
        name = request.path_params["name"]
        if not node_exists(name):
            return JSONResponse({"error": f"no node named {name!r}; see kubectl get nodes"}, status_code=404)
        cluster.lifecycle.recover(name)
        return JSONResponse({"recovered": name})

    async def shutdown(request: Request) -> Response:
        on_shutdown()
        return JSONResponse({"stopping": True})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def stats(request: Request) -> Response:
        return JSONResponse(cluster.selfcheck.read())

    async def openapi(request: Request) -> Response:
        return JSONResponse(private_openapi_document())

    async def audit_log(request: Request) -> Response:
        return JSONResponse({"requests": audit() if audit is not None else []})

    routes = [
        Route("/kibench/v1/audit", guarded(audit_log), methods=["GET"]),
        Route("/kibench/v1/nodes/{name}/fail", guarded(fail), methods=["POST"]),
        Route("/kibench/v1/nodes/{name}/recover", guarded(recover), methods=["POST"]),
        Route("/kibench/v1/shutdown", guarded(shutdown), methods=["POST"]),
        Route("/kibench/v1/healthz", guarded(healthz), methods=["GET"]),
        Route("/kibench/v1/stats", guarded(stats), methods=["GET"]),
        Route("/kibench/v1/openapi.json", guarded(openapi), methods=["GET"]),
    ]
    return Starlette(routes=routes)
