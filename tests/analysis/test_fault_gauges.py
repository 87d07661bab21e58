"""Run-level fault gauges (worst case over faults) that SLOs may name."""

from __future__ import annotations

from harness.analysis.faults import fault_gauges
from harness.thresholds import parse


def _fault(ttc, tts, failed=1, detection=None):
    return {"time_to_capacity_s": ttc, "time_to_slo_s": tts, "failed_requests": failed, "detection_s": detection}


def test_worst_case_over_faults():
    gauges = fault_gauges([_fault(2.0, 0.0, 1), _fault(5.5, 3.0, 4, detection=3.9)])
    assert gauges == {"fault_failed_requests": 5.0, "time_to_capacity_s": 5.5, "time_to_slo_s": 3.0,
                      "detection_s": 3.9}  # fmt: skip


def test_a_fault_that_never_recovered_fails_its_slo():
    gauges = fault_gauges([_fault(2.0, 1.0), _fault(None, None)])
    assert gauges["time_to_capacity_s"] is None and gauges["time_to_slo_s"] is None
    assert not parse("time_to_capacity_s", "value < 60").holds(gauges["time_to_capacity_s"])


def test_no_fault_gives_no_values():
    assert set(fault_gauges([]).values()) == {None}
