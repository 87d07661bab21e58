"""What a client's object must satisfy before the store takes it, and what the server fills in.

In: the ``ResourceInfo``, the request's namespace and body, and for updates the stored object.  Out: the object
to store (a private deep copy: ``apiVersion``/``kind`` set and first, name from ``generateName``, ``uid``,
``creationTimestamp``, ``generation``, namespace, defaults), or ``ApiError``: 400 for a body that is not an
object or names another kind, namespace or name than the URL; 404/403 for a missing or terminating namespace;
409 Conflict for a stale ``metadata.resourceVersion``; 422 Invalid from ``defaults.validate``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any

from harness.platform.local.apiserver.changes import Entry
from harness.platform.local.apiserver.defaults import (
    Allocator,
    apply_defaults,
    check_metadata,
    check_name,
    merge_update,
    validate,
)
from harness.platform.local.apiserver.errors import ApiError, bad_request, conflict, not_found
from harness.platform.local.apiserver.patches import clone
from harness.platform.local.apiserver.resources import ResourceInfo

NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # what Kubernetes appends to generateName
FindNamespace = Callable[[str], Entry | None]


def own_copy(info: ResourceInfo, obj: Any) -> dict[str, Any]:
    """A deep copy of a request body with a ``metadata`` object; 400 otherwise."""
    if not isinstance(obj, dict):
        raise bad_request(f"the body of a {info.kind} must be a JSON object")
    obj = clone(obj)
    meta = obj.setdefault("metadata", {})
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    check_metadata(meta)
    return obj


def set_kind(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with this endpoint's apiVersion and kind, first; 400 when the body names another kind."""
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if kind not in (None, "", info.kind):
        raise bad_request(f"the kind of the object ({kind}) does not match the {info.kind} endpoint")
    if api_version not in (None, "", info.api_version):
        raise bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version ({info.api_version})"
        )
    rest = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    return {"apiVersion": info.api_version, "kind": info.kind, **rest}


def _namespace(info: ResourceInfo, namespace: str | None, meta: dict[str, Any], find: FindNamespace) -> str | None:
    if not info.namespaced:
        return None
    given = meta.get("namespace")
    if namespace and given and given != namespace:
        raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
    ns = namespace or given or "default"
    found = find(ns)
    if found is None:
        raise not_found("namespaces", ns)
    if found.obj["metadata"].get("deletionTimestamp"):
        raise ApiError(
            403,
            "Forbidden",
            f'{info.key} "{meta.get("name", "")}" is forbidden: unable to create new content in namespace {ns} '
            "because it is being terminated",
        )
    return ns


def admit_create(
    info: ResourceInfo,
    namespace: str | None,
    body: Any,
    find_namespace: FindNamespace,
    now: str,
    alloc: Allocator,
) -> tuple[str | None, str, dict[str, Any]]:
    """(namespace, name, object) for a create; the caller checks the name is free."""
    obj = set_kind(info, own_copy(info, body))
    meta = obj["metadata"]
    ns = _namespace(info, namespace, meta, find_namespace)
    name = meta.get("name") or ""
    if not name and meta.get("generateName"):
        name = str(meta["generateName"]) + "".join(random.choices(NAME_CHARS, k=5))
    if not name:
        raise ApiError(422, "Invalid", f"{info.kind} in version {info.version!r} cannot be handled: "
                       "metadata.name: Required value: name or generateName is required")  # fmt: skip
    check_name(info, name)
    for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "selfLink", "namespace"):
        meta.pop(key, None)
    meta.update(name=name, uid=str(uuid.uuid4()), creationTimestamp=now)
    if ns is not None:
        meta["namespace"] = ns
    if info.key != "events":
        meta["generation"] = 1
    apply_defaults(info, obj, alloc)
    validate(info, obj)
    return ns, name, obj


def admit_update(info: ResourceInfo, old: Entry, name: str, body: Any, subresource: str | None) -> dict[str, Any]:
    """The object a PUT (or a PATCH, once applied) proposes, before defaults and validation."""
    obj = own_copy(info, body)
    meta = obj["metadata"]
    if meta.get("name") not in (None, name):
        raise bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})")
    wanted_rv = meta.get("resourceVersion")
    if wanted_rv not in (None, "") and str(wanted_rv) != old.rv:
        raise conflict(info.key, name)
    return merge_update(info, old.obj, set_kind(info, obj), subresource)
