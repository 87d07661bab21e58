"""Per-fault recovery metrics, from a run folder's files only (summary.json ``faults``).

In: ``RunData`` (events.jsonl: chaos_start / chaos_action / chaos_end and the platform's pod events;
requests.parquet) and the scenario (its ``faults`` and its SLO thresholds).  Out: one dict per
experiment that started, in start order:

* ``injection_s``: start of the first method *action* (the fault itself; chaos_start when none);
* ``capacity_before``: Ready replicas just before the injection (rebuilt from pod events);
* ``time_to_capacity_s``: injection → Ready replicas back to ``capacity_before`` after the first drop
  below it (0 when they never dropped, None when they never came back before the run ended);
* ``window_s``: [injection, end]: end is ``injection + window`` when the scenario sets ``window``,
  else the later of the experiment's end and the capacity restore;
* ``requests_in_window`` / ``failed_requests``: requests in flight at any time in the window
  (intended send <= end and completion >= injection), and those of them that failed;
* ``time_to_slo_s``: injection → the start of the first ``settle``-long span (stepped by 0.5 s) in
  which every latency / error SLO of the scenario holds on that span's requests (0 when it held
  from the start, None when never or when the scenario has no such SLO);
* ``detection_s``: for faults that hung pods (``hang_pods``): hang → the platform's first liveness
  failure on a hung pod; ``restart_s``: hang → that pod's container exited for the restart.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.runfolder import RunData
from harness.analysis.slo import value_on_rows
from harness.scenario import FaultSpec, Scenario
from harness.thresholds import Threshold

SLO_STEP_S = 0.5
_SLO_METRICS = ("latency_ms", "latency_raw_ms", "errors", "error_rate", "availability")
_READY_LOST = ("pod_unready", "pod_deleted", "container_exited")


def fault_metrics(data: RunData, scenario: Scenario) -> list[dict[str, Any]]:
    """Recovery metrics of every fault that started (see the module docstring)."""
    starts = sorted(data.events_of("chaos_start"), key=lambda e: float(e["t_s"]))
    if not starts:
        return []
    ready = _ready_series(data.events)
    requests = _request_times(data.requests)
    thresholds = [t for t in scenario.thresholds() if t.metric in _SLO_METRICS]
    load_end = max((float(e["t_s"]) for e in data.events_of("load_end")), default=None)
    out = []
    for i, start in enumerate(starts):
        next_start = float(starts[i + 1]["t_s"]) if i + 1 < len(starts) else float("inf")
        spec = _spec(scenario, start)
        out.append(_one_fault(data, start, spec, ready, requests, thresholds, next_start, load_end))
    return out


def _spec(scenario: Scenario, start: dict[str, Any]) -> FaultSpec | None:
    index = start.get("index")
    return scenario.faults[index] if isinstance(index, int) and 0 <= index < len(scenario.faults) else None


def _one_fault(
    data: RunData,
    start: dict[str, Any],
    spec: FaultSpec | None,
    ready: list[tuple[float, int]],
    requests: pd.DataFrame,
    thresholds: list[Threshold],
    next_start: float,
    load_end: float | None,
) -> dict[str, Any]:
    name = start.get("fault")
    actions = [e for e in data.events_of("chaos_action") if e.get("fault") == name]
    end_event = next((e for e in data.events_of("chaos_end") if e.get("fault") == name), {})
    method = [e for e in actions if e.get("phase") == "method" and e.get("activity") == "action"]
    injection = min((float(e["start_s"]) for e in method), default=float(start["t_s"]))
    end = float(end_event.get("t_s", load_end if load_end is not None else injection))
    before = _ready_at(ready, injection)
    restored = _restore_time(ready, injection, before, min(next_start, end))  # a drop after the experiment is not its
    time_to_capacity = None if restored is None else max(0.0, restored - injection)
    if spec is not None and spec.window is not None:
        window_end = injection + spec.window
    else:
        window_end = max(end, restored if restored is not None else end)
    in_window = requests[(requests["t_intended_s"] <= window_end) & (requests["t_done_s"] >= injection)]
    settle = spec.settle if spec is not None else 5.0
    horizon = load_end if load_end is not None else float(requests["t_intended_s"].max() if len(requests) else 0.0)
    detection, restart = _detection(data.events, method)
    return {
        "name": name,
        "index": start.get("index"),
        "experiment": start.get("experiment"),
        "status": end_event.get("status", "unfinished"),
        "deviated": bool(end_event.get("deviated", False)),
        "injected": bool(method),  # False: e.g. the steady state did not hold before, so chaoslib ran no method
        "steady_state_before": end_event.get("steady_state_before"),
        "steady_state_after": end_event.get("steady_state_after"),
        "start_s": round(float(start["t_s"]), 3),
        "lateness_s": start.get("lateness_s"),
        "end_s": None if not end_event else round(end, 3),
        "injection_s": round(injection, 3),
        "window_s": [round(injection, 3), round(window_end, 3)],
        "targets": sorted({t for e in method for t in (e.get("pods") or []) + (e.get("nodes") or [])}),
        "requests_in_window": int(len(in_window)),
        "failed_requests": int((~in_window["ok"]).sum()),
        "capacity_before": before,
        "min_ready_replicas": _min_ready(ready, injection, window_end, before),
        "time_to_capacity_s": None if time_to_capacity is None else round(time_to_capacity, 3),
        "time_to_slo_s": _time_to_slo(requests, thresholds, injection, settle, horizon),
        "slo_metrics": sorted({t.metric for t in thresholds}),
        "detection_s": detection,
        "restart_s": restart,
    }


def _ready_series(events: list[dict[str, Any]]) -> list[tuple[float, int]]:
    """(t_s, Ready replicas) after every change, from pod_ready and the events that end readiness."""
    ready: set[str] = set()
    series: list[tuple[float, int]] = [(float("-inf"), 0)]
    for event in sorted(
        (e for e in events if str(e.get("kind", "")).startswith(("pod_", "container_"))), key=lambda e: float(e["t_s"])
    ):
        pod = str(event.get("pod"))
        if event["kind"] == "pod_ready":
            ready.add(pod)
        elif event["kind"] in _READY_LOST:
            ready.discard(pod)
        else:
            continue
        series.append((float(event["t_s"]), len(ready)))
    return series


def _ready_at(series: list[tuple[float, int]], t_s: float) -> int:
    count = 0
    for t, n in series:
        if t > t_s:
            break
        count = n
    return count


def _restore_time(series: list[tuple[float, int]], injection: float, before: int, until: float) -> float | None:
    """When Ready replicas came back to ``before`` after first dropping below it (injection if never)."""
    dropped = False
    for t, n in series:
        if t <= injection:
            continue
        if not dropped:
            if t >= until:
                return injection
            dropped = n < before
        elif n >= before:
            return t
    return None if dropped else injection


def _min_ready(series: list[tuple[float, int]], start: float, end: float, before: int) -> int:
    inside = [n for t, n in series if start < t <= end]
    return min([before, *inside])


def _request_times(requests: pd.DataFrame) -> pd.DataFrame:
    if requests.empty:
        return pd.DataFrame({"t_intended_s": [], "t_done_s": [], "ok": [], "latency_ms": [], "latency_raw_ms": []})
    out = requests[["t_intended_s", "ok", "latency_ms", "latency_raw_ms"]].copy()
    out["ok"] = out["ok"].astype(bool)
    out["t_done_s"] = requests["t_sent_s"] + requests["latency_raw_ms"].fillna(0.0) / 1000.0
    return out.sort_values("t_intended_s", ignore_index=True)


def _time_to_slo(
    requests: pd.DataFrame, thresholds: list[Threshold], injection: float, settle: float, horizon: float
) -> float | None:
    if not thresholds or requests.empty:
        return None
    times = requests["t_intended_s"].to_numpy(dtype=float)
    steps = int(max(0.0, horizon - settle - injection) / SLO_STEP_S) + 1
    for k in range(min(steps, 100_000)):
        lo = injection + k * SLO_STEP_S
        a, b = np.searchsorted(times, [lo, lo + settle])
        if b > a and all(t.holds(value_on_rows(t, requests.iloc[a:b])) for t in thresholds):
            return round(k * SLO_STEP_S, 3)
    return None


def _detection(events: list[dict[str, Any]], method: list[dict[str, Any]]) -> tuple[float | None, float | None]:
    """Hang → first liveness failure, and → the container exit that restarts it, for hung pods."""
    hangs = [e for e in method if e.get("func") == "hang_pods" and e.get("status") == "succeeded" and e.get("pods")]
    if not hangs:
        return None, None
    t_hang, pods = float(hangs[0]["start_s"]), set(hangs[0]["pods"])
    later = sorted((e for e in events if e.get("pod") in pods and float(e["t_s"]) >= t_hang), key=lambda e: e["t_s"])
    failed = next((float(e["t_s"]) for e in later if e.get("kind") == "pod_liveness_failed"), None)
    exited = next((float(e["t_s"]) for e in later if e.get("kind") == "container_exited"), None)
    return (
        None if failed is None else round(failed - t_hang, 3),
        None if exited is None else round(exited - t_hang, 3),
    )


def fault_gauges(faults: list[dict[str, Any]]) -> dict[str, float | None]:
    """Run-level gauges over every fault, for SLOs: the worst case.  No fault → every value is None; one fault
    that never recovered → that value is None, so a ``value < X`` threshold on it fails."""

    def worst(key: str) -> float | None:
        values = [f.get(key) for f in faults]
        return None if not values or any(v is None for v in values) else float(max(values))

    detections = [float(f["detection_s"]) for f in faults if f.get("detection_s") is not None]
    return {
        "fault_failed_requests": float(sum(f["failed_requests"] for f in faults)) if faults else None,
        "time_to_capacity_s": worst("time_to_capacity_s"),
        "time_to_slo_s": worst("time_to_slo_s"),
        "detection_s": max(detections) if detections else None,
    }
