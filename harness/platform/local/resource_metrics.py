"""The embedded cluster's metrics-server: CPU and memory of every pod's processes, served as metrics.k8s.io.

In: the running pods (their process ids from the kubelet) sampled once a second with psutil: CPU seconds (user +
system of the process and its children) and resident memory (RSS of the same processes, the nearest thing to the
container's working set a process tree has).  Out:

- ``pod_metrics`` / ``node_metrics``: ``metrics.k8s.io/v1beta1`` PodMetrics and NodeMetrics objects as
  metrics-server answers them: CPU as the rate over the last ``window_s`` in nanocores (``"123456789n"``), memory in
  ``Ki``, with ``timestamp`` (the window's end) and ``window``; a node's usage is the sum of its pods'.  A pod with
  less than one sample interval behind it has no metrics yet (metrics-server needs two scrapes too).
- ``cpu_cores(namespace, name)``: the same CPU figure in cores, which the HPA's Resource metrics read.
- one row per pod and second (``UsageRow``) appended to ``usage.jsonl`` in the log folder when there is one
  (the platform driver turns it into the run folder's ``usage.parquet``), with the pod's requests and limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import psutil

from harness.platform.local.objects import NODES, PODS, Obj, parse_quantity, rfc3339

if TYPE_CHECKING:
    from harness.platform.local.cluster import Cluster

SAMPLE_S = 1.0
USAGE_FILE = "usage.jsonl"
API_VERSION = "metrics.k8s.io/v1beta1"


@dataclass(frozen=True)
class UsageRow:
    """One pod's usage over one sample interval (times: the monotonic clock, seconds)."""

    t_monotonic_s: float
    namespace: str
    pod: str
    container: str
    node: str
    cpu_cores: float
    memory_bytes: int
    cpu_request_cores: float
    cpu_limit_cores: float
    memory_request_bytes: int
    memory_limit_bytes: int
    gpu_util_pct: float | None = None  # the pod's GPU (DCGM gauges, last scrape); None: no GPU or no sample yet
    gpu_memory_used_mib: float | None = None


CHILDREN_REFRESH_S = 15.0  # how often a pod's process tree is looked up again


def children_of(root: psutil.Process) -> list[psutil.Process]:
    """Every descendant: from /proc/<pid>/task/<tid>/children (cheap) where the kernel has it, else psutil's
    ``children`` (which reads every process on the machine, ~20 ms on a busy one)."""
    out, stack = [], [root.pid]
    try:
        while stack:
            pid = stack.pop()
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as f:
                    kids = [int(k) for k in f.read().split()]
                stack += kids
                out += kids
    except FileNotFoundError:
        if not os.path.exists(f"/proc/{root.pid}/task/{root.pid}/children"):
            return list(root.children(recursive=True))
    except OSError:
        pass
    procs = []
    for pid in out:
        with contextlib.suppress(psutil.Error):
            procs.append(psutil.Process(pid))
    return procs


class ProcessTree:
    """A pod's process and its children (looked up again every ``CHILDREN_REFRESH_S``)."""

    def __init__(self) -> None:
        self._trees: dict[int, tuple[float, list[psutil.Process]]] = {}

    def usage(self, pid: int) -> tuple[float, int] | None:
        """CPU seconds (user + system) and RSS bytes of a process and its children; ``None`` when it is gone."""
        now = time.monotonic()
        known = self._trees.get(pid)
        try:
            if known is None or now - known[0] > CHILDREN_REFRESH_S:
                root = known[1][0] if known else psutil.Process(pid)
                known = (now, [root, *children_of(root)])
                self._trees[pid] = known
            procs = known[1]
            times, mem = procs[0].cpu_times(), procs[0].memory_info()
        except psutil.Error:
            self._trees.pop(pid, None)
            return None
        cpu_s, rss = times.user + times.system, mem.rss
        for proc in procs[1:]:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                cpu_s += times.user + times.system
                rss += proc.memory_info().rss
        return cpu_s, rss

    def forget_all_but(self, pids: set[int]) -> None:
        for pid in set(self._trees) - pids:
            del self._trees[pid]


def container_resources(pod: Obj) -> tuple[str, dict[str, float]]:
    """The first container's name and its requests/limits (cores, bytes; 0 when not set)."""
    container = pod["spec"]["containers"][0]
    res = container.get("resources") or {}
    out = {}
    for kind in ("requests", "limits"):
        for name in ("cpu", "memory"):
            out[f"{name}_{kind}"] = float(parse_quantity((res.get(kind) or {}).get(name, 0)))
    return str(container.get("name", "main")), out


def nanocores(cores: float) -> str:
    return f"{max(round(cores * 1e9), 0)}n"


def kibibytes(n_bytes: float) -> str:
    return f"{max(round(n_bytes / 1024), 0)}Ki"


