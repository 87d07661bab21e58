"""Normalization: behavior policies, select policy, stabilization windows, scale events, legacy limits."""

from __future__ import annotations

import pytest

from harness.autoscale import (
    Behavior,
    ControllerConfig,
    HpaSpec,
    HpaState,
    Recommendation,
    ScaleEvent,
    ScalingPolicy,
    ScalingRules,
    normalize_replicas,
)
from harness.autoscale.behavior import replicas_change_in_period, resolve_behavior, store_scale_event

NOW = 10_000.0


def rules(*policies: ScalingPolicy, window_s: float = 0.0, select: str = "Max") -> ScalingRules:
    return ScalingRules(stabilization_window_s=window_s, select_policy=select, policies=policies)  # type: ignore[arg-type]


def spec(behavior: Behavior | None = None, lo: int = 1, hi: int = 1000) -> HpaSpec:
    return HpaSpec(max_replicas=hi, min_replicas=lo, behavior=behavior)


# --- policies -------------------------------------------------------------------------------------


def test_default_behavior_doubles_or_adds_four_per_period() -> None:
    default = Behavior()
    assert normalize_replicas(spec(default), 10, 50, HpaState(), NOW).desired_replicas == 20
    assert normalize_replicas(spec(default), 1, 50, HpaState(), NOW).desired_replicas == 5
    decision = normalize_replicas(spec(default), 10, 50, HpaState(), NOW)
    assert decision.reason == "ScaleUpLimit"


def test_default_behavior_scales_down_to_the_proposal_after_the_window() -> None:
    old = HpaState((Recommendation(10, NOW - 301),))
    assert normalize_replicas(spec(Behavior()), 10, 2, old, NOW).desired_replicas == 2
    recent = HpaState((Recommendation(10, NOW - 299),))
    decision = normalize_replicas(spec(Behavior()), 10, 2, recent, NOW)
    assert (decision.desired_replicas, decision.reason) == (10, "ScaleDownStabilized")


@pytest.mark.parametrize(("select", "want"), [("Max", 20), ("Min", 12), ("Disabled", 10)])
def test_select_policy_on_scale_up(select: str, want: int) -> None:
    up = rules(ScalingPolicy("Pods", 2, 60), ScalingPolicy("Percent", 100, 60), select=select)
    assert normalize_replicas(spec(Behavior(scale_up=up)), 10, 100, HpaState(), NOW).desired_replicas == want


@pytest.mark.parametrize(("select", "want"), [("Max", 5), ("Min", 8), ("Disabled", 10)])
def test_select_policy_on_scale_down(select: str, want: int) -> None:
    down = rules(ScalingPolicy("Pods", 2, 60), ScalingPolicy("Percent", 50, 60), select=select)
    decision = normalize_replicas(spec(Behavior(scale_down=down)), 10, 1, HpaState(), NOW)
    assert decision.desired_replicas == want


def test_percent_scale_down_truncates_toward_zero() -> None:
    down = rules(ScalingPolicy("Percent", 30, 60))
    # 7 * 0.7 = 4.9 -> 4 replicas may remain (int32 truncation), so the limit is 4
    assert normalize_replicas(spec(Behavior(scale_down=down)), 7, 1, HpaState(), NOW).desired_replicas == 4


def test_percent_scale_up_rounds_up() -> None:
    up = rules(ScalingPolicy("Percent", 10, 60))
    # 3 * 1.1 = 3.3 -> ceil: 4, so a 10 % policy can always add at least one pod
    assert normalize_replicas(spec(Behavior(scale_up=up)), 3, 100, HpaState(), NOW).desired_replicas == 4


def test_recent_scale_events_use_up_the_policy_budget() -> None:
    up = rules(ScalingPolicy("Pods", 4, 60))
    events = HpaState(scale_up_events=(ScaleEvent(3, NOW - 30),))
    # 3 pods were added 30 s ago: the period started at 7, so at most 11 now
    assert normalize_replicas(spec(Behavior(scale_up=up)), 10, 100, events, NOW).desired_replicas == 11
    expired = HpaState(scale_up_events=(ScaleEvent(3, NOW - 60),))  # exactly one period ago: no longer counted
    assert normalize_replicas(spec(Behavior(scale_up=up)), 10, 100, expired, NOW).desired_replicas == 14


def test_min_and_max_replicas_still_bound_the_behavior_path() -> None:
    free = Behavior(scale_up=rules(ScalingPolicy("Pods", 1000, 15)))
    decision = normalize_replicas(spec(free, hi=30), 10, 100, HpaState(), NOW)
    assert (decision.desired_replicas, decision.reason) == (30, "TooManyReplicas")
    decision = normalize_replicas(spec(Behavior(), lo=4), 10, 1, HpaState(), NOW)
    assert (decision.desired_replicas, decision.reason) == (4, "TooFewReplicas")


def test_unset_fields_take_upstream_defaults() -> None:
    resolved = resolve_behavior(Behavior(scale_up=ScalingRules(select_policy="Min")), ControllerConfig())
    assert resolved.scale_up.stabilization_window_s == 0
    assert resolved.scale_up.policies == (ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15))
    assert resolved.scale_down.stabilization_window_s == 300  # from the controller's flag
    assert resolved.scale_down.policies == (ScalingPolicy("Percent", 100, 15),)
    assert resolved.scale_down.select_policy == "Max"
    flag = ControllerConfig(downscale_stabilization_window_s=60)
    assert resolve_behavior(Behavior(), flag).scale_down.stabilization_window_s == 60


# --- stabilization --------------------------------------------------------------------------------


