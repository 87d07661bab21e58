"""Continuous batching: TTFT and per-token gaps follow the profile under 1 and under N concurrent streams.

Two layers: the engine's own token times (its virtual device timeline: exact formulas), and real
streamed HTTP over loopback parsed with the independent SSE parser (wall clock: generous margins).
"""

from __future__ import annotations

import asyncio
import statistics

import httpx
import pytest

from harness.service import ServiceConfig
from harness.service.continuous import ContinuousEngine
from harness.service.profiles import LLMProfile
from tests.service.conftest import LLM_TEST, chunks_of, live_server, stream_completion

PROFILE = LLMProfile(**{k: v for k, v in LLM_TEST.items() if k != "kind"})
PROMPT = " ".join(f"w{i}" for i in range(40))  # 40 tokens for the emulated tokenizer


async def _engine_run(n: int, prompt_tokens: int, max_tokens: int) -> list[tuple[float, list[float]]]:
    engine = ContinuousEngine(PROFILE, max_queue=64)
    engine.start()
    try:
        seqs = [engine.submit(prompt_tokens, max_tokens) for _ in range(n)]  # arrive together
        out = []
        for seq in seqs:
            times = []
            while (t := await seq.next()) is not None:
                times.append(t)
            out.append((seqs[0].t_s, times))  # they arrived together: TTFT counts from the first arrival
        return out
    finally:
        await engine.stop()


@pytest.mark.parametrize("n", [1, 5])
def test_engine_token_times_follow_the_profile(n: int) -> None:
    runs = asyncio.run(_engine_run(n, prompt_tokens=40, max_tokens=6))
    for arrived_s, times in runs:
        assert len(times) == 6
        ttft_ms = (times[0] - arrived_s) * 1000.0
        assert ttft_ms == pytest.approx(PROFILE.ttft_ms(40, concurrent=n), abs=0.1)
        gaps_ms = [(b - a) * 1000.0 for a, b in zip(times, times[1:], strict=False)]
        assert gaps_ms == pytest.approx([PROFILE.step_ms(n)] * 5, abs=0.01)


def test_engine_late_joiner_prefills_between_decode_steps_and_slows_them() -> None:
    async def scenario() -> tuple[list[float], float]:
        engine = ContinuousEngine(PROFILE, max_queue=8)
        engine.start()
        try:
            first = engine.submit(10, 8)
            times = [await first.next()]
            second = engine.submit(100, 2)
            while (t := await first.next()) is not None:
                times.append(t)
            return [(b - a) * 1000.0 for a, b in zip(times, times[1:], strict=False)], second.t_s
        finally:
            await engine.stop()

    gaps_ms, _ = asyncio.run(scenario())
    # step 2 had already started when the joiner arrived; step 3 carries its 100-token prefill, step 4
    # decodes both, and after its 2 tokens the first sequence decodes alone again
    one, joined, both = PROFILE.step_ms(1), PROFILE.step_ms(1, 100), PROFILE.step_ms(2)
    assert gaps_ms == pytest.approx([one, joined, both, one, one, one, one], abs=0.01)


def _gaps_ms(events: list) -> list[float]:
    return [(b.t_s - a.t_s) * 1000.0 for a, b in zip(events, events[1:], strict=False)]


@pytest.mark.slow
@pytest.mark.parametrize("n", [1, 4])
def test_streamed_ttft_and_token_gaps_match_the_profile(n: int) -> None:
    max_tokens = 16

    async def scenario() -> list[tuple[float, list]]:
        body = {"prompt": PROMPT, "max_tokens": max_tokens, "temperature": 0}
        async with live_server(ServiceConfig(profile=PROFILE)) as (base, _), httpx.AsyncClient(base_url=base) as client:
            return await asyncio.gather(*(stream_completion(client, body) for _ in range(n)))

    for sent_s, events in asyncio.run(scenario()):
        chunks = chunks_of(events)
        assert len(chunks) == max_tokens
        ttft_ms = (events[0].t_s - sent_s) * 1000.0
        # first stream alone in its prefill step; later ones may join one step behind
        assert ttft_ms >= PROFILE.ttft_ms(40) - 2.0
        assert ttft_ms <= PROFILE.ttft_ms(40) + PROFILE.step_ms(n, 40 * n) + 100.0  # + a busy host's stalls
        steady = _gaps_ms(events[:-1])[3:]  # all n decoding by then
        expected = PROFILE.step_ms(n)
        assert statistics.median(steady) == pytest.approx(expected, rel=0.15), (n, steady)
