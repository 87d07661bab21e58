"""What a run on a cluster records about resources: ``usage.parquet`` and ``resources.json`` in the run folder.

In: the ``KubernetesDriver`` of a deployed run, the run folder and (``platform.kind: kubernetes``) the
``UsagePoller`` started after deploy.  Out, written by ``write_record`` before the run's objects are deleted:

- ``usage.parquet`` (with a poller): the PodMetrics windows of the run's pods (``usage.UsagePoller``), the columns
  of the embedded cluster's file, plus ``gpu_util_pct`` and ``gpu_memory_used_mib`` when the scenario names a
  Prometheus (``platform.prometheus_url``; ``prometheus.dcgm_usage``): each window gets the DCGM sample of its pod
  nearest in time (within one poll period).  Without the resource metrics API but with GPU samples, the rows are
  the GPU samples, CPU and memory left empty.  Nothing is written when nothing was measured.
- ``resources.json``: where the usage came from (``usage``), the VerticalPodAutoscaler's recommendation as the
  cluster's VPA recommender wrote it in the object's status (``vpa``, when the scenario has ``platform.vpa``;
  CPU in cores, memory in MiB per container) and ``warnings`` in plain words (no metrics-server, no VPA
  recommendation yet, Prometheus without DCGM series); analysis puts them in summary.json.

Reading is a by-product: nothing here fails a run's teardown (a failure becomes a warning).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.utils import parse_quantity

from harness.platform.kubernetes import prometheus
from harness.platform.kubernetes.usage import GROUP, VERSION, UsagePoller, poll_period_s
from harness.runio import write_json, write_with

if TYPE_CHECKING:
    from harness.platform.kubernetes.driver import KubernetesDriver

Obj = dict[str, Any]
MIB = 2**20
COLUMNS = (
    "t_s", "namespace", "pod", "container", "node", "cpu_cores", "memory_bytes", "cpu_request_cores",
    "cpu_limit_cores", "memory_request_bytes", "memory_limit_bytes",
)  # fmt: skip
GPU_COLUMNS = ("gpu_util_pct", "gpu_memory_used_mib")
VPA_GROUP, VPA_VERSION, VPA_PLURAL = "autoscaling.k8s.io", "v1", "verticalpodautoscalers"


def start_usage(driver: KubernetesDriver) -> UsagePoller:
    """Poll the run's PodMetrics from now on (every ``platform.hpa.metric_resolution``, 1-60 s)."""
    period = poll_period_s(driver.scenario.platform.hpa.metric_resolution)
    return UsagePoller(
        driver.connect(), driver.target.namespace, driver.pod_selector, driver.pods, driver.translator.wall_at_t0,
        period,
    ).start()  # fmt: skip


def write_record(driver: KubernetesDriver, run_dir: Path, poller: UsagePoller | None = None) -> dict[str, Any]:
    """Stop the poller, read Prometheus and the VPA, write the files; returns resources.json's content."""
    record: dict[str, Any] = {"usage": None, "vpa": None, "warnings": []}
    if poller is not None:
        record["usage"] = _usage(driver, run_dir, poller, record["warnings"])
    if driver.scenario.platform.vpa:
        record["vpa"] = read_vpa(driver, record["warnings"])
    write_json(run_dir / "resources.json", record)
    return record


def _usage(driver: KubernetesDriver, run_dir: Path, poller: UsagePoller, warnings: list[str]) -> Obj:
    poller.stop()
    rows = poller.rows()
    if poller.unavailable:
        warnings.append(poller.unavailable)
    if poller.truncated:
        warnings.append(f"usage.parquet holds the first {len(rows)} windows only (the run was long)")
    info: Obj = {
        "source": f"{GROUP}/{VERSION} PodMetrics (metrics-server)",
        "poll_period_s": poller.period_s,
        "windows": len(rows),
        "gpu_source": None,
    }
    samples: list[prometheus.GpuSample] = []
    url = driver.scenario.platform.prometheus_url
    if url:
        samples, warning = prometheus.dcgm_usage(
            url, driver.target.namespace, driver.name, driver.translator.wall_at_t0, time.time(), poller.period_s
        )
        if warning:
            warnings.append(warning)
        info["gpu_source"] = f"{url} ({prometheus.UTIL}, {prometheus.FB_USED})"
        info["gpu_samples"] = len(samples)
    table = usage_table(rows, samples, driver.translator.wall_at_t0, poller.period_s, with_gpu=bool(url))
    if not table.empty:
        write_with(run_dir / "usage.parquet", lambda path: table.to_parquet(path, index=False))
    return info


