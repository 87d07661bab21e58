"""Probe failures say why, as the kubelet words them, and a timeout on a saturated host says so (issue 18).

``probes.probe_once`` returns the kubelet's message for each way a probe fails; ``SelfCheck.saturated_now``
names what is saturated over the last second or two; the driver's translator turns the ``Unhealthy`` Event
into a ``probe_failed`` run event carrying ``host_saturated``.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import httpx

from harness.platform.kubernetes.translate import Translator
from harness.platform.local.probes import TIMEOUT_TEXT, probe_once
from harness.platform.local.selfcheck import HOST_SATURATED, SelfCheck

URL = "http://127.0.0.1:8000/readyz"


def _probe(handler) -> str | None:
    async def go() -> str | None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await probe_once(client, URL, 1.0)

    return asyncio.run(go())


def test_probe_once_words_each_failure_as_the_kubelet():
    assert _probe(lambda request: httpx.Response(200)) is None
    assert _probe(lambda request: httpx.Response(302)) is None
    assert _probe(lambda request: httpx.Response(503)) == "HTTP probe failed with statuscode: 503"

    def slow(request):
        raise httpx.ReadTimeout("timed out", request=request)

    assert _probe(slow) == f'Get "{URL}": {TIMEOUT_TEXT}'

    def refused(request):
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    assert _probe(refused) == f'Get "{URL}": ConnectError: [Errno 111] Connection refused'


def test_saturated_now_names_the_cause():
    cluster = SimpleNamespace(balancers=SimpleNamespace(pids=list), kubelet=SimpleNamespace(runtimes={}))
    check = SelfCheck(cluster)
    assert check.saturated_now() is None
    check._recent_idle_pct = 2.0
    assert check.saturated_now() == "2% idle CPU"
    check._recent_lag_s = 0.25
    assert check.saturated_now() == "2% idle CPU, the platform's event loop 250 ms late"


def test_unhealthy_events_become_probe_failed_run_events():
    translator = Translator(time.time(), lambda: 1.0)
    message = f'Readiness probe failed: Get "{URL}": {TIMEOUT_TEXT} ({HOST_SATURATED}: 1% idle CPU)'
    event = {"reason": "Unhealthy", "message": message, "involvedObject": {"kind": "Pod", "name": "svc-abc"}}
    translator.k8s_event("ADDED", None, event)
    liveness = {**event, "message": "Liveness probe failed: HTTP probe failed with statuscode: 500"}
    translator.k8s_event("ADDED", None, liveness)
    [first, second] = [e.to_json() for e in translator.since(0)[0]]
    assert first["kind"] == "probe_failed" and first["pod"] == "svc-abc" and first["probe"] == "readiness"
    assert first["host_saturated"] is True and first["message"] == message
    assert second["probe"] == "liveness" and second["host_saturated"] is False
