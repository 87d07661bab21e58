"""The in-memory object store behind the embedded API: Kubernetes semantics without etcd.

In: synchronous calls on the daemon's event loop, from the HTTP handlers (``create``, ``replace``, ``patch``,
``delete``: client semantics, validated) and from controllers (``mutate``, ``remove``: trusted, unvalidated).
Resources are named by plural and group (``pods``, ``deployments.apps``); namespace None for cluster-scoped kinds.
Out: objects as plain dicts (deep copies unless ``copy=False``), a store-wide increasing ``resourceVersion``,
change callbacks (``subscribe``) and per-client ``Watch`` queues replayed from a ring buffer (410 Gone when
too old).  Published objects are never changed in place: every write stores a new dict, so an ``Entry`` in the
ring buffer stays a valid snapshot and its JSON is encoded once.

Deletion rules (graceful pods, finalizers, cascading to dependents, namespaces) live in ``deletion.py``.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from harness.platform.local.apiserver import deletion
from harness.platform.local.apiserver.changes import Change, ChangeLog, Entry, Watch, WatchFilter
from harness.platform.local.apiserver.defaults import (
    Allocator,
    apply_defaults,
    check_metadata,
    check_name,
    merge_update,
    validate,
)
from harness.platform.local.apiserver.errors import ApiError, already_exists, bad_request, conflict, not_found
from harness.platform.local.apiserver.patches import apply_patch, clone
from harness.platform.local.apiserver.resources import ResourceInfo, stored, stored_resources
from harness.platform.local.apiserver.selectors import (
    FieldSelector,
    LabelSelector,
    parse_field_selector,
    parse_label_selector,
)
from harness.platform.local.apiserver.timefmt import rfc3339

__all__ = ["ApiError", "Store"]

log = logging.getLogger(__name__)
Subscriber = Callable[[str, str, dict[str, Any]], None]
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


class Store:
    """All objects of all served resources, with watch and change notification."""

    def __init__(self, watch_buffer: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.alloc = Allocator()
        self._rv = 0
        self._objects: dict[str, dict[str | None, dict[str, Entry]]] = {r.key: {} for r in stored_resources()}
        self._uids: dict[str, tuple[str, str | None, str]] = {}
        self._dependents: dict[str, set[tuple[str, str | None, str]]] = {}
        self._log = ChangeLog(watch_buffer)
        self._watch_buffer = watch_buffer
        self._subscribers: list[Subscriber] = []
        self._watches: dict[str, set[Watch]] = {}
        self._queue: deque[Change] = deque()
        self._dispatching = False
        self.create("namespaces", None, {"metadata": {"name": "default"}})

    # --- reading -------------------------------------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def now(self) -> str:
        return rfc3339(self.clock())

    def find(self, resource: str, namespace: str | None, name: str) -> Entry | None:
        info = stored(resource)
        return self._objects[resource].get(namespace if info.namespaced else None, {}).get(name)

    def entry(self, resource: str, namespace: str | None, name: str) -> Entry:
        found = self.find(resource, namespace, name)
        if found is None:
            raise not_found(resource, name)
        return found

    def get(self, resource: str, namespace: str | None, name: str, copy: bool = True) -> dict[str, Any]:
        """The object; 404 NotFound.  ``copy=False`` returns the published snapshot: read it, never change it."""
        obj = self.entry(resource, namespace, name).obj
        return clone(obj) if copy else obj

    def entries(
        self,
        resource: str,
        namespace: str | None = None,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
    ) -> list[Entry]:
        """Matching entries sorted by namespace and name (etcd key order)."""
        by_ns = self._objects[stored(resource).key]
        if namespace is not None and stored(resource).namespaced:
            groups = [by_ns.get(namespace, {})]
        else:
            groups = [by_ns[ns] for ns in sorted(by_ns, key=lambda n: n or "")]
        out = []
        for group in groups:
            for name in sorted(group):
                entry = group[name]
                obj = entry.obj
                if (labels is None or labels.matches(obj["metadata"].get("labels"))) and (
                    fields is None or fields.matches(obj)
                ):
                    out.append(entry)
        return out

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        copy: bool = True,
    ) -> tuple[list[dict[str, Any]], str]:
        """Matching objects and the list's resourceVersion; 400 on a bad selector."""
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(resource, field_selector)
        found = self.entries(resource, namespace, labels, fields)
        return [clone(e.obj) if copy else e.obj for e in found], self.resource_version

    def count(self, namespace: str) -> int:
        """How many namespaced objects live in ``namespace``."""
        return sum(len(by_ns.get(namespace, {})) for by_ns in self._objects.values())

    # --- client writes -------------------------------------------------------------------------------------

    def create(self, resource: str, namespace: str | None, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object: name (or generateName), uid, timestamps, defaults; 409 if it exists."""
        return clone(self.create_entry(resource, namespace, obj).obj)

    def create_entry(self, resource: str, namespace: str | None, obj: dict[str, Any]) -> Entry:
        info = stored(resource)
        if not isinstance(obj, dict):
            raise bad_request(f"the body of a {info.kind} must be a JSON object")
        obj = clone(obj)
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        self._check_kind(info, obj)
        ns = self._namespace_for_create(info, namespace, meta)
        name = meta.get("name") or ""
        if not name and meta.get("generateName"):
            name = str(meta["generateName"]) + "".join(random.choices(_NAME_CHARS, k=5))
        if not name:
            raise ApiError(422, "Invalid", f"{info.kind} in version {info.version!r} cannot be handled: "
                           "metadata.name: Required value: name or generateName is required")  # fmt: skip
        check_name(info, name)
        check_metadata(meta)
        if name in self._objects[info.key].get(ns, {}):
            raise already_exists(info.key, name)
        for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "selfLink"):
            meta.pop(key, None)
        meta.update(name=name, uid=str(uuid.uuid4()), creationTimestamp=self.now())
        if ns is not None:
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if info.key != "events":
            meta["generation"] = 1
        apply_defaults(info, obj, self.alloc)
        validate(info, obj)
        return self._commit(info, ns, name, obj, None)

    def replace(
        self, resource: str, namespace: str | None, name: str, obj: dict[str, Any], subresource: str | None = None
    ) -> dict[str, Any]:
        """PUT: 409 Conflict when ``obj``'s resourceVersion is set and stale; status only via ``subresource``."""
        return clone(self.replace_entry(resource, namespace, name, obj, subresource).obj)

    def replace_entry(
        self, resource: str, namespace: str | None, name: str, obj: dict[str, Any], subresource: str | None = None
    ) -> Entry:
        info = stored(resource)
        old = self.entry(resource, namespace, name)
        if not isinstance(obj, dict):
            raise bad_request(f"the body of a {info.kind} must be a JSON object")
        obj = clone(obj)
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        if meta.get("name") not in (None, name):
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        wanted_rv = meta.get("resourceVersion")
        if wanted_rv not in (None, "") and str(wanted_rv) != old.rv:
            raise conflict(info.key, name)
        self._check_kind(info, obj)
        check_metadata(meta)
        new = merge_update(info, old.obj, obj, subresource)
        return self._update(info, old, new, validated=True)

    def patch(
        self,
        resource: str,
        namespace: str | None,
        name: str,
        patch: Any,
        content_type: str,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """PATCH with a merge, strategic-merge or JSON patch (``patch`` parsed or raw JSON bytes/str)."""
        return clone(self.patch_entry(resource, namespace, name, patch, content_type, subresource).obj)

    def patch_entry(
        self,
        resource: str,
        namespace: str | None,
        name: str,
        patch: Any,
        content_type: str,
        subresource: str | None = None,
    ) -> Entry:
        if isinstance(patch, bytes | str):
            patch = _parse_json(patch)
        old = self.entry(resource, namespace, name)
        patched = apply_patch(old.obj, patch, content_type)
        meta = patched.get("metadata") if isinstance(patched.get("metadata"), dict) else {}
        if meta.get("resourceVersion") in (None, ""):
            meta["resourceVersion"] = old.rv
        return self.replace_entry(resource, namespace, name, patched, subresource)

    def delete(
        self,
        resource: str,
        namespace: str | None,
        name: str,
        grace_period_s: int | None = None,
        propagation: str | None = None,
        preconditions: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """DELETE as a client asks it: (the object, whether it is gone now).  See ``deletion.delete``."""
        entry, removed = deletion.delete(self, resource, namespace, name, grace_period_s, propagation, preconditions)
        return clone(entry.obj), removed

    # --- controller writes ---------------------------------------------------------------------------------

    def mutate(
        self, resource: str, namespace: str | None, name: str, fn: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any] | None:
        """Let ``fn`` edit a deep copy (spec, status, metadata); store it (MODIFIED) only if it changed.
        None when the object does not exist."""
        entry = self.mutate_entry(resource, namespace, name, fn)
        return None if entry is None else clone(entry.obj)

    def mutate_entry(
        self, resource: str, namespace: str | None, name: str, fn: Callable[[dict[str, Any]], None]
    ) -> Entry | None:
        old = self.find(resource, namespace, name)
        if old is None:
            return None
        new = clone(old.obj)
        fn(new)
        meta = new.setdefault("metadata", {})
        for key in ("uid", "name", "namespace", "creationTimestamp"):
            if key in old.obj["metadata"]:
                meta[key] = old.obj["metadata"][key]
        return self._update(stored(resource), old, new, validated=False)

    def remove(self, resource: str, namespace: str | None, name: str, cascade: bool = True) -> dict[str, Any] | None:
        """Delete now, whatever the grace period or finalizers (DELETED); dependents follow unless ``cascade``
        is False.  None when it was already gone."""
        info = stored(resource)
        ns = namespace if info.namespaced else None
        entry = self._objects[info.key].get(ns, {}).pop(name, None)
        if entry is None:
            return None
        if not self._objects[info.key].get(ns, True):
            del self._objects[info.key][ns]
        meta = entry.obj["metadata"]
        self._uids.pop(meta["uid"], None)
        self._index_owners(meta, None, (info.key, ns, name))
        final = clone(entry.obj)
        self._rv += 1
        final["metadata"]["resourceVersion"] = str(self._rv)
        gone_entry = Entry(final)
        self._emit(Change(self._rv, "DELETED", info.key, ns, gone_entry, entry))
        if cascade:
            deletion.later(lambda: deletion.collect_dependents(self, meta["uid"]))
        if ns is not None:
            deletion.later(lambda: deletion.finish_namespace(self, ns))
        return clone(final)

    # --- notification --------------------------------------------------------------------------------------

    def subscribe(self, fn: Subscriber) -> None:
        """Call ``fn(event_type, resource, obj)`` after every change, in order.  ``obj`` is the published
        snapshot: read it, never change it (use ``mutate``)."""
        self._subscribers.append(fn)

    def unsubscribe(self, fn: Subscriber) -> None:
        if fn in self._subscribers:
            self._subscribers.remove(fn)

    def watch(
        self,
        resource: str,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: LabelSelector | str = "",
        field_selector: FieldSelector | str = "",
    ) -> Watch:
        """A watcher from ``resource_version`` (None/""/"0": synthetic ADDED for each object first).
        410 Gone when the ring buffer no longer holds what follows ``resource_version``."""
        info = stored(resource)
        labels = parse_label_selector(label_selector) if isinstance(label_selector, str) else label_selector
        fields = parse_field_selector(resource, field_selector) if isinstance(field_selector, str) else field_selector
        filt = WatchFilter(info.key, namespace if info.namespaced else None, labels, fields)
        watch = Watch(filt, self._watch_buffer, self._forget_watch)
        if resource_version in (None, "", "0"):
            for entry in self.entries(resource, filt.namespace, labels, fields):
                watch.push("ADDED", entry)
        else:
            try:
                since = int(resource_version)
            except ValueError:
                raise bad_request(f"invalid resource version {resource_version!r}") from None
            for change in self._log.since(since, self._rv):
                watch.offer(change)
        self._watches.setdefault(info.key, set()).add(watch)
        return watch

    def close_watches(self, reason: str = "the server is shutting down") -> None:
        """End every open watch (their HTTP streams finish cleanly)."""
        for watches in list(self._watches.values()):
            for watch in list(watches):
                watch.close(reason)

    def _forget_watch(self, watch: Watch) -> None:
        self._watches.get(watch.filter.resource, set()).discard(watch)

    # --- internals -----------------------------------------------------------------------------------------

    @staticmethod
    def _check_kind(info: ResourceInfo, obj: dict[str, Any]) -> None:
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind not in (None, "", info.kind):
            raise bad_request(f"the kind of the object ({kind}) does not match the {info.kind} endpoint")
        if api_version not in (None, "", info.api_version):
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({info.api_version})"
            )
        obj["apiVersion"], obj["kind"] = info.api_version, info.kind
        for key in [k for k in obj if k not in ("apiVersion", "kind")]:
            obj[key] = obj.pop(key)  # apiVersion and kind first, as Kubernetes writes them

    def _namespace_for_create(self, info: ResourceInfo, namespace: str | None, meta: dict[str, Any]) -> str | None:
        if not info.namespaced:
            return None
        given = meta.get("namespace")
        if namespace and given and given != namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        ns = namespace or given or "default"
        ns_entry = self.find("namespaces", None, ns)
        if ns_entry is None:
            raise not_found("namespaces", ns)
        if ns_entry.obj["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                "Forbidden",
                f'{info.key} "{meta.get("name", "")}" is forbidden: unable to create new content in namespace {ns} '
                "because it is being terminated",
            )
        return ns

    def _update(self, info: ResourceInfo, old: Entry, new: dict[str, Any], validated: bool) -> Entry:
        new["kind"], new["apiVersion"] = info.kind, info.api_version
        apply_defaults(info, new, self.alloc if validated else None)
        if validated:
            validate(info, new, old.obj)
        meta, old_meta = new["metadata"], old.obj["metadata"]
        if "generation" in old_meta:
            bump = new.get("spec") != old.obj.get("spec")
            meta["generation"] = old_meta["generation"] + (1 if bump else 0)
        meta["resourceVersion"] = old.rv
        if new == old.obj:
            return old
        ns = old_meta.get("namespace") if info.namespaced else None
        entry = self._commit(info, ns, old_meta["name"], new, old)
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and old_meta.get("finalizers"):
            deletion.later(lambda: deletion.finalized(self, info.key, ns, old_meta["name"]))
        return entry

    def _commit(self, info: ResourceInfo, ns: str | None, name: str, obj: dict[str, Any], old: Entry | None) -> Entry:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        entry = Entry(obj)
        self._objects[info.key].setdefault(ns, {})[name] = entry
        self._uids[obj["metadata"]["uid"]] = (info.key, ns, name)
        self._index_owners(old.obj["metadata"] if old else None, obj["metadata"], (info.key, ns, name))
        self._emit(Change(self._rv, "MODIFIED" if old else "ADDED", info.key, ns, entry, old))
        return entry

    def _index_owners(self, old: dict[str, Any] | None, new: dict[str, Any] | None, key: tuple) -> None:
        before = {r.get("uid") for r in (old or {}).get("ownerReferences") or [] if isinstance(r, dict)}
        after = {r.get("uid") for r in (new or {}).get("ownerReferences") or [] if isinstance(r, dict)}
        for uid in before - after:
            self._dependents.get(uid, set()).discard(key)
        for uid in after - before:
            self._dependents.setdefault(uid, set()).add(key)

    def dependents_of(self, uid: str) -> list[tuple[str, str | None, str]]:
        return sorted(self._dependents.pop(uid, set()), key=lambda k: (k[0], k[1] or "", k[2]))

    def alive(self, uid: str) -> bool:
        return uid in self._uids

    def _emit(self, change: Change) -> None:
        self._log.append(change)
        for watch in list(self._watches.get(change.resource, ())):
            watch.offer(change)
        self._queue.append(change)
        if self._dispatching:
            return  # a subscriber wrote: the outer loop delivers this change after the current one
        self._dispatching = True
        try:
            while self._queue:
                current = self._queue.popleft()
                for fn in list(self._subscribers):
                    try:
                        fn(current.type, current.resource, current.entry.obj)
                    except Exception:
                        log.exception("store subscriber %r failed on %s %s", fn, current.type, current.resource)
        finally:
            self._dispatching = False


def _parse_json(raw: bytes | str) -> Any:
    import json

    try:
        return json.loads(raw)
    except ValueError as exc:
        raise bad_request(f"the patch is not valid JSON: {exc}") from None
