"""The planner: replicas, nodes and cost for a peak and for a trace, the lag, bad traces."""

from __future__ import annotations

import numpy as np
import pytest

from harness.capacity.lag import scale_up_lags
from harness.capacity.planner import (
    PlanInputs,
    check_trace,
    plan_peak,
    plan_trace,
    steepest_rise,
    trace_totals,
)
from harness.errors import EXIT_BAD_INPUT, InputError

INPUTS = PlanInputs(per_replica_rps=10.0, utilization_target=0.8, failures_tolerated=1, scale_up_lag_s=60.0,
                    gpus_per_replica=2, gpu_slots_per_node=8, gpu_hour_usd=2.0, node_hour_usd=1.0)  # fmt: skip


def test_peak_replicas_nodes_and_cost() -> None:
    row = plan_peak(100.0, INPUTS)
    assert row.base_replicas == 13  # ceil(100 / (0.8 x 10)) = ceil(12.5)
    assert row.replicas == 14 and row.lag_replicas == 0
    assert row.nodes == 4  # 14 x 2 GPUs over 8 slots = 3.5
    assert row.cost_per_hour_usd == pytest.approx(14 * 2 * 2.0 + 4 * 1.0)
    assert row.cost_per_day_usd == pytest.approx(24 * row.cost_per_hour_usd)
    assert row.cost_per_1m_requests_usd == pytest.approx(row.cost_per_hour_usd / (100 * 3600) * 1e6)
    assert plan_peak(80.0, INPUTS).base_replicas == 10  # exactly at the target: no extra replica


def test_steepest_rise_over_the_lag() -> None:
    points = [(0, 10.0), (100, 10.0), (160, 70.0), (400, 70.0), (500, 0.0)]
    assert steepest_rise(points, 60) == pytest.approx(60.0)
    assert steepest_rise(points, 30) == pytest.approx(30.0)
    assert steepest_rise(points, 0) == 0.0
    assert steepest_rise([(0, 50.0), (10, 0.0)], 5) == 0.0


def test_trace_replicas_over_time_and_hpa() -> None:
    points = [(0, 10.0), (100, 10.0), (160, 70.0), (400, 70.0), (500, 0.0)]
    rows, hpa = plan_trace(points, INPUTS)
    extra = int(np.ceil(60.0 / 8.0))  # the rise over the 60 s lag at 8 rps per replica
    assert [r.replicas for r in rows] == [2 + 1 + extra, 2 + 1 + extra, 9 + 1 + extra, 9 + 1 + extra, 1 + extra]
    assert hpa.max_replicas == 9 + 1 + extra and hpa.min_replicas == 1
    assert hpa.target_rps_per_replica == pytest.approx(70.0 / (9 + extra))
    assert hpa.target_utilization <= INPUTS.utilization_target
    totals = trace_totals(rows, INPUTS)
    assert totals["requests"] == pytest.approx(10 * 100 + 40 * 60 + 70 * 240 + 35 * 100)
    assert totals["cost_following_usd"] < totals["cost_peak_static_usd"]


def test_bad_traces_say_which_row_and_exit_2() -> None:
    with pytest.raises(InputError, match=r"day.csv: row 2 \(time 60 s\) has a negative rate -5") as err:
        check_trace([(0, 1.0), (60, -5.0)], "day.csv")
    assert err.value.exit_code == EXIT_BAD_INPUT
    with pytest.raises(InputError, match="times must increase"):
        check_trace([(0, 1.0), (0, 2.0)], "day.csv")
    with pytest.raises(InputError, match="at least two"):
        check_trace([(0, 1.0)], "day.csv")


def test_scale_up_lag_from_a_timeline() -> None:
    events = [{"kind": "scale", "t_s": 10.0, "from": 1, "to": 3}, {"kind": "scale", "t_s": 50.0, "from": 3, "to": 1},
              {"kind": "scale", "t_s": 70.0, "from": 1, "to": 9}]  # fmt: skip
    t = np.arange(0, 100, 1.0)
    ready = np.where(t < 34, 1, 3).astype(float)
    assert scale_up_lags(events, t, ready) == [24.0]  # the scale-down is no lag; 9 never became Ready
