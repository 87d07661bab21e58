"""The simulated cluster's faults: a pod kill, a node lost (and back), eviction and restarts with back-off.

In: the ``SimFault``s the cluster schedules (harness/simulate/faults.py) and its state.  Out: the fault's
events (chaos_start, chaos_action, chaos_end, node_down, node_up, pod_unready, container_exited,
pod_evicted, pod_restarted) and the pods it deletes; mixed into ``Cluster`` (cluster.py).
"""

from __future__ import annotations

from typing import Any

from harness.simulate.cluster_state import ControlPlane
from harness.simulate.faults import SimFault


class FaultHandling(ControlPlane):
    """The fault handlers of ``Cluster``."""

    def _on_fault(self, t: float, fault: SimFault) -> None:
        self.emit(t, "chaos_start", fault=fault.name, index=fault.index, experiment=fault.experiment,
                  title=fault.title, scheduled_s=round(t, 6), lateness_s=0.0)  # fmt: skip
        self.at(t + self.opt.fault_delay_s, "fault_apply", (fault, t))

    def _on_fault_apply(self, t: float, arg: tuple[SimFault, float]) -> None:
        fault, started = arg
        attrs: dict[str, Any] = {}
        if fault.kind == "pod_kill":
            running = [p for p in self.pods if p.deleted_s is None and p.container_s is not None]
            victims = self.rng.sample(running, min(fault.qty, len(running)))
            for pod in victims:
                self.delete(pod, t, fault.grace_s, "killed")
                if fault.grace_s <= 0:
                    self.gone(t, pod.id)
            self.reconcile(t)
            attrs["pods"] = [p.name for p in victims]
        else:
            up = [i for i, n in enumerate(self.nodes) if n.ready and not n.removed]
            lost = self.rng.sample(up, min(fault.qty, len(up)))
            attrs["nodes"] = [self.nodes[i].name for i in lost]
            attrs["pods"] = [p.name for p in self.pods if p.node in lost and p.deleted_s is None]
            for i in lost:
                self._lose_node(t, i, fault.duration_s)
        self.emit(started, "chaos_action", fault=fault.name, name=fault.action, activity="action", func=fault.func,
                  phase="method", start_s=round(started, 6), end_s=round(t, 6), status="succeeded",
                  **attrs)  # fmt: skip
        self.emit(t + 0.01, "chaos_end", fault=fault.name, index=fault.index, status="completed", deviated=False,
                  duration_s=round(t + 0.01 - started, 6), journal=None, rollbacks=0, rollbacks_failed=0,
                  steady_state_before=True, steady_state_after=True)  # fmt: skip

    def _lose_node(self, t: float, i: int, duration_s: float | None) -> None:
        node = self.nodes[i]
        node.ready = False
        self.emit(t, "node_down", node=node.name)
        assert self.engine is not None
        for pod in self.pods:
            if pod.node != i or pod.gone or pod.container_s is None:
                continue
            if pod.ready:
                self.emit(t, "pod_unready", pod=pod.name, node=node.name)
            self.emit(t, "container_exited", pod=pod.name, node=node.name, exit_code=137)
            pod.ready, pod.container_s, pod.epoch = False, None, pod.epoch + 1
            self.touch()
            self.engine.pod_gone(pod.id, t)
        self.at(t + self.sc.platform.nodes.eviction_delay, "evict", (i, t))
        if duration_s is not None:
            self.at(t + duration_s, "node_up", i)

    def _on_node_up(self, t: float, i: int) -> None:
        node = self.nodes[i]
        node.ready = True
        self.emit(t, "node_up", node=node.name)
        pod_spec = self.sc.platform.pod
        for pod in self.pods:
            if pod.node == i and not pod.gone and pod.deleted_s is None and pod.container_s is None:
                pod.restarts += 1
                delay = min(pod_spec.restart_backoff_initial * 2 ** (pod.restarts - 1), pod_spec.restart_backoff_max)
                self.at(t + delay, "restart", (pod.id, pod.epoch))
        self.schedule(t)

    def _on_restart(self, t: float, arg: tuple[int, int]) -> None:
        pod = self.pods[arg[0]]
        if pod.epoch == arg[1] and pod.deleted_s is None and pod.node is not None and self.nodes[pod.node].ready:
            self.emit(t, "pod_restarted", pod=pod.name, node=self.nodes[pod.node].name, restarts=pod.restarts)
            self.start_container(pod, t)

    def _on_evict(self, t: float, arg: tuple[int, float]) -> None:
        i, lost_at = arg
        node = self.nodes[i]
        if node.ready:
            return
        for pod in self.pods:
            if pod.node == i and pod.deleted_s is None:
                self.emit(t, "pod_evicted", pod=pod.name)
                pod.deleted_s = t
                self.gone(t, pod.id)
        self.reconcile(t)
