"""DCGM GPU metrics of the run's pods, read from a Prometheus through its HTTP API (``/api/v1/query_range``).

In: the Prometheus base URL (``platform.prometheus_url``), the namespace and the pod-name prefix of the run's pods
(the Deployment's name), the run's span as wall-clock times and the step.  Out: ``dcgm_usage``: per pod, samples
of ``DCGM_FI_DEV_GPU_UTIL`` (%, averaged over the pod's GPUs) and ``DCGM_FI_DEV_FB_USED`` (MiB, summed), as
``GpuSample`` rows, and a warning in plain words when Prometheus did not answer or had no such series.

dcgm-exporter (``--kubernetes``, as the GPU operator runs it) labels each GPU's series with the ``pod`` and
``namespace`` using that GPU; a Prometheus scraping it must keep them (``honorLabels: true`` on its
ServiceMonitor, as the GPU operator sets it; otherwise they arrive as ``exported_pod`` / ``exported_namespace``
and nothing is found).  ``parse_matrix`` reads the API's answer
(``{"status": "success", "data": {"resultType": "matrix", "result": [...]}}``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import httpx

UTIL, FB_USED = "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED"
#: Prometheus refuses a range query of more than 11,000 points per series.
MAX_POINTS = 11_000


@dataclass(frozen=True)
class GpuSample:
    namespace: str
    pod: str
    t_wall_s: float
    gpu_util_pct: float | None
    gpu_memory_used_mib: float | None


class PrometheusError(Exception):
    """Prometheus did not answer, or answered with an error (the message says which)."""


def step_for(span_s: float, step_s: float) -> float:
    """``step_s``, widened when the span would need more points than Prometheus gives."""
    return max(step_s, math.ceil(span_s / (MAX_POINTS - 1)), 1.0)


def selector(namespace: str, pod_prefix: str) -> str:
    """The label matchers of the run's pods: its namespace, and pod names ``<deployment>-...`` (DNS names: nothing
    in them needs escaping in a PromQL regex)."""
    return f'namespace="{namespace}",pod=~"{pod_prefix}-.+"'


def parse_matrix(body: Any) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """``query_range``'s answer as (namespace, pod) -> [(unix seconds, value)]; ``PrometheusError`` if it is one."""
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else None
        raise PrometheusError(f"Prometheus answered with an error: {error or body!r}")
    data = body.get("data") or {}
    if data.get("resultType") != "matrix":
        raise PrometheusError(f"expected a matrix from query_range, got {data.get('resultType')!r}")
    out: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for series in data.get("result") or []:
        labels = series.get("metric") or {}
        key = (str(labels.get("namespace", "")), str(labels.get("pod", "")))
        points = out.setdefault(key, [])
        for stamp, value in series.get("values") or []:
            number = float(value)  # "NaN", "+Inf" parse too
            if math.isfinite(number):
                points.append((float(stamp), number))
    return out


def query_range(url: str, query: str, start: float, end: float, step_s: float, timeout_s: float = 15.0) -> Any:
    """One ``GET /api/v1/query_range``; the decoded JSON (an error answer too: ``parse_matrix`` reads it)."""
    params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step_s:g}s"}
    try:
        response = httpx.get(f"{url}/api/v1/query_range", params=params, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise PrometheusError(f"Prometheus at {url} did not answer ({type(exc).__name__}: {exc})") from exc
    try:
        return response.json()
    except ValueError as exc:
        text = response.text[:200]
        raise PrometheusError(f"Prometheus at {url} answered {response.status_code}, not JSON: {text}") from exc


def dcgm_usage(
    url: str, namespace: str, pod_prefix: str, start: float, end: float, step_s: float
) -> tuple[list[GpuSample], str | None]:
    """The run's pods' GPU utilisation and framebuffer use over [start, end]; (samples, warning or None)."""
    step = step_for(end - start, step_s)
    match = selector(namespace, pod_prefix)
    queries = {
        UTIL: f"avg by (namespace, pod) ({UTIL}{{{match}}})",
        FB_USED: f"sum by (namespace, pod) ({FB_USED}{{{match}}})",
    }
    try:
        found = {name: parse_matrix(query_range(url, q, start, end, step)) for name, q in queries.items()}
    except PrometheusError as exc:
        return [], f"no GPU use read: {exc} (platform.prometheus_url)"
    keys = sorted(set(found[UTIL]) | set(found[FB_USED]))
    if not keys:
        return [], (
            f"no GPU use read: Prometheus at {url} has no {UTIL} or {FB_USED} series for pods {pod_prefix}-* in "
            f"namespace {namespace}; is NVIDIA's dcgm-exporter scraped, and are its pod and namespace labels kept "
            "(honorLabels: true)? docs/resources.md"
        )
    samples = []
    for key in keys:
        util, fb = dict(found[UTIL].get(key, [])), dict(found[FB_USED].get(key, []))
        for stamp in sorted(set(util) | set(fb)):
            samples.append(GpuSample(key[0], key[1], stamp, util.get(stamp), fb.get(stamp)))
    return samples, None
