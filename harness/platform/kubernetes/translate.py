"""Changes seen through watches, as the run's events (events.jsonl kinds; docs/local-api.md lists them).

In: (old, new) pairs of Pods, Nodes, Deployments and core/v1 Events from the informers, and the run's
clock.  Out: ``harness.model.Event`` records appended to ``events``.

Pod timings come from the pod's own timestamps, as kube-burner's podLatency reads them: ``pod_created``
at ``creationTimestamp``, ``pod_scheduled`` and ``pod_ready`` at their conditions' ``lastTransitionTime``
(``startup_s`` = Ready − created), ``container_exited`` at the terminated state's ``finishedAt``.
Conditions and container states carry microseconds on the embedded cluster (a real one writes whole
seconds); ``creationTimestamp`` has whole seconds on both, so an object seen being added within that
second counts as created when it was seen.  Changes without a timestamp of their own (deletion, a
Deployment's new replica count) take the time they were seen; ``pod_deleted`` carries the container's
last exit code when the kubelet reported one.  A ``scale`` is the HPA's (``source: hpa``, with its reason)
when the HPA's SuccessfulRescale Event names the new size; the Event and the Deployment arrive through two
watches in either order, so a Deployment an HPA scales waits up to ``HOLD_S`` for it before it counts as
scaled through the API (``source: api``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kubernetes.utils import parse_quantity

from harness.model import Event

Obj = dict[str, Any]
#: How long a scaled Deployment waits for the HPA's SuccessfulRescale Event (a separate watch: either may come first).
HOLD_S = 1.0


def parse_time(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def cond(obj: Obj | None, ctype: str) -> Obj:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return dict(c)
    return {}


def gpu_units(resources: Obj) -> int:
    """Units of GPU resources in a resource list: ``nvidia.com/gpu`` and MIG slices ``nvidia.com/mig-<profile>``."""
    return sum(
        int(parse_quantity(v)) for k, v in resources.items() if k == "nvidia.com/gpu" or k.startswith("nvidia.com/mig-")
    )


def is_true(obj: Obj | None, ctype: str) -> bool:
    return cond(obj, ctype).get("status") == "True"


def container(obj: Obj | None) -> Obj:
    statuses = ((obj or {}).get("status") or {}).get("containerStatuses") or []
    return dict(statuses[0]) if statuses else {}


class Translator:
    """Turns watch changes into run events; thread-safe (informers call it from their threads)."""

    def __init__(self, wall_at_t0: float, now_s: Callable[[], float]) -> None:
        self.wall_at_t0 = wall_at_t0
        self.now_s = now_s
        self.events: list[Event] = []
        self.lock = threading.Lock()
        self.rescale_reasons: dict[int, str] = {}  # new size -> the HPA's reason (SuccessfulRescale)
        self.nodes_seen: set[str] = set()
        self.created: dict[str, float] = {}  # pod -> when it was created (run seconds)
        self.autoscaled: set[str] = set()  # Deployments an HPA scales
        self.unexplained: dict[int, tuple[float, int]] = {}  # new size -> (seen at, old size), awaiting the HPA
        self.rolling = False  # a rollout started and has not finished

    def at(self, stamp: str | None) -> float:
        """A wall-clock timestamp in run seconds; now when there is none."""
        wall = parse_time(stamp)
        return self.now_s() if wall is None else wall - self.wall_at_t0

    def created_at(self, meta: Obj) -> float:
        """``creationTimestamp`` in run seconds.  It has whole seconds (as on any API server): an object seen
        being added within that second was created when it was seen, to within a watch's delay."""
        stamp = meta.get("creationTimestamp")
        t, now = self.at(stamp), self.now_s()
        if stamp and "." not in stamp and t <= now < t + 1.0:
            return now
        return t

    def emit(self, t_s: float, kind: str, **attrs: Any) -> None:
        with self.lock:
            self.events.append(Event(round(t_s, 6), kind, attrs))

    # ---- pods -------------------------------------------------------------------------------
    def pod(self, change: str, old: Obj | None, new: Obj | None) -> None:
        obj = new or old or {}
        name = obj["metadata"]["name"]
        node = (obj.get("spec") or {}).get("nodeName")
        if new is None:
            self.created.pop(name, None)
            code = ((container(old).get("state") or {}).get("terminated") or {}).get("exitCode")
            self.emit(self.now_s(), "pod_deleted", pod=name, node=node, reason=_deleted_reason(old), exit_code=code)
            return
        meta = new["metadata"]
        if old is None:
            self.created[name] = self.created_at(meta)
            self.emit(self.created[name], "pod_created", pod=name, revision=_revision(new))
        if node and not (old or {}).get("spec", {}).get("nodeName"):
            self.emit(
                self.at(cond(new, "PodScheduled").get("lastTransitionTime")), "pod_scheduled", pod=name, node=node
            )
        self._containers(old, new, name, node)
        was_ready, ready = is_true(old, "Ready"), is_true(new, "Ready")
        if ready and not was_ready:
            t = self.at(cond(new, "Ready").get("lastTransitionTime"))
            startup = t - self.created.get(name, self.at(meta.get("creationTimestamp")))
            self.emit(t, "pod_ready", pod=name, node=node, startup_s=round(startup, 6))
        elif was_ready and not ready:
            self.emit(
                self.at(cond(new, "Ready").get("lastTransitionTime")),
                "pod_unready",
                pod=name,
                node=node,
                reason=_unready_reason(old, new),
            )
        if meta.get("deletionTimestamp") and not (old or {}).get("metadata", {}).get("deletionTimestamp"):
            self.emit(
                self.now_s(),
                "pod_terminating",
                pod=name,
                node=node,
                grace_period_s=meta.get("deletionGracePeriodSeconds"),
            )

    def _containers(self, old: Obj | None, new: Obj, name: str, node: str | None) -> None:
        before, after = container(old), container(new)
        last = (after.get("lastState") or {}).get("terminated") or {}
        if last and last.get("finishedAt") != ((before.get("lastState") or {}).get("terminated") or {}).get(
            "finishedAt"
        ):
            self.emit(
                self.at(last.get("finishedAt")), "container_exited", pod=name, node=node,
                exit_code=last.get("exitCode"), reason=last.get("message") or last.get("reason"),
            )  # fmt: skip
        if after.get("restartCount", 0) > before.get("restartCount", 0) and "running" in (after.get("state") or {}):
            started = ((after.get("state") or {}).get("running") or {}).get("startedAt")
            self.emit(self.at(started), "pod_restarted", pod=name, node=node, restarts=after["restartCount"])
        waiting = ((after.get("state") or {}).get("waiting") or {}).get("reason")
        if waiting in ("ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError") and waiting != (
            ((before.get("state") or {}).get("waiting") or {}).get("reason")
        ):
            message = ((after.get("state") or {}).get("waiting") or {}).get("message")
            self.emit(self.now_s(), "pod_waiting", pod=name, node=node, reason=waiting, message=message)

    # ---- nodes ------------------------------------------------------------------------------
    def node(self, change: str, old: Obj | None, new: Obj | None) -> None:
        obj = new or old or {}
        name = obj["metadata"]["name"]
        if new is None:
            self.emit(self.now_s(), "node_removed", node=name)
            return
        if name not in self.nodes_seen:
            self.nodes_seen.add(name)
            slots = gpu_units((new.get("status") or {}).get("allocatable") or {})
            provisioned = (new["metadata"].get("labels") or {}).get("kibench.io/provisioned") == "true"
            created = max(self.created_at(new["metadata"]), 0.0)
            self.emit(created, "node_added", node=name, gpu_slots=slots, provisioned=provisioned)
        if old is None:
            return
        was, now = is_true(old, "Ready"), is_true(new, "Ready")
        if was and not now:
            self.emit(self.at(cond(new, "Ready").get("lastTransitionTime")), "node_down", node=name)
        elif now and not was:
            self.emit(self.at(cond(new, "Ready").get("lastTransitionTime")), "node_up", node=name)
        cordoned, was_cordoned = (
            bool(new["spec"].get("unschedulable")),
            bool((old.get("spec") or {}).get("unschedulable")),
        )
        if cordoned != was_cordoned:
            self.emit(self.now_s(), "node_cordoned" if cordoned else "node_uncordoned", node=name)

    # ---- deployments, HPA events ------------------------------------------------------------------
    def deployment(self, change: str, old: Obj | None, new: Obj | None) -> None:
        if old is None or new is None:
            return
        before, after = int(old["spec"].get("replicas", 1)), int(new["spec"].get("replicas", 1))
        self.flush()
        if before != after:
            t = self.now_s()
            with self.lock:
                reason = self.rescale_reasons.pop(after, None)
                if reason is None and new["metadata"]["name"] in self.autoscaled:
                    self.unexplained[after] = (t, before)  # the HPA's Event may come after the change: wait for it
            if reason is not None or new["metadata"]["name"] not in self.autoscaled:
                self._scale(t, before, after, reason)
        if old["spec"].get("template") != new["spec"].get("template"):
            self.rolling = True
            self.emit(self.now_s(), "rollout_started", revision=new["metadata"].get("generation"), replicas=after)
        status = new.get("status") or {}
        done = status.get("observedGeneration", 0) >= new["metadata"].get("generation", 0) and status.get(
            "updatedReplicas"
        ) == after == status.get("replicas") == status.get("availableReplicas")
        progressing = cond(old, "Progressing").get("reason") == "ReplicaSetUpdated"
        if self.rolling and done and progressing and cond(new, "Progressing").get("reason") == "NewReplicaSetAvailable":
            self.rolling = False
            self.emit(self.now_s(), "rollout_finished", revision=new["metadata"].get("generation"), replicas=after)

    def k8s_event(self, change: str, old: Obj | None, new: Obj | None) -> None:
        if change != "ADDED" or new is None:
            return
        reason, message = new.get("reason"), str(new.get("message") or "")
        involved = new.get("involvedObject") or {}
        t = self.at(new.get("lastTimestamp") or new.get("eventTime") or new.get("firstTimestamp"))
        if reason == "SuccessfulRescale" and message.startswith("New size: "):
            size = message.removeprefix("New size: ").split(";", 1)[0]
            if size.isdigit():
                why = message.split("reason: ", 1)[-1]
                with self.lock:
                    seen = self.unexplained.pop(int(size), None)
                    if seen is None:
                        self.rescale_reasons[int(size)] = why
                if seen is not None:
                    self._scale(seen[0], seen[1], int(size), why)
        elif reason == "Killing" and " probe, will be restarted" in message:
            probe = "startup_probe" if "startup" in message else "liveness_probe"
            self.emit(t, "pod_liveness_failed", pod=involved.get("name"), probe=probe)
        elif reason == "Unhealthy" and " probe failed" in message:
            probe = message.split(" probe failed", 1)[0].lower()
            saturated = "the host was saturated" in message  # the embedded kubelet's note (selfcheck.HOST_SATURATED)
            self.emit(t, "probe_failed", pod=involved.get("name"), probe=probe, message=message,
                      host_saturated=saturated)  # fmt: skip
        elif reason == "FailedScheduling":
            self.emit(t, "pod_unschedulable", pod=involved.get("name"), reason=message)
        elif reason == "TriggeredScaleUp":
            self.emit(t, "node_provisioning", pod=involved.get("name"), reason=message)
        elif reason == "Evicted":
            self.emit(t, "pod_evicted", pod=involved.get("name"))
        elif reason == "IngressProxy" and involved.get("kind") == "Service":  # the embedded cluster's balancer
            proxy = message.split(" ", 1)[0]  # "haproxy ..." or "forwarder ..."
            self.emit(t, "ingress_proxy", service=involved.get("name"), proxy=proxy, message=message)

    def hpa(self, change: str, old: Obj | None, new: Obj | None) -> None:
        """Which Deployments an HPA scales (their replica changes wait for the HPA's Event to name a reason)."""
        obj = new or old or {}
        ref = (obj.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("kind") == "Deployment" and ref.get("name"):
            with self.lock:
                if new is None:
                    self.autoscaled.discard(ref["name"])
                else:
                    self.autoscaled.add(ref["name"])

    def _scale(self, t_s: float, before: int, after: int, reason: str | None) -> None:
        source = "hpa" if reason is not None else "api"
        attrs = {"from": before, "to": after, "reason": reason or "spec.replicas changed", "source": source}
        self.emit(t_s, "scale", **attrs)

    def flush(self) -> None:
        """Replica changes no HPA Event has named within ``HOLD_S``: someone else scaled (``source: api``)."""
        limit = self.now_s() - HOLD_S
        with self.lock:
            stale = sorted((t, before, after) for after, (t, before) in self.unexplained.items() if t <= limit)
            for _, _, after in stale:
                del self.unexplained[after]
        for t, before, after in stale:
            self._scale(t, before, after, None)

    def since(self, cursor: int) -> tuple[list[Event], int]:
        self.flush()
        with self.lock:
            return list(self.events[cursor:]), len(self.events)


def _revision(pod: Obj) -> str | None:
    return (pod["metadata"].get("labels") or {}).get("pod-template-hash")


def _unready_reason(old: Obj | None, new: Obj) -> str:
    if new["metadata"].get("deletionTimestamp"):
        return "terminating"
    if cond(new, "Ready").get("reason") == "NodeLost":
        return "node_down"
    state = container(new).get("state") or {}
    if "running" not in state:
        return "container_exited"
    return "readiness_probe"


def _deleted_reason(old: Obj | None) -> str:
    if old is None:
        return "deleted"
    if not (old.get("spec") or {}).get("nodeName"):
        return "unscheduled"
    return "deleted"


def monotonic_to_wall(t0_monotonic: float) -> float:
    """The wall-clock time of the run's start (``t0_monotonic`` on this host's monotonic clock)."""
    return time.time() - (time.monotonic() - t0_monotonic)
