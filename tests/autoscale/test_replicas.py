"""The replica calculator: tolerance, unready and missing pods, CPU readiness rules (groupPods)."""

from __future__ import annotations

import pytest

from harness.autoscale import (
    Behavior,
    ControllerConfig,
    HpaSpec,
    HpaState,
    MetricSpec,
    PodSample,
    ScalingRules,
    desired_replicas,
)
from harness.autoscale.model import Tolerances
from harness.autoscale.replicas import group_pods

NOW = 10_000.0
CPU50 = MetricSpec("Resource", "cpu", utilization_pct=50)
QPS10 = MetricSpec("Pods", "qps", average_value_milli=10_000)


def cpu_pods(*usages: int | None, request: int = 1000, **fields: object) -> list[PodSample]:
    """Long-running Ready pods with the given CPU usage (``None``: no sample for that pod)."""
    return [
        PodSample(
            f"p{i}",
            values_milli={} if u is None else {"cpu": u},
            requests_milli={"cpu": request},
            **fields,  # type: ignore[arg-type]
        )
        for i, u in enumerate(usages)
    ]


def proposal(metric: MetricSpec, current: int, pods: list[PodSample], behavior: Behavior | None = None) -> int | None:
    spec = HpaSpec(max_replicas=1000, metrics=(metric,), behavior=behavior)
    decision = desired_replicas(spec, current, pods, None, HpaState(), NOW)
    return decision.metric_desired_replicas


# --- tolerance ------------------------------------------------------------------------------------


def test_the_dead_band_is_inclusive_at_both_edges() -> None:
    tol = Tolerances(scale_down=0.1, scale_up=0.2)
    assert tol.is_within(0.9) and tol.is_within(1.2)
    assert not tol.is_within(0.89) and not tol.is_within(1.21)


@pytest.mark.parametrize(("usage", "want"), [(550, 4), (540, 4), (560, 5), (450, 4), (440, 4), (430, 4)])
def test_default_tolerance_keeps_the_count_within_ten_percent(usage: int, want: int) -> None:
    # 4 pods at `usage` of a 1000m request, target 50 %: ratio usage/500.
    # 550 -> 1.10 (within), 560 -> 1.12 -> ceil(4.48) = 5; 450 -> 0.90 (within); 430 -> ceil(3.44) = 4.
    assert proposal(CPU50, 4, cpu_pods(*[usage] * 4)) == want


def test_per_direction_tolerance_from_behavior() -> None:
    tight_up = Behavior(scale_up=ScalingRules(tolerance=0.05))
    tight_down = Behavior(scale_down=ScalingRules(tolerance=0.05))
    up = cpu_pods(*[530] * 100)  # ratio 1.06: inside the default 10 %, outside a 5 % scale-up tolerance
    assert proposal(CPU50, 100, up) == 100
    assert proposal(CPU50, 100, up, tight_up) == 106
    assert proposal(CPU50, 100, up, tight_down) == 100
    down = cpu_pods(*[460] * 100)  # ratio 0.92
    assert proposal(CPU50, 100, down) == 100
    assert proposal(CPU50, 100, down, tight_up) == 100
    assert proposal(CPU50, 100, down, tight_down) == 92


def test_zero_scale_down_tolerance_scales_down_on_any_drop() -> None:
    no_tolerance = Behavior(scale_down=ScalingRules(tolerance=0.0))
    assert proposal(CPU50, 10, cpu_pods(*[400] * 10), no_tolerance) == 8  # ratio 0.8
    assert proposal(CPU50, 10, cpu_pods(*[490] * 10), no_tolerance) == 10  # ceil(9.8): the count cannot drop


# --- missing and unready pods ---------------------------------------------------------------------


def test_missing_pods_count_as_zero_on_a_scale_up() -> None:
    # two pods at 150 % (ratio 3) and two without samples: (1500+1500+0+0)/4000 = 75 % -> ratio 1.5 -> 6
    assert proposal(CPU50, 4, cpu_pods(1500, 1500, None, None)) == 6


def test_missing_pods_count_as_full_request_on_a_scale_down() -> None:
    # two pods at 10 % (ratio 0.2) and two without samples: (100+100+1000+1000)/4000 = 55 % -> 1.1: no change
    assert proposal(CPU50, 4, cpu_pods(100, 100, None, None)) == 4
    # with more headroom the scale-down goes ahead, counted over every pod: 2000/10000 -> ceil(0.4 * 10) = 4
    assert proposal(CPU50, 10, cpu_pods(*[0] * 8, None, None)) == 4


