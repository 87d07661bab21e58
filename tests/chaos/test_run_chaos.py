"""End to end: ``kibench run`` with scheduled faults on the local platform (slow: 40-60 s each).

Each test runs the real CLI in a subprocess (real Locust load, the embedded cluster, real chaoslib and
chaostoolkit-kubernetes) and checks the run folder: the pod-kill metrics in summary.json agree with
events.jsonl and the request rows, an interrupted run still plays its rollbacks, and a rolling update
under load loses nothing.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from harness.procs import poll_until
from tests.chaos.conftest import FAST_PLATFORM, ROOT

pytestmark = pytest.mark.slow


def _run_folder(results: Path) -> Path:
    [folder] = list(results.iterdir())
    return folder


def _events(folder: Path, kind: str | None = None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines() if line.strip()]
    return [e for e in rows if kind is None or e["kind"] == kind]


def _kibench(kibench: list[str], *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*kibench, *args], capture_output=True, text=True, timeout=timeout_s, cwd=ROOT)


def test_pod_kill_recovery_metrics_agree_with_events(pod_kill_run: tuple[subprocess.CompletedProcess[str], Path]):
    done, folder = pod_kill_run  # scenarios/pod-kill-under-load.yaml, 15 s of load, the kill at 4 s (tests/conftest.py)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    summary = json.loads((folder / "summary.json").read_text())
    [fault] = summary["faults"]
    [load_start] = _events(folder, "load_start")
    [start] = _events(folder, "chaos_start")
    assert 0.0 <= start["t_s"] - (load_start["t_s"] + 4.0) < 0.5, "the experiment did not start on time"
    [kill] = [e for e in _events(folder, "chaos_action") if e["func"] == "terminate_pods"]
    assert kill["status"] == "succeeded" and fault["injection_s"] == pytest.approx(kill["start_s"], abs=1e-3)
    [killed] = kill["pods"]
    assert fault["targets"] == [killed] and fault["capacity_before"] == 3 and fault["min_ready_replicas"] == 2
    # Independently: the replacement is the first pod created after the kill; capacity is back when it is Ready.
    created = [e["pod"] for e in _events(folder, "pod_created") if e["t_s"] > kill["start_s"]]
    ready = [e for e in _events(folder, "pod_ready") if e["pod"] == created[0]]
    assert fault["time_to_capacity_s"] == pytest.approx(ready[0]["t_s"] - kill["start_s"], abs=0.01)
    [end] = _events(folder, "chaos_end")
    assert fault["window_s"][1] == pytest.approx(max(end["t_s"], ready[0]["t_s"]), abs=0.01)
    # failed_requests: requests in flight during the window that failed, counted from the rows.
    rows = pd.concat([pd.read_parquet(p) for p in sorted((folder / "requests.parquet").glob("*.parquet"))])
    done_s = rows["t_sent_s"] + rows["latency_raw_ms"] / 1000.0
    lo, hi = fault["window_s"]
    in_window = rows[(rows["t_intended_s"] <= hi) & (done_s >= lo)]
    assert fault["requests_in_window"] == len(in_window) > 100
    assert fault["failed_requests"] == int((~in_window["ok"].astype(bool)).sum())
    assert fault["time_to_slo_s"] is not None and fault["time_to_slo_s"] >= 0.0
    assert fault["status"] == end["status"] and (folder / end["journal"]).is_file()
    assert (folder / "plots" / "latency.png").stat().st_size > 10_000


def _with(provider: dict[str, Any], **arguments: Any) -> dict[str, Any]:
    return {**provider, "arguments": {**provider["arguments"], **arguments}}


def test_an_interrupted_run_still_plays_the_rollbacks(kibench: list[str], tmp_path: Path) -> None:
    scale = {
        "type": "python",
        "module": "chaosk8s.deployment.actions",
        "func": "scale_deployment",
        "arguments": {"name": "${kibench_deployment}", "ns": "${kibench_namespace}"},
    }
    experiment = {
        "title": "scale up and wait",
        "description": "scales to 4 and waits; the rollback scales back to 3",
        "steady-state-hypothesis": {
            "title": "healthy",
            "probes": [
                {
                    "type": "probe",
                    "name": "healthy",
                    "tolerance": True,
                    "provider": {
                        "type": "python",
                        "module": "chaosk8s.deployment.probes",
                        "func": "deployment_available_and_healthy",
                        "arguments": {"name": "${kibench_deployment}", "ns": "${kibench_namespace}"},
                    },
                }
            ],
        },
        "method": [
            {
                "type": "action",
                "name": "scale-up",
                "provider": _with(scale, replicas=4),
                "pauses": {"after": 120},
            }
        ],
        "rollbacks": [{"type": "action", "name": "scale-back", "provider": _with(scale, replicas=3)}],
    }
    (tmp_path / "scale-and-wait.yaml").write_text(yaml.safe_dump(experiment))
    scenario = {
        "name": "interrupted",
        "platform": FAST_PLATFORM,
        "service": {"replicas": 3, "device_time_ms": 20, "cold_start": 0.2},
        "load": {"rate_rps": 10, "duration": 120},
        "faults": [{"at": 2, "experiment": str(tmp_path / "scale-and-wait.yaml")}],
    }
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(scenario))
    results = tmp_path / "results"
    proc = subprocess.Popen(
        [*kibench, "run", str(tmp_path / "scenario.yaml"), "--results", str(results)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:

        def action_ran_or_ended() -> bool:
            folders = list(results.iterdir()) if results.exists() else []
            events = folders[0] / "events.jsonl" if folders else None
            ran = events is not None and events.exists() and '"name": "scale-up"' in events.read_text()
            return ran or proc.poll() is not None

        poll_until(action_ran_or_ended, 120.0, 0.2)
        assert proc.poll() is None, "kibench ended before the experiment's action ran"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out + err
    folder = _run_folder(results)
    [end] = _events(folder, "chaos_end")
    assert end["status"] == "interrupted" and end["rollbacks"] == 1 and end["rollbacks_failed"] == 0
    [rollback] = [e for e in _events(folder, "chaos_action") if e["phase"] == "rollback"]
    assert rollback["name"] == "scale-back" and rollback["status"] == "succeeded"
    assert any(e.get("to") == 3 and e["t_s"] >= rollback["start_s"] - 0.5 for e in _events(folder, "scale"))
    journal = json.loads((folder / end["journal"]).read_text())
    assert journal["status"] == "interrupted" and journal["rollbacks"][0]["status"] == "succeeded"


@pytest.mark.exclusive  # surge pods start while the load runs
def test_a_rolling_update_under_load_loses_no_request(kibench: list[str], tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = _kibench(
        kibench, "run", "scenarios/rolling-update.yaml", "--set", "load.duration=18s", "--set", "faults[0].at=4s",
        "--set", "service.cold_start=1s",
        "--results", str(results),
    )
    folder = _run_folder(results)
    summary = json.loads((folder / "summary.json").read_text())
    assert done.returncode == 0, done.stdout + done.stderr
    [fault] = summary["faults"]
    assert fault["status"] == "completed" and not fault["deviated"]
    assert _events(folder, "rollout_finished"), "the rollout did not finish within the run"
    created = _events(folder, "pod_created")  # revision: the pod's template hash (pod-template-hash)
    replaced = {e["pod"] for e in created if e["revision"] != created[0]["revision"]}
    assert len(replaced) >= 3, "every replica should have been replaced by the new revision"
    assert fault["requests_in_window"] > 100
    assert fault["failed_requests"] == 0
    assert summary["metrics"]["error_rate"] == 0.0
