"""The embedded cluster's control plane behind its API: every controller, reconciling the API store.

In: a ``ClusterSpec`` (nodes, controller flags) and the API ``Store`` (objects written by clients:
Deployments, Services, HPAs, PDBs; pod deletions, evictions, cordons).  Out: the store kept in the
state Kubernetes' controllers would keep it in, and processes for the pods.  Jobs (``jobs``) too.

One reconcile loop runs the level-triggered controllers whenever the store changes (and at least every
``TICK_S``): node lifecycle (``nodelifecycle``), Deployments and ReplicaSets (``workloads``), the
scheduler, the disruption controller, the kubelet and the Services' balancers.  The metrics scraper,
the HPA controller and the node autoscaler run on their own periods.  Controllers share the helpers
here: ``delete_pod`` (the API's graceful deletion) and ``evict`` (the eviction API's PDB rule).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Callable, Coroutine
from typing import Any

from harness.platform.local.balancer import Balancers
from harness.platform.local.control import control_loop
from harness.platform.local.disruption import Disruption
from harness.platform.local.gpus import Devices, node_resources
from harness.platform.local.hpa_controller import HpaController
from harness.platform.local.jobs import Jobs
from harness.platform.local.kubelet import Kubelet
from harness.platform.local.metrics_scrape import MetricsScraper
from harness.platform.local.node_autoscaler import PROVISIONED_LABEL, NodeAutoscaler
from harness.platform.local.nodelifecycle import NodeLifecycle, node_object
from harness.platform.local.objects import (
    EVENTS,
    NODES,
    PDBS,
    PODS,
    Obj,
    node_ready,
    pod_ready,
    rfc3339,
    selector_matches,
)
from harness.platform.local.podruntime import PodIPs
from harness.platform.local.podspec import grace_s
from harness.platform.local.recorder import EventRecorder
from harness.platform.local.resource_metrics import ResourceMetrics
from harness.platform.local.scheduler import Scheduler
from harness.platform.local.selfcheck import SelfCheck
from harness.platform.local.spec import ClusterSpec
from harness.platform.local.volumes import ApiAddress
from harness.platform.local.vpa_controller import VpaRecommender
from harness.platform.local.workloads import Workloads

TICK_S = 0.25
MIN_GAP_S = 0.01


class Cluster:
    """The controllers of one embedded cluster, over one API store."""

    def __init__(self, spec: ClusterSpec, store: Any, log_dir: str | None = None) -> None:
        self.cfg = spec.settings()
        self.store = store
        self.log_dir = log_dir
        if log_dir:
            os.makedirs(log_dir, exist_ok=True)
        self.state_root = tempfile.mkdtemp(prefix="kibench-pods-")
        self.ips = PodIPs()
        self.devices = Devices(self.cfg.nodes, self.state_root)
        self.recorder = EventRecorder(store)
        self.kubelet = Kubelet(self)
        self.scheduler = Scheduler(self)
        self.workloads = Workloads(self)
        self.jobs = Jobs(self)
        # Set by the daemon once the API listens: pods' service-account tokens and where they reach the API.
        self.token_for: Callable[[str, str], str] | None = None
        self.api_address: ApiAddress | None = None
        self.lifecycle = NodeLifecycle(self)
        self.disruption = Disruption(self)
        self.balancers = Balancers(self)
        self.resource_metrics = ResourceMetrics(self, self.cfg.hpa.metric_resolution)
        self.vpa = VpaRecommender(self)
        self.resource_metrics.listeners.append(self.vpa.observe)
        self.scraper = MetricsScraper(self, self.cfg.hpa.metric_resolution)
        self.hpa = HpaController(self, self.scraper)
        self.autoscaler = NodeAutoscaler(self) if self.cfg.nodes.autoscaler.enabled else None
        self.selfcheck = SelfCheck(self)
        self.generation = 0
        self._wake: asyncio.Event | None = None
        self._node_ids = 0
        self._background: set[asyncio.Task[Any]] = set()
        self._stopping = False
        store.subscribe(self._changed)
        for _ in range(self.cfg.nodes.count):
            self.add_node()

    # ---- shared helpers -------------------------------------------------------------------
    def _changed(self, event_type: str, resource: str, obj: Obj) -> None:
        self.generation += 1
        if resource != EVENTS and self._wake is not None:
            self._wake.set()

    def add_node(self, provisioned: bool = False) -> Obj:
        name = f"local-node-{self._node_ids}"
        labels = {PROVISIONED_LABEL: "true"} if provisioned else {}
        gpus, gpu_labels = node_resources(self.cfg.nodes)
        labels = {**gpu_labels, **labels}
        node = node_object(name, self.cfg.nodes.gpu_slots, self.ips.node_ip(self._node_ids), labels, gpus)
        self._node_ids += 1
        created = dict(self.store.create(NODES, None, node))
        self.recorder.record(
            created,
            "RegisteredNode",
            f"Node {name} event: Registered Node {name} in Controller",
            component="node-controller",
        )
        return created

    def node_ip(self, name: str) -> str:
        try:
            return str(self.store.get(NODES, None, name)["status"]["addresses"][0]["address"])
        except Exception:  # noqa: BLE001
            return "127.0.0.1"

    def nodes_ready(self) -> dict[str, bool]:
        return {n["metadata"]["name"]: node_ready(n) for n in self.store.list(NODES, copy=False)[0]}

    def log_path(self, namespace: str, name: str, container: str | None = None) -> str | None:
        return os.path.join(self.log_dir, f"{name}.log") if self.log_dir else None

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A background task the cluster keeps a reference to (and cancels at shutdown)."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def delete_pod(self, pod: Obj, grace: int | None = None) -> bool:
        """Delete a pod as the API does: graceful when bound to a node, at once otherwise."""
        meta, spec = pod["metadata"], pod["spec"]
        if meta.get("deletionTimestamp"):
            return False
        seconds = spec.get("terminationGracePeriodSeconds", 30) if grace is None else grace
        if not spec.get("nodeName") or seconds <= 0:
            return self.store.remove(PODS, meta["namespace"], meta["name"]) is not None

        def fn(obj: Obj) -> None:
            obj["metadata"]["deletionTimestamp"] = rfc3339()
            obj["metadata"]["deletionGracePeriodSeconds"] = seconds

        return self.store.mutate(PODS, meta["namespace"], meta["name"], fn) is not None

    def evict(self, pod: Obj) -> bool:
        """The eviction API's rule: every PDB selecting the pod must allow one more disruption."""
        ns = pod["metadata"]["namespace"]
        for pdb in self.store.list(PDBS, ns, copy=False)[0]:
            if not selector_matches(pdb["spec"].get("selector"), pod["metadata"].get("labels")):
                continue
            status = pdb.get("status") or {}
            if pod_ready(pod):
                if int(status.get("disruptionsAllowed", 0)) <= 0:
                    return False
                allowed = int(status["disruptionsAllowed"]) - 1
                self.store.mutate(
                    PDBS, ns, pdb["metadata"]["name"], lambda o, a=allowed: o["status"].update(disruptionsAllowed=a)
                )
            elif int(status.get("currentHealthy", 0)) < int(status.get("desiredHealthy", 0)):
                return False
        self.recorder.record(pod, "Evicted", "Evicted pod", component="cluster-autoscaler")
        return self.delete_pod(pod)

    # ---- loops ----------------------------------------------------------------------------
    def loops(self) -> list[Coroutine[Any, Any, None]]:
        loops = [self.reconcile(), self.resource_metrics.run(), self.vpa.run(), self.scraper.run(), self.hpa.run()]
        loops.append(self.selfcheck.run())
        if self.autoscaler is not None:
            loops.append(self.autoscaler.run())
        return loops

    async def reconcile(self) -> None:
        self._wake = asyncio.Event()
        await control_loop(self.sync, TICK_S, "reconcile", self.recorder, wake=self._wake, min_gap_s=MIN_GAP_S,
                           running=lambda: not self._stopping)  # fmt: skip

    async def sync(self) -> None:
        self.lifecycle.sync()
        self.workloads.sync()
        self.jobs.sync()
        self.scheduler.sync()
        self.disruption.sync()
        await self.kubelet.sync()
        await self.balancers.sync()

    async def shutdown(self) -> None:
        """Stop every pod's process and every balancer; idempotent."""
        self._stopping = True
        for task in list(self._background):
            task.cancel()
        await self.kubelet.shutdown()
        await self.balancers.shutdown()
        shutil.rmtree(self.state_root, ignore_errors=True)


__all__ = ["Cluster", "grace_s"]
