"""What DELETE means, kind by kind: graceful pods, finalizers, cascading to dependents, namespaces.

In: a ``Store`` and what the client asked (grace period, ``propagationPolicy``, preconditions).
Out: ``(entry, removed)``: the object as it now stands and whether it is gone already; changes go through the
store (MODIFIED when only marked, DELETED when removed).

- Pods bound to a node (``spec.nodeName``) with a grace period > 0 (the request's ``gracePeriodSeconds``, else
  ``spec.terminationGracePeriodSeconds``, else 30) are only marked: ``metadata.deletionTimestamp`` (now + grace,
  as Kubernetes sets it) and ``deletionGracePeriodSeconds``.  The kubelet (a controller) removes them with
  ``Store.remove``.  A later DELETE with a shorter grace shortens it; grace 0 removes at once.  Unbound and
  finished (Succeeded/Failed) pods go at once.
- Objects with ``metadata.finalizers`` are marked and removed when the last finalizer is taken off.
- Removal cascades in the background (on the next loop turn) to dependents: objects whose
  ``ownerReferences[].uid`` is the removed uid and that have no other living owner.  ``Orphan`` strips the
  reference instead.  ``Foreground`` is treated as ``Background``.
- A namespace is marked Terminating, everything in it is deleted (pods gracefully), and it goes once empty.
  ``default``, ``kube-system`` and ``kube-public`` cannot be deleted (403), as in Kubernetes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.platform.local.apiserver.changes import Entry
from harness.platform.local.apiserver.errors import ApiError, bad_request
from harness.platform.local.apiserver.resources import stored, stored_resources
from harness.platform.local.apiserver.timefmt import rfc3339

if TYPE_CHECKING:
    from harness.platform.local.apiserver.store import Store

log = logging.getLogger(__name__)
IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")
DEFAULT_GRACE_S = 30
Key = tuple[str, str | None, str]  # resource, namespace, name


class OwnerIndex:
    """Every stored uid, and for each owner uid the objects whose ``ownerReferences`` name it."""

    def __init__(self) -> None:
        self._uids: dict[str, Key] = {}
        self._dependents: dict[str, set[Key]] = {}

    def update(self, key: Key, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        """Record that the object at ``key`` went from metadata ``old`` to ``new`` (None: absent)."""
        if new is not None:
            self._uids[new["uid"]] = key
        elif old is not None:
            self._uids.pop(old["uid"], None)
        before, after = _owner_uids(old), _owner_uids(new)
        for uid in before - after:
            self._dependents.get(uid, set()).discard(key)
        for uid in after - before:
            self._dependents.setdefault(uid, set()).add(key)

    def take_dependents(self, uid: str) -> list[Key]:
        """The objects that named ``uid`` as an owner (forgotten here once taken)."""
        return sorted(self._dependents.pop(uid, set()), key=lambda k: (k[0], k[1] or "", k[2]))

    def alive(self, uid: str) -> bool:
        return uid in self._uids


def _owner_uids(meta: dict[str, Any] | None) -> set[str]:
    refs = (meta or {}).get("ownerReferences") or []
    return {r["uid"] for r in refs if isinstance(r, dict) and isinstance(r.get("uid"), str)}


def later(fn: Callable[[], None]) -> None:
    """Run ``fn`` on the next turn of the running loop (after the current answer is sent); now without a loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        _safely(fn)
        return
    loop.call_soon(_safely, fn)


def _safely(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception:
        log.exception("background deletion step failed")


def delete(
    store: Store,
    resource: str,
    namespace: str | None,
    name: str,
    grace_period_s: int | None = None,
    propagation: str | None = None,
    preconditions: dict[str, Any] | None = None,
) -> tuple[Entry, bool]:
    """Delete as a client asks: (the object now, whether it is gone)."""
    info = stored(resource)
    entry = store.entry(info.key, namespace, name)
    _check_preconditions(store, entry, preconditions or {}, info.key, name)
    if propagation not in (None, "", "Background", "Foreground", "Orphan"):
        raise bad_request(f"unsupported propagationPolicy {propagation!r}: use Background, Foreground or Orphan")
    if grace_period_s is not None and (isinstance(grace_period_s, bool) or not isinstance(grace_period_s, int)):
        raise bad_request(f"gracePeriodSeconds must be an integer (got {grace_period_s!r})")
    if info.key == "namespaces":
        return _delete_namespace(store, entry), False
    cascade = propagation != "Orphan"
    if not cascade:
        _orphan(store, entry.obj["metadata"]["uid"])
    if info.key == "pods":
        return _delete_pod(store, entry, grace_period_s, cascade)
    return _remove_or_finalize(store, info.key, entry, cascade)


def _check_preconditions(store: Store, entry: Entry, pre: dict[str, Any], resource: str, name: str) -> None:
    meta = entry.obj["metadata"]
    for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
        wanted = pre.get(key)
        if wanted not in (None, "") and str(wanted) != str(meta.get(key)):
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {resource} "{name}": Precondition failed: {label} in precondition: '
                f"{wanted}, {label} in object meta: {meta.get(key)}",
            )


