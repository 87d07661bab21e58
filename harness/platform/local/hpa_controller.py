"""The HorizontalPodAutoscaler controller of the local platform, on ``hpa.sync_period``.

In: the scenario's ``platform.hpa`` settings, the Supervisor's pods (phase, readiness, start
times) and the ``MetricsScraper``'s latest samples.  Out: each sync calls ``harness.autoscale``
(the upstream algorithm, pure) and, when the desired count changes, rescales the Deployment with a
``scale`` event (from, to, reason, metric values and targets, source ``hpa``); a sync that keeps
the count emits ``hpa_decision`` with the same fields.  ``hpa_status`` in GET /state shows the last
decision and each metric's value (what the HPA's status.currentMetrics shows).
"""

from __future__ import annotations

import asyncio
import logging
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
from harness.platform.local.metrics_scrape import CPU, POD_GAUGES, MetricsScraper
from harness.platform.local.pods import Pod
from harness.scenario import HpaMetric, HpaRules, HpaSettings

if TYPE_CHECKING:
    from harness.platform.local.supervisor import Supervisor

log = logging.getLogger("kibench.local.hpa")


def metric_spec(metric: HpaMetric) -> MetricSpec:
    """The scenario's metric as the algorithm's ``MetricSpec`` (values in milli-units)."""
    if metric.target_utilization is not None:
        return MetricSpec(type="Resource", name=CPU, utilization_pct=metric.target_utilization)
    milli = max(round(float(metric.target_average_value or 0) * 1000), 1)
    return MetricSpec(type=metric.type, name=metric.name, average_value_milli=milli)


def _rules(rules: HpaRules | None) -> ScalingRules | None:
    if rules is None:
        return None
    policies = None
    if rules.policies is not None:
        policies = tuple(ScalingPolicy(p.type, p.value, round(p.period)) for p in rules.policies)
    return ScalingRules(rules.stabilization_window, rules.select_policy, policies, rules.tolerance)


def hpa_spec(settings: HpaSettings) -> HpaSpec:
    """The HPA object the scenario describes (no metrics: upstream's default, cpu at 80 %)."""
    metrics = tuple(metric_spec(m) for m in settings.metrics) or (MetricSpec("Resource", CPU, utilization_pct=80),)
    behavior = None
    if settings.behavior is not None:
        behavior = Behavior(_rules(settings.behavior.scale_up), _rules(settings.behavior.scale_down))
    return HpaSpec(settings.max_replicas, metrics, settings.min_replicas, behavior)


def controller_config(settings: HpaSettings) -> ControllerConfig:
    return ControllerConfig(
        tolerance=settings.tolerance,
        cpu_initialization_period_s=settings.cpu_initialization_period,
        initial_readiness_delay_s=settings.initial_readiness_delay,
        downscale_stabilization_window_s=settings.downscale_stabilization,
    )


def gauges_wanted(settings: HpaSettings) -> dict[str, str]:
    """Pods metric name -> Prometheus series name to scrape."""
    return {m.name: m.prometheus or POD_GAUGES.get(m.name, m.name) for m in settings.metrics if m.type == "Pods"}


def wants_cpu(settings: HpaSettings) -> bool:
    return not settings.metrics or any(m.type == "Resource" for m in settings.metrics)


class HpaController:
    """Runs the upstream algorithm every sync period against the Deployment's pods."""

    def __init__(self, sup: Supervisor, scraper: MetricsScraper) -> None:
        self.sup = sup
        self.scraper = scraper
        self.settings = sup.cfg.hpa
        self.spec = hpa_spec(self.settings)
        self.config = controller_config(self.settings)
        self.state: HpaState | None = None
        self.cpu_request_milli = round(sup.cfg.pod.cpu_request * 1000)

    async def run(self) -> None:
        while True:
            try:
                self.sync()
            except Exception:  # a bug must not stop the controller; logged with its traceback
                log.exception("HPA sync failed")
            await asyncio.sleep(self.settings.sync_period)

    def pod_sample(self, pod: Pod) -> PodSample:
        sample = self.scraper.samples.get(pod.name)
        values = {} if sample is None else {k: round(v * 1000) for k, v in sample.values.items()}
        started = pod.scheduled_s is not None and pod.container_started_s is not None
        return PodSample(
            name=pod.name,
            phase="Running" if started else "Pending",
            ready=pod.ready,
            start_s=pod.scheduled_s,
            ready_transition_s=pod.ready_transition_s if pod.ready_transition_s is not None else pod.scheduled_s,
            deleted=pod.terminating,
            metric_timestamp_s=None if sample is None else sample.timestamp_s,
            metric_window_s=self.scraper.resolution_s,
            values_milli=values,
            requests_milli={CPU: self.cpu_request_milli},
        )

    def sync(self) -> Decision:
        now = self.sup.now_s()
        current = self.sup.desired
        pods = [self.pod_sample(p) for p in self.sup.pods.values()]
        decision = desired_replicas(self.spec, current, pods, None, self.state, now, config=self.config)
        self.state = decision.state
        values = self._values(decision)
        attrs: dict[str, Any] = {
            "reason": decision.reason,
            "metrics": values,
            "targets": self._targets(),
            "proposed": decision.metric_desired_replicas,
            "source": "hpa",
        }
        if decision.error:
            attrs["error"] = decision.error
        if decision.rescale:
            self.sup.scale(decision.desired_replicas, **attrs)
        else:
            self.sup.emit("hpa_decision", **{"from": current, "to": decision.desired_replicas, **attrs})
        self.sup.hpa_status = {
            "enabled": True,
            "min_replicas": self.spec.min_replicas,
            "max_replicas": self.spec.max_replicas,
            "last_sync_s": round(now, 6),
            "desired_replicas": decision.desired_replicas,
            "reason": decision.reason,
            "metrics": values,
            "targets": attrs["targets"],
        }
        return decision

    def _values(self, decision: Decision) -> dict[str, float | None]:
        """Each metric's current value: utilization % for CPU targets, the per-pod average otherwise."""
        out: dict[str, float | None] = {}
        for metric, proposal in zip(self.spec.metrics, decision.proposals, strict=False):
            if proposal.usage is None:
                out[_label(metric)] = None
            elif metric.utilization_pct is not None:
                out[_label(metric)] = float(proposal.usage)
            else:
                out[_label(metric)] = round(proposal.usage / 1000.0, 4)
        return out

    def _targets(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for metric in self.spec.metrics:
            if metric.utilization_pct is not None:
                out[_label(metric)] = float(metric.utilization_pct)
            else:
                out[_label(metric)] = (metric.average_value_milli or 0) / 1000.0
        return out


def _label(metric: MetricSpec) -> str:
    """``cpu_utilization_pct``, ``cpu`` (cores) or the Pods metric's name."""
    return f"{metric.name}_utilization_pct" if metric.utilization_pct is not None else metric.name
