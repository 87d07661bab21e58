"""Per-fault metrics (harness/analysis/faults.py) on a hand-built run folder with known answers.

The folder holds what a run writes (run.json, scenario.yaml, events.jsonl, requests.parquet/):
a pod kill at 10.5 s whose replacement is Ready at 13.5 s, 5 failed and 20 slow requests after it,
and a hang at 20.5 s detected by liveness at 22.0 s.  Every expected number is worked out below.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from harness.analysis.faults import fault_metrics
from harness.analysis.runfolder import read_run
from harness.model import SCHEMA_VERSION
from harness.scenario import dump, load_scenario, validate

EVENTS = [
    {"t_s": 1.0, "kind": "pod_ready", "pod": "a"},
    {"t_s": 1.0, "kind": "pod_ready", "pod": "b"},
    {"t_s": 1.0, "kind": "pod_ready", "pod": "c"},
    {"t_s": 2.0, "kind": "load_start", "duration_s": 38.0},
    {"t_s": 10.0, "kind": "chaos_start", "fault": "kill", "index": 0, "experiment": "chaos/pod-kill.yaml"},
    {
        "t_s": 10.5,
        "kind": "chaos_action",
        "fault": "kill",
        "name": "k",
        "activity": "action",
        "func": "terminate_pods",
        "phase": "method",
        "start_s": 10.5,
        "end_s": 10.6,
        "status": "succeeded",
        "pods": ["a"],
    },
    {"t_s": 10.6, "kind": "pod_unready", "pod": "a"},
    {"t_s": 10.7, "kind": "pod_deleted", "pod": "a"},
    {"t_s": 10.7, "kind": "pod_created", "pod": "d"},
    {"t_s": 13.5, "kind": "pod_ready", "pod": "d"},
    {"t_s": 15.0, "kind": "chaos_end", "fault": "kill", "index": 0, "status": "completed", "deviated": False},
    {"t_s": 20.0, "kind": "chaos_start", "fault": "hang", "index": 1, "experiment": "chaos/hung-replica.yaml"},
    {
        "t_s": 20.5,
        "kind": "chaos_action",
        "fault": "hang",
        "name": "h",
        "activity": "action",
        "func": "hang_pods",
        "phase": "method",
        "start_s": 20.5,
        "end_s": 20.6,
        "status": "succeeded",
        "pods": ["b"],
    },
    {"t_s": 21.0, "kind": "pod_unready", "pod": "b", "reason": "readiness_probe"},
    {"t_s": 22.0, "kind": "pod_liveness_failed", "pod": "b"},
    {"t_s": 23.0, "kind": "container_exited", "pod": "b", "reason": "liveness_probe"},
    {"t_s": 25.0, "kind": "pod_ready", "pod": "b"},
    {"t_s": 26.0, "kind": "chaos_end", "fault": "hang", "index": 1, "status": "completed", "deviated": True},
    {"t_s": 40.0, "kind": "load_end"},
]


def _requests() -> pd.DataFrame:
    rows = []
    for i in range(380):  # 10 rps from 2.0 s to 40.0 s
        t = 2.0 + i / 10
        failed = 10.5 <= t < 11.0  # 5 requests
        slow = 11.0 <= t < 13.0  # 20 requests at 800 ms
        latency = 800.0 if slow else 50.0
        rows.append(
            {
                "t_intended_s": t,
                "t_sent_s": t,
                "latency_ms": latency,
                "latency_raw_ms": latency,
                "status": 502 if failed else 200,
                "ok": not failed,
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture
def run_folder(tmp_path: Path) -> Path:
    scenario = validate(
        {
            "name": "faults-unit",
            "load": {"rate_rps": 10, "duration": 38},
            "faults": [
                {"at": 8, "experiment": "chaos/pod-kill.yaml"},
                {"at": 18, "experiment": "chaos/hung-replica.yaml", "settle": 2},
            ],
            "slos": {"latency_ms": ["p(95) < 300"], "errors": ["rate < 0.01"]},
        },
        "test",
    )
    (tmp_path / "scenario.yaml").write_text(dump(scenario))
    (tmp_path / "run.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION, "run_id": "r"}))
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    (tmp_path / "requests.parquet").mkdir()
    _requests().to_parquet(tmp_path / "requests.parquet" / "w0-00000.parquet")
    return tmp_path


def _metrics(root: Path) -> list[dict]:
    return fault_metrics(read_run(root), load_scenario(root / "scenario.yaml"))


def test_pod_kill_metrics(run_folder: Path) -> None:
    kill, _ = _metrics(run_folder)
    assert kill["name"] == "kill" and kill["injection_s"] == 10.5 and kill["targets"] == ["a"] and kill["injected"]
    assert kill["capacity_before"] == 3 and kill["min_ready_replicas"] == 2
    assert kill["time_to_capacity_s"] == 3.0  # 13.5 - 10.5
    assert kill["window_s"] == [10.5, 15.0]  # the experiment ended after capacity came back
    assert kill["failed_requests"] == 5
    assert kill["requests_in_window"] == 46  # intended 10.5 .. 15.0 s; the 10.4 s one was done at 10.45 s
    # The first 5 s span without a failure and with p95 < 300 ms starts at 13.0 s: 2.5 s after the kill.
    assert kill["time_to_slo_s"] == 2.5
    assert kill["detection_s"] is None and kill["status"] == "completed"


def test_hang_metrics_detection_and_restart(run_folder: Path) -> None:
    _, hang = _metrics(run_folder)
    assert hang["detection_s"] == 1.5 and hang["restart_s"] == 2.5  # 22.0 and 23.0 after the hang at 20.5
    assert hang["capacity_before"] == 3 and hang["time_to_capacity_s"] == 4.5  # Ready again at 25.0
    assert hang["deviated"] is True and hang["failed_requests"] == 0
    assert hang["time_to_slo_s"] == 0.0  # no slow or failed request after 20.5 s


def test_a_window_setting_and_a_fault_that_never_dropped_capacity(run_folder: Path) -> None:
    text = (run_folder / "scenario.yaml").read_text().replace("settle: 2.0", "settle: 2.0\n  window: 1.0")
    (run_folder / "scenario.yaml").write_text(text)
    events = [e for e in EVENTS if e.get("pod") != "b" or e["kind"] == "pod_ready"]
    (run_folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    _, hang = _metrics(run_folder)
    assert hang["window_s"] == [20.5, 21.5]
    assert hang["time_to_capacity_s"] == 0.0 and hang["min_ready_replicas"] == 3
    assert hang["detection_s"] is None
