"""The simulated cluster: pods, nodes, their controllers and the faults, driven by timed control events.

In: the scenario (replicas, pod, probe, node, HPA and node-autoscaler settings), the planned faults, a
``RequestEngine`` (the DES or the fluid model) that serves the traffic between control events, and
``SimOptions`` (the model constants: process start, load-generator start, seed).  Out: ``events``
(the measured run's kinds: node_added, pod_created, pod_scheduled, pod_ready, pod_unready,
pod_deleted, container_exited, scale, chaos_*, load_*, deployed), the per-second ``timeline`` rows and
the ``Decision`` of every HPA sync.

The controllers act as the embedded platform's do: a ReplicaSet keeps the desired count (deleting in
upstream's ActivePods order: unscheduled, not Ready, Ready for less time, newest), the scheduler puts
each pod on the node with the most free GPU slots, a container starts (the process takes
``process_start_s``, drawn around its mean), the startup probe passes once the process answers and the
readiness probe once the model has loaded (``service.cold_start``) and warmed up, each on its probe's
period.  The metrics scraper reads every running pod each ``metric_resolution`` (CPU needs two
readings of the same container), the HPA syncs every ``sync_period`` (hpa.py: the embedded controller's
code), the node autoscaler scans every ``scan_interval`` and adds a node ``provisioning_delay`` later, or,
when no pod waits, removes an unneeded node as the embedded one does (node_autoscaler.py: GPU use under
the threshold and its pods fit elsewhere, for ``scale_down_unneeded_time``, not within
``scale_down_delay_after_add`` of a scale-up, one node at a time, drained first, never below ``min_nodes``).
A pod kill resets its requests at once and the ReplicaSet replaces the pod; a lost node kills its
containers, its pods turn unready, are evicted after ``eviction_delay`` and restart with back-off when
the node returns first.  The faults' handlers live in cluster_faults.py, the node autoscaler's in
node_scaling.py, the objects they share in cluster_state.py; ``Cluster`` mixes them in.
"""

from __future__ import annotations

import heapq
import random
from typing import Any

import numpy as np

from harness.model import Event, default_warmup_s
from harness.platform.local.hpa_controller import pod_sample
from harness.platform.local.metrics_scrape import CPU
from harness.scenario import Scenario
from harness.simulate.cluster_faults import FaultHandling
from harness.simulate.cluster_state import (
    ClusterOptions,
    RequestEngine,
    SimNode,
    SimPod,
    Tick,
    first_tick,
    ready_tick,
)
from harness.simulate.faults import SimFault
from harness.simulate.hpa import SimHpa
from harness.simulate.node_scaling import NodeAutoscaling
from harness.simulate.service import ServiceModel


