"""The embedded cluster's VPA recommender: VerticalPodAutoscaler objects (autoscaling.k8s.io/v1) get a recommendation.

In: VerticalPodAutoscaler objects (``spec.targetRef``: a Deployment; any ``updateMode``, but nothing is ever
applied: the embedded cluster runs the recommender only, as ``updateMode: "Off"``), the per-second usage rows of
the cluster's metrics-server (``resource_metrics``) and the Deployment's pods.  Out: every metric resolution
(``platform.hpa.metric_resolution``; upstream's recommender loop runs once a minute) each
object's ``status.recommendation.containerRecommendations`` (``target``, ``lowerBound``, ``upperBound``,
``uncappedTarget``: CPU in millicores, memory in bytes, as upstream writes them) and the conditions
``RecommendationProvided`` / ``NoPodsMatched``, from ``harness.autoscale.vpa`` with upstream's defaults.
Samples are fed as they come (one a second: upstream's recommender gets one a minute, so confidence rises
60x faster here; docs/resources.md).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from harness.autoscale.vpa import AggregateState, ContainerState, recommend
from harness.platform.local.objects import DEPLOYMENTS, PODS, Obj, selector_matches, set_condition
from harness.platform.local.resource_metrics import UsageRow

if TYPE_CHECKING:
    from harness.platform.local.cluster import Cluster

VPAS = "verticalpodautoscalers.autoscaling.k8s.io"
log = logging.getLogger("kibench.local.vpa")


class VpaRecommender:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.sync_s = max(cluster.cfg.hpa.metric_resolution, 1.0)
        # (namespace, vpa name, container) -> aggregate; (namespace, pod, container) -> one container's state
        self.aggregates: dict[tuple[str, str, str], AggregateState] = {}
        self.containers: dict[tuple[str, str, str], ContainerState] = {}

    def _owner_of(self, namespace: str, pod_labels: dict[str, str] | None) -> str | None:
        for vpa in self.store.list(VPAS, namespace, copy=False)[0]:
            ref = vpa["spec"].get("targetRef") or {}
            if ref.get("kind") != "Deployment":
                continue
            try:
                dep = self.store.get(DEPLOYMENTS, namespace, ref.get("name", ""), copy=False)
            except Exception:  # noqa: BLE001 - a VPA whose target does not exist (yet) matches nothing
                continue
            if selector_matches(dep["spec"].get("selector"), pod_labels):
                return str(vpa["metadata"]["name"])
        return None

    def observe(self, rows: list[UsageRow]) -> None:
        """Feed one second of usage rows to the aggregates of the VPAs selecting their pods."""
        for row in rows:
            try:
                pod = self.store.get(PODS, row.namespace, row.pod, copy=False)
            except Exception:  # noqa: BLE001 - deleted since the sample
                continue
            owner = self._owner_of(row.namespace, pod["metadata"].get("labels"))
            if owner is None:
                continue
            agg = self.aggregates.setdefault((row.namespace, owner, row.container), AggregateState())
            state = self.containers.setdefault((row.namespace, row.pod, row.container), ContainerState(aggregate=agg))
            state.add_cpu(row.t_monotonic_s, row.cpu_cores, row.cpu_request_cores)
            state.add_memory(row.t_monotonic_s, row.memory_bytes)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.sync_s)
            try:
                self.sync()
            except Exception:
                log.exception("VPA recommender sync failed")

    def sync(self) -> None:
        for vpa in self.store.list(VPAS, copy=False)[0]:
            meta = vpa["metadata"]
            recs = [
                _container_recommendation(container, agg)
                for (ns, name, container), agg in sorted(self.aggregates.items())
                if ns == meta["namespace"] and name == meta["name"] and agg.total_samples
            ]

            def fn(obj: Obj, recs: list[Obj] = recs) -> None:
                status = obj.setdefault("status", {})
                if recs:
                    status["recommendation"] = {"containerRecommendations": recs}
                    set_condition(status, "RecommendationProvided", True)
                    set_condition(status, "NoPodsMatched", False)
                else:
                    set_condition(status, "RecommendationProvided", False)
                    set_condition(status, "NoPodsMatched", True, "NoPodsMatched", "No pods match this VPA object")

            self.store.mutate(VPAS, meta["namespace"], meta["name"], fn)


def _container_recommendation(container: str, agg: AggregateState) -> Obj:
    rec = recommend(agg)

    def res(cpu_cores: float, memory_bytes: float) -> dict[str, str]:
        return {"cpu": f"{round(cpu_cores * 1000)}m", "memory": str(round(memory_bytes))}

    target = res(rec.cpu_cores.target, rec.memory_bytes.target)
    return {
        "containerName": container,
        "target": target,
        "lowerBound": res(rec.cpu_cores.lower, rec.memory_bytes.lower),
        "upperBound": res(rec.cpu_cores.upper, rec.memory_bytes.upper),
        "uncappedTarget": dict(target),
    }
