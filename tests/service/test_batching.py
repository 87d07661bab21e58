"""Dynamic batching through the real app: batches fill at saturation, latency is bounded below it."""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
import pytest

from harness.service import ServiceConfig
from harness.service.batching import BatchResult, DynamicBatcher, QueueFull, resolve_at
from harness.service.profiles import ClassicProfile
from tests.service.conftest import in_process

SATURATION = ClassicProfile(name="sat", base_ms=20.0, per_item_ms=2.0, max_batch_size=8, max_queue_delay_ms=5.0)


async def _saturate(client: httpx.AsyncClient, total: int, concurrency: int) -> tuple[list[int], float]:
    left = total
    sizes: list[int] = []

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            response = await client.post("/v1/predict", json={"inputs": [[0.0] * 8]})
            assert response.status_code == 200, response.text
            sizes.append(response.json()["batch_size"])

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sizes, time.monotonic() - start


def test_at_saturation_batches_reach_the_maximum_and_throughput_matches_the_profile() -> None:
    async def scenario() -> tuple[list[int], float]:
        async with in_process(ServiceConfig(profile=SATURATION, max_queue=1000)) as client:
            await _saturate(client, 64, 64)  # settle
            # 64 clients keep 7 batches queued: a busy host may stall this loop ~250 ms without starving the device
            return await _saturate(client, 480, 64)

    sizes, elapsed = asyncio.run(scenario())
    theory_rps = SATURATION.max_throughput_rps()  # 8 / 36 ms = 222 rps
    full = sum(1 for size in sizes if size == SATURATION.max_batch_size) / len(sizes)
    assert max(sizes) == SATURATION.max_batch_size
    assert full >= 0.9, f"only {full:.0%} of requests ran in full batches"
    assert len(sizes) / elapsed == pytest.approx(theory_rps, rel=0.05)


def test_below_saturation_latency_is_device_time_plus_the_queue_delay_bound() -> None:
    profile = ClassicProfile(name="slow", base_ms=20.0, per_item_ms=0.0, max_batch_size=4, max_queue_delay_ms=10.0)

    async def scenario() -> list[tuple[float, dict]]:
        async with in_process(ServiceConfig(profile=profile)) as client:
            out = []
            for _ in range(12):  # one at a time: batches never fill, each waits the full delay
                start = time.monotonic()
                response = await client.post("/v1/predict", json={})
                out.append(((time.monotonic() - start) * 1000.0, response.json()))
                await asyncio.sleep(0.01)
            return out

    results = asyncio.run(scenario())
    for latency_ms, body in results:
        assert body["batch_size"] == 1
        assert body["device_ms"] == pytest.approx(20.0, abs=0.01)
        assert body["queue_ms"] == pytest.approx(10.0, abs=0.5)
        assert latency_ms >= 30.0 - 1.0
    median_ms = statistics.median(latency for latency, _ in results)
    assert median_ms <= 30.0 + 30.0, f"median {median_ms:.1f} ms is far above device time + queue delay"


def test_batch_one_profile_from_device_time_adds_no_queue_delay() -> None:
    async def scenario() -> list[dict]:
        async with in_process(ServiceConfig(device_time_ms=15.0)) as client:
            return [(await client.post("/v1/predict", json={"inputs": [1]})).json() for _ in range(5)]

    for body in asyncio.run(scenario()):
        assert body["batch_size"] == 1 and body["device_ms"] == 15.0 and body["queue_ms"] < 1.0


def test_cancelled_requests_leave_the_queue_and_the_queue_is_bounded() -> None:
    async def scenario() -> None:
        def run_batch(payloads: list, start_s: float) -> asyncio.Future[BatchResult]:
            return resolve_at(start_s + 0.1, (list(payloads), start_s + 0.1))

        batcher = DynamicBatcher(run_batch, 1, 0.0, max_queue=2, batch_s=lambda n: 0.1)
        batcher.start()
        try:
            running = asyncio.create_task(batcher.submit("a"))
            await asyncio.sleep(0.02)  # "a" is on the device
            waiting = [asyncio.create_task(batcher.submit(x)) for x in "bc"]
            await asyncio.sleep(0)
            assert batcher.depth == 2
            with pytest.raises(QueueFull) as full:
                await batcher.submit("d")
            assert full.value.retry_after_s > 0
            waiting[0].cancel()
            await asyncio.sleep(0)
            assert batcher.depth == 1
            assert (await running).output == "a"
            assert (await waiting[1]).output == "c"
            assert batcher.items == 2
        finally:
            await batcher.stop()

    asyncio.run(scenario())


def test_a_failing_device_fails_its_batch_and_the_next_batch_runs() -> None:
    """A device future that raises (a real model's error) fails every request of that batch, and only those."""

    async def scenario() -> tuple[list[str], list[object]]:
        calls: list[list] = []

        def run_batch(payloads: list, start_s: float) -> asyncio.Future[BatchResult]:
            calls.append(list(payloads))
            future = asyncio.get_running_loop().create_future()
            if len(calls) == 1:
                asyncio.get_running_loop().call_later(0.02, future.set_exception, RuntimeError("device lost"))
            else:
                asyncio.get_running_loop().call_later(0.02, future.set_result, (list(payloads), 0.0))
            return future

        batcher = DynamicBatcher(run_batch, 2, 0.0, max_queue=8, batch_s=lambda n: 0.02)
        batcher.start()
        try:
            first = asyncio.create_task(batcher.submit("a"))  # alone on the free device
            await asyncio.sleep(0)
            rest = [asyncio.create_task(batcher.submit(x)) for x in "bc"]  # wait, then go together
            results = await asyncio.gather(first, *rest, return_exceptions=True)
        finally:
            await batcher.stop()
        outs = [r if isinstance(r, Exception) else r.output for r in results]  # type: ignore[union-attr]
        return [",".join(c) for c in calls], outs

    calls, outs = asyncio.run(scenario())
    assert calls == ["a", "b,c"]
    assert isinstance(outs[0], RuntimeError) and outs[1:] == ["b", "c"]


def test_a_request_that_could_not_finish_within_max_wait_is_refused_at_once() -> None:
    """Admission by deadline: the batch on the device, then full batches up to the request's own, must fit."""

    async def scenario() -> tuple[int, float]:
        batcher = DynamicBatcher(lambda payloads, start_s: resolve_at(start_s + 0.1, ([None] * len(payloads),
                                 start_s + 0.1)), max_batch_size=2, max_queue_delay_s=0.0, max_queue=100,
                                 batch_s=lambda n: 0.1, max_wait_s=0.35)  # fmt: skip
        batcher.start()
        admitted = 0
        try:
            while admitted < 100:  # one on the device, then 0.1 s per full batch of 2
                batcher.enqueue(admitted)
                admitted += 1
        except QueueFull as full:
            return admitted, full.retry_after_s
        finally:
            await batcher.stop()
        return admitted, 0.0

    count, retry_after_s = asyncio.run(scenario())
    # the device's one + 4 waiting (2 batches: 0.3 s with the one running); a 5th waiter would be in a
    # third batch: 0.4 s > 0.35 s
    assert count == 5
    assert retry_after_s > 0
