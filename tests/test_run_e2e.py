"""End to end on the local platform: real daemon, real replicas, real Locust, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import psutil
import pytest

from harness.procs import poll_until, read_records, running_records

pytestmark = pytest.mark.slow

RATE_RPS, DURATION_S, DEVICE_MS = 20, 15, 30


def scenario_text(name: str, slo: str = "p(95) < 2000", duration_s: int = DURATION_S) -> str:
    return f"""
name: {name}
platform:
  probes: {{readiness: {{period: 500ms}}}}
  pod: {{termination_grace_period: 5s}}
service: {{replicas: 2, device_time_ms: {DEVICE_MS}, cold_start: 0.5s}}
load: {{rate_rps: {RATE_RPS}, duration: {duration_s}s}}
slos:
  latency_ms: ["{slo}"]
  errors: ["rate < 0.05"]
"""


def run_dirs(results: Path) -> list[Path]:
    return sorted(p for p in results.iterdir() if p.is_dir())


def processes_mentioning(token: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if token in cmdline and proc.pid != os.getpid():
            found.append(proc)
    return found


def start_long_run(tmp_path: Path, kibench: list[str], name: str) -> tuple[subprocess.Popen[str], Path]:
    """Start a 60 s `kibench run` and return once its load has been recording for a few seconds."""
    path = tmp_path / "s.yaml"
    path.write_text(scenario_text(name, duration_s=60))
    results = tmp_path / "r"
    proc = subprocess.Popen([*kibench, "run", str(path), "--results", str(results)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    assert poll_until(lambda: list(results.glob("*/requests.parquet/*.parquet")), 60.0, 0.2), "load never started"
    time.sleep(3)
    return proc, results


@pytest.fixture(scope="module")
def passing_run(tmp_path_factory, request):
    tmp = tmp_path_factory.mktemp("e2e")
    path = tmp / "s.yaml"
    path.write_text(scenario_text("e2e-pass"))
    results = tmp / "results"
    cmd = [sys.executable, "-c", "from harness.cli import main; main()", "run", str(path), "--results", str(results)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    return proc, run_dirs(results)[0]


@pytest.mark.exclusive  # the module's shared run is made in its setup; its self-check judges the host: alone
def test_run_passes_and_prints_folder_and_verdict(passing_run):
    proc, run_dir = passing_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"run folder: {run_dir}" in proc.stdout.replace("\n", "")
    assert "verdict: pass" in proc.stdout


def test_request_count_and_latency_floor(passing_run):
    _, run_dir = passing_run
    frame = pd.read_parquet(run_dir / "requests.parquet")
    expected = RATE_RPS * DURATION_S
    assert abs(len(frame) - expected) <= 0.05 * expected
    assert frame["ok"].all()
    assert (frame["latency_ms"] >= DEVICE_MS).all()
    assert (frame["latency_raw_ms"] >= DEVICE_MS).all()
    assert (frame["latency_ms"] >= frame["latency_raw_ms"] - 1e-6).all()
    assert set(frame["replica"]) and len(set(frame["replica"])) == 2


def test_timeline_events_summary_report(passing_run):
    _, run_dir = passing_run
    timeline = pd.read_parquet(run_dir / "timeline.parquet")
    assert len(timeline) >= DURATION_S - 2 and (timeline["ready_replicas"] == 2).any()
    kinds = [json.loads(line)["kind"] for line in (run_dir / "events.jsonl").read_text().splitlines()]
    for kind in ("pod_created", "pod_ready", "deployed", "load_start", "load_phase", "load_end"):
        assert kind in kinds
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["verdict"] == "pass" and summary["complete"] is True
    assert summary["environment"]["locust"] != "not installed"
    assert abs(summary["metrics"]["throughput_rps"] - RATE_RPS) <= 0.05 * RATE_RPS
    assert (run_dir / "report.md").exists() and (run_dir / "plots" / "latency.png").exists()
    assert not processes_mentioning("e2e-pass-svc")


@pytest.mark.exclusive  # exit 1, not 4: the host must not be saturated
def test_impossible_slo_exits_1(tmp_path, kibench):
    path = tmp_path / "s.yaml"
    path.write_text(scenario_text("e2e-fail", slo="p(95) < 1", duration_s=5))
    proc = subprocess.run([*kibench, "run", str(path), "--results", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL  latency_ms p(95) < 1" in proc.stdout


def test_sigint_keeps_results_and_leaves_no_process(tmp_path, kibench):
    name = f"sigint-{uuid.uuid4().hex[:6]}"
    proc, results = start_long_run(tmp_path, kibench, name)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    run_dir = run_dirs(results)[0]
    assert len(read_records(run_dir / "logs")) >= 4  # daemon, 2 pods, forwarder, load
    assert not running_records(run_dir / "logs"), "a process of the run is still alive"
    assert not processes_mentioning(name), "a process of the run is still alive"
    report = subprocess.run([*kibench, "report", str(run_dir)], capture_output=True, text=True, timeout=60)
    assert report.returncode in (0, 1, 4), report.stdout + report.stderr  # 4: a busy host saturated the platform
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["complete"] is False
    assert 0 < summary["metrics"]["requests"] < RATE_RPS * 60


def test_a_failing_platform_ends_the_run_with_exit_3_and_keeps_results(tmp_path, kibench):
    name = f"pfail-{uuid.uuid4().hex[:6]}"
    proc, results = start_long_run(tmp_path, kibench, name)
    daemons = [p for p in processes_mentioning(name) if "harness.platform.local" in " ".join(p.cmdline())]
    assert len(daemons) == 1
    daemons[0].kill()  # the platform dies under load
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 3, out
    assert "stopped answering" in out
    assert poll_until(lambda: not processes_mentioning(name), 5.0, 0.05), "a process of the run is still alive"
    summary = json.loads((run_dirs(results)[0] / "summary.json").read_text())
    assert summary["complete"] is False and summary["metrics"]["requests"] > 0