def test_missing_pods_take_the_target_when_it_is_above_100_percent() -> None:
    metric = MetricSpec("Resource", "cpu", utilization_pct=200)
    # ready pods at 20 % of 200 %; missing ones count as 200 % of request: (200+200+2000+2000)/4000 = 110 %
    assert proposal(metric, 4, cpu_pods(200, 200, None, None)) == 3


def test_unready_pods_count_as_zero_on_a_scale_up() -> None:
    pods = cpu_pods(1500, 1500) + [
        PodSample("u0", ready=False, values_milli={"cpu": 5000}, requests_milli={"cpu": 1000}),
        PodSample("u1", ready=False, values_milli={"cpu": 5000}, requests_milli={"cpu": 1000}),
    ]
    # ready pods at 150 % (ratio 3); unready ones are re-added at 0 (not 500 %): 3000/4000 -> 1.5 -> 6
    assert proposal(CPU50, 4, pods) == 6


def test_unready_pods_are_left_out_of_a_scale_down() -> None:
    pods = cpu_pods(100, 100) + [
        PodSample("u0", ready=False, values_milli={"cpu": 900}, requests_milli={"cpu": 1000}),
    ]
    # only the two ready pods count: 10 % / 50 % = 0.2 -> ceil(0.4) = 1
    assert proposal(CPU50, 3, pods) == 1


def test_readiness_does_not_matter_for_pods_metrics() -> None:
    pods = [PodSample(f"p{i}", ready=i == 0, values_milli={"qps": 20_000}) for i in range(3)]
    assert proposal(QPS10, 3, pods) == 6


def test_deleted_and_failed_pods_are_ignored_but_pending_pods_are_unready() -> None:
    pods = cpu_pods(1000, 1000) + [
        PodSample("gone", deleted=True, values_milli={"cpu": 0}, requests_milli={"cpu": 1000}),
        PodSample("dead", phase="Failed", requests_milli={"cpu": 1000}),
    ]
    assert proposal(CPU50, 2, pods) == 4  # ratio 2 over the two live pods
    pending = [PodSample("new", phase="Pending", requests_milli={"cpu": 1000})]
    # the pending pod is unready: re-added at 0 on the scale-up, 2000/3000 = 66 % -> ratio 1.33 -> 4
    assert proposal(CPU50, 3, cpu_pods(1000, 1000) + pending) == 4


def test_a_direction_flip_after_filling_in_pods_keeps_the_count() -> None:
    # one ready pod at 60 % (ratio 1.2); three more at 0 % once filled in: 15 % is a scale-down, so no change
    missing = cpu_pods(600, None, None, None)
    assert proposal(CPU50, 4, missing) == 4
    unready = cpu_pods(600) + [
        PodSample(f"u{i}", ready=False, values_milli={"cpu": 0}, requests_milli={"cpu": 1000}) for i in range(3)
    ]
    assert proposal(CPU50, 4, unready) == 4


def test_a_missing_request_makes_the_metric_fail() -> None:
    pods = cpu_pods(500, 500) + [PodSample("no-request", values_milli={"cpu": 500})]
    spec = HpaSpec(max_replicas=10, metrics=(CPU50,))
    decision = desired_replicas(spec, 3, pods, None, HpaState(), NOW)
    assert decision.desired_replicas == 3
    assert decision.reason == "FailedGetResourceMetric"
    assert decision.proposals[0].error is not None and "missing request" in decision.proposals[0].error


# --- groupPods (TestGroupPods in replica_calculator_test.go) --------------------------------------

CONFIG = ControllerConfig(cpu_initialization_period_s=120, initial_readiness_delay_s=10)
ZERO = 0.0  # a zero metav1.Time: long before NOW

