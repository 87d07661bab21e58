"""The embedded cluster's HorizontalPodAutoscaler controller (autoscaling/v2 objects), every sync period.

In: HorizontalPodAutoscaler objects (metrics, min/max replicas, behavior), the pods their target
Deployment selects, the ``MetricsScraper``'s latest samples, and the controller-manager flags from the
scenario's ``platform.hpa`` (sync period, tolerance, CPU initialization period, initial readiness
delay, downscale stabilization).  Out: each sync calls ``harness.autoscale`` (the upstream algorithm,
pure, clock injected); a new count is written to the Deployment's ``spec.replicas`` with a
``SuccessfulRescale`` Event (``New size: N; reason: ...``), and the HPA's status is written as the
upstream controller writes it: currentReplicas, desiredReplicas, currentMetrics, lastScaleTime and
the conditions AbleToScale / ScalingActive / ScalingLimited.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.autoscale import (
    Behavior,
    ControllerConfig,
    Decision,
    HpaSpec,
    HpaState,
    MetricSpec,
    PodSample,
    ScalingPolicy,
    ScalingRules,
    desired_replicas,
)
from harness.platform.local.metrics_scrape import CPU, MetricsScraper
from harness.platform.local.objects import (
    DEPLOYMENTS,
    HPAS,
    PODS,
    Obj,
    condition,
    parse_quantity,
    parse_time,
    rfc3339,
    selector_matches,
    set_condition,
)
from harness.scenario import HpaSettings

if TYPE_CHECKING:
    from harness.platform.local.cluster import Cluster

log = logging.getLogger("kibench.local.hpa")


def controller_config(settings: HpaSettings) -> ControllerConfig:
    return ControllerConfig(
        tolerance=settings.tolerance,
        cpu_initialization_period_s=settings.cpu_initialization_period,
        initial_readiness_delay_s=settings.initial_readiness_delay,
        downscale_stabilization_window_s=settings.downscale_stabilization,
    )


def _milli(quantity: Any) -> int:
    return max(round(parse_quantity(quantity) * 1000), 1)


def metric_spec(metric: Obj) -> MetricSpec:
    """One autoscaling/v2 MetricSpec as the algorithm's (values in milli-units)."""
    if metric.get("type") == "Resource":
        res = metric["resource"]
        target = res.get("target") or {}
        if target.get("type") == "Utilization":
            return MetricSpec("Resource", res["name"], utilization_pct=int(target["averageUtilization"]))
        return MetricSpec("Resource", res["name"], average_value_milli=_milli(target.get("averageValue", 0)))
    if metric.get("type") == "Pods":
        pods = metric["pods"]
        return MetricSpec("Pods", pods["metric"]["name"], average_value_milli=_milli(pods["target"]["averageValue"]))
    raise ValueError(f"metric type {metric.get('type')!r} is not supported by the embedded cluster (Pods, Resource)")


def _rules(rules: Obj | None) -> ScalingRules | None:
    if rules is None:
        return None
    policies = None
    if rules.get("policies") is not None:
        policies = tuple(ScalingPolicy(p["type"], int(p["value"]), int(p["periodSeconds"])) for p in rules["policies"])
    tolerance = rules.get("tolerance")
    return ScalingRules(
        rules.get("stabilizationWindowSeconds"),
        rules.get("selectPolicy"),
        policies,
        None if tolerance is None else parse_quantity(tolerance),
    )


def hpa_spec(obj: Obj) -> HpaSpec:
    spec = obj["spec"]
    metrics = tuple(metric_spec(m) for m in spec.get("metrics") or []) or (
        MetricSpec("Resource", CPU, utilization_pct=80),
    )
    behavior = None
    if spec.get("behavior"):
        behavior = Behavior(_rules(spec["behavior"].get("scaleUp")), _rules(spec["behavior"].get("scaleDown")))
    return HpaSpec(int(spec["maxReplicas"]), metrics, int(spec.get("minReplicas", 1)), behavior)


def label(metric: MetricSpec) -> str:
    """``cpu_utilization_pct``, ``cpu`` (cores) or the Pods metric's name."""
    return f"{metric.name}_utilization_pct" if metric.utilization_pct is not None else metric.name


def pod_sample(
    name: str,
    *,
    running: bool,
    ready: bool,
    start_s: float | None,
    ready_transition_s: float | None,
    deleted: bool,
    metric_timestamp_s: float | None,
    metric_window_s: float,
    values: Mapping[str, float] | None,
    cpu_request_cores: float,
) -> PodSample:
    """One pod as the HPA algorithm sees it: the scraped values (metric units, e.g. cores) in milli-units,
    the CPU request, phase and readiness.  The embedded controller and ``harness.simulate`` both build
    their samples here, so the algorithm is called the same way on both."""
    return PodSample(
        name=name,
        phase="Running" if running else "Pending",
        ready=ready,
        start_s=start_s,
        ready_transition_s=ready_transition_s,
        deleted=deleted,
        metric_timestamp_s=metric_timestamp_s,
        metric_window_s=metric_window_s,
        values_milli={} if values is None else {k: round(v * 1000) for k, v in values.items()},
        requests_milli={CPU: round(cpu_request_cores * 1000)} if cpu_request_cores else {},
    )


