"""The guard: the one door every write of the Kubernetes driver goes through.

In: an ``ApiClient``, the run's namespace and its run label (``scope.run_label``), and whether the run owns
the whole cluster (the embedded cluster kibench started for it).  Out: ``create``, ``change``, ``delete``
and ``evict``, which act only on objects of this run:

- ``create`` stamps the run's labels on the object (``scope.stamp``) before it is sent; when an object of
  that name exists already and is not this run's, it raises ``ClusterRefused`` naming it, and the object is
  left as it was (an object of this run's, e.g. after a retry, is taken as created);
- ``change`` (a merge patch, optionally of a subresource such as ``scale``) and ``delete`` read the object
  first and raise ``ClusterRefused`` unless it carries the run's label; a delete names the object's uid as a
  precondition, so an object replaced in between is never deleted;
- ``conflicts`` (read only) lists the objects of a set of manifests that exist and are not this run's, for
  a check before anything is created and for ``kibench run --dry-run``;
- ``remove`` is clean-up's delete: it deletes the object when it is this run's and reports ``"absent"`` or
  ``"foreign"`` otherwise, never raising for an object of others.

When the run owns the cluster (``owns_cluster``: ``platform.kind: local``) everything in it is the run's,
nodes included.  On any other cluster nodes belong to the cluster and are refused.  API failures other than
the refusals become ``PlatformError``.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness.errors import ClusterRefused, PlatformError
from harness.platform.kubernetes import rest, scope

Obj = dict[str, Any]


class Guard:
    """Creates, changes and deletes objects of one run, and nothing else."""

    def __init__(self, api: client.ApiClient, namespace: str, label: str, owns_cluster: bool = False) -> None:
        self.api = api
        self.namespace = namespace
        self.label = label
        self.owns_cluster = owns_cluster

    # ---- what is ours ----------------------------------------------------------------------
    def ours(self, obj: Obj | None) -> bool:
        return self.owns_cluster or scope.owned(obj, self.label)

    def _ns(self, kind: rest.Kind, namespace: str | None) -> str | None:
        return (namespace or self.namespace) if kind.namespaced else None

    def refusal(self, kind: rest.Kind, namespace: str | None, name: str, obj: Obj | None, verb: str) -> str:
        """Why an object is not touched, and what the user can do about it."""
        labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
        other_run = labels.get(scope.RUN_LABEL)
        what = kind.describe(namespace, name)
        if other_run:
            owner = (
                f"it belongs to another kibench run ({scope.RUN_LABEL}={other_run}, kept with --keep or still "
                f"running); delete that run's objects (kubectl delete {kind.plural} -n {namespace} "
                f"-l {scope.RUN_LABEL}={other_run}) or use another namespace"
            )
        elif kind.kind == "Node":
            owner = (
                "nodes belong to the cluster, not to a run; cordon and drain them with kubectl or a Chaos Toolkit "
                "experiment"
            )
        else:
            owner = (
                f"it does not carry this run's label {scope.RUN_LABEL}={self.label}; rename or remove it yourself, "
                "name another platform.namespace, or leave platform.namespace out to get a namespace of the run's own"
            )
        return f"refused to {verb} {what}: {owner}"

    # ---- reads ---------------------------------------------------------------------------------
    def get(self, kind_name: str, name: str, namespace: str | None = None) -> Obj | None:
        kind = rest.kind_of(kind_name)
        try:
            return rest.get(self.api, kind, self._ns(kind, namespace), name)
        except ApiException as exc:
            raise _failed(exc, f"reading {kind.describe(self._ns(kind, namespace), name)}") from exc

    def conflicts(self, manifests: list[Obj]) -> list[str]:
        """For each manifest whose object exists and is not this run's: why it would be refused (reads only)."""
        found = []
        for manifest in manifests:
            kind = rest.kind_of(manifest["kind"])
            ns, name = self._ns(kind, manifest["metadata"].get("namespace")), manifest["metadata"]["name"]
            existing = self.get(kind.kind, name, ns)
            if existing is not None and not self.ours(existing):
                found.append(self.refusal(kind, ns, name, existing, "create"))
        return found

    def preflight(self, manifests: list[Obj]) -> None:
        """Refuse before anything is created when an object of these names exists and is not this run's."""
        found = self.conflicts(manifests)
        if found:
            more = f" (and {len(found) - 1} more: " + "; ".join(found[1:]) + ")" if len(found) > 1 else ""
            raise ClusterRefused(found[0] + more + "; nothing was created")

    # ---- writes --------------------------------------------------------------------------------
    def create(self, manifest: Obj) -> Obj:
        """Create the object stamped with the run's labels; refuse when its name is taken by another's object."""
        obj = scope.stamp(manifest, self.label)
        kind = rest.kind_of(obj["kind"])
        ns, name = self._ns(kind, obj["metadata"].get("namespace")), obj["metadata"]["name"]
        if kind.namespaced:
            obj["metadata"]["namespace"] = ns
        try:
            return rest.call(self.api, "POST", kind.path(ns), obj)
        except ApiException as exc:
            if exc.status != 409:
                raise _failed(exc, f"creating {kind.describe(ns, name)}") from exc
        existing = self.get(kind.kind, name, ns)
        if existing is not None and self.ours(existing):
            return existing
        raise ClusterRefused(self.refusal(kind, ns, name, existing, "create"))

    def _require_ours(self, kind: rest.Kind, ns: str | None, name: str, verb: str) -> Obj:
        existing = self.get(kind.kind, name, ns)
        if existing is None:
            raise PlatformError(f"cannot {verb} {kind.describe(ns, name)}: it does not exist (404 NotFound)")
        if not self.ours(existing):
            raise ClusterRefused(self.refusal(kind, ns, name, existing, verb))
        return existing

    def change(
        self, kind_name: str, name: str, patch: Obj, subresource: str | None = None, namespace: str | None = None
    ) -> Obj:
        """Merge-patch the object (or its ``subresource``) if it is this run's."""
        kind = rest.kind_of(kind_name)
        ns = self._ns(kind, namespace)
        self._require_ours(kind, ns, name, "change")
        try:
            return rest.call(self.api, "PATCH", kind.path(ns, name, subresource), patch, rest.MERGE_PATCH)
        except ApiException as exc:
            raise _failed(exc, f"changing {kind.describe(ns, name)}") from exc

    def delete(self, kind_name: str, name: str, namespace: str | None = None, grace_period_s: int | None = None) -> Obj:
        """Delete the object if it is this run's (``ClusterRefused`` otherwise; ``PlatformError`` when absent)."""
        kind = rest.kind_of(kind_name)
        ns = self._ns(kind, namespace)
        existing = self._require_ours(kind, ns, name, "delete")
        return self._delete(kind, ns, existing, grace_period_s)

    def remove(self, kind_name: str, name: str, namespace: str | None = None) -> str:
        """Clean-up's delete: ``"deleted"``, ``"absent"`` or ``"foreign"`` (left alone); never refuses."""
        kind = rest.kind_of(kind_name)
        ns = self._ns(kind, namespace)
        existing = self.get(kind.kind, name, ns)
        if existing is None:
            return "absent"
        if not self.ours(existing):
            return "foreign"
        try:
            self._delete(kind, ns, existing, None)
        except PlatformError:
            if self.get(kind.kind, name, ns) is None:
                return "absent"
            raise
        return "deleted"

    def _delete(self, kind: rest.Kind, ns: str | None, existing: Obj, grace_period_s: int | None) -> Obj:
        meta = existing["metadata"]
        options: Obj = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": "Background",
            "preconditions": {"uid": meta.get("uid")},
        }
        if grace_period_s is not None:
            options["gracePeriodSeconds"] = int(grace_period_s)
        try:
            return rest.call(self.api, "DELETE", kind.path(ns, meta["name"]), options)
        except ApiException as exc:
            raise _failed(exc, f"deleting {kind.describe(ns, meta['name'])}") from exc

    def evict(self, pod: str, namespace: str | None = None) -> None:
        """Evict a pod of this run through the eviction API (honours PodDisruptionBudgets).

        A budget that allows no disruption now is the client's ``ApiException`` 429, left to the caller to retry."""
        kind = rest.kind_of("Pod")
        ns = self._ns(kind, namespace)
        self._require_ours(kind, ns, pod, "evict")
        body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": ns}}
        try:
            rest.call(self.api, "POST", kind.path(ns, pod, "eviction"), body)
        except ApiException as exc:
            if exc.status in (404, 429):
                raise
            raise _failed(exc, f"evicting {kind.describe(ns, pod)}") from exc


def _failed(exc: ApiException, what: str) -> PlatformError:
    return PlatformError(f"{what} failed: {exc.status} {rest.message(exc)}")


__all__ = ["Guard"]