def test_scale_up_stabilization_takes_the_lowest_recent_recommendation() -> None:
    up = ScalingRules(stabilization_window_s=120)
    history = HpaState((Recommendation(4, NOW - 100), Recommendation(6, NOW - 50)))
    decision = normalize_replicas(spec(Behavior(scale_up=up)), 2, 8, history, NOW)
    assert (decision.desired_replicas, decision.reason) == (4, "ScaleUpStabilized")
    assert [r.replicas for r in decision.state.recommendations] == [4, 6, 8]


def test_legacy_path_keeps_the_highest_recommendation_for_five_minutes() -> None:
    history = HpaState((Recommendation(8, NOW - 200),))
    decision = normalize_replicas(spec(), 8, 3, history, NOW)
    assert (decision.desired_replicas, decision.reason) == (8, "ScaleDownStabilized")
    shorter = ControllerConfig(downscale_stabilization_window_s=120)
    assert normalize_replicas(spec(), 8, 3, history, NOW, config=shorter).desired_replicas == 3


def test_first_sync_records_the_current_count_so_nothing_scales_down_at_once() -> None:
    assert normalize_replicas(spec(), 5, 2, None, NOW).desired_replicas == 5
    assert normalize_replicas(spec(), 5, 2, HpaState(), NOW).desired_replicas == 2


def test_legacy_scale_up_limit_is_twice_current_or_four() -> None:
    decision = normalize_replicas(spec(), 3, 100, HpaState(), NOW)
    assert (decision.desired_replicas, decision.reason) == (6, "ScaleUpLimit")
    assert normalize_replicas(spec(), 1, 100, HpaState(), NOW).desired_replicas == 4


def test_state_threads_through_syncs_and_stays_small() -> None:
    """A load drop: the count holds for the 300 s window, then falls; the logs stay bounded."""
    hpa = spec(Behavior())
    state, current, seen = None, 10, []
    for tick in range(60):  # 15 s sync period, 15 minutes
        now = NOW + 15 * tick
        decision = normalize_replicas(hpa, current, 2, state, now)
        state, current = decision.state, decision.desired_replicas
        seen.append(current)
    assert seen[:20] == [10] * 20  # held within the stabilization window
    assert seen[-1] == 2
    assert len(state.recommendations) <= 22 and len(state.scale_down_events) <= 2  # type: ignore[union-attr]


# --- storeScaleEvent (TestStoreScaleEvents in horizontal_test.go) ---------------------------------


def ev(change: int, ago_s: float, outdated: bool = False) -> ScaleEvent:
    return ScaleEvent(change, NOW - ago_s, outdated)


def policy_rules(pods: int, pods_period: int, percent: int = 0, percent_period: int = 0) -> ScalingRules:
    policies = [ScalingPolicy("Pods", pods, pods_period)]
    if percent:
        policies.append(ScalingPolicy("Percent", percent, percent_period))
    return rules(*policies)


STORE_CASES = [
    ("empty entries with two-policy-behavior", [], [(5, False)], policy_rules(10, 60, 100, 60), 0),
    ("one outdated entry to be replaced with behavior", [ev(7, 61)], [(5, False)], policy_rules(10, 60, 100, 60), 0),
    ("one actual entry to be not touched with behavior", [ev(7, 58)], [(7, False), (5, False)],
     policy_rules(10, 60, 100, 60), 7),
    ("two entries, one of them to be replaced", [ev(7, 61), ev(6, 59)], [(5, False), (6, False)],
     policy_rules(10, 60), 6),
    ("replace one entry, use policies with different periods", [ev(8, 29), ev(6, 59), ev(7, 61), ev(9, 61)],
     [(8, False), (6, False), (7, True), (5, False)], policy_rules(10, 60, 100, 30), 14),
    ("two entries, both actual", [ev(7, 58), ev(6, 59)], [(7, False), (6, False), (5, False)],
     policy_rules(10, 120, 100, 30), 13),
]  # fmt: skip


@pytest.mark.parametrize(("before", "after", "scaling_rules", "change_60s"), [c[1:] for c in STORE_CASES],
                         ids=[c[0] for c in STORE_CASES])  # fmt: skip
def test_store_scale_events(
    before: list[ScaleEvent], after: list[tuple[int, bool]], scaling_rules: ScalingRules, change_60s: int
) -> None:
    assert replicas_change_in_period(60, before, NOW) == change_60s
    up_rules = resolve_behavior(Behavior(scale_up=scaling_rules), ControllerConfig())
    up, down = store_scale_event(up_rules, (tuple(before), ()), 10, 15, NOW)
    assert [(e.replica_change, e.outdated) for e in up] == after and down == ()
    down_rules = resolve_behavior(Behavior(scale_down=scaling_rules), ControllerConfig())
    up, down = store_scale_event(down_rules, ((), tuple(before)), 10, 5, NOW)
    assert [(e.replica_change, e.outdated) for e in down] == after and up == ()


@pytest.mark.parametrize("before", [[], [ev(7, 61)]], ids=["empty entries", "one outdated entry kept"])
def test_no_scale_events_are_stored_without_behavior(before: list[ScaleEvent]) -> None:
    """TestStoreScaleEvents' cases without a behavior: the legacy path keeps no scale events."""
    history = HpaState(scale_up_events=tuple(before), scale_down_events=tuple(before))
    for proposed in (15, 5):
        decision = normalize_replicas(spec(), 10, proposed, history, NOW)
        assert decision.rescale
        assert decision.state.scale_up_events == tuple(before)
        assert decision.state.scale_down_events == tuple(before)
