"""The local platform's pure parts: probe thresholds, back-off, rolling steps, PDBs, scheduling, parsing."""

from __future__ import annotations

import pytest

from harness.errors import ScenarioError
from harness.platform.kubernetes.manifests import hpa
from harness.platform.local.disruption import desired_healthy
from harness.platform.local.hpa_controller import hpa_spec
from harness.platform.local.metrics_scrape import hpa_wants, parse_gauges
from harness.platform.local.node_autoscaler import fits_elsewhere, unneeded_for
from harness.platform.local.pods import CrashBackoff
from harness.platform.local.probes import ProbeCounter
from harness.platform.local.rollout import fenceposts, rolling_step, rollout_complete
from harness.platform.local.scheduler import why_not
from harness.scenario import DisruptionBudgetSpec, HpaSettings, ProbeSpec, validate


def test_probe_result_changes_only_after_threshold_in_a_row():
    counter = ProbeCounter.readiness(ProbeSpec(failure_threshold=3, success_threshold=2))
    assert [counter.record(ok) for ok in (True, False, True, True)] == [None, None, None, True]
    assert [counter.record(ok) for ok in (False, False, True, False, False, False)] == [
        None, None, None, None, None, False,
    ]  # fmt: skip
    live = ProbeCounter.liveness(ProbeSpec(failure_threshold=2, success_threshold=5))
    assert live.state is True and [live.record(ok) for ok in (False, False, True)] == [None, False, True]


def test_crash_backoff_follows_the_kubelet():
    backoff = CrashBackoff(initial_s=10, max_s=300)
    t, waits = 0.0, []
    for _ in range(8):
        restart = backoff.restart_at_s(t)
        waits.append(restart - t)
        backoff.restarted(t, restart)
        t = restart + 1.0  # runs one second, crashes again
    assert waits == [0, 10, 20, 40, 80, 160, 300, 300]
    backoff.restarted(t, t)
    later = t + 601 + 300
    assert backoff.restart_at_s(later) == later, "back-off forgotten after running 2x the cap"


@pytest.mark.parametrize(
    ("surge", "unavailable", "desired", "expected"),
    [
        ("25%", "25%", 10, (3, 2)),
        ("25%", "25%", 3, (1, 0)),
        (0, 0, 4, (0, 1)),
        ("0%", "50%", 5, (0, 2)),
        (2, 1, 3, (2, 1)),
    ],
)
def test_fenceposts_round_surge_up_and_unavailable_down(surge, unavailable, desired, expected):
    assert fenceposts(surge, unavailable, desired) == expected


@pytest.mark.parametrize(("surge", "unavailable"), [(1, 0), (0, 1), (2, 1), (1, 2), (3, 0)])
def test_rolling_steps_keep_the_budgets_and_finish(surge, unavailable):
    desired = 5
    replicas, ages = {1: 5}, {1: [9] * 5}  # revision -> ticks since each pod was created
    for _ in range(200):
        available = {rev: sum(1 for a in pods if a >= 2) for rev, pods in ages.items()}  # Ready after 2 ticks
        if rollout_complete(desired, 2, replicas, available):
            break
        replicas = rolling_step(desired, 2, replicas, available, surge, unavailable)
        assert sum(replicas.values()) <= desired + surge
        for rev, size in replicas.items():
            pods = ages.setdefault(rev, [])
            pods.sort()  # delete the youngest (not Ready) pods first
            del pods[: max(len(pods) - size, 0)]
            pods.extend([0] * (size - len(pods)))
        after = sum(1 for pods in ages.values() for a in pods if a >= 2)
        assert after >= desired - unavailable, (replicas, ages)
        ages = {rev: [a + 1 for a in pods] for rev, pods in ages.items()}
    else:
        pytest.fail("the rollout never finished")
    assert replicas.get(1, 0) == 0 and replicas[2] == desired


def test_disruption_budget_allows_what_keeps_it_met():
    def allowed(budget: DisruptionBudgetSpec, expected: int, healthy: int) -> int:
        """status.disruptionsAllowed as the disruption controller computes it."""
        return max(
            healthy
            - desired_healthy(
                {"minAvailable": budget.min_available}
                if budget.min_available is not None
                else {"maxUnavailable": budget.max_unavailable},
                expected,
            ),
            0,
        )

    assert allowed(DisruptionBudgetSpec(max_unavailable=1), 4, 4) == 1
    assert allowed(DisruptionBudgetSpec(max_unavailable=1), 4, 3) == 0
    assert allowed(DisruptionBudgetSpec(min_available=2), 4, 4) == 2
    assert allowed(DisruptionBudgetSpec(min_available="50%"), 5, 4) == 1  # 50% of 5 -> 3
    with pytest.raises(ValueError, match="exactly one"):
        DisruptionBudgetSpec(min_available=1, max_unavailable=1)