class HpaController:
    """Runs the upstream algorithm for every HPA object, each ``sync_period``."""

    def __init__(self, cluster: Cluster, scraper: MetricsScraper) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.scraper = scraper
        self.settings = cluster.cfg.hpa
        self.config = controller_config(self.settings)
        self.states: dict[str, HpaState] = {}

    async def run(self) -> None:
        while True:
            for hpa in self.store.list(HPAS, copy=False)[0]:
                try:
                    self.sync(hpa)
                except Exception:  # a bug must not stop the controller; logged with its traceback
                    log.exception("HPA sync failed")
            await asyncio.sleep(self.settings.sync_period)

    def _sample(self, pod: Obj, now: float) -> PodSample:
        meta, status = pod["metadata"], pod.get("status") or {}
        sample = self.scraper.samples.get((meta["namespace"], meta["name"]))
        start = parse_time(status.get("startTime"))
        ready = condition(pod, "Ready") or {}
        cpu_request = sum(
            parse_quantity(((c.get("resources") or {}).get("requests") or {}).get("cpu", 0))
            for c in pod["spec"].get("containers") or []
        )
        return pod_sample(
            meta["name"],
            running=status.get("phase") == "Running",
            ready=ready.get("status") == "True",
            start_s=start,
            ready_transition_s=parse_time(ready.get("lastTransitionTime")) or start,
            deleted=bool(meta.get("deletionTimestamp")),
            metric_timestamp_s=None if sample is None else sample.timestamp_s,
            metric_window_s=self.scraper.resolution_s,
            values=None if sample is None else sample.values,
            cpu_request_cores=cpu_request,
        )

    def sync(self, hpa: Obj) -> Decision | None:
        meta, ref = hpa["metadata"], hpa["spec"]["scaleTargetRef"]
        ns, now = meta["namespace"], time.time()
        if ref.get("kind") != "Deployment":
            self._status(hpa, None, None, f"the embedded cluster scales Deployments only (got {ref.get('kind')})")
            return None
        try:
            target = self.store.get(DEPLOYMENTS, ns, ref["name"])
        except Exception:  # noqa: BLE001
            self._status(hpa, None, None, f'deployments.apps "{ref["name"]}" not found')
            return None
        selector = target["spec"].get("selector")
        pods = [
            p
            for p in self.store.list(PODS, ns, copy=False)[0]
            if selector_matches(selector, p["metadata"].get("labels"))
        ]
        spec = hpa_spec(hpa)
        current = int(target["spec"].get("replicas", 1))
        samples = [self._sample(p, now) for p in pods]
        decision = desired_replicas(spec, current, samples, None, self.states.get(meta["uid"]), now, config=self.config)
        self.states[meta["uid"]] = decision.state
        scaled = None
        if decision.desired_replicas != current:
            message = f"New size: {decision.desired_replicas}; reason: {rescale_reason(spec, decision, current)}"
            self.cluster.recorder.record(hpa, "SuccessfulRescale", message, component="horizontal-pod-autoscaler")
            self.store.mutate(
                DEPLOYMENTS, ns, ref["name"], lambda d: d["spec"].update(replicas=decision.desired_replicas)
            )
            scaled = rfc3339(now)
        self._status(hpa, decision, scaled, decision.error, current)
        return decision

    def _status(
        self, hpa: Obj, decision: Decision | None, scaled: str | None, error: str | None, current: int | None = None
    ) -> None:
        spec = hpa_spec(hpa)

        def fn(obj: Obj) -> None:
            status = obj.setdefault("status", {})
            status["observedGeneration"] = obj["metadata"].get("generation", 1)
            if decision is not None:
                status["currentReplicas"] = current
                status["desiredReplicas"] = decision.desired_replicas
                status["currentMetrics"] = _current_metrics(spec, decision)
                if scaled:
                    status["lastScaleTime"] = scaled
                for cond in decision.conditions:
                    set_condition(status, cond.type, cond.status, cond.reason)
            else:
                status.setdefault("desiredReplicas", 0)
                status.setdefault("currentReplicas", 0)
            if error:
                set_condition(status, "ScalingActive", False, "FailedGetMetrics", error)

        self.store.mutate(HPAS, hpa["metadata"]["namespace"], hpa["metadata"]["name"], fn)


def rescale_reason(spec: HpaSpec, decision: Decision, current: int) -> str:
    """The reason in a SuccessfulRescale Event, worded as upstream's controller words it: the metric that
    proposed the most replicas "above target" on the way up, "All metrics below target" on the way down."""
    if decision.desired_replicas < current:
        return "All metrics below target"
    pairs = zip(spec.metrics, decision.proposals, strict=False)
    proposed = [(p.replicas, m) for m, p in pairs if p.replicas is not None]
    if not proposed:
        return decision.reason
    metric = max(proposed, key=lambda item: item[0])[1]
    if metric.type == "Pods":
        return f"pods metric {metric.name} above target"
    if metric.utilization_pct is not None:
        return f"{metric.name} resource utilization (percentage of request) above target"
    return f"{metric.name} resource above target"


def _current_metrics(spec: HpaSpec, decision: Decision) -> list[Obj]:
    out: list[Obj] = []
    for metric, proposal in zip(spec.metrics, decision.proposals, strict=False):
        if proposal.usage is None:
            continue
        if metric.type == "Resource":
            current: Obj = (
                {"averageUtilization": int(proposal.usage)}
                if metric.utilization_pct is not None
                else {"averageValue": f"{int(proposal.usage)}m"}
            )
            out.append({"type": "Resource", "resource": {"name": metric.name, "current": current}})
        else:
            out.append(
                {
                    "type": "Pods",
                    "pods": {"metric": {"name": metric.name}, "current": {"averageValue": f"{int(proposal.usage)}m"}},
                }
            )
    return out
