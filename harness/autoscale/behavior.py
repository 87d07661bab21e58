"""Normalization of the metrics' proposal: stabilization windows, rate limits, min/max clamping.

In: the current and proposed replica counts, min/max replicas, the recommendation history and
scale events (``HpaState``), ``now_s``, and either ``ControllerConfig`` alone (legacy path, when
``spec.behavior`` is unset) or the resolved ``spec.behavior`` rules.  Out: the desired replica count,
the condition reasons upstream would set, and the updated history.

Mirrors upstream horizontal.go: ``stabilizeRecommendation`` + ``convertDesiredReplicasWithRules``
(legacy: max recommendation over the downscale window, scale-up limit ``max(2*current, 4)``), and
``stabilizeRecommendationWithBehaviors`` + ``convertDesiredReplicasWithBehaviorRate`` (policies per
period, selectPolicy Max/Min/Disabled), ``storeScaleEvent`` and ``markScaleEventsOutdated``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from harness.autoscale.model import (
    MAX_INT32,
    Behavior,
    ControllerConfig,
    HpaSpec,
    Recommendation,
    ScaleEvent,
    ScalingPolicy,
    ScalingRules,
    Tolerances,
)

MIN_INT32 = -(2**31)
T = TypeVar("T")

DEFAULT_SCALE_UP = ScalingRules(
    stabilization_window_s=0.0,
    select_policy="Max",
    policies=(ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15)),
)
DEFAULT_SCALE_DOWN = ScalingRules(
    stabilization_window_s=None,  # the controller's --horizontal-pod-autoscaler-downscale-stabilization
    select_policy="Max",
    policies=(ScalingPolicy("Percent", 100, 15),),
)


@dataclass(frozen=True)
class ResolvedBehavior:
    """``spec.behavior`` after API defaulting: every field of both directions is set."""

    scale_up: ScalingRules
    scale_down: ScalingRules


def _fill(given: ScalingRules | None, default: ScalingRules) -> ScalingRules:
    if given is None:
        return default
    return ScalingRules(
        stabilization_window_s=default.stabilization_window_s
        if given.stabilization_window_s is None
        else given.stabilization_window_s,
        select_policy=default.select_policy if given.select_policy is None else given.select_policy,
        policies=default.policies if given.policies is None else given.policies,
        tolerance=given.tolerance,
    )


def resolve_behavior(behavior: Behavior, config: ControllerConfig) -> ResolvedBehavior:
    """Apply ``SetDefaults_HorizontalPodAutoscalerBehavior`` and the scale-down window flag."""
    down = _fill(behavior.scale_down, DEFAULT_SCALE_DOWN)
    if down.stabilization_window_s is None:
        down = replace(down, stabilization_window_s=config.downscale_stabilization_window_s)
    return ResolvedBehavior(_fill(behavior.scale_up, DEFAULT_SCALE_UP), down)


def tolerances_for(spec: HpaSpec, config: ControllerConfig) -> Tolerances:
    """Per-direction tolerance from ``spec.behavior`` where set, else the controller's flag."""
    up = down = config.tolerance
    if spec.behavior is not None:
        if spec.behavior.scale_up is not None and spec.behavior.scale_up.tolerance is not None:
            up = spec.behavior.scale_up.tolerance
        if spec.behavior.scale_down is not None and spec.behavior.scale_down.tolerance is not None:
            down = spec.behavior.scale_down.tolerance
    return Tolerances(scale_down=down, scale_up=up)


def _reuse_or_append(items: Sequence[T], old_index: int | None, new: T) -> tuple[T, ...]:
    """Upstream keeps its logs short: the new entry replaces an outdated one, if any, else is appended."""
    if old_index is None:
        return (*items, new)
    return tuple(new if i == old_index else item for i, item in enumerate(items))


def stabilize_recommendation(
    recs: Sequence[Recommendation], desired: int, now_s: float, window_s: float
) -> tuple[int, tuple[Recommendation, ...]]:
    """Legacy path: the highest recommendation within the downscale stabilization window."""
    highest, old_index = desired, None
    cutoff_s = now_s - window_s
    for i, rec in enumerate(recs):
        if rec.timestamp_s < cutoff_s:
            old_index = i
        elif rec.replicas > highest:
            highest = rec.replicas
    return highest, _reuse_or_append(recs, old_index, Recommendation(desired, now_s))


def stabilize_recommendation_with_behaviors(
    recs: Sequence[Recommendation], current: int, desired: int, rules: ResolvedBehavior, now_s: float
) -> tuple[int, str, tuple[Recommendation, ...]]:
    """Clamp ``current`` into [min over the up window, max over the down window] of recommendations."""
    up_cutoff_s = now_s - (rules.scale_up.stabilization_window_s or 0.0)
    down_cutoff_s = now_s - (rules.scale_down.stabilization_window_s or 0.0)
    up_rec = down_rec = desired
    old_index = None
    for i, rec in enumerate(recs):
        if rec.timestamp_s > up_cutoff_s:
            up_rec = min(rec.replicas, up_rec)
        if rec.timestamp_s > down_cutoff_s:
            down_rec = max(rec.replicas, down_rec)
        if rec.timestamp_s < up_cutoff_s and rec.timestamp_s < down_cutoff_s:
            old_index = i
    recommendation = min(max(current, up_rec), down_rec)
    reason = "ScaleUpStabilized" if desired >= current else "ScaleDownStabilized"
    return recommendation, reason, _reuse_or_append(recs, old_index, Recommendation(desired, now_s))


