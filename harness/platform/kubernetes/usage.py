"""Usage of the run's pods on a cluster: the resource metrics API (metrics-server) polled into usage rows.

In: the official client's ``ApiClient``, the namespace and label selector of the run's pods, a function returning
the pods as the driver's informer holds them (their node and each container's requests and limits), the wall
clock at the run's clock origin and the poll period.  Out: ``UsagePoller``, a thread that lists
``metrics.k8s.io/v1beta1`` PodMetrics (``CustomObjectsApi.list_namespaced_custom_object``) every period and keeps
one row per pod, container and metrics window (a window seen twice is kept once), at most ``MAX_ROWS``:
``rows()`` gives them with the columns of the embedded cluster's ``usage.parquet`` (``t_s``: the window's end,
metrics-server's ``timestamp``, in run seconds).  ``unavailable`` says in plain words why there are none when the
API is absent (404: metrics-server is not installed), forbidden (403) or keeps failing; polling then stops.

A row's CPU is metrics-server's rate over its window (``--metric-resolution``: 15 s in its official manifest, 60 s
by default), memory the container's working set at its end: one row per pod and window, not per second.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.utils import parse_quantity

from harness.platform.kubernetes.translate import parse_time

Obj = dict[str, Any]
log = logging.getLogger("kibench.kubernetes.usage")

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
#: At most this many rows are kept (100 pods for ~8 h at 15 s); later windows are dropped.
MAX_ROWS = 200_000
#: The poll period's bounds, seconds (the scenario's platform.hpa.metric_resolution, clamped).
MIN_PERIOD_S, MAX_PERIOD_S = 1.0, 60.0
#: Failures in a row (other than 404 / 403) after which polling stops.
MAX_FAILURES = 10
INSTALL_HINT = (
    "install it (kubectl apply -f https://github.com/kubernetes-sigs/metrics-server/releases/latest/download/"
    "components.yaml; on kind add --kubelet-insecure-tls to its args; docs/kubernetes.md) and run again"
)


def poll_period_s(metric_resolution_s: float) -> float:
    return min(max(metric_resolution_s, MIN_PERIOD_S), MAX_PERIOD_S)


def missing_message(namespace: str, status: int, reason: str) -> str:
    """The warning a run without the resource metrics API gets, saying how to fix it."""
    if status == 404:
        return (
            f"metrics-server is missing: the cluster does not serve {GROUP}/{VERSION} (no APIService), so the "
            f"run's CPU and memory use were not measured and the right-sizing keys are null; {INSTALL_HINT}"
        )
    if status == 403:
        return (
            f"the run may not read {GROUP}/{VERSION} pods in namespace {namespace} ({reason}); grant list on "
            f"pods.{GROUP} to kibench's user, so CPU and memory use are measured (the right-sizing keys are null)"
        )
    return (
        f"{GROUP}/{VERSION} did not answer ({status} {reason}): is metrics-server running "
        f"(kubectl -n kube-system get deploy metrics-server)? CPU and memory use were not measured"
    )


def container_resources(pod: Obj) -> dict[str, dict[str, float]]:
    """Each container's requests and limits: cores and bytes (0 when not set)."""
    out = {}
    for c in pod.get("spec", {}).get("containers") or []:
        res = c.get("resources") or {}
        values = {}
        for kind in ("request", "limit"):
            given = res.get(f"{kind}s") or {}
            values[f"cpu_{kind}_cores"] = float(parse_quantity(given.get("cpu", 0)))
            values[f"memory_{kind}_bytes"] = int(parse_quantity(given.get("memory", 0)))
        out[str(c.get("name"))] = values
    return out


class UsagePoller:
    """Lists the run's PodMetrics every ``period_s`` on a thread of its own; ``stop()`` ends it."""

    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        selector: str,
        pods: Callable[[], list[Obj]],
        wall_at_t0: float,
        period_s: float,
    ) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.namespace, self.selector = namespace, selector
        self.pods, self.wall_at_t0, self.period_s = pods, wall_at_t0, period_s
        self.unavailable: str | None = None
        self.polls = 0
        self.truncated = False
        self._rows: list[Obj] = []
        self._seen: set[tuple[str, str, str]] = set()
        self._pod_info: dict[str, tuple[str, dict[str, dict[str, float]]]] = {}  # pod -> node, resources
        self._failures = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kibench-usage", daemon=True)

    def start(self) -> UsagePoller:
        self._thread.start()
        return self

    def stop(self, poll_last: bool = True) -> None:
        """End the thread; with ``poll_last``, read once more (the last window of the load)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=15)
        if poll_last and self.unavailable is None and self.polls:
            self.poll()

    def rows(self) -> list[Obj]:
        with self._lock:
            return list(self._rows)

    def _loop(self) -> None:
        while not self._stop.is_set() and self.unavailable is None:
            self.poll()
            self._stop.wait(self.period_s)

    def poll(self) -> None:
        """One list of PodMetrics into rows; a 404 or 403 marks the API unavailable."""
        try:
            listed = self.custom.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "pods", label_selector=self.selector, _request_timeout=10
            )
        except ApiException as exc:
            if exc.status in (404, 403):
                self.unavailable = missing_message(self.namespace, int(exc.status), str(exc.reason))
                return
            self._failed(f"{exc.status} {exc.reason}", int(exc.status or 0))
            return
        except Exception as exc:  # noqa: BLE001 - a dropped connection: the next poll tries again
            self._failed(str(exc), 0)
            return
        self._failures = 0
        self.polls += 1
        self._remember_pods()
        with self._lock:
            for item in listed.get("items") or []:
                self._add(item)

    def _failed(self, why: str, status: int) -> None:
        self._failures += 1
        log.warning("listing PodMetrics failed (%s)", why)
        if self._failures >= MAX_FAILURES:
            self.unavailable = missing_message(self.namespace, status, why)

    def _remember_pods(self) -> None:
        for pod in self.pods():
            node = (pod.get("spec") or {}).get("nodeName") or ""
            self._pod_info[pod["metadata"]["name"]] = (node, container_resources(pod))

    def _add(self, item: Obj) -> None:
        meta = item.get("metadata") or {}
        pod, stamp = str(meta.get("name")), str(item.get("timestamp") or "")
        wall = parse_time(stamp) or time.time()
        node, resources = self._pod_info.get(pod, ("", {}))
        for c in item.get("containers") or []:
            key = (pod, str(c.get("name")), stamp)
            if key in self._seen:
                continue
            if len(self._rows) >= MAX_ROWS:
                self.truncated = True
                return
            self._seen.add(key)
            usage = c.get("usage") or {}
            requested = resources.get(str(c.get("name")), dict.fromkeys(_RESOURCE_COLUMNS, 0))
            self._rows.append(
                {
                    "t_s": round(wall - self.wall_at_t0, 3),
                    "namespace": str(meta.get("namespace") or self.namespace),
                    "pod": pod,
                    "container": str(c.get("name")),
                    "node": node,
                    "cpu_cores": round(float(parse_quantity(usage.get("cpu", 0))), 6),
                    "memory_bytes": int(parse_quantity(usage.get("memory", 0))),
                    **{k: requested[k] for k in _RESOURCE_COLUMNS},
                }
            )


_RESOURCE_COLUMNS = ("cpu_request_cores", "cpu_limit_cores", "memory_request_bytes", "memory_limit_bytes")
