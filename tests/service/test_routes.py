"""Routes, bad input, admission limits, metrics and the OpenAPI document (in-process over ASGI)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from harness.service import ServiceConfig
from harness.service.profiles import ClassicProfile, LLMProfile
from harness.service.schemas import (
    MAX_INPUTS,
    CompletionResponse,
    ErrorResponse,
    PredictRequest,
    PredictResponse,
    parse,
    parse_predict,
)
from tests.service.conftest import LLM_TEST, chunks_of, in_process, parse_sse

LLM = LLMProfile(**{k: v for k, v in LLM_TEST.items() if k != "kind"})
SLOW = ClassicProfile(name="slow", base_ms=300.0, max_batch_size=1)
HEADER = "x-kibench-replica"


def _run(config: ServiceConfig, fn) -> object:  # noqa: ANN001
    async def scenario() -> object:
        async with in_process(config) as client:
            return await fn(client)

    return asyncio.run(scenario())


BAD_BODIES = [
    (b"{", 400, None),
    (b"  ", 400, None),  # only an empty body counts as {} (the OpenAPI document's optional body)
    (b"\xff\xfe\x00", 400, None),
    (b"[" * 50_000, 400, None),
    (b"[1, 2]", 422, "body"),
    (b'"text"', 422, "body"),
    (b'{"inputs": 5}', 422, "inputs"),
    (b'{"inputs": [1], "model": 7}', 422, "model"),
    (b'{"inputs": null}', 422, "inputs"),
    (json.dumps({"inputs": [0] * (MAX_INPUTS + 1)}).encode(), 422, "inputs"),
]

GOOD_BODIES = [
    b"",
    b"{}",
    b'{"inputs": [[0.5, 1]]}',
    b'{"model": "m"}',
    b'{"inputs": [1], "model": null, "temperature": 0}',
    json.dumps({"inputs": [0] * MAX_INPUTS}).encode(),
]


@pytest.mark.parametrize("body", GOOD_BODIES)
def test_predict_fast_parse_agrees_with_the_request_model(body: bytes) -> None:
    """parse_predict checks the common body by hand; it must accept exactly what PredictRequest does."""
    req = parse(body, PredictRequest)
    assert parse_predict(body) == (req.inputs, req.model)


@pytest.mark.parametrize(("body", "status", "param"), BAD_BODIES)
def test_bad_predict_bodies_get_4xx_naming_the_field(body: bytes, status: int, param: str | None) -> None:
    async def fn(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/v1/predict", content=body)

    response = _run(ServiceConfig(device_time_ms=1), fn)
    assert response.status_code == status, response.text
    error = ErrorResponse.model_validate(response.json()).error
    assert error.param == param
    assert response.headers[HEADER] == "replica-0"


COMPLETION_422 = [
    ({}, "prompt"),
    ({"prompt": 5}, "prompt"),
    ({"prompt": "x", "max_tokens": 0}, "max_tokens"),
    ({"prompt": "x", "temperature": 3}, "temperature"),
    ({"prompt": "x", "stream": "often"}, "stream"),
    ({"prompt": "x", "n": 2}, "n"),
    ({"prompt": "x", "stream_options": {"include_usage": [1]}}, "stream_options.include_usage"),
]


@pytest.mark.parametrize(("body", "param"), COMPLETION_422)
def test_completion_schema_violations_are_422_naming_the_field(body: dict, param: str) -> None:
    async def fn(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/v1/completions", json=body)

    response = _run(ServiceConfig(profile=LLM), fn)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["param"] == param and error["message"].startswith(param)


def test_bodies_over_the_limit_get_413_with_or_without_content_length() -> None:
    async def fn(client: httpx.AsyncClient) -> list[int]:
        big = json.dumps({"inputs": ["x" * 2000]}).encode()

        async def chunked():  # noqa: ANN202 - no content-length: the limit is enforced while reading
            for i in range(0, len(big), 256):
                yield big[i : i + 256]

        return [
            (await client.post("/v1/predict", content=big)).status_code,
            (await client.post("/v1/predict", content=chunked())).status_code,
            (await client.post("/v1/predict", json={"inputs": [1]})).status_code,
        ]

    assert _run(ServiceConfig(device_time_ms=1, max_body_bytes=1024), fn) == [413, 413, 200]


def test_full_queue_answers_429_with_retry_after() -> None:
    async def fn(client: httpx.AsyncClient) -> list[httpx.Response]:
        backend = client.app.state.service.backend  # type: ignore[attr-defined]
        first = asyncio.create_task(client.post("/v1/predict", json={}))
        while backend.running == 0:
            await asyncio.sleep(0.005)
        rest = await asyncio.gather(*(client.post("/v1/predict", json={}) for _ in range(5)))
        return [await first, *rest]

    responses = _run(ServiceConfig(profile=SLOW, max_queue=2), fn)
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 200, 200, 429, 429, 429]  # one on the device, two queued
    for response in responses:
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) >= 1
            assert response.json()["error"]["code"] == "queue_full"


def test_request_timeout_gives_504_and_frees_the_queue() -> None:
    async def fn(client: httpx.AsyncClient) -> tuple[list[int], int]:
        responses = await asyncio.gather(*(client.post("/v1/predict", json={}) for _ in range(3)))
        return [r.status_code for r in responses], client.app.state.service.backend.depth  # type: ignore[attr-defined]

    codes, depth = _run(ServiceConfig(profile=SLOW, request_timeout_s=0.1), fn)
    # the first goes to the free device and runs past its deadline; the others could not have their
    # result in time either, so they are shed at once (admission) instead of waiting for a 504
    assert codes == [504, 429, 429] and depth == 0


def test_timeout_longer_than_the_watch_delay_still_gives_504() -> None:
    """A request is watched only once it has waited Deadlines.watch_after_s; its deadline must hold then."""
    slow = ClassicProfile(name="slower", base_ms=2000.0, max_batch_size=1)

    async def fn(client: httpx.AsyncClient) -> tuple[list[int], float]:
        start = asyncio.get_running_loop().time()
        responses = await asyncio.gather(*(client.post("/v1/predict", json={}) for _ in range(2)))
        return [r.status_code for r in responses], asyncio.get_running_loop().time() - start

    codes, elapsed_s = _run(ServiceConfig(profile=slow, request_timeout_s=0.5), fn)
    assert codes == [504, 429] and 0.5 <= elapsed_s < 1.5  # the second could not be in time: shed at once


def test_llm_completion_json_has_usage_and_validates() -> None:
    async def fn(client: httpx.AsyncClient) -> list[httpx.Response]:
        ok = await client.post("/v1/completions", json={"model": "test-llm", "prompt": "a b c", "max_tokens": 5})
        wrong_model = await client.post("/v1/completions", json={"model": "gpt-x", "prompt": "a"})
        too_long = await client.post("/v1/completions", json={"prompt": "a", "max_tokens": 600})
        wrong_route = await client.post("/v1/predict", json={})
        return [ok, wrong_model, too_long, wrong_route]

    ok, wrong_model, too_long, wrong_route = _run(ServiceConfig(profile=LLM), fn)
    body = CompletionResponse.model_validate(ok.json())
    assert body.usage is not None and (body.usage.prompt_tokens, body.usage.completion_tokens) == (3, 5)
    assert body.choices[0].finish_reason == "length" and body.choices[0].text
    assert wrong_model.status_code == 404 and wrong_model.json()["error"]["param"] == "model"
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "context_length_exceeded"
    assert wrong_route.status_code == 404


def test_streamed_completion_is_openai_chunks_ending_with_done() -> None:
    async def fn(client: httpx.AsyncClient) -> httpx.Response:
        body = {"prompt": "hello there", "max_tokens": 4, "stream": True, "stream_options": {"include_usage": True}}
        return await client.post("/v1/completions", json=body)

    response = _run(ServiceConfig(profile=LLM), fn)
    assert response.headers["content-type"].startswith("text/event-stream")
    chunks = chunks_of(parse_sse(response.text))
    tokens, usage = chunks[:-1], chunks[-1]
    assert len(tokens) == 4 and len({c["id"] for c in chunks}) == 1
    for i, chunk in enumerate(tokens):
        parsed = CompletionResponse.model_validate(chunk)
        assert parsed.object == "text_completion" and parsed.choices[0].index == 0
        assert parsed.choices[0].finish_reason == ("length" if i == 3 else None)
    assert usage["choices"] == [] and usage["usage"] == {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6}


def test_predict_response_models_openapi_and_header_on_every_route() -> None:
    async def fn(client: httpx.AsyncClient) -> dict[str, httpx.Response]:
        paths = ["/v1/models", "/openapi.json", "/healthz", "/readyz", "/metrics", "/nope"]
        out = {path: await client.get(path) for path in paths}
        out["predict"] = await client.post("/v1/predict", json={"inputs": [[1.0, 2.0]]})
        out["get-predict"] = await client.get("/v1/predict")
        return out

    out = _run(ServiceConfig(profile="resnet50-t4", admin_token="secret"), fn)
    assert all(r.headers[HEADER] == "replica-0" for r in out.values())
    assert out["/nope"].status_code == 404 and out["get-predict"].status_code == 405
    PredictResponse.model_validate(out["predict"].json())
    model = out["/v1/models"].json()["data"][0]
    assert model["id"] == "resnet50-t4" and model["kind"] == "classic"
    doc = out["/openapi.json"].json()
    assert {"/v1/predict", "/v1/completions", "/v1/models", "/healthz", "/readyz", "/metrics"} <= set(doc["paths"])
    assert "/admin/hang" in doc["paths"] and doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for ref in _refs(doc):
        assert ref.removeprefix("#/components/schemas/") in doc["components"]["schemas"], ref


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


METRIC_NAMES = [
    "kibench_requests_total", "kibench_request_duration_seconds_bucket", "kibench_time_to_first_token_seconds_bucket",
    "kibench_inter_token_latency_seconds_bucket", "kibench_in_flight_requests", "kibench_queue_depth",
    "kibench_running_batch_size", "kibench_running_sequences", "kibench_batch_size_bucket",
    "kibench_device_busy_ratio", "kibench_device_busy_seconds_total", "kibench_generated_tokens_total",
    "kibench_prompt_tokens_total", "kibench_model_load_seconds", "kibench_ready", "kibench_model_info",
]  # fmt: skip


def test_metrics_cover_requests_tokens_and_the_device() -> None:
    async def fn(client: httpx.AsyncClient) -> str:
        body = {"prompt": "a b", "max_tokens": 3}
        await asyncio.gather(*(client.post("/v1/completions", json=body) for _ in range(3)))
        await client.post("/v1/completions", json={"prompt": 1})
        return (await client.get("/metrics")).text

    text = _run(ServiceConfig(profile=LLM), fn)
    for name in METRIC_NAMES:
        assert f"\n{name}" in text, name
    samples = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line[:1] != "#"}
    assert samples['kibench_requests_total{route="completions",status="200"}'] == 3
    assert samples['kibench_requests_total{route="completions",status="422"}'] == 1
    # the device also generated the warm-up request's 2 tokens
    assert samples["kibench_generated_tokens_total"] == 3 * 3 + 2
    assert samples["kibench_time_to_first_token_seconds_count"] == 3
    assert samples["kibench_ready"] == 1 and 0 < samples["kibench_device_busy_ratio"] <= 1
