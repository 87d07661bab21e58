"""Per-phase metrics and phase SLOs, cost and idle time, the resilience score: on a synthetic spike run
with a fault, whose every number is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.analysis import analyze
from harness.errors import ScenarioError
from harness.model import SCHEMA_VERSION
from harness.scenario import validate

SCENARIO = """
name: spiky
platform: {pod: {gpus: 2, cpu_request: 4}}
load: {shape: {kind: spike, base_rps: 10, peak_rps: 30, before: 10s, hold: 10s, after: 10s}}
faults: [{at: 12s, experiment: chaos/pod-kill.yaml, name: pod-kill, window: 4s}]
cost: {gpu_hour_usd: 3.6, cpu_hour_usd: 0.36}
slos:
  latency_ms: ["p(95) < 500"]
  latency_ms{phase:peak}: ["p(95) < 150"]
  latency_ms{phase:before}: [{threshold: "p(95) < 150", severity: warning}]
  throughput_rps{phase:peak}: ["value >= 29"]
  resilience_score: ["value >= 50"]
"""
PHASES = (("before", 0.0, 10.0, 10, 100.0), ("peak", 10.0, 20.0, 30, 200.0), ("after", 20.0, 30.0, 10, 100.0))


def make_spike_run(root: Path) -> Path:
    """Load starts at t=1: before 10 rps at 100 ms, peak 30 rps at 200 ms, after 10 rps at 100 ms;
    4 Ready replicas (a, b, c, d) all along; the fault pod-kill's window is [13, 17]."""
    root.mkdir(parents=True)
    (root / "scenario.yaml").write_text(SCENARIO)
    meta = {"schema_version": SCHEMA_VERSION, "run_id": "spiky-1", "platform": "local", "started_at": "now"}
    (root / "run.json").write_text(json.dumps({**meta, "complete": True}))
    frames = []
    for name, a, b, rate, latency in PHASES:
        n = int((b - a) * rate)
        t = 1.0 + a + (np.arange(n) + 0.5) / rate
        frames.append(pd.DataFrame({"t_intended_s": t, "t_sent_s": t, "latency_ms": latency,
                                    "latency_raw_ms": latency, "ok": True, "phase": name}))  # fmt: skip
    frame = pd.concat(frames, ignore_index=True)
    frame["replica"] = np.array(["a", "b", "c", "d"])[np.arange(len(frame)) % 4]
    frame["tokens_out"] = pd.array([None] * len(frame), dtype="Int64")
    (root / "requests.parquet").mkdir()
    frame.to_parquet(root / "requests.parquet" / "w0-00000.parquet", index=False)
    t = np.arange(0.0, 33.0)
    pd.DataFrame({"t_s": t, "desired_replicas": 4, "ready_replicas": 4, "pods_total": 4, "pods_pending": 0,
                  "nodes_total": 2, "nodes_ready": 2}).to_parquet(root / "timeline.parquet")  # fmt: skip
    events = [{"t_s": 1.0, "kind": "load_start", "duration_s": 30.0}]
    events += [{"t_s": 1.0, "kind": "load_phase", "phase": p, "start_s": 1.0 + a, "end_s": 1.0 + b,
                "start_rps": r, "end_rps": r} for p, a, b, r, _ in PHASES]  # fmt: skip
    events += [{"t_s": 13.0, "kind": "chaos_start", "fault": "pod-kill", "index": 0, "experiment": "x"},
               {"t_s": 14.0, "kind": "chaos_end", "fault": "pod-kill", "status": "completed"},
               {"t_s": 31.0, "kind": "load_end"}]  # fmt: skip
    (root / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (root / "load-w0.json").write_text(json.dumps({"requested_arrivals": 500, "scheduled": 500, "dropped": 0}))
    return root


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    return analyze(make_spike_run(tmp_path_factory.mktemp("spike") / "run"))


def test_every_phase_has_its_own_metrics(summary):
    s, _ = summary
    phases = {p["name"]: p for p in s["phases"]}
    assert list(phases) == ["before", "peak", "after", "spike", "pod-kill", "steady_state"]
    assert phases["peak"]["metrics"]["requests"] == 300 and phases["before"]["metrics"]["requests"] == 100
    assert phases["peak"]["metrics"]["throughput_rps"] == pytest.approx(30.0)
    assert phases["peak"]["metrics"]["latency_ms"]["p95"] == 200.0
    assert phases["before"]["metrics"]["latency_ms"]["p95"] == 100.0
    assert phases["spike"]["window_s"] == phases["peak"]["window_s"] == [11.0, 21.0]
    assert phases["pod-kill"]["kind"] == "fault" and phases["pod-kill"]["window_s"] == [13.0, 17.0]
    # steady state: after the 6 s warm-up (20 % of 30 s), outside the fault window [13, 17]
    assert phases["steady_state"]["window_s"] == [7.0, 31.0] and phases["steady_state"]["duration_s"] == 20.0
    assert phases["peak"]["metrics"]["replica_seconds"] == pytest.approx(40.0)


def test_phase_slos_are_evaluated_on_their_phase(summary):
    s, code = summary
    slos = {(r["metric"], r["expression"]): r for r in s["slos"]}
    assert slos[("latency_ms", "p(95) < 500")]["pass"]
    peak = slos[("latency_ms{phase:peak}", "p(95) < 150")]
    assert peak["value"] == 200.0 and not peak["pass"] and peak["phase"] == "peak"
    assert slos[("latency_ms{phase:before}", "p(95) < 150")]["pass"]
    assert slos[("throughput_rps{phase:peak}", "value >= 29")]["pass"]
    assert code == 1 and s["verdict"] == "fail"


def test_resilience_score_weighs_critical_3_and_warning_1(summary):
    s, _ = summary
    # critical: whole-run p95 (pass), peak p95 (FAIL), peak throughput (pass); warning: before p95 (pass)
    assert s["metrics"]["resilience_score"] == pytest.approx(100 * (3 + 3 + 1) / (3 + 3 + 3 + 1), abs=1e-3)
    score_slo = next(r for r in s["slos"] if r["metric"] == "resilience_score")
    assert score_slo["pass"] and score_slo["value"] == s["metrics"]["resilience_score"]


def test_cost_and_idle_time(summary):
    s, _ = summary
    m = s["metrics"]
    # load window 30 s x 4 scheduled pods x 2 GPUs = 240 GPU-seconds
    assert m["gpu_hours"] == pytest.approx(240 / 3600, abs=1e-6)
    cost = 240 / 3600 * 3.6 + 30 * 4 * 4 / 3600 * 0.36
    assert m["cost_usd"] == pytest.approx(cost, abs=1e-6)
    assert m["cost_per_1k_requests"] == pytest.approx(cost / 500 * 1000, abs=1e-5)
    assert m["cost_per_1m_tokens"] is None  # no tokens streamed
    # each replica serves every 4th request: 2.5 rps x 0.1 s = busy a quarter of the time before and after the
    # spike; at the peak 7.5 rps x 0.2 s overlap, so it is never idle: (2.5 + 10 + 2.5) / 30 s busy
    assert m["idle_fraction"] == pytest.approx(1 - 15 / 30, abs=0.01)
    phases = {p["name"]: p["metrics"] for p in s["phases"]}
    assert phases["peak"]["idle_fraction"] == pytest.approx(0.0, abs=0.01)
    assert phases["before"]["idle_fraction"] == pytest.approx(0.75, abs=0.01)


def test_unknown_phase_and_whole_run_metrics_are_refused_at_validation():
    data = {"name": "x", "load": {"rate_rps": 5, "duration": "10s"}, "slos": {"latency_ms{phase:peak}": ["p(95) < 1"]}}
    with pytest.raises(ScenarioError, match="no phase 'peak'; its phases: steady, steady_state"):
        validate(data, "s.yaml")
    data["slos"] = {"scale_up_reaction_s{phase:steady}": ["value < 1"]}
    with pytest.raises(ScenarioError, match="whole run"):
        validate(data, "s.yaml")
    data["slos"] = {"latency_ms": [{"threshold": "p(95) < 1", "severity": "minor"}]}
    with pytest.raises(ScenarioError, match="severity"):
        validate(data, "s.yaml")


@pytest.mark.parametrize(
    "load",
    [{"rate_rps": 5, "duration": "10s"},
     {"stages": [{"duration": "5s", "target_rps": 5}, {"duration": "5s", "target_rps": 1}]},
     {"shape": {"kind": "spike", "base_rps": 1, "peak_rps": 5, "rise": "2s", "hold": "5s", "fall": "2s"}},
     {"shape": {"kind": "step", "start_rps": 1, "step_rps": 2, "steps": 3, "step_duration": "5s"}},
     {"shape": {"kind": "sine", "min_rps": 1, "max_rps": 5, "period": "20s", "duration": "20s"}},
     {"shape": {"kind": "trace", "points": [[0, 1], [10, 5]]}},
     {"model": "closed", "users": 2, "duration": "10s"}],
)  # fmt: skip
def test_scenario_knows_every_phase_the_load_shapes_produce(load):
    from harness.load.shapes import segments_for

    scenario = validate({"name": "x", "load": load}, "s.yaml")
    assert {seg.phase for seg in segments_for(scenario.load)} <= set(scenario.phase_names())
