"""Pod metrics for the HPA, as metrics-server and a Prometheus adapter would serve them.

In: the running pods (port, process id) and the gauges the HPA asks for.  Out: ``PodMetrics`` per
pod, refreshed every ``hpa.metric_resolution``: each gauge's value read from the replica's
``GET /metrics`` (Prometheus text, parsed with ``prometheus_client.parser``; several label sets
are summed, or averaged for ``*_ratio`` gauges) and the process's CPU use in cores over the last
window (``psutil``: user + system time of the replica process and its children, divided by the
wall time between two scrapes, so a pod's first scrape has no CPU sample yet, like metrics-server).

The usual names: ``queue_depth`` → ``kibench_queue_depth``, ``in_flight`` →
``kibench_in_flight_requests``, ``device_busy`` → ``kibench_device_busy_ratio`` (docs/local-api.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from harness.platform.local.supervisor import Supervisor

POD_GAUGES = {
    "queue_depth": "kibench_queue_depth",
    "in_flight": "kibench_in_flight_requests",
    "device_busy": "kibench_device_busy_ratio",
}
CPU = "cpu"


@dataclass(frozen=True)
class PodMetrics:
    """One pod's sample: values by metric name (``cpu`` in cores), taken at ``timestamp_s``."""

    pod: str
    timestamp_s: float
    window_s: float
    values: Mapping[str, float]


def parse_gauges(text: str, wanted: Mapping[str, str]) -> dict[str, float]:
    """Values of the wanted gauges (metric name -> series name) in a Prometheus text page."""
    by_series: dict[str, list[float]] = {}
    series_names = set(wanted.values())
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in series_names:
                by_series.setdefault(sample.name, []).append(float(sample.value))
    out = {}
    for metric, series in wanted.items():
        values = by_series.get(series)
        if values:
            out[metric] = sum(values) / len(values) if series.endswith("_ratio") else sum(values)
    return out


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process and its children (``None`` when it is gone)."""
    try:
        proc = psutil.Process(pid)
        times = proc.cpu_times()
        total = times.user + times.system
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
        return total
    except psutil.Error:
        return None


class CpuMeter:
    """CPU cores a process used between two readings (metrics-server's rate over its window)."""

    def __init__(self) -> None:
        self._marks: dict[str, tuple[int, float, float]] = {}  # key -> (pid, cpu_s, t_s)

    def rate(self, key: str, pid: int, now_s: float) -> float | None:
        """Cores since the last reading of ``key``; ``None`` at the first reading of a process."""
        used = cpu_seconds(pid)
        if used is None:
            return None
        mark = self._marks.get(key)
        self._marks[key] = (pid, used, now_s)
        if mark is None or mark[0] != pid or now_s <= mark[2]:
            return None  # a new container: no window yet
        return max(used - mark[1], 0.0) / (now_s - mark[2])

    def forget_all_but(self, keys: set[str]) -> None:
        for key in set(self._marks) - keys:
            del self._marks[key]


class MetricsScraper:
    """Scrapes every running pod each ``resolution_s`` and keeps the latest sample per pod."""

    def __init__(self, sup: Supervisor, gauges: Mapping[str, str], want_cpu: bool, resolution_s: float) -> None:
        self.sup = sup
        self.gauges = dict(gauges)
        self.want_cpu = want_cpu
        self.resolution_s = resolution_s
        self.samples: dict[str, PodMetrics] = {}
        self.cpu = CpuMeter()
        self._client = httpx.AsyncClient(timeout=min(resolution_s, 2.0))

    async def run(self) -> None:
        try:
            while True:
                await self.scrape_all()
                await asyncio.sleep(self.resolution_s)
        finally:
            await self._client.aclose()

    async def scrape_all(self) -> None:
        pods = [p for p in self.sup.pods.values() if p.running and p.port is not None and not p.terminating]
        results = await asyncio.gather(*(self._scrape(p.name, p.port, p.proc.pid) for p in pods if p.proc))
        fresh = {r.pod: r for r in results if r is not None}
        self.samples = fresh
        self.cpu.forget_all_but({p.name for p in pods})

    async def _scrape(self, pod: str, port: int | None, pid: int) -> PodMetrics | None:
        values: dict[str, float] = {}
        if self.gauges:
            try:
                response = await self._client.get(f"http://127.0.0.1:{port}/metrics")
                if response.status_code == 200:
                    values.update(parse_gauges(response.text, self.gauges))
            except (httpx.HTTPError, ValueError):
                pass  # a pod without a sample is "missing" to the HPA
        now = self.sup.now_s()
        if self.want_cpu:
            cores = self.cpu.rate(pod, pid, now)
            if cores is not None:
                values[CPU] = cores
        return PodMetrics(pod, now, self.resolution_s, values) if values else None

    def average(self, metric: str, pods: Iterable[str]) -> float | None:
        """Mean of ``metric`` over the pods that have it (for /state and the timeline)."""
        values = [
            self.samples[p].values[metric] for p in pods if p in self.samples and metric in self.samples[p].values
        ]
        return sum(values) / len(values) if values else None
