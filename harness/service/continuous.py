"""Continuous batching (vLLM-style, chunked prefill) for an emulated LLM on one device.

In: sequences via ``submit(prompt_tokens, max_tokens)`` (``QueueFull`` when ``max_queue`` already wait)
and an ``LLMProfile``.  Out: each ``Sequence`` yields one token time per generated token through
``await seq.next()`` (``None`` once finished), so a handler can stream them.

The engine loop runs one step at a time.  At a step's start, waiting sequences that had arrived join
the running set (up to ``max_num_seqs``; an idle engine starts at the first arrival and takes in those
arriving within ``ADMIT_WINDOW_S`` of it, as a scheduler tick would).  The step decodes one token for
every running sequence whose prompt is prefilled, and prefills prompt tokens of the others within
``max_num_batched_tokens``.  It takes
``step_base_ms + step_per_seq_ms x decoding + prefill_per_token_ms x prefill_tokens``;
a sequence whose prefill completes emits its first token at the end of that step.  Sequences always
generate ``max_tokens`` tokens (like benchmarking with ``ignore_eos``).  Steps follow a virtual timeline, as in
``batching``: a late wake-up adds latency but no device time.  No KV-cache limit or preemption is modelled.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from harness.service.batching import QueueFull, sleep_until
from harness.service.profiles import LLMProfile


@dataclass(eq=False)
class Sequence:
    """One request's generation; read tokens with ``await next()``."""

    prompt_tokens: int
    max_tokens: int
    t_s: float
    prefilled: int = 0
    emitted: int = 0
    cancelled: bool = False
    _tokens: asyncio.Queue[float | None] = field(default_factory=asyncio.Queue)

    async def next(self) -> float | None:
        """The next token's emission time (``time.monotonic()``), or None when the sequence has finished."""
        return await self._tokens.get()

    def _emit(self, when_s: float) -> bool:
        self.emitted += 1
        self._tokens.put_nowait(when_s)
        if self.emitted >= self.max_tokens:
            self._tokens.put_nowait(None)
            return True
        return False


ADMIT_WINDOW_S = 0.002  # sequences arriving this soon after the first one join an idle engine's first step
OnStep = Callable[[int, int, int, float, float], None]  # (seqs in step, prefill tokens, emitted, start_s, end_s)
#: Runs one step of ``solo_s`` (its time on a whole, unshared GPU) from ``start_s``; returns when it ended
Device = Callable[[float, float], Awaitable[float]]


async def whole_gpu(start_s: float, solo_s: float) -> float:
    """A step on a whole GPU of its own: it ends ``solo_s`` after it started."""
    end_s = start_s + solo_s
    await sleep_until(end_s)
    return end_s


class _Planned(Protocol):
    prompt_tokens: int
    prefilled: int


S = TypeVar("S", bound=_Planned)


def plan_step(running: list[S], max_num_batched_tokens: int) -> tuple[list[S], list[tuple[S, int]]]:
    """One step of chunked prefill (vLLM's scheduling): the sequences that decode (prompt prefilled) and, in
    order, the prompt tokens each other one prefills within the step's token budget.  The reference
    service's engine and the simulator (harness.simulate.llm) both step by it."""
    decoding = [s for s in running if s.prefilled >= s.prompt_tokens]
    budget = max_num_batched_tokens - len(decoding)
    chunks: list[tuple[S, int]] = []
    for seq in running:
        if seq.prefilled < seq.prompt_tokens and budget > 0:
            take = min(seq.prompt_tokens - seq.prefilled, budget)
            chunks.append((seq, take))
            budget -= take
    return decoding, chunks


class ContinuousEngine:
    """Waiting queue + running set + step loop for one device."""

    def __init__(self, profile: LLMProfile, max_queue: int, on_step: OnStep | None = None,
                 device: Device = whole_gpu) -> None:  # fmt: skip
        self.profile = profile
        self.max_queue = max_queue
        self._on_step = on_step
        self._device = device  # a MIG slice or a time-sliced GPU: backends.gpu_device
        self._waiting: deque[Sequence] = deque()
        self._running: list[Sequence] = []
        self._free_at_s = 0.0
        self._wake: asyncio.Event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.steps = 0
        self.tokens = 0

    @property
    def depth(self) -> int:
        """Sequences waiting to join the running set."""
        return len(self._waiting)

    @property
    def running(self) -> int:
        return len(self._running)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="continuous-engine")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for seq in [*self._waiting, *self._running]:
            seq.cancelled = True
            seq._tokens.put_nowait(None)
        self._waiting.clear()
        self._running.clear()

    def retry_after_s(self) -> float:
        """Time until a running sequence finishes (frees a slot) at the current step time."""
        step_s = self.profile.step_ms(max(1, len(self._running))) / 1000.0
        left = min((s.max_tokens - s.emitted for s in self._running), default=1)
        return step_s * max(1, left) * math.ceil((len(self._waiting) + 1) / self.profile.max_num_seqs)

    def submit(self, prompt_tokens: int, max_tokens: int) -> Sequence:
        if len(self._waiting) >= self.max_queue:
            raise QueueFull(self.retry_after_s())
        seq = Sequence(max(1, prompt_tokens), max(1, max_tokens), time.monotonic())
        self._waiting.append(seq)
        self._wake.set()
        return seq

    def cancel(self, seq: Sequence) -> None:
        """Stop generating for ``seq`` (client gone, timeout): it leaves at the next step boundary."""
        seq.cancelled = True
        if seq in self._waiting:
            self._waiting.remove(seq)

    async def _loop(self) -> None:
        while True:
            self._running = [s for s in self._running if not s.cancelled]
            if not self._running and not self._waiting:
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._running:
                start_s = admit_s = self._free_at_s
            else:  # an idle engine starts at the first arrival; its scheduling tick gathers co-arrivals
                start_s = max(self._free_at_s, self._waiting[0].t_s)
                admit_s = start_s + ADMIT_WINDOW_S
            self._admit(admit_s)
            await self._step(start_s)

    def _admit(self, start_s: float) -> None:
        while self._waiting and len(self._running) < self.profile.max_num_seqs and self._waiting[0].t_s <= start_s:
            self._running.append(self._waiting.popleft())

    async def _step(self, start_s: float) -> None:
        decoding, chunks = plan_step(self._running, self.profile.max_num_batched_tokens)
        prefill_tokens = sum(take for _, take in chunks)
        end_s = await self._device(start_s, self.profile.step_ms(len(decoding), prefill_tokens) / 1000.0)
        self._free_at_s = end_s
        self.steps += 1
        finished: set[int] = set()
        emitted = 0
        for seq in decoding:
            if not seq.cancelled:
                emitted += 1
                if seq._emit(end_s):
                    finished.add(id(seq))
        for seq, take in chunks:
            seq.prefilled += take
            if seq.prefilled >= seq.prompt_tokens and not seq.cancelled:
                emitted += 1
                if seq._emit(end_s):
                    finished.add(id(seq))
        self.tokens += emitted
        if finished:
            self._running = [s for s in self._running if id(s) not in finished]
        if self._on_step is not None:
            self._on_step(len(decoding) + len(chunks), prefill_tokens, emitted, start_s, end_s)