def usage_table(
    rows: list[Obj], samples: list[prometheus.GpuSample], wall_at_t0: float, tolerance_s: float, with_gpu: bool
) -> pd.DataFrame:
    """The rows of usage.parquet: the metrics windows, each with its pod's nearest GPU sample."""
    columns = [*COLUMNS, *(GPU_COLUMNS if with_gpu else ())]
    cpu = pd.DataFrame(rows, columns=list(COLUMNS))
    gpu = pd.DataFrame(
        [(s.namespace, s.pod, round(s.t_wall_s - wall_at_t0, 3), s.gpu_util_pct, s.gpu_memory_used_mib)
         for s in samples],
        columns=["namespace", "pod", "t_s", *GPU_COLUMNS],
    )  # fmt: skip
    if not with_gpu or gpu.empty:
        return cpu.assign(**dict.fromkeys(GPU_COLUMNS if with_gpu else (), float("nan")))[columns]
    gpu = gpu.astype({c: "float64" for c in ("t_s", *GPU_COLUMNS)})
    if cpu.empty:  # no metrics-server: the GPU samples alone
        return gpu.reindex(columns=columns).sort_values(["t_s", "pod"], ignore_index=True)
    merged = pd.merge_asof(
        cpu.astype({"t_s": "float64"}).sort_values("t_s"), gpu.sort_values("t_s"), on="t_s",
        by=["namespace", "pod"], direction="nearest", tolerance=tolerance_s,
    )  # fmt: skip
    return merged[columns].sort_values(["t_s", "pod"], ignore_index=True)


def read_vpa(driver: KubernetesDriver, warnings: list[str]) -> Obj | None:
    """The run's VerticalPodAutoscaler's recommendation, per container (None, with a warning, when there is none)."""
    ns, name = driver.target.namespace, driver.name
    try:
        obj = client.CustomObjectsApi(driver.connect()).get_namespaced_custom_object(
            VPA_GROUP, VPA_VERSION, ns, VPA_PLURAL, name, _request_timeout=10
        )
    except ApiException as exc:
        warnings.append(f"could not read the VerticalPodAutoscaler {ns}/{name}: {exc.status} {exc.reason}"
                        " (is the VPA installed? docs/resources.md)")  # fmt: skip
        return None
    except Exception as exc:  # noqa: BLE001 - the connection: a by-product is not worth a failed teardown
        warnings.append(f"could not read the VerticalPodAutoscaler {ns}/{name}: {exc}")
        return None
    status = obj.get("status") or {}
    recs = (status.get("recommendation") or {}).get("containerRecommendations") or []
    if not recs:
        conditions = "; ".join(f"{c.get('type')}={c.get('status')}" for c in status.get("conditions") or [])
        warnings.append(
            f"the VerticalPodAutoscaler {ns}/{name} has no recommendation yet ({conditions or 'no conditions'}): "
            "the VPA recommender runs once a minute and needs a few minutes of the pods' usage; run longer"
        )
    return {
        "object": f"{VPA_GROUP}/{VPA_VERSION} VerticalPodAutoscaler {ns}/{name}",
        "read_at_s": round(driver.now_s(), 3),
        "containers": {str(r.get("containerName")): container_recommendation(r) for r in recs},
    }


def container_recommendation(rec: Obj) -> dict[str, float | None]:
    """One containerRecommendation: target, bounds and uncapped target, CPU in cores, memory in MiB."""
    out: dict[str, float | None] = {}
    for field, label in (("target", "target"), ("lowerBound", "lower_bound"), ("upperBound", "upper_bound"),
                         ("uncappedTarget", "uncapped_target")):  # fmt: skip
        values = rec.get(field) or {}
        cpu, memory = values.get("cpu"), values.get("memory")
        out[f"cpu_{label}_cores"] = None if cpu is None else round(float(parse_quantity(cpu)), 4)
        out[f"memory_{label}_mib"] = None if memory is None else round(float(parse_quantity(memory)) / MIB, 1)
    return out
