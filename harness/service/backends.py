"""The device behind the routes: emulated classic model, emulated LLM, or a small real PyTorch model.

In: the resolved profile, the queue bound, the metrics sink and (for torch) a ``TorchRunner``.  Out:
``ClassicBackend`` (dynamic batching: ``batcher.enqueue(payload)`` / ``await batcher.submit(payload)``
→ ``Ticket``) or ``LLMBackend`` (continuous batching: ``submit(prompt_tokens, max_tokens)`` →
``Sequence``), each with ``load`` (model-load phase), ``warmup`` (a real model's first batches; the
emulated device is warmed by the app's warm-up request), ``start`` and ``stop``.  The emulated device
waits with asyncio timers, so it costs wall time and no CPU.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Protocol

from harness.service.batching import BatchResult, DynamicBatcher, resolve_at
from harness.service.continuous import ContinuousEngine, Device, Sequence, whole_gpu
from harness.service.gpushare import ENV as GPU_ENV
from harness.service.gpushare import Gpu
from harness.service.metrics import ServiceMetrics
from harness.service.profiles import ClassicProfile, LLMProfile


class Runner(Protocol):
    """A real model: built in ``load``, run on a whole batch of payloads in ``run`` (blocking)."""

    def load(self) -> None: ...
    def check(self, inputs: list[Any]) -> None: ...
    def run(self, payloads: list[Any]) -> list[Any]: ...


_OUTPUTS = [[{"label": f"class_{label}", "score": 0.5 + (label % 50) / 100.0}] for label in range(1000)]


def emulated_output(payload: Any) -> list[dict[str, Any]]:
    """A deterministic top-1 'classification' of the payload (the emulated model's answer; shared, read-only)."""
    digest = payload.get("digest") if isinstance(payload, dict) else None
    return _OUTPUTS[(digest if isinstance(digest, int) else zlib.crc32(repr(payload).encode())) % 1000]


class ClassicBackend:
    """Dynamic batching in front of an emulated or real classic model."""

    kind = "classic"

    def __init__(
        self,
        profile: ClassicProfile,
        max_queue: int,
        metrics: ServiceMetrics,
        runner: Runner | None = None,
        max_wait_s: float = math.inf,
    ) -> None:
        self.profile = profile
        self.runner = runner
        # the emulated GPU (a MIG slice is slower; a time-sliced one is shared: gpushare)
        self.gpu = Gpu(overhead=profile.time_slice_overhead) if runner is None else None
        if self.gpu is not None and os.environ.get(GPU_ENV):
            metrics.gpu = self.gpu.info
        scale = 1.0 / self.gpu.info.compute_fraction if self.gpu is not None else 1.0
        # the emulated device's batch times, by batch size (a real model's profile is refitted at warm-up)
        self._batch_s = [profile.batch_ms(n) / 1000.0 * scale for n in range(profile.max_batch_size + 1)]
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="device") if runner is not None else None
        self.batcher = DynamicBatcher(
            self._run,
            profile.max_batch_size,
            profile.max_queue_delay_ms / 1000.0,
            max_queue,
            batch_s=lambda n: self.profile.batch_ms(n) / 1000.0 * scale,
            on_batch=metrics.observe_batch,
            max_wait_s=max_wait_s,
        )

    @property
    def depth(self) -> int:
        return self.batcher.depth

    @property
    def running(self) -> int:
        return self.batcher.running

    def retry_after_s(self) -> float:
        return self.batcher.retry_after_s()

    def check(self, inputs: list[Any]) -> None:
        """Raise ApiError(422) when a real model cannot take these inputs."""
        if self.runner is not None:
            self.runner.check(inputs)

    async def load(self) -> None:
        if self.runner is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, self.runner.load)

    async def warmup(self) -> None:
        """A real model runs a batch of one and a full batch, and its profile is fitted from their times.

        The emulated device needs none: the warm-up request (app.py) already runs one batch."""
        if self.runner is None:
            return
        one = await self._timed_batch(1)
        full = await self._timed_batch(self.profile.max_batch_size)
        if self.profile.max_batch_size > 1:
            per_item = max(0.0, (full - one) / (self.profile.max_batch_size - 1))
            self.profile = replace(self.profile, base_ms=max(0.0, one - per_item), per_item_ms=per_item)

    async def _timed_batch(self, size: int) -> float:
        payload = {"inputs": self.runner_example()}
        start = time.perf_counter()
        await asyncio.gather(*(self.batcher.submit(payload) for _ in range(min(size, self.batcher.max_queue))))
        return (time.perf_counter() - start) * 1000.0

    def runner_example(self) -> list[Any]:
        return list(getattr(self.runner, "example_inputs", [[0.0] * 8]))

    def start(self) -> None:
        self.batcher.start()

    async def stop(self) -> None:
        await self.batcher.stop()
        if self.gpu is not None:
            self.gpu.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _run(self, payloads: list[Any], start_s: float) -> BatchResult | asyncio.Future[BatchResult]:
        if self.gpu is not None and self.gpu.shared:  # a time-sliced GPU: as fast as the neighbours let it
            return asyncio.ensure_future(self._shared(payloads))
        if self.runner is None:  # the emulated device: done when its batch time has passed
            end_s = start_s + self._batch_s[len(payloads)]
            result = (list(map(emulated_output, payloads)), end_s)
            return result if end_s <= time.monotonic() else resolve_at(end_s, result)
        runner = self.runner

        def on_device() -> BatchResult:
            return runner.run(payloads), time.monotonic()

        return asyncio.get_running_loop().run_in_executor(self._executor, on_device)

    async def _shared(self, payloads: list[Any]) -> BatchResult:
        assert self.gpu is not None
        end_s = await self.gpu.run(self._batch_s[len(payloads)])
        return list(map(emulated_output, payloads)), end_s


