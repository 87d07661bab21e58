"""One sync end to end: several metrics, invalid metrics, Object/External targets, decision contents."""

from __future__ import annotations

import pytest

from harness.autoscale import (
    Behavior,
    HpaSpec,
    HpaState,
    MetricSpec,
    PodSample,
    ScalingRules,
    desired_replicas,
)

NOW = 10_000.0
CPU50 = MetricSpec("Resource", "cpu", utilization_pct=50)
QPS = MetricSpec("Pods", "qps", average_value_milli=10_000)
QUEUE = MetricSpec("External", "queue", average_value_milli=5_000)
BROKEN = MetricSpec("External", "not-reported", value_milli=1_000)


def pods(n: int, cpu: int, qps: int) -> list[PodSample]:
    return [PodSample(f"p{i}", values_milli={"cpu": cpu, "qps": qps}, requests_milli={"cpu": 1000}) for i in range(n)]


def sync(spec: HpaSpec, current: int, pod_list: list[PodSample], samples=None, **kw):  # type: ignore[no-untyped-def]
    return desired_replicas(spec, current, pod_list, samples, HpaState(), NOW, **kw)


def test_several_metrics_take_the_highest_proposal() -> None:
    spec = HpaSpec(max_replicas=100, metrics=(CPU50, QPS, QUEUE))
    decision = sync(spec, 4, pods(4, cpu=750, qps=5_000), {"queue": (40_000,)})
    assert [p.replicas for p in decision.proposals] == [6, 2, 8]
    assert decision.metric_desired_replicas == 8 and decision.desired_replicas == 8
    assert decision.proposals[2].metric == "external metric queue" and decision.proposals[2].usage == 10_000


def test_a_failed_metric_does_not_block_a_scale_up() -> None:
    spec = HpaSpec(max_replicas=100, metrics=(CPU50, BROKEN))
    decision = sync(spec, 4, pods(4, cpu=750, qps=0))
    assert decision.desired_replicas == 6
    assert decision.condition("ScalingActive").reason == "ValidMetricFound"  # type: ignore[union-attr]
    assert decision.error is not None and "1 invalid out of 2" in decision.error


def test_a_failed_metric_blocks_a_scale_down() -> None:
    spec = HpaSpec(max_replicas=100, metrics=(CPU50, BROKEN))
    decision = sync(spec, 4, pods(4, cpu=100, qps=0))
    assert decision.proposals[0].replicas == 1
    assert (decision.desired_replicas, decision.reason) == (4, "FailedGetExternalMetric")
    assert decision.state == HpaState()  # nothing is recorded when the sync does not get past the metrics


def test_per_pod_targets_divide_by_status_replicas() -> None:
    spec = HpaSpec(max_replicas=100, metrics=(QUEUE,))
    # 30 000m over a 5 000m target is 6 replicas whatever the count; the reported average uses status.replicas
    decision = sync(spec, 4, [], {"queue": (10_000, 20_000)}, status_replicas=5)
    assert decision.proposals[0].replicas == 6 and decision.proposals[0].usage == 6_000
    within = sync(spec, 6, [], {"queue": (30_000,)}, status_replicas=6)
    assert within.proposals[0].replicas == 6


def test_object_value_metrics_scale_by_ready_pods_and_from_zero() -> None:
    metric = MetricSpec("Object", "rps", value_milli=10_000)
    spec = HpaSpec(max_replicas=100, min_replicas=0, metrics=(metric,))
    ready = [PodSample("a"), PodSample("b"), PodSample("c", ready=False)]
    assert sync(spec, 3, ready, {"rps": (30_000,)}).proposals[0].replicas == 6  # ratio 3 x 2 ready pods
    assert sync(spec, 0, [], {"rps": (500,)}).desired_replicas == 1  # from zero: ceil(0.05), no tolerance
    assert sync(spec, 0, [], {"rps": (0,)}).desired_replicas == 0


def test_zero_replicas_with_a_nonzero_minimum_disables_scaling() -> None:
    spec = HpaSpec(max_replicas=10, metrics=(CPU50,))
    decision = sync(spec, 0, [])
    assert (decision.desired_replicas, decision.reason, decision.rescale) == (0, "ScalingDisabled", False)


def test_out_of_range_counts_are_clamped_before_metrics() -> None:
    spec = HpaSpec(max_replicas=5, min_replicas=2, metrics=(CPU50,), behavior=Behavior())
    decision = sync(spec, 9, [])
    assert (decision.desired_replicas, decision.reason, decision.proposals) == (5, "TooManyReplicas", ())
    assert [e.replica_change for e in decision.state.scale_down_events] == [4]  # behaviors record the event


def test_no_metrics_means_cpu_at_80_percent() -> None:
    decision = sync(HpaSpec(max_replicas=10), 2, pods(2, cpu=1200, qps=0))
    assert decision.proposals[0].metric == "cpu resource utilization (percentage of request)"
    assert decision.desired_replicas == 3  # 120 % / 80 % = 1.5 -> ceil(3)


def test_decision_conditions_follow_upstream() -> None:
    spec = HpaSpec(max_replicas=100, metrics=(CPU50,), behavior=Behavior(scale_up=ScalingRules(tolerance=0.0)))
    decision = sync(spec, 4, pods(4, cpu=1500, qps=0))  # ratio 3 -> 12; default policies allow 8
    conditions = {c.type: (c.status, c.reason) for c in decision.conditions}
    assert conditions == {
        "AbleToScale": (True, "SucceededRescale"),
        "ScalingActive": (True, "ValidMetricFound"),
        "ScalingLimited": (True, "ScaleUpLimit"),
    }
    assert (decision.metric_desired_replicas, decision.desired_replicas, decision.reason) == (12, 8, "ScaleUpLimit")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"type": "Pods", "name": "qps", "utilization_pct": 50},
        {"type": "Resource", "name": "cpu"},
        {"type": "Object", "name": "x", "value_milli": 0},
        {"type": "ContainerResource", "name": "cpu", "utilization_pct": 50},
        {"type": "Bogus", "name": "x", "value_milli": 1},
    ],
)
def test_metric_specs_are_validated(kwargs: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        MetricSpec(**kwargs)
