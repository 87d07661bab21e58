"""capacity/'s files, report.html and re-planning, from synthetic probes (no platform)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
from rich.console import Console

from harness.capacity import Boundary, ProbeRecord, write_outputs
from harness.capacity.outputs import plan_markdown
from harness.capacity.planner import PlanInputs
from harness.capacity_run import replan
from harness.report import write_capacity_report
from harness.scenario import CapacityPlanSpec

SCENARIO = """
name: synthetic
service: {cold_start: 2s}
load: {rate_rps: 1, duration: 1s}
slos: {latency_ms: ["p(95) < 500"]}
capacity: {plan: {peak_rps: 300}}
cost: {gpu_hour_usd: 2.0}
"""


def probes() -> list[ProbeRecord]:
    rows = [(1, "calibrate", 110.0, 300.0), (2, "bracket", 25.0, 120.0), (3, "bracket", 50.0, 150.0),
            (4, "bracket", 100.0, 400.0), (5, "bracket", 200.0, 9000.0), (6, "refine", 104.0, 700.0),
            (7, "confirm", 100.0, 410.0), (8, "confirm", 95.0, 300.0)]  # fmt: skip
    return [
        ProbeRecord(
            i,
            kind,
            rate,
            f"probes/{i:02d}",
            p95 < 500,
            () if p95 < 500 else ("latency",),
            margins={"latency_ms": p95 / 500 - 1},
            values={"latency_ms": p95},
            latency_p50_ms=p95 / 2,
            latency_p95_ms=p95,
            latency_p99_ms=p95 * 1.2,
            throughput_rps=min(rate, 100.0),
            goodput_rps=min(rate, 100.0) if p95 < 500 else 10.0,
            in_flight_mean=rate * p95 / 2000,
        )  # fmt: skip
        for i, kind, rate, p95 in rows
    ]


BOUNDARY = Boundary(100.0, True, 100.0, 104.0, "latency_ms", "latency", "slope", {"latency_ms": (-0.3, -0.1)},
                    110.0, 5, True)  # fmt: skip


def test_outputs_report_and_replan(tmp_path: Path) -> None:
    (tmp_path / "scenario.yaml").write_text(SCENARIO, encoding="utf-8")
    trace = [(0.0, 50.0), (3600.0, 400.0), (7200.0, 100.0)]
    plan = CapacityPlanSpec(peak_rps=300, trace=str(tmp_path / "t.csv"))
    inputs = PlanInputs(per_replica_rps=100.0, scale_up_lag_s=600.0, gpu_hour_usd=2.0, in_flight_per_replica=20.5)
    written = write_outputs(tmp_path, probes(), BOUNDARY, plan, inputs, trace, None)
    names = {p.name for p in written}
    assert {"probes.parquet", "capacity.json", "plan.csv", "plan.md", "latency_vs_rate.png", "margins.png",
            "goodput_vs_rate.png", "replicas_over_trace.png"} <= names  # fmt: skip
    doc = json.loads((tmp_path / "capacity" / "capacity.json").read_text())
    assert doc["boundary"]["found_rps"] == 100.0 and doc["plan"]["peak"]["replicas"] == 4 + 1
    assert len(pd.read_csv(tmp_path / "capacity" / "plan.csv")) == 1 + len(trace)
    assert doc["plan"]["trace"]["hpa"]["max_replicas"] == 5 + 1 + 1  # the rise over 600 s: 58 rps, one more
    md = (tmp_path / "capacity" / "plan.md").read_text()
    assert "**100 rps** per replica" in md and "| peak | 300 | 4 + 1 + 0 = **5** |" in md and "minReplicas" in md
    html = write_capacity_report(tmp_path).read_text()
    assert 'id="capacity"' in html and html.count("data:image/png;base64,") == 4 and "probes/05" in html

    outcome = replan(tmp_path, Console(quiet=True), peak_rps=1000.0)
    doc = json.loads((tmp_path / "capacity" / "capacity.json").read_text())
    assert outcome.exit_code == 0 and doc["plan"]["peak"]["replicas"] == 13 + 1
    assert doc["plan"]["inputs"]["scale_up_lag_s"] == 2.0 + 15.0  # cold start + one HPA sync period
    again = pd.read_parquet(tmp_path / "capacity" / "probes.parquet")
    assert list(again["margin:latency_ms"].round(3)) == [round(p.margins["latency_ms"], 3) for p in probes()]


def test_plan_md_names_the_confirm_rate_when_the_answer_is_what_its_repeats_served() -> None:
    served = replace(BOUNDARY, found_rps=98.7, confirmed_rate_rps=100.0)
    assert "**98.7 rps** per replica (what the repeats served of the 100 rps that held)" in plan_markdown(
        served, None, [], None
    )
    assert "that held" not in plan_markdown(replace(BOUNDARY, confirmed_rate_rps=100.0), None, [], None)