def convert_desired_replicas_with_rules(
    current: int, desired: int, min_replicas: int, max_replicas: int, config: ControllerConfig
) -> tuple[int, str]:
    """Legacy path: clamp to [min, min(max, max(factor * current, minimum))]."""
    scale_up_limit = int(max(config.scale_up_limit_factor * current, config.scale_up_limit_minimum))
    if max_replicas > scale_up_limit:
        maximum, limiting = scale_up_limit, "ScaleUpLimit"
    else:
        maximum, limiting = max_replicas, "TooManyReplicas"
    if desired < min_replicas:
        return min_replicas, "TooFewReplicas"
    if desired > maximum:
        return maximum, limiting
    return desired, "DesiredWithinRange"


def replicas_change_in_period(period_s: float, events: Sequence[ScaleEvent], now_s: float) -> int:
    """``getReplicasChangePerPeriod``: pods added (or removed) by events within the last period."""
    cutoff_s = now_s - period_s
    return sum(e.replica_change for e in events if e.timestamp_s > cutoff_s)


def _proposals(
    current: int, up: Sequence[ScaleEvent], down: Sequence[ScaleEvent], rules: ScalingRules, now_s: float
) -> list[tuple[ScalingPolicy, int]]:
    """Each policy with the replica count at the start of its period."""
    out = []
    for policy in rules.policies or ():
        added = replicas_change_in_period(policy.period_s, up, now_s)
        removed = replicas_change_in_period(policy.period_s, down, now_s)
        out.append((policy, current - added + removed))
    return out


def scale_up_limit(
    current: int, up: Sequence[ScaleEvent], down: Sequence[ScaleEvent], rules: ScalingRules, now_s: float
) -> int:
    """``calculateScaleUpLimitWithScalingRules``: the most replicas the policies allow now."""
    if rules.select_policy == "Disabled":
        return current
    select, result = (min, MAX_INT32) if rules.select_policy == "Min" else (max, MIN_INT32)
    for policy, start in _proposals(current, up, down, rules, now_s):
        if policy.type == "Pods":
            proposed = start + policy.value
        else:
            proposed = math.ceil(float(start) * (1 + float(policy.value) / 100))
        result = select(result, proposed)
    return result


def scale_down_limit(
    current: int, up: Sequence[ScaleEvent], down: Sequence[ScaleEvent], rules: ScalingRules, now_s: float
) -> int:
    """``calculateScaleDownLimitWithBehaviors``: the fewest replicas the policies allow now."""
    if rules.select_policy == "Disabled":
        return current
    select, result = (max, MIN_INT32) if rules.select_policy == "Min" else (min, MAX_INT32)
    for policy, start in _proposals(current, up, down, rules, now_s):
        if policy.type == "Pods":
            proposed = start - policy.value
        else:
            proposed = int(float(start) * (1 - float(policy.value) / 100))
        result = select(result, proposed)
    return result


def convert_desired_replicas_with_behavior_rate(
    current: int,
    desired: int,
    bounds: tuple[int, int],
    rules: ResolvedBehavior,
    events: tuple[Sequence[ScaleEvent], Sequence[ScaleEvent]],
    now_s: float,
) -> tuple[int, str]:
    """Clamp ``desired`` by the policies' rate and by ``bounds`` = (min, max) replicas."""
    min_replicas, max_replicas = bounds
    up, down = events
    if desired > current:
        limit = max(scale_up_limit(current, up, down, rules.scale_up, now_s), current)
        if max_replicas > limit:
            maximum, reason = limit, "ScaleUpLimit"
        else:
            maximum, reason = max_replicas, "TooManyReplicas"
        if desired > maximum:
            return maximum, reason
    elif desired < current:
        limit = min(scale_down_limit(current, up, down, rules.scale_down, now_s), current)
        if min_replicas < limit:
            minimum, reason = limit, "ScaleDownLimit"
        else:
            minimum, reason = min_replicas, "TooFewReplicas"
        if desired < minimum:
            return minimum, reason
    return desired, "DesiredWithinRange"


def _longest_period_s(rules: ScalingRules) -> int:
    return max((p.period_s for p in rules.policies or ()), default=0)


def store_scale_event(
    rules: ResolvedBehavior,
    events: tuple[tuple[ScaleEvent, ...], tuple[ScaleEvent, ...]],
    previous: int,
    new: int,
    now_s: float,
) -> tuple[tuple[ScaleEvent, ...], tuple[ScaleEvent, ...]]:
    """``storeScaleEvent``: mark events older than the longest period outdated; reuse the last one."""
    up, down = events
    scaling_up = new > previous
    direction = rules.scale_up if scaling_up else rules.scale_down
    stored = up if scaling_up else down
    cutoff_s = now_s - _longest_period_s(direction)
    marked = tuple(replace(e, outdated=True) if e.timestamp_s < cutoff_s else e for e in stored)
    outdated = [i for i, e in enumerate(marked) if e.outdated]
    result = _reuse_or_append(marked, outdated[-1] if outdated else None, ScaleEvent(abs(new - previous), now_s))
    return (result, down) if scaling_up else (up, result)
