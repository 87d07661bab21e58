"""Prometheus metrics of one replica (``GET /metrics``), named by Prometheus conventions.

In: calls from the request edge (route, status, seconds), the completions route (TTFT, inter-token gaps)
and the device (batch/step start and end), plus callables that read live state (queue depth, running
batch, in-flight) at scrape time so the request path pays nothing for them.  Out: a registry to expose.

    kibench_requests_total{route,status}            counter
    kibench_request_duration_seconds{route}         histogram
    kibench_time_to_first_token_seconds             histogram
    kibench_inter_token_latency_seconds             histogram
    kibench_in_flight_requests                      gauge
    kibench_queue_depth                             gauge (requests or sequences waiting for the device)
    kibench_running_batch_size                      gauge (classic: items on the device now)
    kibench_running_sequences                       gauge (LLM: sequences in the running set)
    kibench_batch_size                              histogram (items per batch / sequences per step)
    kibench_device_busy_ratio                       gauge (busy fraction over the last busy_window_s)
    kibench_device_busy_seconds_total               counter (rate() of it is the busy fraction too)
    kibench_generated_tokens_total / kibench_prompt_tokens_total    counters
    kibench_model_load_seconds                      gauge
    kibench_ready                                   gauge (1 when /readyz answers 200)
    kibench_model_info{model,kind,backend}          gauge, always 1

and, as NVIDIA's DCGM exporter names them, for the emulated GPU the replica was given (``gpushare``):

    DCGM_FI_DEV_GPU_UTIL{gpu,UUID,device,modelName,Hostname[,GPU_I_PROFILE]}   gauge, % busy over busy_window_s
    DCGM_FI_DEV_FB_USED / DCGM_FI_DEV_FB_FREE{...}                              gauges, MiB (a model of memory:
        the weights' share of the framebuffer plus 64 MiB per item on the device, not a measurement)
"""

from __future__ import annotations

import bisect
import os
import time
from collections import deque
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from harness.service.gpushare import GpuInfo

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_TOKEN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 0.6, 1.2, 2.5)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_HOST = os.environ.get("HOSTNAME", "")
WEIGHTS_MIB = 2048.0  # the emulated model's weights in the framebuffer