def _node(name: str, gpus: int, *, ready: bool = True, cordoned: bool = False, taints: list | None = None) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {"unschedulable": cordoned, "taints": taints or []},
        "status": {
            "allocatable": {"nvidia.com/gpu": str(gpus)},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def _pod(gpus: int, tolerations: list | None = None) -> dict:
    resources = {"requests": {"nvidia.com/gpu": str(gpus)}}
    return {"spec": {"containers": [{"resources": resources}], "tolerations": tolerations or []}}


def test_scheduler_filters_nodes_with_upstreams_reasons():
    assert why_not(_pod(1), _node("a", 4), {"a": 3}) is None
    assert why_not(_pod(2), _node("a", 4), {"a": 3}) == "Insufficient nvidia.com/gpu"
    assert why_not(_pod(1), _node("a", 4, ready=False), {}) == "node(s) were not ready"
    assert why_not(_pod(1), _node("a", 4, cordoned=True), {}) == "node(s) were unschedulable"
    taint = {"key": "gpu", "value": "busy", "effect": "NoSchedule"}
    assert why_not(_pod(1), _node("a", 4, taints=[taint]), {}) == "node(s) had untolerated taint {gpu: busy}"
    tolerated = _pod(1, [{"key": "gpu", "operator": "Exists"}])
    assert why_not(tolerated, _node("a", 4, taints=[taint]), {}) is None


def test_scale_down_simulation_places_pods_first_fit_decreasing():
    assert fits_elsewhere([2, 1], {"a": 2, "d": 1})
    assert not fits_elsewhere([3, 3], {"a": 2, "d": 3})
    assert fits_elsewhere([], {})


def test_parse_gauges_reads_prometheus_text():
    text = (
        "# TYPE kibench_queue_depth gauge\n"
        'kibench_queue_depth{model="a"} 3\nkibench_queue_depth{model="b"} 4\n'
        "# TYPE kibench_device_busy_ratio gauge\n"
        'kibench_device_busy_ratio{device="0"} 0.5\nkibench_device_busy_ratio{device="1"} 1.0\n'
    )
    wanted = {"queue_depth": "kibench_queue_depth", "device_busy": "kibench_device_busy_ratio", "x": "nope"}
    assert parse_gauges(text, wanted) == {"queue_depth": 7.0, "device_busy": 0.75}


def test_hpa_settings_become_the_upstream_spec():
    settings = HpaSettings(
        enabled=True,
        min_replicas=2,
        max_replicas=6,
        metrics=[
            {"type": "Pods", "name": "queue_depth", "target_average_value": 2.5},
            {"type": "Resource", "name": "cpu", "target_utilization": 70},
            {"type": "Pods", "name": "custom", "target_average_value": 1, "prometheus": "my_gauge"},
        ],
        behavior={"scale_up": {"policies": [{"type": "Pods", "value": 2, "period": "15s"}]}},
    )
    obj = hpa(settings, "svc")  # the HorizontalPodAutoscaler the driver applies, read back as the controller does
    spec = hpa_spec(obj)
    assert (spec.min_replicas, spec.max_replicas) == (2, 6)
    assert spec.metrics[0].average_value_milli == 2500 and spec.metrics[1].utilization_pct == 70
    assert spec.behavior is not None and spec.behavior.scale_up.policies[0].period_s == 15
    assert hpa_wants(obj) == ({"queue_depth": "kibench_queue_depth", "custom": "my_gauge"}, True)
    default = hpa(HpaSettings(), "svc")
    assert hpa_wants(default)[1] and hpa_spec(default).metrics[0].name == "cpu"


@pytest.mark.parametrize(
    ("platform", "field"),
    [
        ({"hpa": {"min_replicas": 5, "max_replicas": 2}}, "platform.hpa"),
        ({"hpa": {"metrics": [{"type": "Pods", "name": "q", "target_utilization": 50}]}}, "platform.hpa.metrics[0]"),
        ({"rollout": {"max_surge": "lots"}}, "platform.rollout.max_surge"),
        ({"nodes": {"autoscaler": {"min_nodes": 3, "max_nodes": 1}}}, "platform.nodes.autoscaler"),
        ({"probes": {"readiness": {"period": "0s"}}}, "platform.probes.readiness.period"),
    ],
)
def test_bad_platform_sections_name_the_field(platform, field):
    scenario = {"name": "x", "platform": platform, "load": {"rate_rps": 1, "duration": "1s"}}
    with pytest.raises(ScenarioError) as info:
        validate(scenario, "s.yaml")
    assert info.value.field == field


def test_a_node_is_due_for_removal_once_unneeded_for_the_hold_and_forgotten_when_needed_again() -> None:
    since: dict[str, float] = {}
    unneeded = {"a": True, "b": True}
    assert unneeded_for(since, ["a", "b"], unneeded.get, 0.0, 10.0) == [] and since == {"a": 0.0, "b": 0.0}
    unneeded["b"] = False
    assert unneeded_for(since, ["a", "b"], unneeded.get, 5.0, 10.0) == [] and since == {"a": 0.0}
    unneeded["b"] = True
    assert unneeded_for(since, ["a", "b"], unneeded.get, 10.0, 10.0) == ["a"] and since["b"] == 10.0
