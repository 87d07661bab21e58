"""The admin (fault) API of docs/local-api.md: off by default, bearer-token protected, faults take effect."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest

from harness.service import ServiceConfig
from tests.service.conftest import in_process, until

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def until_answer(client: httpx.AsyncClient, status: int, timeout_s: float = 5.0) -> bool:
    """POST /v1/predict until it answers ``status`` (True) or ``timeout_s`` passed (False)."""
    deadline = time.monotonic() + timeout_s
    while (await client.post("/v1/predict", json={})).status_code != status:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def _run(config: ServiceConfig, fn, **kw) -> object:  # noqa: ANN001
    async def scenario() -> object:
        async with in_process(config, **kw) as client:
            return await fn(client)

    return asyncio.run(scenario())


def test_admin_api_is_absent_without_a_token() -> None:
    async def fn(client: httpx.AsyncClient) -> int:
        return (await client.post("/admin/hang", json={}, headers=AUTH)).status_code

    assert _run(ServiceConfig(device_time_ms=1), fn) == 404


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer wrong"}, 403), ({"Authorization": f"Basic {TOKEN}"}, 403), (AUTH, 200)],
)
def test_admin_needs_the_bearer_token(headers: dict, status: int) -> None:
    async def fn(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/admin/reset", headers=headers)

    response = _run(ServiceConfig(device_time_ms=1, admin_token=TOKEN), fn)
    assert response.status_code == status
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


def test_admin_bodies_are_validated_naming_the_field() -> None:
    async def fn(client: httpx.AsyncClient) -> list[httpx.Response]:
        return [
            await client.post("/admin/errors", json={"fraction": 2}, headers=AUTH),
            await client.post("/admin/latency", json={}, headers=AUTH),
            await client.post("/admin/errors", content=b"{", headers=AUTH),
        ]

    fraction, missing, malformed = _run(ServiceConfig(device_time_ms=1, admin_token=TOKEN), fn)
    assert (fraction.status_code, fraction.json()["error"]["param"]) == (422, "fraction")
    assert (missing.status_code, missing.json()["error"]["param"]) == (422, "add_ms")
    assert malformed.status_code == 400


def test_latency_and_error_faults_apply_until_reset() -> None:
    async def fn(client: httpx.AsyncClient) -> dict[str, object]:
        out: dict[str, object] = {}
        await client.post("/admin/latency", json={"add_ms": 150}, headers=AUTH)
        start = time.monotonic()
        await client.post("/v1/predict", json={})
        out["slow_ms"] = (time.monotonic() - start) * 1000.0
        await client.post("/admin/errors", json={"fraction": 1.0, "status": 503}, headers=AUTH)
        out["failing"] = [(await client.post("/v1/predict", json={})).status_code for _ in range(3)]
        out["probe"] = (await client.get("/healthz")).status_code
        await client.post("/admin/reset", headers=AUTH)
        start = time.monotonic()
        out["after"] = (await client.post("/v1/predict", json={})).status_code
        out["after_ms"] = (time.monotonic() - start) * 1000.0
        return out

    out = _run(ServiceConfig(device_time_ms=5, admin_token=TOKEN), fn)
    assert out["slow_ms"] >= 150 + 5 - 1
    assert out["failing"] == [503, 503, 503] and out["probe"] == 200
    assert out["after"] == 200 and out["after_ms"] < 150


def test_latency_and_error_faults_with_a_duration_end_by_themselves() -> None:
    async def fn(client: httpx.AsyncClient) -> dict[str, object]:
        faults = client.app.state.service.faults  # type: ignore[attr-defined]
        await client.post("/admin/latency", json={"add_ms": 50, "duration_s": 0.3}, headers=AUTH)
        await client.post("/admin/errors", json={"fraction": 1.0, "status": 503, "duration_s": 0.3}, headers=AUTH)
        out: dict[str, object] = {"during": (await client.post("/v1/predict", json={})).status_code}
        out["active_during"] = faults.active
        out["ended"] = await until_answer(client, 200)  # the faults' 0.3 s are over
        start = time.monotonic()
        out["after"] = [(await client.post("/v1/predict", json={})).status_code for _ in range(3)]
        out["after_ms"] = (time.monotonic() - start) * 1000.0
        out["active_after"] = faults.active  # back on the fast path: no fault checks per request
        return out

    out = _run(ServiceConfig(device_time_ms=1, admin_token=TOKEN), fn)
    assert out["during"] == 503 and out["active_during"] is True and out["ended"] is True
    assert out["after"] == [200, 200, 200] and out["after_ms"] < 150
    assert out["active_after"] is False


def test_hang_stops_every_answer_including_liveness_but_not_admin() -> None:
    async def fn(client: httpx.AsyncClient) -> dict[str, object]:
        await client.post("/admin/hang", json={}, headers=AUTH)
        probe = asyncio.create_task(client.get("/healthz"))
        predict = asyncio.create_task(client.post("/v1/predict", json={}))
        await asyncio.sleep(0.3)
        out: dict[str, object] = {"answered_while_hung": probe.done() or predict.done()}
        out["admin"] = (await client.post("/admin/reset", headers=AUTH)).status_code
        out["probe"] = (await asyncio.wait_for(probe, 5)).status_code
        out["predict"] = (await asyncio.wait_for(predict, 5)).status_code
        return out

    out = _run(ServiceConfig(device_time_ms=1, admin_token=TOKEN), fn)
    assert out == {"answered_while_hung": False, "admin": 200, "probe": 200, "predict": 200}


def test_hang_with_duration_ends_by_itself() -> None:
    async def fn(client: httpx.AsyncClient) -> float:
        await client.post("/admin/hang", json={"duration_s": 0.2}, headers=AUTH)
        start = time.monotonic()
        assert (await client.get("/healthz")).status_code == 200
        return time.monotonic() - start

    assert 0.15 <= _run(ServiceConfig(device_time_ms=1, admin_token=TOKEN), fn) < 5


def test_crash_exits_with_the_code_asked_for() -> None:
    codes: list[int] = []

    async def fn(client: httpx.AsyncClient) -> int:
        status = (await client.post("/admin/crash", json={"exit_code": 7}, headers=AUTH)).status_code
        assert await until(lambda: codes), "the crash never came"
        return status

    assert _run(ServiceConfig(device_time_ms=1, admin_token=TOKEN), fn, exit_fn=codes.append) == 200
    assert codes == [7]


def test_slow_start_is_kept_in_the_state_dir_for_the_next_boot_only(tmp_path: Path) -> None:
    config = ServiceConfig(device_time_ms=1, admin_token=TOKEN, state_dir=str(tmp_path))

    async def arm(client: httpx.AsyncClient) -> int:
        return (await client.post("/admin/slow-start", json={"cold_start_s": 0.4}, headers=AUTH)).status_code

    async def boot_time() -> float:
        start = time.monotonic()
        async with in_process(config, wait_ready=True):
            return time.monotonic() - start

    assert _run(config, arm) == 200
    assert json.loads((tmp_path / "slow-start.json").read_text()) == {"cold_start_s": 0.4}
    assert asyncio.run(boot_time()) >= 0.4
    assert not (tmp_path / "slow-start.json").exists()
    assert asyncio.run(boot_time()) < 0.4


def test_slow_start_without_a_state_dir_says_how_to_fix_it() -> None:
    async def fn(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/admin/slow-start", json={"cold_start_s": 1}, headers=AUTH)

    response = _run(ServiceConfig(device_time_ms=1, admin_token=TOKEN), fn)
    assert response.status_code == 409 and "KIBENCH_STATE_DIR" in response.json()["error"]["message"]
