"""The in-memory object store behind the embedded API: Kubernetes semantics without etcd.

In: synchronous calls on the daemon's event loop, from the HTTP handlers (``create``, ``replace``, ``patch``,
``delete``: client semantics, validated, ``admission.py``) and from controllers (``mutate``, ``remove``: trusted,
unvalidated).  Resources are named by plural and group (``pods``, ``deployments.apps``); namespace None for
cluster-scoped kinds.
Out: objects as plain dicts (deep copies unless ``copy=False``), a store-wide increasing ``resourceVersion``,
change callbacks (``subscribe``) and per-client ``Watch`` queues replayed from a ring buffer (410 Gone when
too old).  Published objects are never changed in place: every write stores a new dict, so an ``Entry`` in the
ring buffer stays a valid snapshot and its JSON is encoded once.  The ``*_entry`` variants return the published
``Entry`` itself (the HTTP layer serves its cached JSON).

Deletion rules (graceful pods, finalizers, cascading to dependents, namespaces) live in ``deletion.py``.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from harness.platform.local.apiserver import deletion
from harness.platform.local.apiserver.admission import admit_create, admit_update
from harness.platform.local.apiserver.changes import Change, ChangeLog, Entry, Watch, WatchFilter
from harness.platform.local.apiserver.defaults import Allocator, apply_defaults, validate
from harness.platform.local.apiserver.errors import ApiError, already_exists, bad_request, not_found
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
Obj = dict[str, Any]
Subscriber = Callable[[str, str, Obj], None]
Entries = list[Entry]
Objs = list[Obj]


class Store:
    """All objects of all served resources, with watch and change notification."""

    def __init__(self, watch_buffer: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.alloc = Allocator()
        self.owners = deletion.OwnerIndex()
        self._rv = 0
        self._objects: dict[str, dict[str | None, dict[str, Entry]]] = {r.key: {} for r in stored_resources()}
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
        return self._objects[info.key].get(namespace if info.namespaced else None, {}).get(name)

    def entry(self, resource: str, namespace: str | None, name: str) -> Entry:
        found = self.find(resource, namespace, name)
        if found is None:
            raise not_found(resource, name)
        return found

    def get(self, resource: str, namespace: str | None, name: str, copy: bool = True) -> Obj:
        """The object; 404 NotFound.  ``copy=False`` returns the published snapshot: read it, never change it."""
        obj = self.entry(resource, namespace, name).obj
        return clone(obj) if copy else obj

    def entries(
        self,
        resource: str,
        namespace: str | None = None,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
    ) -> Entries:
        """Matching entries sorted by namespace and name (etcd's key order)."""
        info = stored(resource)
        by_ns = self._objects[info.key]
        if namespace is not None and info.namespaced:
            groups = [by_ns.get(namespace, {})]
        else:
            groups = [by_ns[ns] for ns in sorted(by_ns, key=lambda n: n or "")]
        pinned = fields.exact_name if fields is not None else None
        out = []
        for group in groups:
            for name in sorted(group) if pinned is None else [pinned] if pinned in group else []:
                entry = group[name]
                if labels is not None and not labels.matches(entry.obj["metadata"].get("labels")):
                    continue
                if fields is None or fields.matches(entry.obj):
                    out.append(entry)
        return out

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        copy: bool = True,
    ) -> tuple[Objs, str]:
        """Matching objects and the list's resourceVersion; 400 on a bad selector."""
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(stored(resource).key, field_selector)
        found = self.entries(resource, namespace, labels, fields)
        return [clone(e.obj) if copy else e.obj for e in found], self.resource_version

    def count(self, namespace: str) -> int:
        """How many namespaced objects live in ``namespace``."""
        return sum(len(by_ns.get(namespace, {})) for by_ns in self._objects.values())

    # --- client writes -------------------------------------------------------------------------------------

    def create(self, resource: str, namespace: str | None, obj: Obj) -> Obj:
        """Store a new object: name (or generateName), uid, timestamps, defaults; 409 if it exists, 404 if its
        namespace does not."""
        return clone(self.create_entry(resource, namespace, obj).obj)

    def create_entry(self, resource: str, namespace: str | None, obj: Obj) -> Entry:
        info = stored(resource)
        find_ns = lambda ns: self.find("namespaces", None, ns)  # noqa: E731
        ns, name, new = admit_create(info, namespace, obj, find_ns, self.now(), self.alloc)
        if name in self._objects[info.key].get(ns, {}):
            raise already_exists(info.key, name)
        return self._commit(info, ns, name, new, None)

    def replace(self, resource: str, namespace: str | None, name: str, obj: Obj, subresource: str | None = None) -> Obj:
        """PUT: 409 Conflict when ``obj``'s resourceVersion is set and stale.  The main resource keeps the
        stored status; ``subresource="status"`` changes only the status."""
        return clone(self.replace_entry(resource, namespace, name, obj, subresource).obj)

    def replace_entry(
        self, resource: str, namespace: str | None, name: str, obj: Obj, subresource: str | None = None
    ) -> Entry:
        info = stored(resource)
        old = self.entry(resource, namespace, name)
        return self._update(info, old, admit_update(info, old, name, obj, subresource), validated=True)

    def patch(
        self,
        resource: str,
        namespace: str | None,
        name: str,
        patch: Any,
        content_type: str,
        subresource: str | None = None,
    ) -> Obj:
        """PATCH with a merge, strategic-merge or JSON patch (``patch`` parsed, or raw JSON bytes/str)."""
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
            try:
                patch = json.loads(patch)
            except ValueError as exc:
                raise bad_request(f"the patch is not valid JSON: {exc}") from None
        old = self.entry(resource, namespace, name)
        patched = apply_patch(old.obj, patch, content_type)  # keeps old's resourceVersion unless the patch sets one
        return self.replace_entry(resource, namespace, name, patched, subresource)

    def delete(
        self,
        resource: str,
        namespace: str | None,
        name: str,
        grace_period_s: int | None = None,
        propagation: str | None = None,
        preconditions: dict[str, Any] | None = None,
    ) -> tuple[Obj, bool]:
        """DELETE as a client asks it: (the object, whether it is gone now).  See ``deletion.delete``."""
        entry, removed = deletion.delete(self, resource, namespace, name, grace_period_s, propagation, preconditions)
        return clone(entry.obj), removed

    # --- controller writes ---------------------------------------------------------------------------------

    def mutate(self, resource: str, namespace: str | None, name: str, fn: Callable[[Obj], None]) -> Obj | None:
        """Let ``fn`` edit a deep copy (spec, status, metadata); store it (MODIFIED) only if it changed.
        None when the object does not exist."""
        entry = self.mutate_entry(resource, namespace, name, fn)
        return None if entry is None else clone(entry.obj)

    def mutate_entry(self, resource: str, namespace: str | None, name: str, fn: Callable[[Obj], None]) -> Entry | None:
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

    def remove(self, resource: str, namespace: str | None, name: str, cascade: bool = True) -> Obj | None:
        """Delete now, whatever the grace period or finalizers (DELETED); dependents follow on the next loop
        turn unless ``cascade`` is False.  None when it was already gone."""
        info = stored(resource)
        ns = namespace if info.namespaced else None
        group = self._objects[info.key].get(ns, {})
        entry = group.pop(name, None)
        if entry is None:
            return None
        if not group:
            self._objects[info.key].pop(ns, None)
        meta = entry.obj["metadata"]
        self.owners.update((info.key, ns, name), meta, None)
        final = clone(entry.obj)
        self._rv += 1
        final["metadata"]["resourceVersion"] = str(self._rv)
        self._emit(Change(self._rv, "DELETED", info.key, ns, Entry(final), entry))
        if cascade:
            deletion.later(lambda: deletion.collect_dependents(self, meta["uid"]))
        if ns is not None:
            deletion.later(lambda: deletion.finish_namespace(self, ns))
        return clone(final)

    # --- notification --------------------------------------------------------------------------------------

    def subscribe(self, fn: Subscriber) -> None:
        """Call ``fn(event_type, resource, obj)`` after every change, in order, also for changes the callbacks
        make themselves.  ``obj`` is the published snapshot: read it, never change it (use ``mutate``)."""
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
        """A watcher from ``resource_version`` (None, "" or "0": a synthetic ADDED per object first).
        410 Gone when the ring buffer no longer holds what follows ``resource_version``."""
        info = stored(resource)
        labels = parse_label_selector(label_selector) if isinstance(label_selector, str) else label_selector
        fields = field_selector
        if isinstance(fields, str):
            fields = parse_field_selector(info.key, fields)
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
            for change in self._log.since(info.key, since, self._rv):
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

    def _update(self, info: ResourceInfo, old: Entry, new: Obj, validated: bool) -> Entry:
        new["apiVersion"], new["kind"] = info.api_version, info.kind
        apply_defaults(info, new, self.alloc if validated else None)
        if validated:
            validate(info, new, old.obj)
        meta, old_meta = new["metadata"], old.obj["metadata"]
        if "generation" in old_meta:
            meta["generation"] = old_meta["generation"] + (1 if new.get("spec") != old.obj.get("spec") else 0)
        meta["resourceVersion"] = old.rv
        if new == old.obj:
            return old  # no change: no new resourceVersion, no event (as Kubernetes)
        ns = old_meta.get("namespace") if info.namespaced else None
        entry = self._commit(info, ns, old_meta["name"], new, old)
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and old_meta.get("finalizers"):
            deletion.later(lambda: deletion.finalized(self, info.key, ns, old_meta["name"]))
        return entry

    def _commit(self, info: ResourceInfo, ns: str | None, name: str, obj: Obj, old: Entry | None) -> Entry:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        entry = Entry(obj)
        self._objects[info.key].setdefault(ns, {})[name] = entry
        self.owners.update((info.key, ns, name), old.obj["metadata"] if old else None, obj["metadata"])
        self._emit(Change(self._rv, "MODIFIED" if old else "ADDED", info.key, ns, entry, old))
        return entry

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
