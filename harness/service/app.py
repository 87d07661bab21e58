"""The reference inference service as an ASGI app (Starlette routing, raw-ASGI hot routes).

In: a ``ServiceConfig``.  Out: ``create_app(config)``, an app serving

    POST /v1/predict       classic models: one request = one item of a dynamic batch
    POST /v1/completions   LLM profiles: OpenAI-compatible subset, SSE when stream is true (completions.py)
    GET  /v1/models        the model served;  GET /openapi.json  the OpenAPI document
    GET  /healthz          liveness (200 while the process answers)
    GET  /readyz           readiness: 503 during model load and warm-up, and from the moment a drain starts
    GET  /metrics          Prometheus text (metrics.py)
    POST /admin/...        faults, only with KIBENCH_ADMIN_TOKEN set (faults.py)

Every response carries ``X-Kibench-Replica``.  The app's lifespan boots the model in the background
(load phase, warm-up batch, one warm-up request through the real request path) so probes answer during
the cold start; ``app.state.service`` is the ``Service`` (used by server.py to drain).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from harness.service.asgi import CLIENT_CLOSED, WARMUP_KEY, Deadlines, Endpoint, Receive, Send, call_app, retry_after
from harness.service.backends import Backend, ClassicBackend, LLMBackend
from harness.service.batching import sleep_until
from harness.service.completions import completions_endpoint
from harness.service.config import ServiceConfig
from harness.service.faults import Faults, admin_routes, take_slow_start
from harness.service.metrics import ServiceMetrics
from harness.service.openapi import openapi_document
from harness.service.predict import predict_endpoint
from harness.service.profiles import ClassicProfile, LLMProfile
from harness.service.schemas import ApiError

__all__ = ["REPLICA_HEADER", "Service", "ServiceConfig", "create_app"]

REPLICA_HEADER = "X-Kibench-Replica"
INFERENCE_ROUTES = {"/v1/predict": "predict", "/v1/completions": "completions"}
OTHER_ROUTES = {"/healthz": "healthz", "/readyz": "readyz", "/metrics": "metrics", "/v1/models": "models"}
log = logging.getLogger("harness.service")


class Service:
    """One replica's live state: model, device, faults, lifecycle phase, in-flight count."""

    def __init__(self, config: ServiceConfig, exit_fn: Callable[[int], Any] = os._exit) -> None:
        self.config = config
        self.model = config.model()
        self.exit_fn = exit_fn
        self.metrics = ServiceMetrics(self.model.name, self.model.kind, config.backend, config.busy_window_s)
        self.faults = Faults()
        self.deadlines = Deadlines()  # request deadlines share one timer (asgi.RequestGuard)
        self.replica_header = (REPLICA_HEADER.lower().encode(), config.replica.encode())
        self.backend: Backend = _build_backend(config, self.model, self.metrics)
        self.phase = "loading"  # loading → warming → ready; failed when the boot raised
        self.draining = False
        self.in_flight = 0
        self.started = 0  # inference requests so far (wait_quiet tells a quiet replica from a busy one)
        self.idle = asyncio.Event()  # set once draining with nothing in flight
        self.created_s = int(time.time())
        self.load_s: float | None = None
        self.metrics.bind(
            in_flight=lambda: self.in_flight,
            queue_depth=lambda: self.backend.depth,
            running_batch=lambda: self.backend.running if self.backend.kind == "classic" else 0,
            running_seqs=lambda: self.backend.running if self.backend.kind == "llm" else 0,
            ready=lambda: 1.0 if self.ready() else 0.0,
        )

    def ready(self) -> bool:
        return self.phase == "ready" and not self.draining

    def begin_drain(self) -> None:
        """Readiness false from now on; in-flight work goes on."""
        self.draining = True
        if self.in_flight == 0:
            self.idle.set()

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no inference request is in flight; False when ``timeout_s`` ran out first."""
        try:
            async with asyncio.timeout(timeout_s):
                await self.idle.wait()
        except TimeoutError:
            return False
        return True

    async def wait_quiet(self, quiet_s: float, timeout_s: float) -> bool:
        """Wait until no inference request has started or been in flight for ``quiet_s``; False when
        ``timeout_s`` ran out first.  While draining, every response says ``Connection: close`` (``Edge``), so
        each keep-alive client's next request is answered and the client reconnects, to a Ready replica; a
        connection still idle after the quiet period is closed by the server's shutdown.  (Closing idle
        keep-alive connections at once raced with a client's next request on them: one request in a rolling
        update now and then failed with "connection closed".)"""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        seen, quiet_since = self.started, loop.time()
        while loop.time() < end:
            await asyncio.sleep(min(0.05, quiet_s))
            if self.started != seen or self.in_flight:
                seen, quiet_since = self.started, loop.time()
            elif loop.time() - quiet_since >= quiet_s:
                return True
        return False

    def done_one(self) -> None:
        """An inference request finished (the edge counts them in)."""
        self.in_flight -= 1
        if self.in_flight == 0 and self.draining:
            self.idle.set()

    async def boot(self, app: Any) -> None:
        """Model load, warm-up on the device, one warm-up request through the app; then ready."""
        try:
            cold_s = take_slow_start(self.config.state_dir)
            cold_s = self.config.cold_start_s if cold_s is None else cold_s
            start = time.monotonic()
            await self.backend.load()
            await sleep_until(time.monotonic() + cold_s)
            self.load_s = time.monotonic() - start
            self.metrics.model_load.set(self.load_s)
            self.phase = "warming"
            self.backend.start()
            if self.config.warmup:
                await self.backend.warmup()
                await self._warmup_request(app)
            self.phase = "ready"
        except asyncio.CancelledError:
            raise
        except Exception:
            self.phase = "failed"
            log.exception("replica %s: boot failed; it will never be ready", self.config.replica)

    async def _warmup_request(self, app: Any) -> None:
        if isinstance(self.model, LLMProfile):
            path, body = "/v1/completions", {"prompt": "warm up", "max_tokens": 2}
        else:
            payload: dict[str, Any] = {"inputs": [[0.5] * 8]} if self.config.backend == "torch" else {"inputs": []}
            path, body = "/v1/predict", payload
        status, text = await call_app(app, "POST", path, json.dumps(body).encode(), {WARMUP_KEY: True})
        if status != 200:
            raise RuntimeError(f"warm-up request to {path} answered {status}: {text[:200]!r}")

    async def inference_gate(self) -> None:
        """Refuse while the model loads, inject faults: raises ApiError; sleeps the added latency."""
        if self.phase in ("loading", "failed"):
            raise retry_after(ApiError(503, "model not loaded yet; retry later", code="loading"), 1.0)
        if self.faults.active:
            status = self.faults.injected_status()
            if status is not None:
                raise ApiError(status, "injected fault (admin API /admin/errors)", code="injected_fault")
            delay_s = self.faults.latency_s()
            if delay_s > 0:
                await asyncio.sleep(delay_s)

    def check_model(self, model: str | None) -> None:
        if model is not None and model != self.model.name:
            raise ApiError(404, f"model {model!r} is not served here; this replica serves {self.model.name!r}",
                           param="model", code="model_not_found")  # fmt: skip

    def wrong_kind(self, route: str) -> ApiError:
        other = "/v1/completions" if isinstance(self.model, LLMProfile) else "/v1/predict"
        return ApiError(404, f"{route} does not serve {self.model.kind} model {self.model.name!r}; use {other}",
                        code="wrong_route")  # fmt: skip


def _build_backend(config: ServiceConfig, model: ClassicProfile | LLMProfile, metrics: ServiceMetrics) -> Backend:
    if isinstance(model, LLMProfile):
        return LLMBackend(model, config.max_queue, metrics)
    runner = None
    if config.backend == "torch":
        from harness.service.torch_model import TorchRunner

        runner = TorchRunner()
    # admission: a request whose result would come after 90 % of its deadline is shed with 429 at once
    # (the rest is margin for the request's own path and a busy host), not answered with 504 later
    return ClassicBackend(model, config.max_queue, metrics, runner, max_wait_s=0.9 * config.request_timeout_s)


def _closing(send: Send) -> Send:
    """``send`` with ``Connection: close`` on the response: a draining replica ends each keep-alive connection
    after its next answer (uvicorn closes the connection when the response says so)."""

    async def closing_send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), (b"connection", b"close")]
        await send(message)

    return closing_send


class Edge:
    """Outermost ASGI layer: replica header, hang fault, request metrics and in-flight accounting.

    ``direct`` routes (POST /v1/predict, the hottest path) do that edge work themselves, so the edge
    only hands the request over.  The other inference route (``fast``) goes straight to its handler
    through a wrapping ``send``; everything else goes through Starlette."""

    def __init__(self, app: Any, svc: Service, fast: dict[tuple[str, str], Any], direct: dict[str, Any]) -> None:
        self.app, self.svc, self.fast, self.direct = app, svc, fast, direct
        self.header = svc.replica_header

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if self.svc.draining and scope["type"] == "http":
            send = _closing(send)
        if scope["type"] == "http" and scope["method"] == "POST":
            direct = self.direct.get(scope["path"])
            if direct is not None:
                await direct(scope, receive, send)
                return
        await self._call(scope, receive, send)

    async def _call(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        svc, path, faults = self.svc, scope["path"], self.svc.faults
        route = INFERENCE_ROUTES.get(path) or OTHER_ROUTES.get(path) or ("admin" if path[:7] == "/admin/" else "other")
        exempt = route == "admin"
        if faults.hung and not exempt:
            await faults.wait_unhung()
        status = 0
        header = self.header

        async def edge_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            if faults.hung and not exempt:
                await faults.wait_unhung()
            await send(message)

        start = time.perf_counter()
        handler = self.fast.get((path, scope["method"]), self.app)
        inference = handler is not self.app
        if inference:
            svc.in_flight += 1
            svc.started += 1
        try:
            await handler(scope, receive, edge_send)
        finally:
            if inference:
                svc.done_one()
            if WARMUP_KEY not in scope:
                svc.metrics.observe_request(route, status or CLIENT_CLOSED, time.perf_counter() - start)


def create_app(config: ServiceConfig, exit_fn: Callable[[int], Any] = os._exit) -> Any:
    """Build the service app for one replica; its lifespan boots the model in the background."""
    svc = Service(config, exit_fn)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        if svc.ready():
            return PlainTextResponse("ready")
        reason = "draining" if svc.draining else svc.phase
        return PlainTextResponse(f"not ready: {reason}", status_code=503)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def models(request: Request) -> Response:
        card = {"id": svc.model.name, "object": "model", "created": svc.created_s, "owned_by": "kibench",
                "kind": svc.model.kind, "backend": config.backend}  # fmt: skip
        if isinstance(svc.model, LLMProfile):
            card["max_model_len"] = svc.model.max_model_len
        card["profile"] = dataclasses.asdict(svc.backend.profile)  # torch: the times fitted at warm-up
        return JSONResponse({"object": "list", "data": [card]})

    async def openapi(request: Request) -> Response:
        context = svc.model.max_model_len if isinstance(svc.model, LLMProfile) else None
        return JSONResponse(openapi_document(svc.model.name, admin=bool(config.admin_token), max_model_len=context))

    predict, completions = predict_endpoint(svc), completions_endpoint(svc)
    fast, direct = {("/v1/completions", "POST"): completions}, {"/v1/predict": predict}
    routes = [
        Route("/v1/predict", Endpoint(predict), methods=["POST"]),
        Route("/v1/completions", Endpoint(completions), methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    if config.admin_token:
        routes += admin_routes(svc.faults, config.admin_token, config.state_dir, lambda code: svc.exit_fn(code))

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        boot = asyncio.get_running_loop().create_task(svc.boot(edge), name="boot")
        try:
            yield
        finally:
            boot.cancel()
            await asyncio.gather(boot, return_exceptions=True)
            await svc.backend.stop()

    inner = Starlette(routes=routes, lifespan=lifespan)
    edge = Edge(inner, svc, fast, direct)
    inner.state.service = svc
    edge.state = inner.state  # type: ignore[attr-defined]
    edge.router = inner.router  # type: ignore[attr-defined]
    return edge
