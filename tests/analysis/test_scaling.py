"""Scaling metrics (harness/analysis/scaling.py) on a synthetic run whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.analysis.runfolder import RunData
from harness.analysis.scaling import load_step_and_drop, scaling_metrics
from harness.model import RunFiles
from harness.scenario import validate

SCENARIO = {
    "name": "spiky",
    "platform": {"hpa": {"enabled": True, "min_replicas": 1, "max_replicas": 5}},
    "load": {"shape": {"kind": "spike", "base_rps": 5, "peak_rps": 20, "before": 10, "hold": 30, "after": 30}},
    "slos": {"latency_ms": ["p(95) < 200"], "errors": ["rate < 0.05"]},
}


def _phases(step_s: float = 12.0) -> list[dict]:
    """Load starts at 2 s: 10 s at 5 rps, a step to 20 rps (the zero-length rise is left out), then back."""
    legs = [("before", 2.0, step_s, 5, 5), ("peak", step_s, step_s + 30, 20, 20), ("after", step_s + 30, 72.0, 5, 5)]
    return [{"t_s": 2.0, "kind": "load_phase", "phase": p, "start_s": a, "end_s": b, "start_rps": r0, "end_rps": r1}
            for p, a, b, r0, r1 in legs]  # fmt: skip


def _run(tmp_path, latency_ms: np.ndarray, times: np.ndarray) -> RunData:
    events = [
        {"t_s": 0.5, "kind": "pod_ready", "pod": "p0"},
        {"t_s": 2.0, "kind": "load_start", "duration_s": 70},
        *_phases(),
        {"t_s": 14.0, "kind": "scale", "from": 1, "to": 3, "source": "hpa"},
        {"t_s": 16.0, "kind": "scale", "from": 3, "to": 4, "source": "hpa"},
        {"t_s": 17.0, "kind": "pod_ready", "pod": "p1"},
        {"t_s": 18.0, "kind": "pod_ready", "pod": "p2"},
        {"t_s": 18.5, "kind": "pod_unready", "pod": "p2", "reason": "readiness_probe"},
        {"t_s": 19.0, "kind": "pod_ready", "pod": "p3"},
        {"t_s": 20.0, "kind": "pod_ready", "pod": "p2"},
        {"t_s": 62.0, "kind": "scale", "from": 4, "to": 2, "source": "hpa"},
        {"t_s": 66.0, "kind": "scale", "from": 2, "to": 1, "source": "hpa"},
        {"t_s": 72.0, "kind": "load_end"},
    ]
    timeline = pd.DataFrame({"t_s": [0.0, 30.0, 70.0], "desired_replicas": [1, 4, 1], "ready_replicas": [1, 4, 1]})
    n = len(times)
    requests = pd.DataFrame(
        {"t_intended_s": times, "t_sent_s": times, "latency_ms": latency_ms, "latency_raw_ms": latency_ms,
         "ok": np.ones(n, dtype=bool), "status": np.full(n, 200)}
    )  # fmt: skip
    return RunData(RunFiles(tmp_path), {}, requests, timeline, events, [])


def test_reaction_ready_recovery_and_scale_down_follow_the_events(tmp_path):
    times = np.arange(2.0, 72.0, 0.1)
    latency = np.where((times >= 12.0) & (times < 25.0), 900.0, 50.0)  # slow from the step until 25 s
    metrics = scaling_metrics(_run(tmp_path, latency, times), validate(SCENARIO, "s.yaml"))
    assert metrics["scale_up_step_s"] == 12.0
    assert metrics["scale_up_reaction_s"] == 2.0  # first scale-up at 14 s
    assert metrics["scale_up_ready_s"] == 8.0  # 4 Ready (the peak desired) at 20 s: p2 came back then
    assert metrics["slo_recovery_s"] == 13.0  # the first 5 s span after a bad one that holds starts at 25 s
    assert metrics["scale_down_s"] == 24.0  # drop at 42 s, back to min_replicas 1 at 66 s
    assert metrics["peak_replicas"] == 4.0


def test_no_violation_means_zero_recovery_and_no_scale_up_means_none(tmp_path):
    times = np.arange(2.0, 72.0, 0.1)
    data = _run(tmp_path, np.full(len(times), 50.0), times)
    data.events = [e for e in data.events if e["kind"] != "scale"]
    metrics = scaling_metrics(data, validate(SCENARIO, "s.yaml"))
    assert metrics["slo_recovery_s"] == 0.0
    assert metrics["scale_up_reaction_s"] is None and metrics["scale_up_ready_s"] is None
    assert metrics["scale_down_s"] is None


@pytest.mark.parametrize(
    ("phases", "expected"),
    [
        ([(0, 10, 0, 50), (10, 40, 50, 50)], (0.0, 40.0)),  # a ramp from 0 to the peak; the drop is the load end
        ([(0, 10, 5, 5), (10, 12, 5, 30), (12, 30, 30, 30), (30, 31, 30, 5)], (10.0, 30.0)),  # k6 stages
        ([(0, 20, 10, 10)], (0.0, 40.0)),  # constant load: the step is the load start
    ],
)
def test_load_step_and_drop(tmp_path, phases, expected):
    events = [{"t_s": 0.0, "kind": "load_start"}, {"t_s": 40.0, "kind": "load_end"}]
    events += [{"t_s": 0.0, "kind": "load_phase", "start_s": a, "end_s": b, "start_rps": r0, "end_rps": r1}
               for a, b, r0, r1 in phases]  # fmt: skip
    data = RunData(RunFiles(tmp_path), {}, pd.DataFrame(), pd.DataFrame(), events, [])
    assert load_step_and_drop(data) == expected
