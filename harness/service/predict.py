"""POST /v1/predict: one request is one item of a dynamic batch on the classic model.

In: ``{"inputs": [...], "model"?: str}`` (an empty body counts as ``{}``).  Out: 200
``{"model", "replica", "outputs", "batch_size", "queue_ms", "device_ms"}``; or an OpenAI-style error:
400 malformed JSON, 404 wrong model or an LLM replica, 413 body over the limit, 422 a bad field, 429
queue full (Retry-After), 503 model loading, 504 no result within ``request_timeout``.  A client that
disconnects while its request waits takes it out of the queue.  This is the hottest path of the
service, written in raw ASGI with one timer per request (see ``asgi.RequestGuard``).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.service.asgi import (
    WARMUP_KEY,
    WARMUP_TIMEOUT_S,
    Receive,
    RequestGuard,
    Send,
    retry_after,
    send_error,
    send_json,
)
from harness.service.backends import ClassicBackend
from harness.service.batching import QueueFull
from harness.service.schemas import ApiError, PredictRequest, parse, read_body

if TYPE_CHECKING:
    from harness.service.app import Service


def predict_endpoint(svc: Service) -> Callable[..., Any]:
    """The raw-ASGI handler for POST /v1/predict."""
    limit, timeout_s = svc.config.max_body_bytes, svc.config.request_timeout_s
    model_name, replica = svc.model.name, svc.config.replica

    async def predict(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        backend = svc.backend
        try:
            if not isinstance(backend, ClassicBackend):
                raise svc.wrong_kind("/v1/predict")
            body = await read_body(scope, receive, limit)
            req = parse(body, PredictRequest)
            if req.model is not None:
                svc.check_model(req.model)
            backend.check(req.inputs)
            payload = {"inputs": req.inputs, "digest": zlib.crc32(body)}
            done = await _run(svc, backend, payload, receive, WARMUP_TIMEOUT_S if WARMUP_KEY in scope else timeout_s)
        except ApiError as err:
            await send_error(send, err)
            return
        if done is None:
            return  # the client left; its work is already dropped
        await send_json(send, 200, {
            "model": model_name, "replica": replica, "outputs": done.output, "batch_size": done.batch_size,
            "queue_ms": round(done.queue_s * 1000.0, 3), "device_ms": round(done.device_s * 1000.0, 3),
        })  # fmt: skip

    return predict


async def _run(svc: Service, backend: ClassicBackend, payload: dict[str, Any], receive: Receive,
               timeout_s: float) -> Any:  # fmt: skip
    """Submit under the request's deadline; None when the client disconnected."""
    guard = RequestGuard(receive, timeout_s, svc.deadlines)
    try:
        if svc.phase != "ready" or svc.faults.active:
            await svc.inference_gate()
        return await backend.submit(payload)
    except QueueFull as full:
        raise retry_after(ApiError(429, "queue full; retry later", code="queue_full"), full.retry_after_s) from None
    except asyncio.CancelledError:
        reason = guard.absorb()
        if reason is None:
            raise
        if reason == "timeout":
            raise ApiError(504, f"no result within request_timeout ({timeout_s:g}s)", code="timeout") from None
        return None
    finally:
        guard.close()
