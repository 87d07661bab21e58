"""The HPA as the embedded platform runs it, on simulated pods.

In: the scenario's ``platform.hpa`` and, at each sync, the pods with their latest scraped values.  Out:
the upstream algorithm's ``Decision`` (``harness.autoscale.desired_replicas``) and the HPA's status as
the platform reports it.  Every piece of the call is the embedded controller's own
(``harness.platform.local.hpa_controller``): the HorizontalPodAutoscaler object is the manifest
``kibench run`` applies (``harness.platform.kubernetes.manifests.hpa``), read back with the controller's
``hpa_spec``; the flags with ``controller_config``; each pod with ``pod_sample``; the event's reason with
``rescale_reason``; the timeline's ``hpa_*`` columns with the driver's ``hpa_metrics``.
"""

from __future__ import annotations

from typing import Any

from harness.autoscale import Decision, HpaState, PodSample, desired_replicas
from harness.platform.kubernetes.manifests import hpa as hpa_manifest
from harness.platform.kubernetes.observed import hpa_metrics
from harness.platform.local.hpa_controller import (
    _current_metrics,
    controller_config,
    hpa_spec,
    rescale_reason,
)
from harness.platform.local.metrics_scrape import CPU, hpa_wants
from harness.scenario import HpaSettings

#: The gauges a simulated replica exposes, by the series name the scraper reads.
SERIES = {"kibench_queue_depth": "queue_depth", "kibench_in_flight_requests": "in_flight",
          "kibench_device_busy_ratio": "device_busy"}  # fmt: skip


class SimHpa:
    """One HPA object and the state its controller keeps between syncs."""

    def __init__(self, settings: HpaSettings, name: str) -> None:
        self.obj: dict[str, Any] = hpa_manifest(settings, name)
        self.spec = hpa_spec(self.obj)
        self.config = controller_config(settings)
        self.state: HpaState | None = None
        gauges, self.wants_cpu = hpa_wants(self.obj)
        self.gauges = {metric: SERIES[series] for metric, series in gauges.items() if series in SERIES}  # -> sim gauge

    def sync(self, now_s: float, current: int, samples: list[PodSample]) -> Decision:
        decision = desired_replicas(self.spec, current, samples, None, self.state, now_s, config=self.config)
        self.state = decision.state
        self.obj["status"] = {"currentMetrics": _current_metrics(self.spec, decision)}
        return decision

    def reason(self, decision: Decision, current: int) -> str:
        return rescale_reason(self.spec, decision, current)

    def metrics(self) -> dict[str, float | None]:
        """The timeline's ``hpa_<metric>`` values, as the driver reads them from the HPA's status."""
        return hpa_metrics(self.obj)

    def pod_values(self, gauges: dict[str, float], cpu_cores: float | None) -> dict[str, float]:
        """What the scraper would keep for one pod: the wanted gauges, and CPU when an HPA scales on it."""
        values = {metric: gauges[g] for metric, g in self.gauges.items() if g in gauges}
        if self.wants_cpu and cpu_cores is not None:
            values[CPU] = cpu_cores
        return values