def _remove_or_finalize(store: Store, resource: str, entry: Entry, cascade: bool) -> tuple[Entry, bool]:
    meta = entry.obj["metadata"]
    ns, name = meta.get("namespace"), meta["name"]
    if meta.get("finalizers"):
        if meta.get("deletionTimestamp"):
            return entry, False

        def mark(obj: dict[str, Any]) -> None:
            obj["metadata"].update(deletionTimestamp=store.now(), deletionGracePeriodSeconds=0)

        return store.mutate_entry(resource, ns, name, mark) or entry, False
    final = store.remove(resource, ns, name, cascade=cascade)
    return Entry(final if final is not None else entry.obj), True


def _delete_pod(store: Store, entry: Entry, grace_s: int | None, cascade: bool) -> tuple[Entry, bool]:
    pod = entry.obj
    spec, meta = pod.get("spec") or {}, pod["metadata"]
    current = meta.get("deletionGracePeriodSeconds")
    if grace_s is None:
        grace_s = current if current is not None else spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_S)
    grace = max(0, int(grace_s or 0))
    if not spec.get("nodeName") or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        grace = 0
    if grace == 0:
        return _remove_or_finalize(store, "pods", entry, cascade)
    if meta.get("deletionTimestamp") and current is not None and current <= grace:
        return entry, False
    deadline = store.clock() + grace

    def mark(obj: dict[str, Any]) -> None:
        obj["metadata"].update(deletionTimestamp=rfc3339(deadline), deletionGracePeriodSeconds=grace)

    return store.mutate_entry("pods", meta.get("namespace"), meta["name"], mark) or entry, False


def _orphan(store: Store, uid: str) -> None:
    for resource, ns, name in store.owners.take_dependents(uid):
        store.mutate_entry(resource, ns, name, lambda obj: _drop_owner(obj, uid))


def _drop_owner(obj: dict[str, Any], uid: str) -> None:
    refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
    if refs:
        obj["metadata"]["ownerReferences"] = refs
    else:
        obj["metadata"].pop("ownerReferences", None)


def collect_dependents(store: Store, uid: str) -> None:
    """The garbage collector's part: delete what ``uid`` owned, unless another living owner holds it."""
    for resource, ns, name in store.owners.take_dependents(uid):
        entry = store.find(resource, ns, name)
        if entry is None:
            continue
        refs = entry.obj["metadata"].get("ownerReferences") or []
        if any(r.get("uid") != uid and store.owners.alive(r.get("uid", "")) for r in refs):
            store.mutate_entry(resource, ns, name, lambda obj: _drop_owner(obj, uid))
            continue
        if entry.obj["metadata"].get("deletionTimestamp"):
            continue
        try:
            delete(store, resource, ns, name, None, "Background")
        except ApiError as exc:
            log.warning("could not delete dependent %s %s/%s: %s", resource, ns, name, exc.message)


def finalized(store: Store, resource: str, namespace: str | None, name: str) -> None:
    """The last finalizer is gone from an object marked for deletion: remove it (bound pods: the kubelet's)."""
    entry = store.find(resource, namespace, name)
    if entry is None:
        return
    meta = entry.obj["metadata"]
    if not meta.get("deletionTimestamp") or meta.get("finalizers") or resource == "namespaces":
        return
    if resource == "pods" and (entry.obj.get("spec") or {}).get("nodeName") and meta.get("deletionGracePeriodSeconds"):
        return
    store.remove(resource, namespace, name)


def _delete_namespace(store: Store, entry: Entry) -> Entry:
    name = entry.obj["metadata"]["name"]
    if name in IMMORTAL_NAMESPACES:
        raise ApiError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be deleted')
    if not entry.obj["metadata"].get("deletionTimestamp"):

        def mark(obj: dict[str, Any]) -> None:
            obj["metadata"]["deletionTimestamp"] = store.now()
            obj.setdefault("status", {})["phase"] = "Terminating"

        entry = store.mutate_entry("namespaces", None, name, mark) or entry
    later(lambda: _empty_namespace(store, name))
    return entry


def _empty_namespace(store: Store, namespace: str) -> None:
    for info in stored_resources():
        if not info.namespaced:
            continue
        for entry in store.entries(info.key, namespace):
            if entry.obj["metadata"].get("deletionTimestamp"):
                continue
            try:
                delete(store, info.key, namespace, entry.obj["metadata"]["name"], None, "Background")
            except ApiError as exc:
                log.warning("namespace %s: could not delete %s: %s", namespace, info.key, exc.message)
    finish_namespace(store, namespace)


def finish_namespace(store: Store, namespace: str) -> None:
    """Remove a Terminating namespace once nothing is left in it."""
    entry = store.find("namespaces", None, namespace)
    if entry is not None and entry.obj["metadata"].get("deletionTimestamp") and store.count(namespace) == 0:
        store.remove("namespaces", None, namespace)
