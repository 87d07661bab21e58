"""Scaling metrics of a run, from the run folder's files only (summary.json ``metrics``).

In: ``RunData`` (events.jsonl: load_start / load_phase / load_end, ``scale`` decisions and pod
events; timeline.parquet; requests.parquet) and the scenario (SLO thresholds, HPA minimum).
Out: gauges an SLO may name (``harness.thresholds.METRICS``), ``None`` when the run does not show it:

* ``scale_up_step_s``: the load step: start of the first load phase that rises (a ramp up, or a
  start above the previous phase's end) to the peak rate (the load start when none does);
* ``scale_up_reaction_s``: step → the first ``scale`` event that raises the desired replicas;
* ``scale_up_ready_s``: step → Ready replicas (rebuilt from pod events) reach the highest desired
  count decided before the load drops;
* ``slo_recovery_s``: step → the start of the first ``SETTLE_S``-long span (stepped by
  ``STEP_S``) after the first violating span in which every latency / error SLO holds on that
  span's requests (0 when no span after the step violated; ``None`` without such SLOs);
* ``scale_down_s``: load drop (the first fall after the step, else the load end) → the
  first ``scale`` event down to the HPA's ``min_replicas`` (or to the replicas before the step);
* ``peak_replicas``: the highest desired replica count (timeline and ``scale`` events).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.runfolder import RunData
from harness.analysis.slo import value_on_rows
from harness.scenario import Scenario
from harness.thresholds import Threshold

SETTLE_S = 5.0
STEP_S = 0.5
_SLO_METRICS = ("latency_ms", "latency_raw_ms", "errors", "error_rate", "availability")
_READY_LOST = ("pod_unready", "pod_deleted", "container_exited")


def scaling_metrics(data: RunData, scenario: Scenario) -> dict[str, float | None]:
    """The scaling gauges of the run (see the module docstring)."""
    step, drop = load_step_and_drop(data)
    scales = sorted(
        ((float(e["t_s"]), int(e["from"]), int(e["to"])) for e in data.events_of("scale") if "to" in e),
        key=lambda s: s[0],
    )
    out: dict[str, float | None] = {
        "scale_up_step_s": _round(step),
        "scale_up_reaction_s": None,
        "scale_up_ready_s": None,
        "slo_recovery_s": None,
        "scale_down_s": None,
        "peak_replicas": _peak(data.timeline, scales),
    }
    if step is None:
        return out
    end = drop if drop is not None else float("inf")
    up = next((s for s in scales if s[0] >= step and s[2] > s[1] and s[0] < end), None)
    if up is not None:
        out["scale_up_reaction_s"] = _round(up[0] - step)
        target = max(s[2] for s in scales if up[0] <= s[0] < end)
        ready_at = _ready_reached(data.events, target, up[0])
        out["scale_up_ready_s"] = None if ready_at is None else _round(ready_at - step)
    thresholds = [t for t in scenario.thresholds() if t.metric in _SLO_METRICS]
    horizon = drop if drop is not None else _load_end(data)
    out["slo_recovery_s"] = slo_recovery(data.requests, thresholds, step, horizon)
    if drop is not None:
        floor = scenario.platform.hpa.min_replicas if scenario.platform.hpa.enabled else _desired_at(scales, step)
        down = next((s for s in scales if s[0] >= drop and s[2] <= (floor or 0)), None)
        out["scale_down_s"] = None if down is None else _round(down[0] - drop)
    return out


def load_step_and_drop(data: RunData) -> tuple[float | None, float | None]:
    """(step, drop) in run seconds from the load_phase events (see the module docstring).

    A rise is a phase that ramps up, or one that starts above where the previous one ended (a step
    shape drops its zero-length ramp); the step is the first rise that reaches the peak rate, the
    drop the first fall after it.
    """
    phases = sorted(data.events_of("load_phase"), key=lambda e: float(e["start_s"]))
    starts = [float(e["t_s"]) for e in data.events_of("load_start")]
    if not phases:
        return (min(starts) if starts else None), None
    rates = [(float(p["start_s"]), float(p["start_rps"]), float(p["end_rps"])) for p in phases]
    peak = max(max(a, b) for _, a, b in rates)
    step_index, before = None, 0.0
    for i, (_, start_rps, end_rps) in enumerate(rates):
        if (start_rps > before and start_rps >= peak) or (end_rps > start_rps and end_rps >= peak):
            step_index = i
            break
        before = end_rps
    if step_index is None:
        return rates[0][0], _load_end(data)
    before = rates[step_index][2]
    for t_s, start_rps, end_rps in rates[step_index + 1 :]:
        if start_rps < before or end_rps < start_rps:
            return rates[step_index][0], t_s
        before = end_rps
    return rates[step_index][0], _load_end(data)


def slo_recovery(
    requests: pd.DataFrame, thresholds: list[Threshold], step: float, horizon: float | None
) -> float | None:
    """Step → the first SETTLE_S span after a violating span where every SLO holds (0: none violated)."""
    if not thresholds or requests.empty or horizon is None:
        return None
    sorted_already = requests["t_intended_s"].is_monotonic_increasing  # read_run sorts; no 10M-row copy then
    frame = requests if sorted_already else requests.sort_values("t_intended_s", ignore_index=True)
    columns = {t.metric for t in thresholds if t.metric in frame} | {"ok"}
    rows = {c: frame[c].to_numpy() for c in columns}  # array slices in the loop below, not frame slices
    times = frame["t_intended_s"].to_numpy(dtype=float)
    violated = False
    steps = int(max(0.0, horizon - SETTLE_S - step) / STEP_S) + 1
    for k in range(min(steps, 100_000)):
        lo = step + k * STEP_S
        a, b = np.searchsorted(times, [lo, lo + SETTLE_S])
        if b <= a:
            continue
        span = {c: values[a:b] for c, values in rows.items()}
        holds = all(t.holds(value_on_rows(t, span)) for t in thresholds)
        if not holds:
            violated = True
        elif violated:
            return _round(k * STEP_S)
    return None if violated else 0.0


def _ready_reached(events: list[dict[str, Any]], target: int, after: float) -> float | None:
    """First time at or after ``after`` when Ready replicas (from pod events) reach ``target``."""
    ready: set[Any] = set()
    for event in sorted(events, key=lambda e: float(e["t_s"])):
        kind = event.get("kind")
        if kind == "pod_ready":
            ready.add(event.get("pod"))
        elif kind in _READY_LOST:
            ready.discard(event.get("pod"))
        else:
            continue
        if float(event["t_s"]) >= after and len(ready) >= target:
            return float(event["t_s"])
    return None


def _desired_at(scales: list[tuple[float, int, int]], t_s: float) -> int | None:
    before = [s for s in scales if s[0] <= t_s]
    if before:
        return before[-1][2]
    return scales[0][1] if scales else None


def _peak(timeline: pd.DataFrame, scales: list[tuple[float, int, int]]) -> float | None:
    values = [float(s[2]) for s in scales]
    if not timeline.empty and "desired_replicas" in timeline:
        values.append(float(timeline["desired_replicas"].max()))
    return max(values) if values else None


def _load_end(data: RunData) -> float | None:
    ends = [float(e["t_s"]) for e in data.events_of("load_end")]
    return max(ends) if ends else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
