"""Failure headroom: measured from a pod-kill run (the shared ``pod_kill_run``) and planned with."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from harness.capacity.headroom import failure_backlog, failure_dip, failure_replicas
from harness.capacity.planner import PlanInputs, plan_peak, plan_trace
from harness.capacity_plan import headroom_inputs, replan
from harness.errors import InputError
from tests.capacity.test_outputs import BOUNDARY, SCENARIO, probes

KILL = {"name": "pod-kill", "injected": True, "injection_s": 10.0, "targets": ["web-0"], "capacity_before": 3,
        "min_ready_replicas": 2, "time_to_capacity_s": 4.0, "failed_requests": 5,
        "requests_in_window": 120}  # fmt: skip


def test_headroom_is_the_lost_capacity_the_utilisation_spare_does_not_cover() -> None:
    # mu = 10 rps at u = 0.8: 100 rps -> base 13 (130 rps of capacity, 30 spare): one lost replica is covered
    assert failure_replicas(100.0, 13, 10.0, 1, 1) == 0
    assert failure_replicas(100.0, 13, 10.0, 1, 4) == 1  # 40 rps lost, 30 spare: one more replica
    assert failure_replicas(8.0, 1, 10.0, 1, 1) == 1  # a fleet of one cannot lose its replica
    assert failure_replicas(0.0, 0, 10.0, 2, 1) == 2
    assert failure_backlog(100.0, 13, 10.0, 1, 4, 6.0) == pytest.approx((100 - 9 * 10) * 6.0)
    assert failure_backlog(100.0, 13, 10.0, 1, 1, 6.0) == 0.0 and failure_backlog(100.0, 13, 10.0, 1, 4, None) is None


def test_the_worst_injected_fault_is_the_dip() -> None:
    t = np.arange(0.0, 30.0, 1.0)
    ready = np.where((t >= 10) & (t < 14), 2.0, 3.0)
    cascade = {**KILL, "name": "second", "injection_s": 20.0, "min_ready_replicas": 1, "time_to_capacity_s": None}
    dip = failure_dip([KILL, {**KILL, "injected": False, "min_ready_replicas": 0}], t, ready)
    assert dip is not None and (dip.fault, dip.lost_replicas, dip.duration_s) == ("pod-kill", 1, 4.0)
    assert dip.replica_seconds_lost == pytest.approx(4.0) and dip.failed_requests == 5
    worst = failure_dip([KILL, cascade], t, ready)
    assert worst is not None and worst.fault == "second" and worst.lost_replicas == 2 and worst.duration_s is None
    missed = failure_dip([{**KILL, "min_ready_replicas": 3}], t, ready)  # sampling missed the dip: the target
    assert missed is not None and missed.lost_replicas == 1
    assert failure_dip([{**KILL, "injected": False}], t, ready) is None


def test_measured_headroom_changes_the_plan_and_the_hpa() -> None:
    flat = PlanInputs(per_replica_rps=10.0, failures_tolerated=1)
    measured = PlanInputs(per_replica_rps=10.0, failures_tolerated=1, failure_lost_replicas=1, failure_duration_s=4.0)
    assert plan_peak(100.0, flat).replicas == 14 and plan_peak(100.0, measured).replicas == 13
    assert plan_peak(5.0, measured).replicas == 2  # one replica's load cannot lose that replica
    rows, hpa = plan_trace([(0.0, 5.0), (600.0, 100.0)], measured)
    assert [r.failure_replicas for r in rows] == [1, 0] and hpa.min_replicas == 2 and hpa.max_replicas == 13


@pytest.mark.slow
def test_headroom_from_a_real_pod_kill_run(
    pod_kill_run: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path
) -> None:
    """The shared pod-kill run (3 replicas, one killed) replans a search folder; what it measured is in the plan."""
    _, run = pod_kill_run
    fault = json.loads((run / "summary.json").read_text())["faults"][0]
    fields = headroom_inputs(str(run))
    lost = max(1, fault["capacity_before"] - fault["min_ready_replicas"])
    assert fields["failure_lost_replicas"] == lost and fields["failure_duration_s"] == fault["time_to_capacity_s"]
    assert fields["failure_failed_requests"] == fault["failed_requests"] and str(run) in fields["headroom_source"]

    from harness.capacity import write_outputs
    from harness.scenario import CapacityPlanSpec

    (tmp_path / "scenario.yaml").write_text(SCENARIO, encoding="utf-8")
    write_outputs(tmp_path, probes(), BOUNDARY, CapacityPlanSpec(peak_rps=300), None, None, None)
    outcome = replan(tmp_path, Console(quiet=True), peak_rps=310.0, headroom_run=str(run))
    doc = json.loads((tmp_path / "capacity" / "capacity.json").read_text())
    peak, inputs = doc["plan"]["peak"], doc["plan"]["inputs"]
    # 310 rps at 100 rps per replica, u = 0.8: base 4 (400 rps, 90 spare); one lost replica (100 rps) needs one more
    assert lost == 1 and outcome.exit_code == 0 and inputs["failure_lost_replicas"] == 1
    assert (peak["base_replicas"], peak["failure_replicas"], peak["replicas"]) == (4, 1, 5)
    # without it, 3 replicas serve 300 of 310 rps for as long as the replacement took
    assert peak["failure_backlog_requests"] == pytest.approx(10.0 * fault["time_to_capacity_s"], abs=1e-3)
    md = (tmp_path / "capacity" / "plan.md").read_text()
    assert "1 of 3 replicas lost" in md and f"{fault['failed_requests']} of" in md


def test_a_run_without_a_fault_is_refused(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(json.dumps({"faults": [], "slos": []}), encoding="utf-8")
    with pytest.raises(InputError, match="no injected fault that took a replica out") as err:
        headroom_inputs(str(tmp_path))
    assert err.value.exit_code == 2 and "headroom_run" in str(err.value)
    with pytest.raises(InputError, match="no readable summary.json"):
        headroom_inputs(str(tmp_path / "missing"))
