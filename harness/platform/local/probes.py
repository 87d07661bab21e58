"""Kubelet-style probes: startup and liveness (GET /healthz), readiness (GET /readyz) of one container.

In: a ``ProbeSpec`` (initial delay, period, timeout, failure and success thresholds), the URL, and
a callback.  Out: the callback is called with ``True``/``False`` each time the probe's result
*changes*, following the kubelet's prober worker: a result takes effect only after
``failure_threshold`` failures (or ``success_threshold`` successes) in a row.  A readiness probe
starts failing (the container is not Ready until it passes), a liveness probe starts passing.
A probe passes on HTTP 200-399 within ``timeout``; anything else (refused, timed out) fails.
A startup probe, when enabled, runs first and holds the other two until it passes once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from harness.scenario import ProbeSpec


@dataclass
class ProbeCounter:
    """The kubelet worker's result run: ``state`` changes only after enough equal results in a row."""

    success_threshold: int
    failure_threshold: int
    state: bool
    last: bool | None = None
    run: int = 0

    @classmethod
    def readiness(cls, spec: ProbeSpec) -> ProbeCounter:
        return cls(spec.success_threshold, spec.failure_threshold, state=False)

    @classmethod
    def liveness(cls, spec: ProbeSpec) -> ProbeCounter:
        # Kubernetes requires successThreshold 1 for liveness probes.
        return cls(1, spec.failure_threshold, state=True)

    def record(self, ok: bool) -> bool | None:
        """Add one result; return the new state when it changed, else ``None``."""
        self.run = self.run + 1 if ok == self.last else 1
        self.last = ok
        needed = self.success_threshold if ok else self.failure_threshold
        if self.run < needed or ok == self.state:
            return None
        self.state = ok
        return ok


TIMEOUT_TEXT = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"


async def probe_once(client: httpx.AsyncClient, url: str, timeout_s: float) -> str | None:
    """One HTTP GET probe: ``None`` when it passed (2xx/3xx within ``timeout_s``), else why it failed,
    worded as the kubelet's prober words it (the ``Unhealthy`` Event's message)."""
    try:
        response = await client.get(url, timeout=timeout_s)
    except httpx.TimeoutException:
        return f'Get "{url}": {TIMEOUT_TEXT}'
    except (httpx.HTTPError, OSError) as exc:
        return f'Get "{url}": {type(exc).__name__}: {exc}'
    if 200 <= response.status_code < 400:
        return None
    return f"HTTP probe failed with statuscode: {response.status_code}"


async def run_probe(
    client: httpx.AsyncClient,
    url: str,
    spec: ProbeSpec,
    counter: ProbeCounter,
    on_change: Callable[[bool, str | None], None],
    alive: Callable[[], bool],
) -> None:
    """Probe until ``alive()`` is false (the container stopped); the caller cancels the task too.
    ``on_change(ok, why)`` gets the last failure's message when the result turns to failed."""
    await asyncio.sleep(spec.initial_delay)
    while alive():
        why = await probe_once(client, url, spec.timeout)
        if not alive():
            return
        changed = counter.record(why is None)
        if changed is not None:
            on_change(changed, why)
        await asyncio.sleep(spec.period)


async def run_startup_probe(
    client: httpx.AsyncClient, url: str, spec: ProbeSpec, alive: Callable[[], bool]
) -> tuple[bool, str | None]:
    """A startup probe: ``(True, None)`` at its first success, ``(False, why)`` after ``failure_threshold``
    failures (``why``: the last one's message)."""
    await asyncio.sleep(spec.initial_delay)
    failures, why = 0, None
    while alive():
        why = await probe_once(client, url, spec.timeout)
        if why is None:
            return True, None
        failures += 1
        if failures >= spec.failure_threshold:
            return False, why
        await asyncio.sleep(spec.period)
    return False, why
