"""The embedded cluster's Deployment and ReplicaSet controllers.

In: Deployment, ReplicaSet and Pod objects.  Out, each sync:

- Deployment → ReplicaSets: one ReplicaSet per pod template (named ``<deployment>-<pod-template-hash>``,
  owned by the Deployment, annotated with its revision); a RollingUpdate moves replicas from old to new
  ReplicaSets within maxSurge / maxUnavailable (``rollout.rolling_step``: upstream's arithmetic),
  Recreate scales old ones to 0 first; Events ``ScalingReplicaSet``; Deployment status (replicas,
  updatedReplicas, readyReplicas, availableReplicas, observedGeneration, conditions Available and
  Progressing) as ``kubectl rollout status`` reads it.
- ReplicaSet → Pods: creates pods from its template (owner reference with ``controller: true``) or
  deletes the surplus gracefully, unscheduled, then not-Ready, then newest first (upstream's
  ActivePods order); Events ``SuccessfulCreate`` / ``SuccessfulDelete``; ReplicaSet status.
"""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
from typing import TYPE_CHECKING, Any

from harness.platform.local.objects import (
    DEPLOYMENTS,
    PODS,
    REPLICASETS,
    Obj,
    condition,
    controller_of,
    int_or_percent,
    owner_ref,
    pod_ready,
    set_condition,
)
from harness.platform.local.rollout import fenceposts, rolling_step

if TYPE_CHECKING:
    from harness.platform.local.cluster import Cluster

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: Obj) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(_SAFE[b % len(_SAFE)] for b in digest[:10])


def _suffix() -> str:
    return "".join(_SAFE[b % len(_SAFE)] for b in secrets.token_bytes(5))


def _revision(rs: Obj) -> int:
    return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0") or 0)


def _deletion_rank(pod: Obj, nodes_ready: dict[str, bool]) -> tuple[Any, ...]:
    """Upstream's ActivePods order: unscheduled, node not Ready, not Ready, Ready for less time, restarts, newest."""
    node = pod["spec"].get("nodeName")
    ready = pod_ready(pod)
    cond = condition(pod, "Ready") or {}
    restarts = sum(c.get("restartCount", 0) for c in (pod.get("status") or {}).get("containerStatuses") or [])
    return (
        bool(node),
        nodes_ready.get(node or "", False),
        ready,
        _neg(cond.get("lastTransitionTime", "")) if ready else "",
        -restarts,
        _neg(pod["metadata"].get("creationTimestamp", "")),
    )


def _neg(stamp: str) -> str:
    """Reverse the order of RFC 3339 strings (newest first)."""
    return "".join(chr(255 - ord(c)) for c in stamp)


