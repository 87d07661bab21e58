"""Pod metrics for the HPA, as metrics-server and a Prometheus adapter would serve them.

In: the running pods (pod IP and port, process id from the kubelet) and the gauges every HPA object
asks for (its Pods metrics; the series name from the annotation ``kibench.io/metric-series``, else the
usual one).  Out: ``PodMetrics`` per pod, refreshed every ``hpa.metric_resolution``: each gauge's value
read from the replica's ``GET /metrics`` (Prometheus text, parsed with ``prometheus_client.parser``; several label sets
are summed, or averaged for ``*_ratio`` gauges) and the pod's CPU use in cores over the last window as the
resource metrics API serves it (``resource_metrics``: the cluster's metrics-server; ``CpuMeter`` when a cluster
has none: user + system time of the replica process and its children between two scrapes).

The usual names: ``queue_depth`` → ``kibench_queue_depth``, ``in_flight`` →
``kibench_in_flight_requests``, ``device_busy`` → ``kibench_device_busy_ratio`` (docs/local-api.md).

Pods given a GPU (a ``nvidia.com/...`` resource) are scraped for its DCGM gauges too (``GPU_GAUGES``), HPA or
not, at the same resolution: the usage rows (``resource_metrics``, ``usage.parquet``) carry them, as a cluster
run's rows carry what its Prometheus scraped from NVIDIA's dcgm-exporter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from harness.platform.kubernetes.manifests import POD_GAUGES, SERIES_ANNOTATION
from harness.platform.local.objects import HPAS, PODS, Obj

if TYPE_CHECKING:
    from harness.platform.local.cluster import Cluster

CPU = "cpu"


def hpa_wants(hpa: Obj) -> tuple[dict[str, str], bool]:
    """What one HorizontalPodAutoscaler needs scraped: its Pods metrics (name -> Prometheus series, from
    the ``kibench.io/metric-series`` annotation, else kibench's gauge of that name, else the name itself)
    and whether it scales on CPU (a Resource metric, or no metrics at all: the 80 % CPU default)."""
    try:
        series = json.loads((hpa["metadata"].get("annotations") or {}).get(SERIES_ANNOTATION, "{}"))
    except ValueError:
        series = {}
    metrics = hpa["spec"].get("metrics") or []
    names = [m["pods"]["metric"]["name"] for m in metrics if m.get("type") == "Pods"]
    gauges = {name: str(series.get(name) or POD_GAUGES.get(name, name)) for name in names}
    return gauges, not metrics or any(m.get("type") == "Resource" for m in metrics)


@dataclass(frozen=True)
class PodMetrics:
    """One pod's sample: values by metric name (``cpu`` in cores), taken at ``timestamp_s``."""

    pod: tuple[str, str]  # (namespace, name)
    timestamp_s: float  # wall clock
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


#: The emulated GPU's gauges, named as NVIDIA's dcgm-exporter names them (harness/service/metrics.py), by the
#: usage column they fill (the same columns as harness.platform.kubernetes.prometheus gives a cluster run)
GPU_GAUGES = {"gpu_util_pct": "DCGM_FI_DEV_GPU_UTIL", "gpu_memory_used_mib": "DCGM_FI_DEV_FB_USED"}


def has_gpu(pod: Obj) -> bool:
    """Whether the pod's container asks for a GPU resource (whole, time-sliced or a MIG slice)."""
    resources = pod["spec"]["containers"][0].get("resources") or {}
    return any(name.startswith("nvidia.com/") for kind in ("requests", "limits") for name in resources.get(kind) or {})


class MetricsScraper:
    """Scrapes every running pod each ``resolution_s`` and keeps the latest sample per (namespace, pod)."""

    def __init__(self, cluster: Cluster, resolution_s: float) -> None:
        self.cluster = cluster
        self.resolution_s = resolution_s
        self.samples: dict[tuple[str, str], PodMetrics] = {}
        self.cpu = CpuMeter()
        self._client = httpx.AsyncClient(timeout=min(resolution_s, 2.0))

    async def run(self) -> None:
        try:
            while True:
                await self.scrape_all()
                await asyncio.sleep(self.resolution_s)
        finally:
            await self._client.aclose()

    def wanted(self) -> tuple[dict[str, str], bool]:
        """Pods metric name -> Prometheus series, from every HPA (and the DCGM gauges when a pod has a GPU); and
        whether any HPA scales on CPU."""
        gauges: dict[str, str] = {}
        cpu = False
        for hpa in self.cluster.store.list(HPAS, copy=False)[0]:
            series, wants_cpu = hpa_wants(hpa)
            gauges.update(series)
            cpu = cpu or wants_cpu
        if any(has_gpu(pod) for pod in self.cluster.store.list(PODS, copy=False)[0]):
            gauges.update(GPU_GAUGES)
        return gauges, cpu

    async def scrape_all(self) -> None:
        gauges, want_cpu = self.wanted()
        if not gauges and not want_cpu:
            self.samples = {}
            return
        jobs, scraped = [], set()
        for pod in self.cluster.store.list(PODS, copy=False)[0]:
            meta, ip = pod["metadata"], (pod.get("status") or {}).get("podIP")
            pid = self.cluster.kubelet.pid(meta["namespace"], meta["name"])
            if ip and pid and not meta.get("deletionTimestamp"):
                port = next((p["containerPort"] for p in pod["spec"]["containers"][0].get("ports") or []), 8000)
                scraped.add(f"{meta['namespace']}/{meta['name']}")
                jobs.append(
                    self._scrape(
                        (meta["namespace"], meta["name"]), f"http://{ip}:{port}/metrics", pid, gauges, want_cpu
                    )
                )
        results = await asyncio.gather(*jobs)
        self.samples = {r.pod: r for r in results if r is not None}
        self.cpu.forget_all_but(scraped)  # not only the pods with a sample: a first CPU reading gives none

    async def _scrape(
        self, pod: tuple[str, str], url: str, pid: int, gauges: Mapping[str, str], want_cpu: bool
    ) -> PodMetrics | None:
        values: dict[str, float] = {}
        if gauges:
            try:
                response = await self._client.get(url)
                if response.status_code == 200:
                    values.update(parse_gauges(response.text, gauges))
            except (httpx.HTTPError, ValueError):
                pass  # a pod without a sample is "missing" to the HPA
        now = time.time()
        if want_cpu:  # from the resource metrics API, as the HPA reads metrics.k8s.io
            metrics = getattr(self.cluster, "resource_metrics", None)
            key = f"{pod[0]}/{pod[1]}"
            cores = metrics.cpu_cores(*pod) if metrics is not None else self.cpu.rate(key, pid, now)
            if cores is not None:
                values[CPU] = cores
        return PodMetrics(pod, now, self.resolution_s, values) if values else None
