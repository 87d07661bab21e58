"""API fuzzing with schemathesis: the reference service and the daemon's private API against their documents.

Each server runs as its own process on loopback and serves its OpenAPI document (the service at
``GET /openapi.json``, the daemon at ``GET /kibench/v1/openapi.json``); the document is read from there,
and every operation is fuzzed with all of schemathesis' checks (tests/fuzz/api.py): no 5xx, every answer
as documented.  Left out, because doing what they document ends the test: the service's
``POST /admin/crash`` (exits the process) and the daemon's ``POST /kibench/v1/shutdown`` (stops it); the
hang, latency and error faults are fuzzed on the replica after its inference routes are done.
"""

from __future__ import annotations

import contextlib
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis import Case, Response
from starlette.routing import Route

from harness.platform.local.client import start_daemon
from harness.platform.local.private_api import create_private_api
from harness.platform.local.private_openapi import private_openapi_document
from harness.platform.local.spec import ClusterSpec
from harness.procs import poll_until, stop
from harness.service import ServiceConfig, create_app
from harness.service.completions import count_tokens
from harness.service.openapi import openapi_document
from tests.fuzz.api import fuzz
from tests.service.conftest import answers, replica, wait_listening

N = 10  # examples per operation and mode (times KIBENCH_FUZZ_SCALE)
TOKEN = "fuzz-admin-token"
FAST_LLM = {"kind": "llm", "name": "fuzz-llm", "max_num_seqs": 8, "max_num_batched_tokens": 2048,
            "prefill_per_token_ms": 0.001, "step_base_ms": 0.2, "step_per_seq_ms": 0.01,
            "max_model_len": 256}  # fmt: skip


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A classic replica with the admin API on and an LLM replica, both Ready: {kind: base URL}."""
    state = tmp_path_factory.mktemp("state")
    env = {"KIBENCH_ADMIN_TOKEN": TOKEN, "KIBENCH_STATE_DIR": str(state)}
    with contextlib.ExitStack() as stack:
        bases = {
            "classic": stack.enter_context(replica({"device_time_ms": 1, "cold_start": 0}, env=env)).base,
            "llm": stack.enter_context(replica({"profile": FAST_LLM, "cold_start": 0})).base,
        }
        for base in bases.values():
            wait_listening(base)
            assert poll_until(lambda b=base: answers(f"{b}/readyz", 200), 20.0, 0.05), f"{base} never got ready"
        yield bases


def _report(failures: list[str]) -> str:
    return "\n\n".join(failures)[:20000]


def _over_the_context(case: Case, response: Response) -> bool:
    """The document's rule in words: prompt tokens + max_tokens over the context is a 400 naming it."""
    body = case.body if isinstance(case.body, dict) else {}
    if response.status_code != 400 or case.operation.path != "/v1/completions" or "prompt" not in body:
        return False
    asked = count_tokens(body["prompt"]) + body.get("max_tokens", 16)
    return asked > FAST_LLM["max_model_len"] and response.json()["error"]["code"] == "context_length_exceeded"


def test_service_answers_every_fuzzed_request_as_its_document_says(replicas: dict[str, str]) -> None:
    failures: list[str] = []
    for base in (replicas["llm"], replicas["classic"]):  # the admin faults last, on the classic replica
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        inference = [op.ok().label for op in schema.get_all_operations() if op.ok().path.startswith("/admin/")]
        failures += fuzz(schema, base, N, skip=["POST /admin/crash", *inference], excused=_over_the_context)
        failures += fuzz(schema, base, N, skip=[op.ok().label for op in schema.get_all_operations()
                                                if not op.ok().path.startswith("/admin/") or
                                                op.ok().path == "/admin/crash"],
                         headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
    assert not failures, _report(failures)


def test_service_document_lists_the_routes_it_serves() -> None:
    for admin in (False, True):
        app = create_app(ServiceConfig(device_time_ms=1, admin_token=TOKEN if admin else None))
        served = {(route.path, method) for route in app.router.routes if isinstance(route, Route)
                  for method in route.methods or () if method != "HEAD"}  # fmt: skip
        documented = {(path, method.upper()) for path, ops in openapi_document("m", admin)["paths"].items()
                      for method in ops}  # fmt: skip
        assert served - documented == {("/openapi.json", "GET")}, served ^ documented
        assert documented <= served


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The embedded cluster's daemon (two nodes, nothing deployed); its hello line and a CA file."""
    folder = tmp_path_factory.mktemp("daemon")
    spec = ClusterSpec(platform={"nodes": {"count": 2}})
    proc, hello = start_daemon(spec, str(folder / "logs"), str(folder / "kubeconfig"))
    ca = folder / "ca.pem"
    ca.write_text(hello["ca_pem"], encoding="utf-8")
    try:
        yield {**hello, "ca_file": str(ca), "proc": proc}
    finally:
        _shutdown(hello, proc)


def _shutdown(hello: dict[str, Any], proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(f"{hello['api']}/kibench/v1/shutdown", headers={"Authorization": f"Bearer {hello['token']}"},
                   verify=ssl.create_default_context(cadata=hello["ca_pem"]), timeout=10)  # fmt: skip
    stop(proc, grace_s=15)


def test_daemon_private_api_answers_every_fuzzed_request_as_its_document_says(daemon: dict[str, Any]) -> None:
    auth = {"Authorization": f"Bearer {daemon['token']}"}
    verify = ssl.create_default_context(cadata=daemon["ca_pem"])
    served = httpx.get(f"{daemon['api']}/kibench/v1/openapi.json", headers=auth, verify=verify)
    assert served.status_code == 200 and served.json() == private_openapi_document()
    schema = schemathesis.openapi.from_dict(served.json())
    failures = fuzz(schema, daemon["api"], N, skip=["POST /kibench/v1/shutdown"], headers=auth,
                    verify=daemon["ca_file"])  # fmt: skip
    assert daemon["proc"].poll() is None, "the daemon died under the fuzzing"
    assert not failures, _report(failures)


def test_private_document_lists_the_routes_it_serves(tmp_path: Path) -> None:
    app = create_private_api(None, "t", lambda: None)  # type: ignore[arg-type] # the routes need no cluster
    served = {(route.path, method) for route in app.routes if isinstance(route, Route)
              for method in route.methods or () if method != "HEAD"}  # fmt: skip
    documented = {(path, method.upper()) for path, ops in private_openapi_document()["paths"].items() for method in ops}
    assert served == documented