class Workloads:
    """Deployment and ReplicaSet controllers, synced together."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store

    def sync(self) -> None:
        pods = self.store.list(PODS, copy=False)[0]
        for deployment in self.store.list(DEPLOYMENTS, copy=False)[0]:
            self._deployment(deployment, pods)
        nodes_ready = self.cluster.nodes_ready()
        for rs in self.store.list(REPLICASETS, copy=False)[0]:
            self._replica_set(rs, pods, nodes_ready)

    # ---- Deployment -> ReplicaSets ----------------------------------------------------------
    def _deployment(self, d: Obj, pods: list[Obj]) -> None:
        meta, spec = d["metadata"], d["spec"]
        if meta.get("deletionTimestamp"):
            return
        ns = meta["namespace"]
        owned = [
            rs
            for rs in self.store.list(REPLICASETS, ns, copy=False)[0]
            if (controller_of(rs) or {}).get("uid") == meta["uid"]
        ]
        h = template_hash(spec["template"])
        new = next((rs for rs in owned if rs["metadata"].get("labels", {}).get(HASH_LABEL) == h), None)
        desired = int(spec.get("replicas", 1))
        if new is None:
            new = self._create_rs(d, h, 1 + max((_revision(rs) for rs in owned), default=0))
            owned.append(new)
        elif _revision(new) < max(_revision(rs) for rs in owned):  # rolled back to an old template
            rev = 1 + max(_revision(rs) for rs in owned)
            new = (
                self.store.mutate(
                    REPLICASETS,
                    ns,
                    new["metadata"]["name"],
                    lambda o: o["metadata"].setdefault("annotations", {}).update({REVISION: str(rev)}),
                )
                or new
            )  # noqa: E501
        by_rev = {_revision(rs): rs for rs in owned}
        sizes = {rev: int(rs["spec"].get("replicas", 0)) for rev, rs in by_rev.items()}
        active = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        available = {
            rev: sum(1 for p in active if pod_ready(p) and (controller_of(p) or {}).get("uid") == rs["metadata"]["uid"])
            for rev, rs in by_rev.items()
        }
        new_rev = _revision(new)
        strategy = spec.get("strategy") or {}
        if strategy.get("type") == "Recreate":
            old_pods = sum(1 for p in active if self._owned_by_any(p, [rs for r, rs in by_rev.items() if r != new_rev]))
            target = {rev: 0 for rev in sizes}
            target[new_rev] = desired if old_pods == 0 else 0
        else:
            rolling = strategy.get("rollingUpdate") or {}
            surge, unavailable = fenceposts(
                rolling.get("maxSurge", "25%"), rolling.get("maxUnavailable", "25%"), desired
            )
            target = rolling_step(desired, new_rev, sizes, available, surge, unavailable)
        for rev, size in target.items():
            if size != sizes.get(rev):
                self._scale_rs(d, by_rev[rev], sizes.get(rev, 0), size)
        self._deployment_status(d, by_rev, new_rev, active, desired)

    def _owned_by_any(self, pod: Obj, owners: list[Obj]) -> bool:
        uid = (controller_of(pod) or {}).get("uid")
        return any(rs["metadata"]["uid"] == uid for rs in owners)

    def _create_rs(self, d: Obj, h: str, revision: int) -> Obj:
        meta = d["metadata"]
        template = copy.deepcopy(d["spec"]["template"])
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
        selector = copy.deepcopy(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = h
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta['name']}-{h}",
                "namespace": meta["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {REVISION: str(revision)},
                "ownerReferences": [owner_ref(d)],
            },
            "spec": {"replicas": 0, "selector": selector, "template": template},
        }
        return dict(self.store.create(REPLICASETS, meta["namespace"], rs))

    def _scale_rs(self, d: Obj, rs: Obj, old: int, new: int) -> None:
        name = rs["metadata"]["name"]

        def fn(obj: Obj) -> None:
            obj["spec"]["replicas"] = new

        if self.store.mutate(REPLICASETS, rs["metadata"]["namespace"], name, fn) is not None:
            verb = "up" if new > old else "down"
            message = f"Scaled {verb} replica set {name} from {old} to {new}"
            self.cluster.recorder.record(d, "ScalingReplicaSet", message, component="deployment-controller")

    def _deployment_status(self, d: Obj, by_rev: dict[int, Obj], new_rev: int, active: list[Obj], desired: int) -> None:
        def owned(rs: Obj) -> list[Obj]:
            return [p for p in active if (controller_of(p) or {}).get("uid") == rs["metadata"]["uid"]]

        all_pods = [p for rs in by_rev.values() for p in owned(rs)]
        new_pods = owned(by_rev[new_rev])
        ready = sum(1 for p in all_pods if pod_ready(p))
        rolling = (d["spec"].get("strategy") or {}).get("rollingUpdate") or {}
        max_unavailable = int_or_percent(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
        complete = len(new_pods) == desired == len(all_pods) and sum(1 for p in new_pods if pod_ready(p)) == desired

        def fn(obj: Obj) -> None:
            obj["metadata"].setdefault("annotations", {})[REVISION] = str(new_rev)
            status = obj.setdefault("status", {})
            status.update(
                observedGeneration=obj["metadata"].get("generation", 1),
                replicas=len(all_pods),
                updatedReplicas=len(new_pods),
                readyReplicas=ready,
                availableReplicas=ready,
                unavailableReplicas=max(desired - ready, 0),
            )
            ok = ready >= desired - max_unavailable
            set_condition(
                status,
                "Available",
                ok,
                "MinimumReplicasAvailable" if ok else "MinimumReplicasUnavailable",
                "Deployment has minimum availability." if ok else "Deployment does not have minimum availability.",
            )
            rs_name = by_rev[new_rev]["metadata"]["name"]
            if complete:
                set_condition(
                    status,
                    "Progressing",
                    True,
                    "NewReplicaSetAvailable",
                    f'ReplicaSet "{rs_name}" has successfully progressed.',
                )
            else:
                set_condition(
                    status, "Progressing", True, "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.'
                )

        self.store.mutate(DEPLOYMENTS, d["metadata"]["namespace"], d["metadata"]["name"], fn)

    # ---- ReplicaSet -> Pods -------------------------------------------------------------
    def _replica_set(self, rs: Obj, pods: list[Obj], nodes_ready: dict[str, bool]) -> None:
        meta = rs["metadata"]
        uid, ns = meta["uid"], meta["namespace"]
        mine = [p for p in pods if (controller_of(p) or {}).get("uid") == uid]
        active = [p for p in mine if not p["metadata"].get("deletionTimestamp")]
        want = int(rs["spec"].get("replicas", 1)) if not meta.get("deletionTimestamp") else 0
        for _ in range(want - len(active)):
            self._create_pod(rs)
        if len(active) > want:
            for pod in sorted(active, key=lambda p: _deletion_rank(p, nodes_ready))[: len(active) - want]:
                if self.cluster.delete_pod(pod):
                    message = f"Deleted pod: {pod['metadata']['name']}"
                    self.cluster.recorder.record(rs, "SuccessfulDelete", message, component="replicaset-controller")
        ready = sum(1 for p in active if pod_ready(p))

        def fn(obj: Obj) -> None:
            obj.setdefault("status", {}).update(
                replicas=len(active),
                fullyLabeledReplicas=len(active),
                readyReplicas=ready,
                availableReplicas=ready,
                observedGeneration=obj["metadata"].get("generation", 1),
            )

        self.store.mutate(REPLICASETS, ns, meta["name"], fn)

    def _create_pod(self, rs: Obj) -> None:
        meta = rs["metadata"]
        template = copy.deepcopy(rs["spec"]["template"])
        spec = template.get("spec") or {}
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("volumes", [])
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{meta['name']}-{_suffix()[:5]}",
                "namespace": meta["namespace"],
                "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
                "ownerReferences": [owner_ref(rs)],
            },
            "spec": spec,
            "status": {"phase": "Pending"},
        }
        created = self.store.create(PODS, meta["namespace"], pod)
        message = f"Created pod: {created['metadata']['name']}"
        self.cluster.recorder.record(rs, "SuccessfulCreate", message, component="replicaset-controller")
