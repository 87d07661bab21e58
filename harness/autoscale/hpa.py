"""One HPA sync, as upstream's ``reconcileAutoscaler``: metrics -> proposal -> normalization -> decision.

In: the ``HpaSpec``, the scale target's current (spec) replica count, its pods (``PodSample``), the
Object/External metric samples (milli-units by metric name), the ``HpaState`` kept from the last
sync (``None`` on the first), ``now_s`` and ``ControllerConfig``.  Out: a ``Decision``.

``desired_replicas`` is the front door; ``normalize_replicas`` starts from a replica count already
proposed (for callers, such as a fluid simulator, that model the metric side themselves).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.autoscale import behavior as bh
from harness.autoscale import replicas as rc
from harness.autoscale.model import (
    Condition,
    ControllerConfig,
    Decision,
    HpaSpec,
    HpaState,
    MetricProposal,
    MetricSpec,
    PodSample,
    Recommendation,
    Tolerances,
)

DEFAULT_METRIC = MetricSpec(type="Resource", name="cpu", utilization_pct=80)
_FAILED_REASON = {
    "Resource": "FailedGetResourceMetric",
    "ContainerResource": "FailedGetContainerResourceMetric",
    "Pods": "FailedGetPodsMetric",
    "Object": "FailedGetObjectMetric",
    "External": "FailedGetExternalMetric",
}


@dataclass(frozen=True)
class _Inputs:
    spec_replicas: int
    status_replicas: int
    pods: Sequence[PodSample]
    samples_milli: Mapping[str, Sequence[int]]
    tolerances: Tolerances
    now_s: float
    config: ControllerConfig


def describe(metric: MetricSpec) -> str:
    """Upstream's metric name in events and conditions, e.g. ``cpu resource utilization``."""
    if metric.type in ("Resource", "ContainerResource"):
        kind = "container resource" if metric.type == "ContainerResource" else "resource"
        if metric.utilization_pct is not None:
            return f"{metric.name} {kind} utilization (percentage of request)"
        return f"{metric.name} {kind}"
    return f"{metric.type.lower()} metric {metric.name}"


def _sample(metric: MetricSpec, samples: Mapping[str, Sequence[int]]) -> Sequence[int]:
    values = samples.get(metric.name)
    if not values:
        raise rc.MetricError(f"unable to get {metric.type.lower()} metric {metric.name}: no metrics returned")
    if metric.type == "Object" and len(values) != 1:
        raise rc.MetricError(f"object metric {metric.name}: expected one value (got {len(values)})")
    return values


def _compute(metric: MetricSpec, inp: _Inputs) -> tuple[int, int]:
    """``computeReplicasForMetric``: the replica count and usage one metric proposes."""
    tol, pods = inp.tolerances, inp.pods
    if metric.type in ("Resource", "ContainerResource"):
        args = (metric.key, metric.name, pods, tol, inp.now_s, inp.config)
        if metric.average_value_milli is not None:
            return rc.plain_metric_replicas(inp.spec_replicas, metric.average_value_milli, *args)
        return rc.resource_utilization_replicas(inp.spec_replicas, metric.utilization_pct or 0, *args)
    if metric.type == "Pods":
        target = metric.average_value_milli or 0
        return rc.plain_metric_replicas(inp.spec_replicas, target, metric.key, None, pods, tol, inp.now_s, inp.config)
    usage = rc.capped_sum(_sample(metric, inp.samples_milli))
    if metric.average_value_milli is not None:
        return rc.per_pod_replicas(inp.status_replicas, usage, metric.average_value_milli, tol)
    return rc.value_replicas(inp.spec_replicas, usage, metric.value_milli or 0, pods, tol)


def _proposal(metric: MetricSpec, inp: _Inputs) -> MetricProposal:
    try:
        replicas, usage = _compute(metric, inp)
    except rc.MetricError as exc:
        return MetricProposal(describe(metric), None, error=str(exc), reason=_FAILED_REASON[metric.type])
    return MetricProposal(describe(metric), replicas, usage)


class _Conditions:
    """Upstream's ``setCondition``: set or overwrite by type, keeping first-set order."""

    def __init__(self) -> None:
        self._items: dict[str, Condition] = {}

    def set(self, type_: str, status: bool, reason: str) -> None:
        self._items[type_] = Condition(type_, status, reason)

    def freeze(self) -> tuple[Condition, ...]:
        return tuple(self._items.values())


def _stabilize_and_limit(
    spec: HpaSpec, current: int, proposed: int, state: HpaState, now_s: float, config: ControllerConfig
) -> tuple[int, str, str, HpaState]:
    """Normalize: (desired, AbleToScale reason, ScalingLimited reason, state with the recommendation)."""
    bounds = (spec.min_replicas, spec.max_replicas)
    if spec.behavior is None:
        window_s = config.downscale_stabilization_window_s
        stabilized, recs = bh.stabilize_recommendation(state.recommendations, proposed, now_s, window_s)
        able = "ScaleDownStabilized"
        desired, limit = bh.convert_desired_replicas_with_rules(current, stabilized, *bounds, config)
    else:
        rules = bh.resolve_behavior(spec.behavior, config)
        stabilized, able, recs = bh.stabilize_recommendation_with_behaviors(
            state.recommendations, current, proposed, rules, now_s
        )
        events = (state.scale_up_events, state.scale_down_events)
        desired, limit = bh.convert_desired_replicas_with_behavior_rate(
            current, stabilized, bounds, rules, events, now_s
        )
    if stabilized == proposed:
        able = "ReadyForNewScale"
    return desired, able, limit, HpaState(recs, state.scale_up_events, state.scale_down_events)


