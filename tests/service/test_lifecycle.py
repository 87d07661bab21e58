"""A real replica process: readiness during cold start and drain, graceful SIGTERM, disconnects cancel work."""

from __future__ import annotations

import asyncio
import signal
import threading
import time

import httpx
import pytest

from harness.procs import poll_until
from harness.service import ServiceConfig
from harness.service.asgi import CLIENT_CLOSED
from harness.service.profiles import LLMProfile, resolve
from tests.service.conftest import LLM_TEST, answers, live_server, replica, until, wait_listening

LLM = LLMProfile(**{k: v for k, v in LLM_TEST.items() if k != "kind"})


@pytest.mark.slow
def test_probes_during_cold_start_then_ready() -> None:
    with replica({"device_time_ms": 5, "cold_start": 1.0}) as rep:
        wait_listening(rep.base)
        assert httpx.get(f"{rep.base}/healthz").status_code == 200
        early = httpx.get(f"{rep.base}/readyz")
        assert early.status_code == 503 and "loading" in early.text
        refused = httpx.post(f"{rep.base}/v1/predict", json={})
        assert refused.status_code == 503 and int(refused.headers["retry-after"]) >= 1
        assert poll_until(lambda: answers(f"{rep.base}/readyz", 200), 20.0, 0.05)
        assert httpx.post(f"{rep.base}/v1/predict", json={}).status_code == 200
        load_s = [line for line in httpx.get(f"{rep.base}/metrics").text.splitlines()
                  if line.startswith("kibench_model_load_seconds ")]  # fmt: skip
        assert float(load_s[0].split()[1]) >= 1.0


@pytest.mark.slow
def test_sigterm_turns_readiness_off_and_drains_the_in_flight_request() -> None:
    section = {"profile": {"kind": "classic", "name": "slow", "base_ms": 1500}, "cold_start": 0}
    with replica(section, grace_s=10) as rep:
        wait_listening(rep.base)
        assert poll_until(lambda: answers(f"{rep.base}/readyz", 200), 20.0, 0.05)
        result: dict[str, object] = {}

        def in_flight() -> None:
            response = httpx.post(f"{rep.base}/v1/predict", json={}, timeout=20)
            result["status"], result["replica"] = response.status_code, response.headers["x-kibench-replica"]

        client = threading.Thread(target=in_flight)
        client.start()
        assert poll_until(lambda: "kibench_in_flight_requests 1.0" in httpx.get(f"{rep.base}/metrics").text, 10.0, 0.02)
        rep.signal(signal.SIGTERM)
        drain_probe = poll_until(lambda: _unready(rep.base), 10.0, 0.02)  # the signal is handled: readiness off
        assert drain_probe is not None and drain_probe.status_code == 503 and "draining" in drain_probe.text
        client.join(20)
        assert result == {"status": 200, "replica": "test-replica"}
        assert rep.proc.wait(15) == 0


def _unready(base: str) -> httpx.Response | None:
    response = httpx.get(f"{base}/readyz")
    return response if response.status_code != 200 else None


@pytest.mark.slow
def test_sigterm_with_nothing_in_flight_exits_at_once() -> None:
    with replica({"device_time_ms": 5, "cold_start": 0}, grace_s=30) as rep:
        wait_listening(rep.base)
        start = time.monotonic()
        rep.signal(signal.SIGTERM)
        assert rep.proc.wait(15) == 0
        assert time.monotonic() - start < 10  # not the 30 s grace period


def test_bad_config_exits_2_with_a_message() -> None:
    with replica({"profile": "no-such-profile"}) as rep:
        assert rep.proc.wait(30) == 2
        assert rep.proc.stderr is not None and b"no-such-profile" in rep.proc.stderr.read()


def test_client_disconnect_cancels_queued_work_and_streams() -> None:
    async def scenario() -> dict[str, int]:
        slow = {"kind": "classic", "name": "slow", "base_ms": 1200.0}
        out: dict[str, int] = {}
        async with live_server(ServiceConfig(profile=resolve(slow, 0))) as (base, app):
            backend = app.state.service.backend
            counts, _ = app.state.service.metrics.route("predict")
            before = backend.batcher.items
            async with httpx.AsyncClient(base_url=base) as client:
                running = asyncio.create_task(client.post("/v1/predict", json={}))
                assert await until(lambda: backend.running == 1), "the first request never reached the device"
                with pytest.raises(httpx.ReadTimeout):  # queued behind the running batch; the client gives up
                    await client.post("/v1/predict", json={}, timeout=0.1)
                # the service notices (it watches a waiting request after 250 ms) and records a 499
                assert await until(lambda: counts.get(CLIENT_CLOSED, 0) == 1), "the disconnect went unnoticed"
                out["queued_after_disconnect"] = backend.depth
                await running
                out["items_run"] = backend.batcher.items - before
        async with live_server(ServiceConfig(profile=LLM)) as (base, app):
            engine = app.state.service.backend.engine
            async with httpx.AsyncClient(base_url=base) as client:
                body = {"prompt": "a b c", "max_tokens": 200, "stream": True}
                async with client.stream("POST", "/v1/completions", json=body) as response:
                    async for _ in response.aiter_lines():
                        if engine.running == 1 and engine.tokens > 5:
                            break
                await until(lambda: engine.running == 0)
                out["running_after_disconnect"] = engine.running
                out["tokens"] = engine.tokens
        return out

    out = asyncio.run(scenario())
    assert out["queued_after_disconnect"] == 0
    assert out["items_run"] == 1  # the abandoned request never reached the device
    assert out["running_after_disconnect"] == 0 and out["tokens"] < 100


@pytest.mark.slow
def test_sigterm_answers_each_keep_alive_client_s_next_request_with_connection_close() -> None:
    """Clients on idle keep-alive connections when the drain starts (as a Service's connections to a pod a rolling
    update is replacing): each one's next request is answered, saying ``Connection: close``, not cut off."""
    import http.client
    from urllib.parse import urlsplit

    with replica({"device_time_ms": 5, "cold_start": 0}, grace_s=10) as rep:
        wait_listening(rep.base)
        assert poll_until(lambda: answers(f"{rep.base}/readyz", 200), 20.0, 0.05)
        url = urlsplit(rep.base)
        outcome: dict[int, list[str]] = {}
        signalled = threading.Event()

        def client(i: int) -> None:
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
            seen = outcome.setdefault(i, [])
            try:
                for _ in range(100):  # bounded: ends at the replica's Connection: close
                    conn.request("POST", "/v1/predict", body=b"{}", headers={"content-type": "application/json"})
                    response = conn.getresponse()
                    response.read()
                    seen.append(f"{response.status} {response.getheader('connection', 'keep-alive')}")
                    if response.getheader("connection") == "close":
                        return
                    signalled.wait(0.1)  # idle between requests; the signal falls in such a gap
                    time.sleep(0.1 * (i + 1) / 4)  # each client comes back at its own moment after it
            except (OSError, http.client.HTTPException) as exc:
                seen.append(f"error {type(exc).__name__}")
            finally:
                conn.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        assert poll_until(lambda: all(outcome.get(i) for i in range(4)), 10.0, 0.02)  # every connection is open
        rep.signal(signal.SIGTERM)
        signalled.set()
        for thread in threads:
            thread.join(20)
        for seen in outcome.values():
            assert seen[-1] == "200 close" and all(s == "200 keep-alive" for s in seen[:-1]), outcome
        assert rep.proc.wait(15) == 0
