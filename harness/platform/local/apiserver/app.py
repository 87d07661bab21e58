"""The embedded Kubernetes API as a plain ASGI app (no framework: the routes are regular and speed matters).

In: HTTP requests with a bearer token (``Authorization: Bearer X`` or a bare ``X``): the cluster's admin token
(allowed everything) or a service account's (``tokens.issue``; RBAC decides, ``rbac.py``), bodies up to 3 MiB.
Out: JSON: discovery (``/api``, ``/apis``, ``/api/v1``, ``/apis/{group}/{version}``), ``/version``, ``/healthz``
``/readyz`` ``/livez`` (``ok``), the resources (``handlers.py``), watch streams (``watching.py``) and, over a
WebSocket, ``pods/{name}/portforward`` (``portforward.py``).  Every
refusal is a ``kind: Status`` with a 4xx code; a 500 means a bug here and is logged.  ``/openapi/v2`` and
``/openapi/v3`` answer 404 (kubectl then wants ``--validate=false``, which beats a stub document).

``create_app(store, token, log_path)`` returns an ``ApiApp``; call ``app.close()`` before stopping the server so
open watches end cleanly (uvicorn waits for running responses and has no way to tell the app).
"""

from __future__ import annotations

import logging
from typing import Any

from harness.platform.local.apiserver import logstream, portforward, rbac, resources, watching
from harness.platform.local.apiserver.changes import dumps
from harness.platform.local.apiserver.errors import ApiError, method_not_allowed, resource_not_found, status_body
from harness.platform.local.apiserver.handlers import Handlers, LogFollow, Reply, WatchPlan, reply
from harness.platform.local.apiserver.pods import LogPath
from harness.platform.local.apiserver.routing import Request, negotiate, parse_query, resource_target, split_path
from harness.platform.local.apiserver.store import Store

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 3 * 1024 * 1024
HEALTH = ("healthz", "readyz", "livez")


class ApiApp:
    """ASGI app over one ``Store``."""

    def __init__(
        self,
        store: Store,
        token: str,
        log_path: LogPath | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        bookmark_interval_s: float = 30.0,
    ) -> None:
        self.store = store
        self.tokens = rbac.Tokens(token)  # the admin token, and the service accounts' (``tokens.issue``)
        self.audit = rbac.Audit()
        self.handlers = Handlers(store, log_path)
        self.max_body_bytes = max_body_bytes
        self.bookmark_interval_s = bookmark_interval_s
        self.closing = False

    def close(self) -> None:
        """End every open watch now and refuse new ones (call it before stopping the server)."""
        self.closing = True
        self.store.close_watches()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "websocket":  # pods/{name}/portforward (portforward.py)
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            await portforward.handle(scope, receive, send, self.store, self._may_port_forward(headers, scope["path"]))
            return
        if scope["type"] != "http":
            return
        try:
            result = await self._handle(scope, receive)
        except ApiError as exc:
            result = Reply(exc.code, dumps(exc.status()))
        except Exception:
            log.exception("internal error answering %s %s", scope.get("method"), scope.get("path"))
            result = Reply(500, dumps(status_body(500, "InternalError", "an internal error occurred; see the log")))
        if isinstance(result, WatchPlan):
            if self.closing and result.watch is not None:
                result.watch.close("the server is shutting down")
            await watching.stream(result, send, receive, self.bookmark_interval_s)
            return
        if isinstance(result, LogFollow):
            await logstream.stream(result, send, receive, lambda: self.closing)
            return
        headers = [
            (b"content-type", result.content_type.encode()),
            (b"content-length", str(len(result.body)).encode()),
            (b"cache-control", b"no-cache, private"),
        ]
        await send({"type": "http.response.start", "status": result.status, "headers": headers})
        await send({"type": "http.response.body", "body": result.body})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _may_port_forward(self, headers: dict[str, str], path: str) -> bool:
        """The WebSocket upgrade is a GET, authorized as ``create`` on ``pods/portforward`` (as kube-apiserver
        does for WebSocket upgrades of exec, attach and portforward since 1.31)."""
        user, target = self._user(headers), portforward.match(path)
        if user is None or target is None:
            return user is not None
        attrs = rbac.Attributes("create", "", "pods/portforward", target[0], target[1])
        ok = rbac.allowed(self.store, user, attrs)
        self.audit.record(user, attrs, ok)
        return ok

    def _user(self, headers: dict[str, str]) -> rbac.User | None:
        value = headers.get("authorization", "").strip()
        if value[:7].lower() == "bearer ":
            value = value[7:].strip()
        return self.tokens.user(value)

    async def _read_body(self, headers: dict[str, str], receive: Any) -> bytes:
        too_large = ApiError(
            413, "RequestEntityTooLarge", f"the request is larger than {self.max_body_bytes} bytes, the limit"
        )
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body_bytes:
            raise too_large
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise too_large
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def _handle(self, scope: dict[str, Any], receive: Any) -> Reply | WatchPlan | LogFollow:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        user = self._user(headers)
        if user is None:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        body = await self._read_body(headers, receive)
        method, path = scope["method"], scope["path"]
        segments = split_path(path)
        if segments and segments[0] in HEALTH:
            return Reply(200, b"ok", "text/plain; charset=utf-8")
        discovery = self._discovery(segments, scope)
        if discovery is not None:
            if method != "GET":
                raise method_not_allowed()
            return reply(discovery)
        if len(segments) < (3 if segments[0] == "api" else 4):
            raise resource_not_found()
        target = resource_target(segments)
        query = parse_query(scope.get("query_string", b""))
        request = Request(method, path, query, headers, body, negotiate(headers.get("accept", "")))
        attrs = rbac.attributes(method, target, method == "GET" and request.flag("watch"))
        ok = rbac.allowed(self.store, user, attrs)
        self.audit.record(user, attrs, ok)
        if not ok:
            raise rbac.forbidden(user, attrs)
        return self.handlers.dispatch(request, target)

    @staticmethod
    def _discovery(segments: list[str], scope: dict[str, Any]) -> dict[str, Any] | None:
        """The discovery document at this path, None for resource paths; 404 for anything else."""
        if not segments:
            paths = ["/api", "/api/v1", "/apis", *(f"/apis/{g}/{v}" for g, vs in resources.GROUPS.items() for v in vs)]
            return {"paths": [*paths, "/healthz", "/livez", "/readyz", "/version"]}
        head, n = segments[0], len(segments)
        if head == "version" and n == 1:
            return resources.version_info()
        if head == "api" and n <= 2:
            if n == 1:
                host, port = scope.get("server") or ("127.0.0.1", 0)
                return resources.api_versions(f"{host}:{port}")
            return resources.api_resource_list("", segments[1])
        if head == "apis" and n <= 3:
            if n == 1:
                return resources.api_group_list()
            return resources.api_group(segments[1]) if n == 2 else resources.api_resource_list(*segments[1:3])
        if head in ("api", "apis"):
            return None
        raise resource_not_found()


def create_app(store: Store, token: str, log_path: LogPath | None = None, **options: Any) -> ApiApp:
    """The ASGI app serving ``store``; ``options``: ``max_body_bytes``, ``bookmark_interval_s``."""
    return ApiApp(store, token, log_path, **options)
