"""End to end: ``kibench run scenarios/spike.yaml`` (shortened) scales up and down, and its scaling
metrics in summary.json agree with the events in the same run folder."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHORTER = [
    "load.shape.before=5s",
    "load.shape.hold=14s",
    "load.shape.after=15s",
    "platform.hpa.sync_period=1s",
    "platform.hpa.downscale_stabilization=5s",
]


@pytest.mark.slow
@pytest.mark.exclusive  # up to six pods start while the spike runs
def test_spike_scales_up_and_down_and_its_metrics_agree_with_its_events(kibench, tmp_path):
    sets = [arg for s in SHORTER for arg in ("--set", s)]
    argv = [*kibench, "run", str(ROOT / "scenarios" / "spike.yaml"), *sets, "--results", str(tmp_path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=280, cwd=ROOT)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    metrics = json.loads((run / "summary.json").read_text())["metrics"]
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    phases = {e["phase"]: e for e in events if e["kind"] == "load_phase"}
    step, drop = phases["peak"]["start_s"], phases["after"]["start_s"]
    scales = [e for e in events if e["kind"] == "scale"]

    ups = [e for e in scales if e["to"] > e["from"] and step <= e["t_s"] < drop]
    assert ups and ups[0]["source"] == "hpa", "the spike must trigger an HPA scale-up"
    assert ups[0]["reason"] == "pods metric queue_depth above target", "it scaled because the queue passed its target"
    assert metrics["scale_up_reaction_s"] == pytest.approx(ups[0]["t_s"] - step, abs=2e-3)

    peak = max(e["to"] for e in scales if step <= e["t_s"] < drop)
    assert metrics["peak_replicas"] == peak >= 2
    ready: set[str] = set()
    reached = None
    for e in events:
        if e["kind"] == "pod_ready":
            ready.add(e["pod"])
        elif e["kind"] in ("pod_unready", "pod_deleted", "container_exited"):
            ready.discard(e["pod"])
        if reached is None and e["t_s"] >= ups[0]["t_s"] and len(ready) >= peak:
            reached = e["t_s"]
    assert reached is not None and metrics["scale_up_ready_s"] == pytest.approx(reached - step, abs=2e-3)

    downs = [e for e in scales if e["t_s"] >= drop and e["to"] <= 1]
    assert downs, "after the spike the HPA must return to min_replicas"
    assert metrics["scale_down_s"] == pytest.approx(downs[0]["t_s"] - drop, abs=2e-3)
    assert metrics["slo_recovery_s"] is not None

    timeline = pd.read_parquet(run / "timeline.parquet")
    assert {"pods_pending", "nodes_ready", "hpa_queue_depth", "hpa_queue_depth_target"} <= set(timeline.columns)
    assert timeline["desired_replicas"].max() == peak and timeline["desired_replicas"].iloc[-1] == 1
    assert (run / "plots" / "latency.png").stat().st_size > 10_000
