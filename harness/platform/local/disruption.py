"""The embedded cluster's disruption controller: keeps every PodDisruptionBudget's status current.

In: PodDisruptionBudget objects, the pods their selector matches and the replica count of the
pods' controller (the Deployment behind their ReplicaSet).  Out: ``status`` with ``expectedPods``,
``currentHealthy`` (Ready pods not being deleted), ``desiredHealthy`` (minAvailable, or expected minus
maxUnavailable; percentages of expected, rounded up), ``disruptionsAllowed`` (never below 0) and
``observedGeneration`` — what the API server's eviction endpoint checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.platform.local.objects import (
    DEPLOYMENTS,
    PDBS,
    PODS,
    REPLICASETS,
    Obj,
    controller_of,
    int_or_percent,
    pod_ready,
    selector_matches,
    set_condition,
)

if TYPE_CHECKING:
    from harness.platform.local.cluster import Cluster


def desired_healthy(spec: Obj, expected: int) -> int:
    if spec.get("minAvailable") is not None:
        return int_or_percent(spec["minAvailable"], expected, round_up=True)
    return expected - int_or_percent(spec.get("maxUnavailable", 0), expected, round_up=True)


class Disruption:
    def __init__(self, cluster: Cluster) -> None:
        self.store = cluster.store

    def _expected(self, pods: list[Obj], namespace: str) -> int:
        """The replica count of the controllers behind ``pods`` (the Deployment's, else the ReplicaSet's)."""
        total, seen = 0, set()
        for pod in pods:
            ref = controller_of(pod)
            if ref is None or ref["uid"] in seen:
                continue
            seen.add(ref["uid"])
            try:
                rs = self.store.get(REPLICASETS, namespace, ref["name"])
            except Exception:  # noqa: BLE001 (no such ReplicaSet: count the pod itself)
                total += 1
                continue
            owner = controller_of(rs)
            if owner is not None and owner["kind"] == "Deployment":
                if owner["uid"] in seen:
                    continue
                seen.add(owner["uid"])
                try:
                    total += int(self.store.get(DEPLOYMENTS, namespace, owner["name"])["spec"].get("replicas", 1))
                    continue
                except Exception:  # noqa: BLE001
                    pass
            total += int(rs["spec"].get("replicas", 1))
        return total

    def sync(self) -> None:
        for pdb in self.store.list(PDBS, copy=False)[0]:
            ns = pdb["metadata"]["namespace"]
            selector = pdb["spec"].get("selector")
            pods = [
                p
                for p in self.store.list(PODS, ns, copy=False)[0]
                if selector_matches(selector, p["metadata"].get("labels"))
                and not p["metadata"].get("deletionTimestamp")
            ]
            expected = self._expected(pods, ns)
            healthy = sum(1 for p in pods if pod_ready(p))
            desired = max(desired_healthy(pdb["spec"], expected), 0)
            allowed = max(healthy - desired, 0)

            def fn(
                obj: Obj,
                expected: int = expected,
                healthy: int = healthy,
                desired: int = desired,
                allowed: int = allowed,
            ) -> None:
                status = obj.setdefault("status", {})
                status.update(
                    expectedPods=expected,
                    currentHealthy=healthy,
                    desiredHealthy=desired,
                    disruptionsAllowed=allowed,
                    observedGeneration=obj["metadata"].get("generation", 1),
                )
                ok = allowed > 0
                set_condition(status, "DisruptionAllowed", ok, "SufficientPods" if ok else "InsufficientPods")

            self.store.mutate(PDBS, ns, pdb["metadata"]["name"], fn)
