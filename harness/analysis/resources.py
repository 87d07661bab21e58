"""Right-sizing: what each container requested, what it used, what the VPA recommender would request instead.

In: the run folder's ``usage.parquet`` (one row per pod and second: ``t_s``, ``pod``, ``container``,
``cpu_cores``, ``memory_bytes``, the requests and limits), the load window, and the scenario's ``cost:`` prices.
Out: gauges an SLO may name (None when the run has no usage file, e.g. an external target):

* ``cpu_request_utilisation`` / ``memory_request_utilisation``: mean used / requested, over every pod-second of
  the load window (None when nothing was requested);
* ``cpu_used_cores_p90`` (per pod), ``memory_used_mib_max``;
* ``cpu_recommended_cores`` / ``memory_recommended_mib``: the VPA recommender's target (``harness.autoscale.vpa``,
  upstream's defaults: p90 + 15 %, at least 25m / 250Mi) from the load window's samples;
* ``rightsizing_savings_usd_per_replica_hour``: (requested - recommended) x the cost: prices (CPU core-hour,
  memory GiB-hour); negative when the container asks for too little;

and ``rightsizing``, a detail table per container (requested, used, recommended target/lower/upper, limits).
Rows without CPU (a cluster without metrics-server whose GPU use was read from Prometheus) are left out.

``vpa_gauges`` reads ``resources.json`` (a run whose scenario has ``platform.vpa``): ``vpa_cpu_target_cores`` and
``vpa_memory_target_mib``, the VerticalPodAutoscaler object's own recommendation (the cluster's VPA recommender, or
the embedded one) for the container the table above reports first, the table ``vpa_recommendation`` (per container:
target, lower and upper bound, uncapped target) and the file's warnings.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from harness.autoscale.vpa import Recommendation, recommend_from_samples
from harness.model import RunFiles
from harness.scenario import Scenario

MIB = 2**20
GIB = 2**30
GAUGES = (
    "cpu_request_utilisation",
    "memory_request_utilisation",
    "cpu_used_cores_p90",
    "memory_used_mib_max",
    "cpu_recommended_cores",
    "memory_recommended_mib",
    "rightsizing_savings_usd_per_replica_hour",
)
VPA_GAUGES = ("vpa_cpu_target_cores", "vpa_memory_target_mib")


def read_usage(files: RunFiles) -> pd.DataFrame | None:
    if not files.usage.exists():
        return None
    try:
        usage = pd.read_parquet(files.usage)
    except (OSError, ValueError):
        return None
    return usage.dropna(subset=["cpu_cores"])


def _ratio(used: float, requested: float) -> float | None:
    return round(used / requested, 4) if requested > 0 else None


def container_report(rows: pd.DataFrame) -> tuple[dict[str, Any], Recommendation]:
    """One container name's requested / used / recommended."""
    rows = rows.sort_values("t_s")
    cpu_request = float(rows["cpu_request_cores"].iloc[-1])
    mem_request = float(rows["memory_request_bytes"].iloc[-1])
    cpu_limit = float(rows["cpu_limit_cores"].iloc[-1])
    mem_limit = float(rows["memory_limit_bytes"].iloc[-1])
    samples = zip(rows["pod"], rows["t_s"], rows["cpu_cores"], rows["memory_bytes"], strict=True)
    rec = recommend_from_samples(
        samples,
        cpu_request,
        cpu_limit_ratio=cpu_limit / cpu_request if cpu_limit and cpu_request else None,
        memory_limit_ratio=mem_limit / mem_request if mem_limit and mem_request else None,
    )
    cpu_mean = float(rows["cpu_cores"].mean())
    mem_mean = float(rows["memory_bytes"].mean())
    report = {
        "pods": int(rows["pod"].nunique()),
        "samples": len(rows),
        "cpu_request_cores": cpu_request,
        "cpu_used_mean_cores": round(cpu_mean, 4),
        "cpu_used_p90_cores": round(float(np.percentile(rows["cpu_cores"], 90)), 4),
        "cpu_recommended_cores": rec.cpu_cores.target,
        "cpu_lower_bound_cores": rec.cpu_cores.lower,
        "cpu_upper_bound_cores": rec.cpu_cores.upper,
        "cpu_recommended_limit_cores": rec.cpu_limit_cores,
        "memory_request_mib": round(mem_request / MIB, 1),
        "memory_used_mean_mib": round(mem_mean / MIB, 1),
        "memory_used_max_mib": round(float(rows["memory_bytes"].max()) / MIB, 1),
        "memory_recommended_mib": round(rec.memory_bytes.target / MIB, 1),
        "memory_lower_bound_mib": round(rec.memory_bytes.lower / MIB, 1),
        "memory_upper_bound_mib": round(rec.memory_bytes.upper / MIB, 1),
        "memory_recommended_limit_mib": None
        if rec.memory_limit_bytes is None
        else round(rec.memory_limit_bytes / MIB, 1),
        "cpu_request_utilisation": _ratio(cpu_mean, cpu_request),
        "memory_request_utilisation": _ratio(mem_mean, mem_request),
        "confidence": round(rec.confidence, 6),
    }
    return report, rec


