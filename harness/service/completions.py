"""POST /v1/completions: the OpenAI-compatible subset served by the emulated LLM.

In: ``{"model"?, "prompt": str | [token ids], "max_tokens"=16, "temperature", "stream", "stream_options"}``.
Out, without ``stream``: one JSON completion with ``usage``.  With ``stream``: ``text/event-stream``, one
``data: {chunk}`` event per token in OpenAI's ``text_completion`` chunk format (the last one carries
``finish_reason``; with ``stream_options.include_usage`` one more with ``usage`` and no choices), then
``data: [DONE]``.  Prompt tokens are counted by an emulated tokenizer (words and punctuation marks); the
generated text is drawn from a small word list (deterministic when ``temperature`` is 0).

Errors before the first byte are JSON (400 context too long, 404 model, 422 field, 429 queue full,
503 loading, 504 no first token within request_timeout).  A client that disconnects cancels its
sequence, while it waits or mid-stream.  Time to first token and inter-token gaps feed the metrics.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
import uuid
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
from harness.service.backends import LLMBackend
from harness.service.batching import QueueFull
from harness.service.continuous import Sequence
from harness.service.schemas import ApiError, CompletionRequest, parse, read_body

if TYPE_CHECKING:
    from harness.service.app import Service

_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORDS = (
    " the", " model", " answer", " is", " a", " small", " batch", " of", " tokens", " and", " it", " runs",
    " on", " one", " device", " with", " latency", " under", " load", ".", ",", " queue", " scale", " fast",
)  # fmt: skip
SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]


def count_tokens(prompt: str | list[int]) -> int:
    """The emulated tokenizer: token ids count as themselves; text as words and punctuation marks."""
    if isinstance(prompt, list):
        return max(1, len(prompt))
    return max(1, len(_TOKEN.findall(prompt)))


def _word_picker(req: CompletionRequest) -> Callable[[int], str]:
    if req.temperature == 0:
        seed = zlib.crc32(json.dumps(req.prompt).encode())
        return lambda i: _WORDS[(seed + 7 * i) % len(_WORDS)]
    rng = random.Random(req.seed)
    return lambda i: rng.choice(_WORDS)


def completions_endpoint(svc: Service) -> Callable[..., Any]:
    """The raw-ASGI handler for POST /v1/completions."""
    limit, timeout_s = svc.config.max_body_bytes, svc.config.request_timeout_s

    async def completions(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        start = time.monotonic()
        try:
            backend = svc.backend
            if not isinstance(backend, LLMBackend):
                raise svc.wrong_kind("/v1/completions")
            req = parse(await read_body(scope, receive, limit), CompletionRequest)
            svc.check_model(req.model)
            prompt_tokens = count_tokens(req.prompt)
            if prompt_tokens + req.max_tokens > backend.profile.max_model_len:
                raise ApiError(400, f"prompt ({prompt_tokens} tokens) + max_tokens ({req.max_tokens}) exceeds the "
                               f"model's context of {backend.profile.max_model_len}; lower max_tokens",
                               param="max_tokens", code="context_length_exceeded")  # fmt: skip
        except ApiError as err:
            await send_error(send, err)
            return
        if WARMUP_KEY in scope:  # no deadline, and not in the TTFT histogram
            await _serve(svc, backend, req, prompt_tokens, None, receive, send, WARMUP_TIMEOUT_S)
        else:
            await _serve(svc, backend, req, prompt_tokens, start, receive, send, timeout_s)

    return completions


async def _serve(svc: Service, backend: LLMBackend, req: CompletionRequest, prompt_tokens: int, start: float | None,
                 receive: Receive, send: Send, timeout_s: float) -> None:  # fmt: skip
    guard = RequestGuard(receive, timeout_s, svc.deadlines)  # streaming: deadline to the first token; else to the end
    seq: Sequence | None = None
    try:
        await svc.inference_gate()
        try:
            seq = backend.submit(prompt_tokens, req.max_tokens)
        except QueueFull as full:
            raise retry_after(ApiError(429, "queue full; retry later", code="queue_full"),
                              full.retry_after_s) from None  # fmt: skip
        first = await seq.next()
        if start is not None:
            svc.metrics.ttft.observe(time.monotonic() - start)
        if req.stream:
            guard.no_deadline()
            await _stream(svc, req, seq, prompt_tokens, first, send)
        else:
            while await seq.next() is not None:
                pass
            guard.close()
            await send_json(send, 200, _completion(svc, req, prompt_tokens))
    except ApiError as err:
        await send_error(send, err)
    except asyncio.CancelledError:
        reason = guard.absorb()
        if reason is None:
            raise
        if reason == "timeout":
            what = "first token" if req.stream else "completion"
            await send_error(send, ApiError(504, f"no {what} within request_timeout ({timeout_s:g}s)", code="timeout"))
    finally:
        guard.close()
        if seq is not None and seq.emitted < seq.max_tokens:
            backend.cancel(seq)


def _envelope(svc: Service, cid: str, created: int) -> dict[str, Any]:
    return {"id": cid, "object": "text_completion", "created": created, "model": svc.model.name}


def _completion(svc: Service, req: CompletionRequest, prompt_tokens: int) -> dict[str, Any]:
    word = _word_picker(req)
    text = "".join(word(i) for i in range(req.max_tokens))
    body = _envelope(svc, f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time()))
    body["choices"] = [{"text": text, "index": 0, "logprobs": None, "finish_reason": "length"}]
    body["usage"] = _usage(prompt_tokens, req.max_tokens)
    return body


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}  # fmt: skip


async def _stream(svc: Service, req: CompletionRequest, seq: Any, prompt_tokens: int, first: float | None,
                  send: Send) -> None:  # fmt: skip
    word = _word_picker(req)
    envelope = _envelope(svc, f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time()))
    prefix = json.dumps(envelope, separators=(",", ":"))[:-1]  # the envelope without its closing brace
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    i, last = 0, time.monotonic()
    token = first
    while token is not None:
        final = i + 1 >= seq.max_tokens  # the emulated model always generates max_tokens
        choice = {"text": word(i), "index": 0, "logprobs": None, "finish_reason": "length" if final else None}
        chunk = f'{prefix},"choices":[{json.dumps(choice, separators=(",", ":"))}]}}'
        await send({"type": "http.response.body", "body": f"data: {chunk}\n\n".encode(), "more_body": True})
        now = time.monotonic()
        if i > 0:
            svc.metrics.itl.observe(now - last)
        i, last = i + 1, now
        token = None if final else await seq.next()
    tail = ""
    if req.stream_options is not None and req.stream_options.include_usage:
        tail = f'data: {prefix},"choices":[],"usage":{json.dumps(_usage(prompt_tokens, i))}}}\n\n'
    await send({"type": "http.response.body", "body": f"{tail}data: [DONE]\n\n".encode(), "more_body": False})
