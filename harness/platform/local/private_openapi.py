"""The OpenAPI 3.1 document of the daemon's private API (``GET /kibench/v1/openapi.json``).

In: nothing (the routes are fixed).  Out: a JSON-ready dict naming every route of ``private_api``, its
body, its answers (the 4xx errors included) and the bearer token every route needs.  The tests fuzz the
daemon against it with schemathesis (tests/fuzz/test_api_fuzz.py) and check that it lists exactly the
routes the app serves, so the two stay in step.
"""

from __future__ import annotations

from typing import Any

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "what went wrong and how to fix it"}},
}
_NODE = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"},
         "description": "a node's name (kubectl get nodes)"}  # fmt: skip
_DURATION = {"anyOf": [{"type": "number", "minimum": 0}, {"type": "null"}],
             "description": "seconds until the node is back; null: until /recover"}  # fmt: skip


def _obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "required": required or list(properties), "properties": properties}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: str) -> dict[str, Any]:
    text = {"400": "body not JSON, or not a JSON object", "401": "no bearer token, or the wrong one",
            "404": "no node of that name", "422": "a field is wrong; the message names it"}  # fmt: skip
    return {code: _json(text[code], _ERROR) for code in ("401", *codes)}


def private_openapi_document() -> dict[str, Any]:
    """The document: paths under ``/kibench/v1/``, all behind the cluster's bearer token."""
    body = {"required": False, "content": {"application/json": {"schema": {
        "type": "object", "properties": {"duration_s": _DURATION}}}}}  # fmt: skip
    stats = _obj(
        {
            name: {"type": "number"}
            for name in (
                "loop_lag_max_ms",
                "daemon_cpu_cores",
                "forwarder_cpu_cores",
                "replicas_cpu_cores",
                "host_cpu_idle_pct",
            )
        }
    )
    paths: dict[str, Any] = {
        "/kibench/v1/nodes/{name}/fail": {"post": {
            "summary": "Hard node loss: its containers die, Ready turns Unknown, tainted unreachable",
            "parameters": [_NODE], "requestBody": body,
            "responses": {"200": _json("the node is down", _obj({"failed": {"type": "string"},
                                                                 "duration_s": _DURATION})),
                          **_errors("400", "404", "422")}}},
        "/kibench/v1/nodes/{name}/recover": {"post": {
            "summary": "The lost node is back now", "parameters": [_NODE],
            "responses": {"200": _json("the node is back", _obj({"recovered": {"type": "string"}})),
                          **_errors("404")}}},
        "/kibench/v1/shutdown": {"post": {
            "summary": "Stop every pod, then the daemon",
            "responses": {"200": _json("stopping", _obj({"stopping": {"const": True}})), **_errors()}}},
        "/kibench/v1/healthz": {"get": {
            "summary": "The daemon is alive", "responses": {"200": _json("alive", _obj({"ok": {"const": True}})),
                                                           **_errors()}}},
        "/kibench/v1/stats": {"get": {
            "summary": "The daemon's self-check since the last call",
            "responses": {"200": _json("loop lag, CPU of the daemon, forwarder and replicas, host idle", stats),
                          **_errors()}}},
        "/kibench/v1/audit": {"get": {
            "summary": "Every service account's requests to the API so far, allowed or refused",
            "responses": {"200": _json("the audit", _obj({"requests": {"type": "array", "items": _obj({
                "user": {"type": "string"}, "verb": {"type": "string"}, "group": {"type": "string"},
                "resource": {"type": "string"}, "namespace": {"type": ["string", "null"]},
                "allowed": {"type": "boolean"}, "count": {"type": "integer", "minimum": 1}})}})),
                          **_errors()}}},
        "/kibench/v1/openapi.json": {"get": {
            "summary": "This document", "responses": {"200": _json("OpenAPI 3.1", {"type": "object"}), **_errors()}}},
    }  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kibench embedded cluster: private API",
            "version": "1",
            "description": "What Kubernetes has no verb for (docs/local-api.md)",
        },  # fmt: skip
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    }