def resource_gauges(
    files: RunFiles, scenario: Scenario, start_s: float | None, end_s: float | None
) -> tuple[dict[str, float | None], dict[str, Any]]:
    """The right-sizing gauges (the first container found: the service's) and the per-container table."""
    empty: dict[str, float | None] = dict.fromkeys(GAUGES)
    usage = read_usage(files)
    if usage is None or usage.empty:
        return empty, {}
    if start_s is not None and end_s is not None and end_s > start_s:
        window = usage[(usage["t_s"] >= start_s) & (usage["t_s"] <= end_s)]
        usage = window if not window.empty else usage
    table = {}
    for name, rows in usage.groupby("container", sort=True):
        table[str(name)], _ = container_report(rows)
    first = next(iter(table.values()))
    cost = scenario.cost
    savings = None
    if cost is not None:
        cpu_diff = first["cpu_request_cores"] - first["cpu_recommended_cores"]
        mem_diff_gib = (first["memory_request_mib"] - first["memory_recommended_mib"]) * MIB / GIB
        if first["memory_request_mib"] <= 0:
            mem_diff_gib = 0.0
        savings = round(cpu_diff * cost.cpu_hour_usd + mem_diff_gib * cost.memory_gib_hour_usd, 6)
    gauges: dict[str, float | None] = {
        "cpu_request_utilisation": first["cpu_request_utilisation"],
        "memory_request_utilisation": first["memory_request_utilisation"],
        "cpu_used_cores_p90": first["cpu_used_p90_cores"],
        "memory_used_mib_max": first["memory_used_max_mib"],
        "cpu_recommended_cores": first["cpu_recommended_cores"],
        "memory_recommended_mib": first["memory_recommended_mib"],
        "rightsizing_savings_usd_per_replica_hour": savings,
    }
    return gauges, table


def vpa_gauges(files: RunFiles, first: str | None) -> tuple[dict[str, float | None], dict[str, Any] | None, list[str]]:
    """The VPA object's recommendation for container ``first`` (else the first it has), its table, the warnings."""
    try:
        record = json.loads(files.resources.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return dict.fromkeys(VPA_GAUGES), None, []
    warnings = [str(w) for w in record.get("warnings") or []]
    vpa = record.get("vpa") or {}
    containers = vpa.get("containers") or {}
    chosen = containers.get(first) if first in containers else next(iter(containers.values()), None)
    gauges: dict[str, float | None] = {
        "vpa_cpu_target_cores": chosen.get("cpu_target_cores") if chosen else None,
        "vpa_memory_target_mib": chosen.get("memory_target_mib") if chosen else None,
    }
    return gauges, (vpa or None), warnings