GROUP_PODS = [
    ("void", [], {}, "cpu", 0, set(), set(), set()),
    ("count in a ready pod - memory", [PodSample("bentham", phase="Succeeded", ready=None, start_s=None)],
     {"bentham": 1}, "memory", 1, set(), set(), set()),
    ("unready a pod without ready condition - CPU", [PodSample("lucretius", phase="Succeeded", ready=None,
     start_s=NOW)], {"lucretius": 1}, "cpu", 0, {"lucretius"}, set(), set()),
    ("count in a ready pod with fresh metrics during initialization period - CPU",
     [PodSample("bentham", phase="Succeeded", start_s=NOW - 60, ready_transition_s=NOW - 30,
                metric_timestamp_s=NOW, metric_window_s=30)], {"bentham": 1}, "cpu", 1, set(), set(), set()),
    ("unready a ready pod without fresh metrics during initialization period - CPU",
     [PodSample("bentham", phase="Succeeded", start_s=NOW - 60, ready_transition_s=NOW - 30,
                metric_timestamp_s=NOW, metric_window_s=60)], {"bentham": 1}, "cpu", 0, {"bentham"}, set(), set()),
    ("unready an unready pod during initialization period - CPU",
     [PodSample("lucretius", phase="Succeeded", ready=False, start_s=NOW - 600, ready_transition_s=NOW - 594,
                metric_timestamp_s=ZERO, metric_window_s=0)], {"lucretius": 1}, "cpu", 0, {"lucretius"}, set(),
     set()),
    ("count in a ready pod without fresh metrics after initialization period - CPU",
     [PodSample("bentham", phase="Succeeded", start_s=NOW - 180, ready_transition_s=NOW - 180,
                metric_timestamp_s=NOW - 120, metric_window_s=60)], {"bentham": 1}, "cpu", 1, set(), set(), set()),
    ("count in an unready pod that was ready after initialization period - CPU",
     [PodSample("lucretius", phase="Succeeded", ready=False, start_s=NOW - 600, ready_transition_s=NOW - 540,
                metric_timestamp_s=ZERO, metric_window_s=0)], {"lucretius": 1}, "cpu", 1, set(), set(), set()),
    ("unready pod that has never been ready after initialization period - CPU",
     [PodSample("lucretius", phase="Succeeded", ready=False, start_s=NOW - 600, ready_transition_s=NOW - 590,
                metric_timestamp_s=ZERO, metric_window_s=0)], {"lucretius": 1}, "cpu", 1, set(), set(), set()),
    ("a missing pod", [PodSample("epicurus", phase="Succeeded", ready=None, start_s=NOW - 180)], {}, "cpu", 0,
     set(), {"epicurus"}, set()),
    ("several pods",
     [PodSample("lucretius", phase="Succeeded", ready=None, start_s=NOW),
      PodSample("niccolo", phase="Succeeded", start_s=NOW - 180, ready_transition_s=NOW - 180),
      PodSample("epicurus", phase="Succeeded", ready=None, start_s=NOW - 180)],
     {"lucretius": 1, "niccolo": 1}, "cpu", 1, {"lucretius"}, {"epicurus"}, set()),
    ("pending pods are unreadied", [PodSample("unscheduled", phase="Pending", ready=None, start_s=None)], {},
     "cpu", 0, {"unscheduled"}, set(), set()),
    ("ignore pods with deletion timestamps", [PodSample("deleted", phase="Pending", deleted=True, ready=None)],
     {"deleted": 1}, "cpu", 0, set(), set(), {"deleted"}),
    ("ignore pods in a failed state", [PodSample("failed", phase="Failed", ready=None)], {"failed": 1}, "cpu", 0,
     set(), set(), {"failed"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("pods", "metrics", "resource", "ready", "unready", "missing", "ignored"),
    [case[1:] for case in GROUP_PODS],
    ids=[case[0] for case in GROUP_PODS],
)
def test_group_pods(
    pods: list[PodSample],
    metrics: dict[str, int],
    resource: str,
    ready: int,
    unready: set[str],
    missing: set[str],
    ignored: set[str],
) -> None:
    groups = group_pods(pods, metrics, resource, NOW, CONFIG)
    assert (groups.ready_count, set(groups.unready), set(groups.missing), set(groups.ignored)) == (
        ready,
        unready,
        missing,
        ignored,
    )


def test_cpu_initialization_defaults_are_upstreams() -> None:
    config = ControllerConfig()
    assert (config.cpu_initialization_period_s, config.initial_readiness_delay_s, config.tolerance) == (300, 30, 0.1)
    # a pod that turned Ready 20 s after starting, 4 minutes ago, with a fresh 60 s sample: still warming up
    pod = PodSample("p", start_s=NOW - 240, ready_transition_s=NOW - 220, metric_timestamp_s=NOW - 170)
    assert group_pods([pod], {"p": 1}, "cpu", NOW, config).unready == {"p"}
    assert group_pods([pod], {"p": 1}, "cpu", NOW + 61, config).ready_count == 1  # past 5 minutes
