"""POST /v1/predict: one request is one item of a dynamic batch on the classic model.

In: ``{"inputs": [...], "model"?: str}`` (an empty body counts as ``{}``).  Out: 200
``{"model", "replica", "outputs", "batch_size", "queue_ms", "device_ms"}``; or an OpenAI-style error:
400 malformed JSON, 404 wrong model or an LLM replica, 413 body over the limit, 422 a bad field, 429
queue full (Retry-After), 503 model loading, 504 no result within ``request_timeout``.  A client that
disconnects while its request waits takes it out of the queue.

This is the hottest path of the service, written in raw ASGI and reached straight from ``app.Edge``: the
handler does its own edge work (the replica header, waiting out a hang, in-flight count and request
metrics), so a request runs in one coroutine.  A request whose batch finishes at once (a free zero-time
device) never waits, so only a request that waits gets a deadline and a disconnect watch
(``asgi.RequestGuard``).
"""

from __future__ import annotations

import asyncio
import bisect
import time
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json

from harness.service.asgi import (
    CLIENT_CLOSED,
    JSON_HEADERS,
    WARMUP_KEY,
    WARMUP_TIMEOUT_S,
    Receive,
    RequestGuard,
    Send,
    error_headers,
    retry_after,
    send_json,
)
from harness.service.backends import ClassicBackend
from harness.service.batching import QueueFull, Ticket
from harness.service.schemas import ApiError, parse_predict, read_body

if TYPE_CHECKING:
    from harness.service.app import Service


def predict_endpoint(svc: Service) -> Callable[..., Any]:
    """The raw-ASGI handler for POST /v1/predict, edge work included (metrics under route ``predict``)."""
    limit, timeout_s = svc.config.max_body_bytes, svc.config.request_timeout_s
    model_name, replica, faults = svc.model.name, svc.config.replica, svc.faults
    own_headers = (svc.replica_header,)
    ok_headers = [*JSON_HEADERS, svc.replica_header]
    counts, hist = svc.metrics.route("predict")
    bounds, perf_counter = hist.bounds, time.perf_counter

    async def predict(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if faults.hung:
            await faults.wait_unhung()
        svc.in_flight += 1
        svc.started += 1
        start, status = perf_counter(), CLIENT_CLOSED
        try:
            backend = svc.backend
            try:
                if not isinstance(backend, ClassicBackend):
                    raise svc.wrong_kind("/v1/predict")
                message = await receive()
                body = message.get("body", b"")
                if message.get("more_body", False) or message["type"] != "http.request" or len(body) > limit:
                    body = await read_body(scope, receive, limit, message)
                inputs, model = parse_predict(body)
                if model is not None:
                    svc.check_model(model)
                backend.check(inputs)
                payload = {"inputs": inputs, "digest": zlib.crc32(body)}
                if svc.phase == "ready" and not faults.active:
                    ticket = backend.batcher.enqueue(payload)
                    if not ticket.done:
                        ticket = await _wait(svc, backend, ticket, None, receive, timeout_s)
                else:  # loading, warming up (the warm-up request), or faults injected
                    timeout = WARMUP_TIMEOUT_S if WARMUP_KEY in scope else timeout_s
                    ticket = await _wait(svc, backend, None, payload, receive, timeout)
                if ticket is None:
                    return  # the client left; its work is already dropped
            except QueueFull as full:
                err = retry_after(ApiError(429, "queue full; retry later", code="queue_full"), full.retry_after_s)
                status = await send_json(send, 429, err.body(), [*error_headers(err), *own_headers], faults)
                return
            except ApiError as err:
                status = await send_json(send, err.status, err.body(), [*error_headers(err), *own_headers], faults)
                return
            out = to_json({
                "model": model_name, "replica": replica, "outputs": ticket.output, "batch_size": ticket.batch_size,
                # times in ms to the µs: round(seconds * 1000, 3) for non-negative seconds, at half the cost
                "queue_ms": int(ticket.queue_s * 1e6 + 0.5) / 1000.0,
                "device_ms": int(ticket.device_s * 1e6 + 0.5) / 1000.0,
            })  # fmt: skip
            if faults.hung:
                await faults.wait_unhung()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [*ok_headers, (b"content-length", b"%d" % len(out))]})  # fmt: skip
            await send({"type": "http.response.body", "body": out})
            status = 200
        finally:
            svc.in_flight -= 1
            if svc.draining and svc.in_flight == 0:
                svc.idle.set()
            if WARMUP_KEY not in scope:  # ServiceMetrics.observe_request, inlined: once per request
                seconds = perf_counter() - start
                counts[status] = counts.get(status, 0) + 1
                hist.counts[bisect.bisect_left(bounds, seconds)] += 1
                hist.sum += seconds

    return predict


async def _wait(svc: Service, backend: ClassicBackend, ticket: Ticket | None, payload: Any, receive: Receive,
                timeout_s: float) -> Ticket | None:  # fmt: skip
    """The slow path: pass the inference gate (when there is no ticket yet) and wait for the result under
    the request's deadline and disconnect watch; None when the client left."""
    guard = RequestGuard(receive, timeout_s, svc.deadlines)
    try:
        if ticket is None:
            await svc.inference_gate()
            ticket = backend.batcher.enqueue(payload)
            if ticket.done:
                return ticket
        try:
            return await ticket.future  # type: ignore[misc]
        except asyncio.CancelledError:
            backend.batcher.withdraw(ticket)
            raise
    except asyncio.CancelledError:
        reason = guard.absorb()
        if reason is None:
            raise
        if reason == "disconnect":
            return None
        raise ApiError(504, f"no result within request_timeout ({timeout_s:g}s)", code="timeout") from None
    finally:
        guard.close()
