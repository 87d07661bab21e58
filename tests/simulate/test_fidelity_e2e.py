"""Fidelity at compressed timings: a pod kill under load run for real on the embedded platform and simulated
from the same scenario; the simulator draws the HTTP overhead and the pods' start-up from the measured run
(``calibrate``, as ``kibench simulate --calibrate`` does), so what is checked is the rest of the models: the
ReplicaSet replacing the pod, scheduling, probes, routing and queueing.  bench/sim_fidelity.py runs the
three full scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.run import run_scenario
from harness.scenario import validate
from harness.simulate import SimOptions, calibrate_from, simulate
from harness.simulate.fidelity import compare_runs, table

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.exclusive]  # measured timings the simulation must match


def test_a_compressed_pod_kill_simulates_as_it_ran(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    scenario = validate(
        {
            "name": "sim-fidelity-kill",
            "platform": {
                "nodes": {"count": 2},
                "probes": {
                    "startup": {"enabled": True, "period": "250ms", "failure_threshold": 120},
                    "readiness": {"period": "250ms", "failure_threshold": 2},
                    "liveness": {"period": "1s", "failure_threshold": 3},
                },
                "pod": {"termination_grace_period": "2s", "restart_backoff_initial": "1s"},
            },  # fmt: skip
            "service": {"replicas": 2, "device_time_ms": 50, "cold_start": "1s"},
            "load": {"rate_rps": 20, "duration": "10s"},
            "faults": [
                {
                    "at": "3s",
                    "experiment": "chaos/pod-kill.yaml",
                    "settle": "2s",
                    "vars": {"settle_s": 1, "slo_window_s": 2},
                }
            ],  # fmt: skip
            "slos": {"latency_ms": ["p(95) < 300"], "time_to_capacity_s": ["value < 30"]},
        },
        "test",
    )
    measured = run_scenario(scenario, tmp_path / "real").run_dir
    simulated = simulate(scenario, tmp_path / "sim", SimOptions(mode="des", calibration=calibrate_from(measured)))
    checks = {c.name: c for c in compare_runs(measured, simulated.run_dir)}
    print(table(list(checks.values()), "compressed pod kill"))
    assert checks["peak replicas"].ok
    assert checks["replicas within ±1 (share of s)"].ok
    ttc = checks["time to capacity s"]
    # 20 %, or at these compressed timings one startup + one readiness probe period (0.5 s): the measured time
    # is quantised by where the probes' periods happened to fall, which is not the simulator's to match.
    assert ttc.measured is not None and ttc.simulated is not None
    assert ttc.ok or abs(ttc.simulated - ttc.measured) <= 0.5, table([ttc], "time to capacity")
    assert checks["latency p95 ms"].ok
