"""Turn a run folder into ``summary.json`` and a verdict.

In: a run folder path.  Out: the summary (schema_version 1: run id, scenario, platform, environment,
metrics, SLO results, verdict, verdict_reason, warnings) written to ``summary.json``, and the exit code:
0 when every SLO holds, 1 when the service missed one, 4 when a self-check failed (verdict.py; 3 and
130 are the orchestrator's, for platform errors and interrupted runs).

The SLOs are the scenario's own followed by the default SLOs that apply (defaults.py), each marked
``default`` and ``self_check``; the warnings come from reading the files (runfolder.py), the load
self-checks (loadchecks.py) and the reviewer's caveats (caveats.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.caveats import add_caveats
from harness.analysis.cost import BusyIntervals, cost_gauges
from harness.analysis.defaults import default_thresholds
from harness.analysis.faults import fault_gauges, fault_metrics
from harness.analysis.loadchecks import add_load_checks
from harness.analysis.metrics import Metrics, compute, trend_summary
from harness.analysis.phases import phases as phase_metrics
from harness.analysis.platformchecks import add_platform_checks
from harness.analysis.resources import resource_gauges, vpa_gauges
from harness.analysis.runfolder import RunData, read_run
from harness.analysis.scaling import scaling_metrics
from harness.analysis.score import evaluate_scored
from harness.analysis.slo import evaluate, latency_limit_ms
from harness.analysis.timeseries import write_per_second
from harness.analysis.verdict import judge
from harness.errors import RunFolderError, ScenarioError
from harness.model import SCHEMA_VERSION
from harness.runio import write_json
from harness.scenario import Scenario, load_scenario


def analyze(root: str | Path) -> tuple[dict[str, Any], int]:
    """Analyze a run folder, write summary.json, return (summary, exit code)."""
    data = read_run(root)
    scenario = _scenario(data)
    thresholds = scenario.thresholds()
    metrics = add_platform_checks(data, add_load_checks(data, compute(data, latency_limit_ms(thresholds))))
    metrics.gauges.update(scaling_metrics(data, scenario))
    faults = fault_metrics(data, scenario)
    metrics.gauges.update(fault_gauges(faults))
    busy = BusyIntervals.from_requests(data.requests)
    metrics.gauges.update(_cost(data, scenario, metrics, busy))
    sizing, sizing_table = resource_gauges(data.files, scenario, *metrics.window_s)
    metrics.gauges.update(sizing)
    metrics.detail["rightsizing"] = sizing_table or None  # None: no usage measured (e.g. no metrics-server)
    vpa, metrics.detail["vpa_recommendation"], found = vpa_gauges(data.files, next(iter(sizing_table), None))
    metrics.gauges.update(vpa)
    data.warnings.extend(found)  # resources.json: no metrics-server, no VPA recommendation yet, ...
    phases = phase_metrics(data, scenario, faults, metrics, latency_limit_ms(thresholds), busy)
    by_phase = {p.name: p.metrics for p in phases}
    defaults = default_thresholds(scenario, metrics, data.load_stats, bool(data.meta.get("complete", False)))
    results = evaluate_scored(thresholds, metrics, by_phase) + evaluate(defaults, metrics, by_phase, default=True)
    verdict = judge(results)
    add_caveats(data, scenario, metrics, faults)
    summary = {
        "schema_version": SCHEMA_VERSION,
        "run_id": data.meta.get("run_id"),
        "scenario": scenario.name,
        "platform": data.meta.get("platform"),
        "balancing": _balancing(data, scenario),
        "started_at": data.meta.get("started_at"),
        "complete": bool(data.meta.get("complete", False)),
        "environment": data.meta.get("environment", {}),
        "metrics": {
            **metrics.gauges,
            **metrics.detail,
            "latency_ms": trend_summary(metrics.series["latency_ms"]),
            "latency_raw_ms": trend_summary(metrics.series["latency_raw_ms"]),
            "send_lag_ms": trend_summary(metrics.series["send_lag_ms"]),
        },
        "slos": [r.to_json() for r in results],
        "faults": faults,
        "phases": [p.to_json() for p in phases],
        "verdict": verdict.verdict,
        "verdict_reason": verdict.reason,
        "warnings": data.warnings,
    }
    write_per_second(data)
    write_json(data.files.summary, summary)
    return summary, verdict.exit_code


def _cost(data: RunData, scenario: Scenario, metrics: Metrics, busy: BusyIntervals | None) -> dict[str, float | None]:
    """Cost and idle gauges over the load window (harness/analysis/cost.py)."""
    start, end = metrics.window_s
    req = data.requests
    ok = int(req["ok"].astype(bool).sum()) if len(req) else 0
    tokens = pd.to_numeric(req["tokens_out"], errors="coerce").sum() if len(req) and "tokens_out" in req else 0.0
    return cost_gauges(data.timeline, scenario, start, end, ok, float(tokens) or None, busy)


def _balancing(data: RunData, scenario: Scenario) -> str | None:
    """How the load reached the replicas: per connection (a Service) or per request (an ingress)."""
    if data.meta.get("platform") != "local":
        return None
    if scenario.platform.balancing != "request":
        return "per connection (Service)"
    proxies = data.events_of("ingress_proxy")  # which stack carried it: haproxy, or the forwarder (its fallback)
    return f"per request (ingress: {proxies[0].get('proxy')})" if proxies else "per request (ingress)"


def _scenario(data: RunData) -> Scenario:
    try:
        return load_scenario(data.files.scenario)
    except ScenarioError as exc:
        raise RunFolderError(f"{data.files.scenario}: cannot be read back ({exc})") from exc
