"""The reference inference service as a Starlette app.

In: a ``ServiceConfig`` (replica name, emulated device time, cold start).  Out: an ASGI app with
POST /v1/predict, GET /healthz (liveness), GET /readyz (readiness: 503 until the cold start is over
and again once draining), GET /metrics (Prometheus text).  Every response names the replica in the
``X-Kibench-Replica`` header.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

REPLICA_HEADER = "X-Kibench-Replica"


@dataclass(frozen=True)
class ServiceConfig:
    """How one replica behaves."""

    replica: str = "replica-0"
    device_time_ms: float = 50.0
    cold_start_s: float = 0.0
    max_body_bytes: int = 1 << 20


class _State:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.started_mono = time.monotonic()
        self.draining = False
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "kibench_requests_total", "Requests by route and status", ["route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "kibench_request_duration_seconds",
            "Request latency",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.in_flight = Gauge("kibench_in_flight_requests", "Requests in flight", registry=self.registry)

    def ready(self) -> bool:
        return not self.draining and time.monotonic() - self.started_mono >= self.config.cold_start_s


def create_app(config: ServiceConfig) -> Starlette:
    """Build the service app for one replica."""
    state = _State(config)
    headers = {REPLICA_HEADER: config.replica}

    async def predict(request: Request) -> Response:
        start = time.perf_counter()
        state.in_flight.inc()
        try:
            body = await request.body()
            if len(body) > config.max_body_bytes:
                return _count(state, "predict", JSONResponse({"error": "body too large"}, 413, headers))
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                return _count(state, "predict", JSONResponse({"error": "malformed JSON"}, 400, headers))
            await asyncio.sleep(config.device_time_ms / 1000.0)
            out = {"replica": config.replica, "outputs": [0.0], "inputs": len(payload.get("inputs", []))}
            return _count(state, "predict", JSONResponse(out, 200, headers))
        finally:
            state.in_flight.dec()
            state.latency.labels("predict").observe(time.perf_counter() - start)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok", headers=headers)

    async def readyz(request: Request) -> Response:
        if state.ready():
            return PlainTextResponse("ready", headers=headers)
        return PlainTextResponse("not ready", status_code=503, headers=headers)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)

    app = Starlette(
        routes=[
            Route("/v1/predict", predict, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
        ]
    )
    app.state.service = state
    return app


def _count(state: _State, route: str, response: Response) -> Response:
    state.requests.labels(route, str(response.status_code)).inc()
    return response