class LLMBackend:
    """Continuous batching on an emulated LLM."""

    kind = "llm"

    def __init__(self, profile: LLMProfile, max_queue: int, metrics: ServiceMetrics) -> None:
        self.profile = profile
        # the emulated GPU, as for the classic backend: a MIG slice is slower, a time-sliced one is shared
        self.gpu = Gpu(overhead=profile.time_slice_overhead)
        if os.environ.get(GPU_ENV):
            metrics.gpu = self.gpu.info
        self.engine = ContinuousEngine(profile, max_queue, on_step=metrics.observe_step, device=gpu_device(self.gpu))

    @property
    def depth(self) -> int:
        return self.engine.depth

    @property
    def running(self) -> int:
        return self.engine.running

    def retry_after_s(self) -> float:
        return self.engine.retry_after_s()

    def submit(self, prompt_tokens: int, max_tokens: int) -> Sequence:
        return self.engine.submit(prompt_tokens, max_tokens)

    def cancel(self, seq: Sequence) -> None:
        self.engine.cancel(seq)

    async def load(self) -> None:
        return None

    async def warmup(self) -> None:
        return None  # the warm-up request (app.py) runs one sequence through the engine

    def start(self) -> None:
        self.engine.start()

    async def stop(self) -> None:
        await self.engine.stop()
        self.gpu.close()


def gpu_device(gpu: Gpu) -> Device:
    """How an LLM engine's step runs on ``gpu``: a whole GPU exactly as long as the step; a MIG slice
    ``1 / compute_fraction`` times as long, whatever its neighbours do; a time-sliced GPU as fast as the
    replicas busy on it let it (``Gpu.run``: processor sharing, from now)."""
    if gpu.shared:

        async def shared(start_s: float, solo_s: float) -> float:
            return await gpu.run(solo_s)

        return shared
    if gpu.info.compute_fraction >= 1.0:
        return whole_gpu
    scale = 1.0 / max(gpu.info.compute_fraction, 1e-9)

    async def slice_(start_s: float, solo_s: float) -> float:
        return await whole_gpu(start_s, solo_s * scale)

    return slice_


Backend = ClassicBackend | LLMBackend
