"""Turn a run folder into ``summary.json`` and a verdict.

In: a run folder path.  Out: the summary (schema_version 1: run id, scenario, platform, environment,
metrics, SLO results, verdict) written to ``summary.json``, and the exit code: 0 when every SLO
holds, 1 when one fails (130 is the orchestrator's, for interrupted runs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.analysis.faults import fault_gauges, fault_metrics
from harness.analysis.loadchecks import add_load_checks
from harness.analysis.metrics import compute, trend_summary
from harness.analysis.platformchecks import add_platform_checks
from harness.analysis.runfolder import RunData, read_run
from harness.analysis.scaling import scaling_metrics
from harness.analysis.slo import evaluate, latency_limit_ms
from harness.analysis.timeseries import write_per_second
from harness.errors import EXIT_OK, EXIT_SLO_FAILED, RunFolderError, ScenarioError
from harness.model import SCHEMA_VERSION
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
    results = evaluate(thresholds, metrics)
    passed = all(r.passed for r in results)
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
        "verdict": "pass" if passed else "fail",
        "warnings": data.warnings,
    }
    write_per_second(data)
    data.files.summary.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary, EXIT_OK if passed else EXIT_SLO_FAILED


def _balancing(data: RunData, scenario: Scenario) -> str | None:
    """How the load reached the replicas: per connection (a Service) or per request (an ingress)."""
    if data.meta.get("platform") != "local":
        return None
    return "per request (ingress)" if scenario.platform.balancing == "request" else "per connection (Service)"


def _scenario(data: RunData) -> Scenario:
    try:
        return load_scenario(data.files.scenario)
    except ScenarioError as exc:
        raise RunFolderError(f"{data.files.scenario}: cannot be read back ({exc})") from exc