class Hist:
    """A histogram updated on the hot path without locks (the service is one asyncio thread)."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    @property
    def count(self) -> int:
        return sum(self.counts)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1  # le is inclusive
        self.sum += value

    def buckets(self) -> list[tuple[str, float]]:
        out, total = [], 0
        for bound, n in zip(self.bounds, self.counts, strict=False):
            total += n
            out.append((repr(float(bound)), float(total)))
        out.append(("+Inf", float(self.count)))
        return out


class BusyMeter:
    """Busy intervals of the device and the busy fraction over a sliding window (``time.monotonic()``)."""

    def __init__(self, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._since_s = clock()
        self._intervals: deque[list[float]] = deque()
        self.total_s = 0.0

    def record(self, start_s: float, end_s: float) -> None:
        if end_s <= start_s:
            return
        self.total_s += end_s - start_s
        if self._intervals and start_s <= self._intervals[-1][1]:  # back to back: extend
            self._intervals[-1][1] = max(self._intervals[-1][1], end_s)
        else:
            self._intervals.append([start_s, end_s])
        self._prune(self._clock() - self.window_s)

    def _prune(self, lo: float) -> None:
        while self._intervals and self._intervals[0][1] <= lo:
            self._intervals.popleft()

    def fraction(self) -> float:
        now = self._clock()
        lo = max(now - self.window_s, self._since_s)
        self._prune(lo)
        busy = sum(max(0.0, min(end, now) - max(start, lo)) for start, end in self._intervals)
        span = now - lo
        return 0.0 if span <= 0 else min(1.0, busy / span)


class ServiceMetrics(Collector):
    """Every metric of one replica, in its own registry.  Hot-path metrics are plain counters and
    ``Hist`` objects exported by ``collect`` at scrape time; live state is read by gauge callbacks."""

    def __init__(self, model: str, kind: str, backend: str, busy_window_s: float = 10.0) -> None:
        self.registry = registry = CollectorRegistry()
        self.requests: dict[str, dict[int, int]] = {}  # route → status → count
        self.latency: dict[str, Hist] = {}
        self.ttft = Hist(_LATENCY_BUCKETS)
        self.itl = Hist(_TOKEN_BUCKETS)
        self.batch_size = Hist(_BATCH_BUCKETS)
        self.busy = BusyMeter(busy_window_s)
        self.generated_tokens = 0
        self.prompt_tokens = 0
        self.gpu: GpuInfo | None = None  # set when the replica has an (emulated) GPU: the DCGM gauges
        self._running_batch: Callable[[], float] = lambda: 0.0
        self.model_load = Gauge("kibench_model_load_seconds", "Seconds the model load took", registry=registry)
        Gauge("kibench_device_busy_ratio", "Device busy fraction over the window", registry=registry).set_function(
            self.busy.fraction
        )
        info = Gauge("kibench_model_info", "The model served", ["model", "kind", "backend"], registry=registry)
        info.labels(model, kind, backend).set(1)
        registry.register(self)

    def bind(
        self,
        in_flight: Callable[[], float],
        queue_depth: Callable[[], float],
        running_batch: Callable[[], float],
        running_seqs: Callable[[], float],
        ready: Callable[[], float],
    ) -> None:
        """Gauges read at scrape time from the live state."""
        self._running_batch = running_batch
        for name, doc, fn in (
            ("kibench_in_flight_requests", "Inference requests in flight", in_flight),
            ("kibench_queue_depth", "Requests (classic) or sequences (LLM) waiting for the device", queue_depth),
            ("kibench_running_batch_size", "Items in the batch on the device now", running_batch),
            ("kibench_running_sequences", "Sequences in the running set", running_seqs),
            ("kibench_ready", "1 when the replica is ready", ready),
        ):
            Gauge(name, doc, registry=self.registry).set_function(fn)

    def route(self, route: str) -> tuple[dict[int, int], Hist]:
        """The request counts by status and the latency histogram of ``route`` (a hot route holds on to
        them and updates them inline)."""
        hist = self.latency.get(route)
        if hist is None:
            hist = self.latency[route] = Hist(_LATENCY_BUCKETS)
            self.requests[route] = {}
        return self.requests[route], hist

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        counts, hist = self.route(route)
        counts[status] = counts.get(status, 0) + 1
        hist.observe(seconds)

    def observe_batch(self, size: int, start_s: float, end_s: float) -> None:
        hist = self.batch_size
        hist.counts[bisect.bisect_left(hist.bounds, size)] += 1  # Hist.observe, inlined: once per batch
        hist.sum += size
        if end_s > start_s:
            self.busy.record(start_s, end_s)

    def observe_step(self, seqs: int, prefill_tokens: int, emitted: int, start_s: float, end_s: float) -> None:
        self.batch_size.observe(seqs)
        self.busy.record(start_s, end_s)
        self.generated_tokens += emitted
        self.prompt_tokens += prefill_tokens

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "kibench_requests", "Requests by route and HTTP status", labels=["route", "status"]
        )
        for route, counts in sorted(self.requests.items()):
            for status, n in sorted(counts.items()):
                requests.add_metric([route, str(status)], n)
        yield requests
        latency = HistogramMetricFamily("kibench_request_duration_seconds", "Request latency", labels=["route"])
        for route, hist in sorted(self.latency.items()):
            latency.add_metric([route], hist.buckets(), hist.sum)
        yield latency
        for name, doc, hist in (
            ("kibench_time_to_first_token_seconds", "Time to first token", self.ttft),
            ("kibench_inter_token_latency_seconds", "Gap between streamed tokens", self.itl),
            ("kibench_batch_size", "Items per batch (classic) or sequences per step (LLM)", self.batch_size),
        ):
            family = HistogramMetricFamily(name, doc)
            family.add_metric([], hist.buckets(), hist.sum)
            yield family
        yield CounterMetricFamily("kibench_device_busy_seconds", "Seconds the device was busy", self.busy.total_s)
        yield CounterMetricFamily("kibench_generated_tokens", "Tokens generated", self.generated_tokens)
        yield CounterMetricFamily("kibench_prompt_tokens", "Prompt tokens prefilled", self.prompt_tokens)
        if self.gpu is not None:
            yield from self._dcgm(self.gpu)

    def _dcgm(self, gpu: GpuInfo) -> Iterator[Metric]:
        labels = {"gpu": "0", "UUID": gpu.uuid, "device": "nvidia0", "modelName": gpu.model, "Hostname": _HOST}
        if gpu.mig_profile:
            labels["GPU_I_PROFILE"] = gpu.mig_profile
        names, values = list(labels), list(labels.values())
        used = min(float(gpu.memory_mib), WEIGHTS_MIB + 64.0 * float(self._running_batch() or 0))
        for name, doc, value in (
            ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", round(100.0 * self.busy.fraction())),
            ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", used),
            ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", float(gpu.memory_mib) - used),
        ):
            family = GaugeMetricFamily(name, doc, labels=names)
            family.add_metric(values, value)
            yield family