class Cluster(FaultHandling, NodeAutoscaling):
    """The control plane of one simulated run."""

    def __init__(
        self,
        scenario: Scenario,
        faults: list[SimFault],
        model: ServiceModel,
        options: ClusterOptions,
        name: str,
    ) -> None:
        self.sc = scenario
        self.model = model
        self.opt = options
        self.name = name
        self.rng = random.Random(options.seed)
        self.faults = faults
        self.events: list[Event] = []
        self.timeline: list[dict[str, Any]] = []
        self.decisions: list[tuple[float, int, int]] = []
        self.pods: list[SimPod] = []
        nodes = scenario.platform.nodes
        self.nodes = [SimNode(f"sim-node-{i}", nodes.gpu_slots) for i in range(nodes.count)]
        self.provisioning = 0
        self.last_scale_up: float | None = None
        self.removing: int | None = None  # the node being drained for removal
        self.unneeded_since: dict[int, float] = {}
        self.desired = scenario.service.replicas
        self.hpa = SimHpa(scenario.platform.hpa, f"{name}-svc") if scenario.platform.hpa.enabled else None
        self.heap: list[Tick] = []
        self._seq = 0
        self.deployed_s: float | None = None
        self.load_start_s: float | None = None
        self.load_end_s: float | None = None
        self.engine: RequestEngine | None = None
        self.finished = False
        self._ready_cache: list[int] | None = None
        self._counts: tuple[int, int, int] | None = None
        self._sync_gen = 0  # a sync tick of an older generation is dropped (the phase was reset at load start)
        for node in self.nodes:
            self.emit(0.0, "node_added", node=node.name, gpu_slots=node.slots, provisioned=False)

    # ---- plumbing -------------------------------------------------------------------------------

    def at(self, t_s: float, kind: str, arg: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self.heap, Tick(t_s, self._seq, kind, arg))

    def emit(self, t_s: float, kind: str, **attrs: Any) -> None:
        self.events.append(Event(round(t_s, 6), kind, attrs))

    def touch(self) -> None:
        """A pod or node changed: the cached views are stale."""
        self._ready_cache = None
        self._counts = None

    def ready_ids(self) -> list[int]:
        if self._ready_cache is None:
            self._ready_cache = [p.id for p in self.pods if p.ready and p.deleted_s is None]
        return self._ready_cache

    def active(self) -> list[SimPod]:
        return [p for p in self.pods if p.deleted_s is None]

    def run(self, engine: RequestEngine, load_duration_s: float) -> None:
        """Play the whole run: deploy, wait for Ready, the load with its faults, then the drain."""
        self.engine = engine
        self.load_duration_s = load_duration_s
        start = self.opt.deploy_s  # the cluster's controllers start with it, each on its own period
        self.at(start, "deploy")
        self.at(start, "scrape")
        if self.hpa is not None:
            self.at(start, "sync")
        if self.sc.platform.nodes.autoscaler.enabled:
            self.at(start + self.sc.platform.nodes.autoscaler.scan_interval, "ca_scan")
        now = 0.0
        while self.heap and not self.finished:
            tick = heapq.heappop(self.heap)
            if tick.t_s > now:
                engine.advance(now, tick.t_s, self.ready_ids())
                now = tick.t_s
            getattr(self, f"_on_{tick.kind}")(tick.t_s, tick.arg)

    # ---- deployment, replicas, scheduling --------------------------------------------------------

    def _on_deploy(self, t: float, _: Any) -> None:
        self.reconcile(t)

    def reconcile(self, t: float) -> None:
        """The ReplicaSet: create or delete pods to match ``desired``; then schedule."""
        self.touch()
        active = self.active()
        for _ in range(self.desired - len(active)):
            pod = SimPod(len(self.pods), f"{self.name}-svc-sim-{len(self.pods):05d}", t)
            self.pods.append(pod)
            self.emit(t, "pod_created", pod=pod.name, revision="sim")
        if len(active) > self.desired:
            for pod in sorted(active, key=self._deletion_rank)[: len(active) - self.desired]:
                self.delete(pod, t, self.sc.platform.pod.termination_grace_period, "scaled down")
        self.schedule(t)

    def _deletion_rank(self, pod: SimPod) -> tuple[Any, ...]:
        node_ready = pod.node is not None and self.nodes[pod.node].ready
        return (pod.node is not None, node_ready, pod.ready, -(pod.ready_s or 0.0) if pod.ready else 0.0,
                -pod.restarts, -pod.created_s)  # fmt: skip

    def schedule(self, t: float) -> None:
        gpus = self.sc.platform.pod.gpus
        for pod in self.pods:
            if pod.node is not None or pod.deleted_s is not None:
                continue
            fits = [i for i, n in enumerate(self.nodes) if n.ready and not n.unschedulable and n.slots - n.used >= gpus]
            if not fits:
                continue
            i = min(fits, key=lambda k: (self.nodes[k].used - self.nodes[k].slots, k))
            self.nodes[i].used += gpus
            pod.node, pod.scheduled_s = i, t
            self.touch()
            self.emit(t, "pod_scheduled", pod=pod.name, node=self.nodes[i].name)
            self.start_container(pod, t)

    def start_container(self, pod: SimPod, t: float) -> None:
        """A container starts now; its probes decide when it turns Ready."""
        pod.epoch += 1
        pod.container_s, pod.cpu_mark, pod.sample = t, None, None
        if self.opt.process_start_samples:
            pod.up_s = t + self.rng.choice(self.opt.process_start_samples)
        else:
            jitter = 1.0 + self.opt.process_start_jitter * (2 * self.rng.random() - 1)
            pod.up_s = t + self.opt.process_start_s * jitter
        loaded = pod.up_s + self.sc.service.cold_start + 2 * self.model.batch_s(1)  # warm-up batch + request
        probes = self.sc.platform.probes
        start = t
        if probes.startup.enabled:
            start = first_tick(t + probes.startup.initial_delay, probes.startup.period, pod.up_s)
        ready_at = loaded if not probes.readiness.enabled else ready_tick(probes.readiness, start, loaded)
        self.at(ready_at, "ready", (pod.id, pod.epoch))

    def _on_ready(self, t: float, arg: tuple[int, int]) -> None:
        pod = self.pods[arg[0]]
        if pod.epoch != arg[1] or pod.deleted_s is not None or pod.container_s is None:
            return
        pod.ready, pod.ready_s = True, t
        self.touch()
        node = self.nodes[pod.node].name if pod.node is not None else None
        self.emit(t, "pod_ready", pod=pod.name, node=node, startup_s=round(t - pod.created_s, 6))
        if self.deployed_s is None and len(self.ready_ids()) >= self.sc.service.replicas:
            self.deployed_s = t
            self.emit(t, "deployed", target_url="simulated", platform="simulated")
            self.at(t, "sample")
            self.at(t + self.opt.load_start_delay_s, "load_start")

    def delete(self, pod: SimPod, t: float, grace_s: float, reason: str) -> None:
        """Deletion starts: out of the endpoints now; the container stops once it has answered its requests (the
        service drains on SIGTERM, then exits), or when the grace period ends."""
        if pod.deleted_s is not None:
            return
        was_ready = pod.ready
        pod.deleted_s, pod.ready = t, False
        self.touch()
        if pod.node is None or pod.container_s is None:
            self.gone(t, pod.id)
            return
        if was_ready:
            self.emit(t, "pod_terminating", pod=pod.name, node=self.nodes[pod.node].name)
        assert self.engine is not None
        drained = self.engine.drained_at(pod.id, t) - t + self.opt.shutdown_s
        self.at(t + min(grace_s, drained), "gone", pod.id)

    def _on_gone(self, t: float, pod_id: int) -> None:
        self.gone(t, pod_id)

    def gone(self, t: float, pod_id: int) -> None:
        pod = self.pods[pod_id]
        if pod.gone:
            return
        pod.gone, pod.ready, pod.container_s = True, False, None
        self.touch()
        if pod.deleted_s is None:
            pod.deleted_s = t
        assert self.engine is not None
        self.engine.pod_gone(pod.id, t)
        node = None
        if pod.node is not None:
            self.nodes[pod.node].used -= self.sc.platform.pod.gpus
            node = self.nodes[pod.node].name
        self.emit(t, "pod_deleted", pod=pod.name, node=node, reason="deleted")
        self.schedule(t)

    # ---- metrics, HPA, timeline ------------------------------------------------------------------

    def _on_scrape(self, t: float, _: Any) -> None:
        if self.hpa is not None:
            self._scrape(t)
        if not self.finished:
            self.at(t + self.sc.platform.hpa.metric_resolution, "scrape")

    def _scrape(self, t: float) -> None:
        """Every running pod's gauges (once its process answers) and CPU cores since its last scrape."""
        assert self.engine is not None and self.hpa is not None
        pods = [p for p in self.pods if p.container_s is not None and p.deleted_s is None and p.up_s is not None]
        if not pods:
            return
        ids = np.array([p.id for p in pods])
        up_s = np.array([p.up_s for p in pods], dtype=float)
        gauges = self.engine.gauges(ids, t, up_s)
        cores: list[float | None] = [None] * len(pods)
        by_mark: dict[float, list[int]] = {}
        for i, p in enumerate(pods):
            if self.hpa.wants_cpu and p.cpu_mark is not None and t > p.cpu_mark:
                by_mark.setdefault(p.cpu_mark, []).append(i)
        for mark, idx in by_mark.items():
            done = self.engine.done_between(ids[idx], mark, t)
            for j, i in enumerate(idx):
                p = pods[i]
                assert p.container_s is not None and p.up_s is not None
                boot = max(0.0, min(t, p.up_s) - max(mark, p.container_s))
                idle = max(0.0, t - max(mark, p.up_s)) * self.model.cpu_idle_cores
                cores[i] = (boot + idle + float(done[j]) * self.model.cpu_per_request_s) / (t - mark)
        wanted = [(metric, gauges[g].tolist()) for metric, g in self.hpa.gauges.items() if g in gauges]
        answered = (t >= up_s).tolist()
        cpu = self.hpa.wants_cpu
        for i, p in enumerate(pods):
            values = {metric: column[i] for metric, column in wanted} if answered[i] else {}
            if cpu and cores[i] is not None:
                values[CPU] = cores[i]  # type: ignore[assignment]
            p.cpu_mark = t
            p.sample = (t, values) if values else None

    def _on_sync(self, t: float, gen: Any) -> None:
        assert self.hpa is not None
        if (gen or 0) != self._sync_gen:
            return
        res = self.sc.platform.hpa.metric_resolution
        samples = [
            pod_sample(
                p.name,
                running=p.container_s is not None,
                ready=p.ready,
                start_s=p.scheduled_s,
                ready_transition_s=p.ready_s if p.ready_s is not None else p.scheduled_s,
                deleted=p.deleted_s is not None,
                metric_timestamp_s=None if p.sample is None else p.sample[0],
                metric_window_s=res,
                values=None if p.sample is None else p.sample[1],
                cpu_request_cores=self.sc.platform.pod.cpu_request,
            )
            for p in self.pods
            if not p.gone
        ]
        current = self.desired
        decision = self.hpa.sync(t, current, samples)
        if decision.desired_replicas != current:
            self.emit(t, "scale", **{"from": current, "to": decision.desired_replicas,
                                     "reason": self.hpa.reason(decision, current), "source": "hpa"})  # fmt: skip
            self.decisions.append((t, current, decision.desired_replicas))
            self.desired = decision.desired_replicas
            self.reconcile(t)
        if not self.finished:
            self.at(t + self.sc.platform.hpa.sync_period, "sync", self._sync_gen)

    def _on_sample(self, t: float, _: Any) -> None:
        if self._counts is None:
            pods = [p for p in self.pods if not p.gone]
            self._counts = (sum(1 for p in pods if p.ready), len(pods), sum(1 for p in pods if p.node is None))
        ready, total, pending = self._counts
        self.timeline.append(
            {
                "t_s": round(t, 6),
                "desired_replicas": self.desired,
                "ready_replicas": ready,
                "pods_total": total,
                "pods_pending": pending,
                "nodes_total": sum(1 for n in self.nodes if not n.removed),
                "nodes_ready": sum(1 for n in self.nodes if n.ready and not n.removed),
                **({f"hpa_{k}": v for k, v in self.hpa.metrics().items()} if self.hpa is not None else {}),
            }
        )
        if self.load_end_s is not None and t >= self.load_end_s:
            self.finished = True
            return
        self.at(t + 1.0, "sample")

    # ---- load ------------------------------------------------------------------------------------

    def _on_load_start(self, t: float, _: Any) -> None:
        from harness.load.shapes import phase_windows, segments_for

        self.load_start_s = t
        self.emit(t, "load_start", duration_s=self.load_duration_s)
        if self.hpa is not None and self.opt.hpa_phase_s is not None:  # the syncs' phase of a measured run
            self._sync_gen += 1
            self.at(t + self.opt.hpa_phase_s % self.sc.platform.hpa.sync_period, "sync", self._sync_gen)
        for seg in phase_windows(segments_for(self.sc.load)):
            self.emit(t, "load_phase", phase=seg.phase, start_s=round(t + seg.start_s, 6),
                      end_s=round(t + seg.end_s, 6), start_rps=seg.start_rps, end_rps=seg.end_rps)  # fmt: skip
        for fault in self.faults:
            self.at(t + fault.at_s, "fault", fault)
        self.at(t + self.load_duration_s, "load_end")

    def _on_load_end(self, t: float, _: Any) -> None:
        """The load ends when its last request has its answer (the engine knows when that is)."""
        assert self.engine is not None
        last = self.engine.last_done()
        if last > t + 1e-6:
            self.at(last + 0.01, "load_end")
            return
        self.load_end_s = t
        self.emit(t, "load_end")


def warmup_s(load_duration_s: float) -> float:
    return default_warmup_s(load_duration_s)
