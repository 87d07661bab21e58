"""The service's OpenAPI 3.1 document (``GET /openapi.json``), built from the pydantic body models.

In: the served model's name and whether the admin API is on.  Out: a JSON-ready dict with every route,
its request schema, its responses (including the 4xx/5xx errors the routes really return) and, when
the admin API is on, its bearer-token security scheme.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from harness.service import schemas

_REF = "#/components/schemas/{model}"
_ERRORS = {
    "400": "malformed JSON, or prompt + max_tokens over the context",
    "404": "model not served here, or the wrong route for this kind of model",
    "413": "body over max_body_bytes",
    "422": "schema violation; error.param names the field",
    "429": "queue full; see Retry-After",
    "503": "model still loading; see Retry-After",
    "504": "no result (first token when streaming) within request_timeout",
}
# One server-sent event, as OpenAPI describes an event stream's events (3.1: ``schema``; 3.2 calls it
# ``itemSchema``): each ``data`` is one chunk's JSON (a CompletionResponse), the last one ``[DONE]``.
_SSE_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {"anyOf": [{"const": "[DONE]"}, {"type": "string", "contentMediaType": "application/json",
                                                 "contentSchema": {"$ref": _REF.format(model="CompletionResponse")}}]},
        "event": {"const": "message"},
    },
}  # fmt: skip
_ADMIN = {
    "/admin/latency": (schemas.FaultLatency, "add latency to every inference request"),
    "/admin/errors": (schemas.FaultErrors, "fail a fraction of inference requests"),
    "/admin/hang": (schemas.FaultHang, "stop answering (liveness included) for duration_s, or until reset"),
    "/admin/crash": (schemas.FaultCrash, "exit the process now"),
    "/admin/slow-start": (schemas.FaultSlowStart, "the next boot takes cold_start_s to load (KIBENCH_STATE_DIR)"),
    "/admin/reset": (schemas.FaultReset, "clear every fault"),
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors() -> dict[str, Any]:
    return {code: _json(_ref(schemas.ErrorResponse), text) for code, text in _ERRORS.items()}


def _text(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


def _post(summary: str, body: type[BaseModel] | None, ok: dict[str, Any], errors: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {"200": ok, **errors}}
    if body is not None:
        required = bool(body.model_json_schema().get("required"))  # else an empty body counts as {} (schemas.parse)
        op["requestBody"] = {"required": required, "content": {"application/json": {"schema": _ref(body)}}}
    return {"post": op}


def _components(models: list[type[BaseModel]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=_REF)
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


def openapi_document(model_name: str, admin: bool, max_model_len: int | None = None) -> dict[str, Any]:
    """The OpenAPI document of one replica; ``max_model_len``: an LLM replica's context, which bounds
    ``max_tokens`` (and prompt + max_tokens, a rule JSON Schema cannot state: 400 beyond it)."""
    stream = {"text/event-stream": {"schema": _SSE_EVENT}}
    completion_ok = _json(_ref(schemas.CompletionResponse), "the completion (JSON), or SSE chunks with stream")
    completion_ok["content"].update(stream)
    paths: dict[str, Any] = {
        "/v1/predict": _post("Run one item through the dynamically batched model", schemas.PredictRequest,
                             _json(_ref(schemas.PredictResponse), "the model's output"), _errors()),
        "/v1/completions": _post("OpenAI-compatible completion (emulated LLM)", schemas.CompletionRequest,
                                 completion_ok, _errors()),
        "/v1/models": {"get": {"summary": "The model served", "responses": {"200": {"description": "model list"}}}},
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": _text("alive")}}},
        "/readyz": {"get": {"summary": "Readiness", "responses": {"200": _text("ready"), "503": _text("not ready")}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": _text("exposition format")}}},
    }  # fmt: skip
    models: list[type[BaseModel]] = [schemas.PredictRequest, schemas.PredictResponse, schemas.CompletionRequest,
                                     schemas.CompletionResponse, schemas.ErrorResponse]  # fmt: skip
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "kibench reference inference service", "version": "1", "description": f"serves {model_name}"},
        "paths": paths,
        "components": {"schemas": {}},
    }
    if admin:
        auth = {"400": _json(_ref(schemas.ErrorResponse), "malformed JSON"),
                "401": _json(_ref(schemas.ErrorResponse), "no bearer token"),
                "403": _json(_ref(schemas.ErrorResponse), "wrong bearer token"),
                "413": _json(_ref(schemas.ErrorResponse), "body over 64 KiB"),
                "422": _json(_ref(schemas.ErrorResponse), "bad body; error.param names the field")}  # fmt: skip
        for path, (body, summary) in _ADMIN.items():
            errors = dict(auth)
            if path == "/admin/slow-start":
                errors["409"] = _json(_ref(schemas.ErrorResponse), "no KIBENCH_STATE_DIR to keep it in")
            op = _post(summary, body, {"description": "fault set"}, errors)
            op["post"]["security"] = [{"bearer": []}]
            paths[path] = op
            if body is not None:
                models.append(body)
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    doc["components"]["schemas"] = _components(models)
    if max_model_len is not None:
        max_tokens = doc["components"]["schemas"]["CompletionRequest"]["properties"]["max_tokens"]
        max_tokens["maximum"] = max_model_len
        max_tokens["description"] += f"; prompt tokens + max_tokens <= {max_model_len} (the context), else 400"
    return doc