def _finish(
    spec: HpaSpec, current: int, desired: int, state: HpaState, now_s: float, config: ControllerConfig
) -> HpaState:
    """After a rescale: store the scale event (behaviors only), as ``storeScaleEvent``."""
    if desired == current or spec.behavior is None:
        return state
    rules = bh.resolve_behavior(spec.behavior, config)
    events = (state.scale_up_events, state.scale_down_events)
    up, down = bh.store_scale_event(rules, events, current, desired, now_s)
    return HpaState(state.recommendations, up, down)


def normalize_replicas(
    spec: HpaSpec,
    current_replicas: int,
    proposed_replicas: int,
    history: HpaState | None,
    now_s: float,
    *,
    config: ControllerConfig | None = None,
) -> Decision:
    """Stabilize and rate-limit a replica count already proposed by the metrics."""
    return _decide(spec, current_replicas, history, now_s, config or ControllerConfig(), proposed_replicas)


def desired_replicas(
    spec: HpaSpec,
    current_replicas: int,
    pods: Sequence[PodSample],
    samples_milli: Mapping[str, Sequence[int]] | None,
    history: HpaState | None,
    now_s: float,
    *,
    status_replicas: int | None = None,
    config: ControllerConfig | None = None,
) -> Decision:
    """One HPA sync: compute every metric's proposal, take the highest, normalize it.

    ``status_replicas`` (the scale subresource's ``status.replicas``) is what per-pod Object and
    External targets divide by; it defaults to ``current_replicas``.
    """
    cfg = config or ControllerConfig()
    inputs = _Inputs(
        current_replicas,
        current_replicas if status_replicas is None else status_replicas,
        pods,
        samples_milli or {},
        bh.tolerances_for(spec, cfg),
        now_s,
        cfg,
    )
    return _decide(spec, current_replicas, history, now_s, cfg, inputs)


def _decide(
    spec: HpaSpec,
    current: int,
    history: HpaState | None,
    now_s: float,
    config: ControllerConfig,
    source: _Inputs | int,
) -> Decision:
    state = history if history is not None else HpaState((Recommendation(current, now_s),))
    conds = _Conditions()
    conds.set("AbleToScale", True, "SucceededGetScale")
    if current == 0 and spec.min_replicas != 0:
        conds.set("ScalingActive", False, "ScalingDisabled")
        return Decision(0, current, "ScalingDisabled", state, conditions=conds.freeze())
    if current > spec.max_replicas or current < spec.min_replicas:
        desired = spec.max_replicas if current > spec.max_replicas else spec.min_replicas
        reason = "TooManyReplicas" if current > spec.max_replicas else "TooFewReplicas"
        return _rescaled(spec, current, desired, reason, state, now_s, config, conds)
    return _from_metrics(spec, current, state, now_s, config, conds, source)


def _from_metrics(
    spec: HpaSpec,
    current: int,
    state: HpaState,
    now_s: float,
    config: ControllerConfig,
    conds: _Conditions,
    source: _Inputs | int,
) -> Decision:
    proposals: tuple[MetricProposal, ...] = ()
    error = None
    if isinstance(source, int):
        proposed = source
    else:
        proposals = tuple(_proposal(m, source) for m in spec.metrics or (DEFAULT_METRIC,))
        proposed, error, failed_reason = _highest(proposals, current)
        if failed_reason is not None:
            conds.set("ScalingActive", False, failed_reason)
            return Decision(current, current, failed_reason, state, None, proposals, conds.freeze(), error)
    conds.set("ScalingActive", True, "ValidMetricFound")
    desired, able, limit, state = _stabilize_and_limit(spec, current, max(proposed, 0), state, now_s, config)
    conds.set("AbleToScale", True, able)
    conds.set("ScalingLimited", limit != "DesiredWithinRange", limit)
    reason = limit if limit != "DesiredWithinRange" or able == "ReadyForNewScale" else able
    decision = _rescaled(spec, current, desired, reason, state, now_s, config, conds)
    return Decision(
        decision.desired_replicas, current, reason, decision.state, proposed, proposals, decision.conditions, error
    )


def _highest(proposals: Sequence[MetricProposal], spec_replicas: int) -> tuple[int, str | None, str | None]:
    """``computeReplicasForMetrics``: (highest proposal, error, failing reason if nothing may scale).

    If every metric failed, or some failed and the valid ones would scale down, nothing changes.
    """
    valid = [p.replicas for p in proposals if p.replicas is not None]
    invalid = [p for p in proposals if p.replicas is None]
    highest = max(valid, default=0)
    error = None
    if invalid:
        error = f"invalid metrics ({len(invalid)} invalid out of {len(proposals)}), first error is: {invalid[0].error}"
        if not valid or highest < spec_replicas:
            return -1, error, invalid[0].reason
    return highest, error, None


def _rescaled(
    spec: HpaSpec,
    current: int,
    desired: int,
    reason: str,
    state: HpaState,
    now_s: float,
    config: ControllerConfig,
    conds: _Conditions,
) -> Decision:
    if desired != current:
        conds.set("AbleToScale", True, "SucceededRescale")
        state = _finish(spec, current, desired, state, now_s, config)
    return Decision(desired, current, reason, state, conditions=conds.freeze())