class ResourceMetrics:
    """Samples every running pod each ``SAMPLE_S``; serves windowed rates over the last ``window_s``."""

    def __init__(self, cluster: Cluster, window_s: float) -> None:
        self.cluster = cluster
        self.window_s = max(window_s, SAMPLE_S)
        # pod key -> (pid, deque of (t_monotonic, t_wall, cpu_s, rss))
        self._marks: dict[str, tuple[int, deque[tuple[float, float, float, int]]]] = {}
        self.trees = ProcessTree()
        self._usage_path = os.path.join(cluster.log_dir, USAGE_FILE) if cluster.log_dir else None
        self.listeners: list[Callable[[list[UsageRow]], None]] = []  # each second's rows (the VPA recommender)

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(SAMPLE_S)

    def sample(self) -> list[UsageRow]:
        """Read every running pod's processes once; returns (and appends to usage.jsonl) the rows of this second."""
        now, wall = time.monotonic(), time.time()
        keep = int(self.window_s / SAMPLE_S) + 3
        rows, seen = [], set()
        for pod in self.cluster.store.list(PODS, copy=False)[0]:
            meta = pod["metadata"]
            pid = self.cluster.kubelet.pid(meta["namespace"], meta["name"])
            if not pid:
                continue
            usage = self.trees.usage(pid)
            if usage is None:
                continue
            key = f"{meta['namespace']}/{meta['name']}"
            seen.add(key)
            mark = self._marks.get(key)
            if mark is None or mark[0] != pid:
                mark = (pid, deque(maxlen=keep))
                self._marks[key] = mark
            history = mark[1]
            if history:
                t0, _, cpu0, _ = history[-1]
                container, res = container_resources(pod)
                gpu = self._gpu(meta["namespace"], meta["name"])
                rows.append(
                    UsageRow(
                        round(now, 3),
                        meta["namespace"],
                        meta["name"],
                        container,
                        pod["spec"].get("nodeName") or "",
                        round(max(usage[0] - cpu0, 0.0) / max(now - t0, 1e-6), 4),
                        usage[1],
                        res["cpu_requests"],
                        res["cpu_limits"],
                        int(res["memory_requests"]),
                        int(res["memory_limits"]),
                        *gpu,
                    )
                )
            history.append((now, wall, usage[0], usage[1]))
        for key in set(self._marks) - seen:
            del self._marks[key]
        self.trees.forget_all_but({mark[0] for mark in self._marks.values()})
        self._append(rows)
        for listener in self.listeners:
            listener(rows)
        return rows

    def _gpu(self, namespace: str, pod: str) -> tuple[float | None, float | None]:
        """The pod's GPU gauges from the metrics scraper's last sample (metrics_scrape.GPU_GAUGES)."""
        scraper = getattr(self.cluster, "scraper", None)
        sample = scraper.samples.get((namespace, pod)) if scraper is not None else None
        if sample is None:
            return None, None
        return sample.values.get("gpu_util_pct"), sample.values.get("gpu_memory_used_mib")

    def _append(self, rows: list[UsageRow]) -> None:
        if not self._usage_path or not rows:
            return
        with contextlib.suppress(OSError), open(self._usage_path, "a", encoding="utf-8") as out:
            out.write("".join(json.dumps(asdict(r)) + "\n" for r in rows))

    def _window(self, key: str) -> tuple[float, float, float, int] | None:
        """(cores over the window, its seconds, wall time of its end, RSS now); None without two samples."""
        mark = self._marks.get(key)
        if mark is None or len(mark[1]) < 2:
            return None
        history = mark[1]
        last = history[-1]
        first = next((h for h in history if last[0] - h[0] <= self.window_s + 1e-6), history[0])
        if first is last:
            first = history[-2]
        span = last[0] - first[0]
        return max(last[2] - first[2], 0.0) / span, span, last[1], last[3]

    def cpu_cores(self, namespace: str, name: str) -> float | None:
        window = self._window(f"{namespace}/{name}")
        return None if window is None else window[0]

    def pod_metrics(self, namespace: str | None) -> list[Obj]:
        out = []
        for pod in self.cluster.store.list(PODS, namespace, copy=False)[0]:
            meta = pod["metadata"]
            window = self._window(f"{meta['namespace']}/{meta['name']}")
            if window is None:
                continue
            cores, span, wall, rss = window
            container, _ = container_resources(pod)
            out.append(
                {
                    "kind": "PodMetrics",
                    "apiVersion": API_VERSION,
                    "metadata": _meta(meta, wall),
                    "timestamp": rfc3339(wall),
                    "window": f"{span:.0f}s",
                    "containers": [{"name": container, "usage": {"cpu": nanocores(cores), "memory": kibibytes(rss)}}],
                }
            )
        return out

    def node_metrics(self) -> list[Obj]:
        by_node: dict[str, list[float]] = {}
        wall_end, span_max = time.time(), self.window_s
        for pod in self.cluster.store.list(PODS, copy=False)[0]:
            node = pod["spec"].get("nodeName")
            window = self._window(f"{pod['metadata']['namespace']}/{pod['metadata']['name']}")
            if node and window is not None:
                total = by_node.setdefault(node, [0.0, 0.0])
                total[0] += window[0]
                total[1] += window[3]
                wall_end, span_max = window[2], window[1]
        out = []
        for node in self.cluster.store.list(NODES, copy=False)[0]:
            meta = node["metadata"]
            cores, rss = by_node.get(meta["name"], [0.0, 0.0])
            out.append(
                {
                    "kind": "NodeMetrics",
                    "apiVersion": API_VERSION,
                    "metadata": _meta(meta, wall_end),
                    "timestamp": rfc3339(wall_end),
                    "window": f"{span_max:.0f}s",
                    "usage": {"cpu": nanocores(cores), "memory": kibibytes(rss)},
                }
            )
        return out

    def serve(self, kind: str, namespace: str | None) -> list[Obj]:
        """The objects of ``kind`` (PodMetrics or NodeMetrics) the API's computed resources answer with."""
        return self.pod_metrics(namespace) if kind == "PodMetrics" else self.node_metrics()


def _meta(meta: Obj, wall: float) -> dict[str, Any]:
    out: dict[str, Any] = {"name": meta["name"], "creationTimestamp": rfc3339(wall)}
    if meta.get("namespace"):
        out["namespace"] = meta["namespace"]
    if meta.get("labels"):
        out["labels"] = dict(meta["labels"])
    return out
