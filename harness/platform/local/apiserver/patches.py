"""PATCH bodies: JSON merge patch (RFC 7386), strategic merge patch and JSON patch (RFC 6902).

In: the current object (never modified), a parsed patch document and the request's ``Content-Type``.
Out: a new object (a deep copy with the patch applied), or ``ApiError``: 415 for server-side apply and unknown
types, 400 for malformed patches, 422 when a JSON patch does not apply (a failed ``test``, a missing path).

Strategic merge patch here is merge-patch semantics plus what clients actually rely on: lists of objects merge
by their Kubernetes merge key (containers, env, volumes by ``name``; ports by ``containerPort``/``port``;
volumeMounts by ``mountPath``; conditions by ``type``; ownerReferences by ``uid``; taints by ``key``), ``finalizers``
merge as a set, and the directives ``$patch: replace|delete``, ``$deleteFromPrimitiveList/…``, ``$retainKeys``
and ``$setElementOrder/…`` (ignored) are understood.
"""

from __future__ import annotations

from typing import Any

from harness.platform.local.apiserver.errors import ApiError, bad_request

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"

_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "resourceClaims": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "conditions": "type",
    "addresses": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "taints": "key",
    "ports": "containerPort",  # "port" in Services: see _ports_key
    "topologySpreadConstraints": "topologyKey",
}
_SET_LISTS = {"finalizers"}


def clone(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars), several times faster than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {k: clone(v) if isinstance(v, dict | list) else v for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) if isinstance(v, dict | list) else v for v in value]
    return value


def apply_patch(obj: dict[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    """Apply ``patch`` (already parsed JSON) of ``content_type`` to a copy of ``obj``."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == APPLY:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            "server-side apply (application/apply-patch+yaml) is not supported by this server; "
            "use kubectl apply --server-side=false, kubectl patch or a merge patch",
        )
    if kind == JSON_PATCH:
        if not isinstance(patch, list):
            raise bad_request("a JSON patch (application/json-patch+json) must be a JSON array of operations")
        result = json_patch(clone(obj), patch)
    elif kind in (MERGE, STRATEGIC):
        if not isinstance(patch, dict):
            raise bad_request(f"a {kind} body must be a JSON object")
        result = merge_patch(clone(obj), patch) if kind == MERGE else strategic_merge(clone(obj), clone(patch))
    else:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{JSON_PATCH}, {MERGE}, {STRATEGIC}, {APPLY}",
        )
    if not isinstance(result, dict):
        raise ApiError(422, "Invalid", "the patch would replace the object with something that is not an object")
    return result


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 on ``target`` in place (``target`` must be a private copy); ``null`` deletes a key."""
    if not isinstance(patch, dict):
        return clone(patch)
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = merge_patch(target.get(key), value)
    return target


def strategic_merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any] | None:
    """Strategic merge of ``patch`` into ``target`` in place; None when the patch deletes the map."""
    directive = patch.pop("$patch", None)
    if directive == "delete":
        return None
    if directive == "replace":
        return _strip(patch)
    retain = patch.pop("$retainKeys", None)
    for key in [k for k in patch if k.startswith("$deleteFromPrimitiveList/")]:
        name, drop = key.split("/", 1)[1], patch.pop(key) or []
        if isinstance(target.get(name), list):
            target[name] = [v for v in target[name] if v not in drop]
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        current = target.get(key)
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(current, dict):
            merged = strategic_merge(current, value)
            if merged is None:
                target.pop(key, None)
            else:
                target[key] = merged
        elif isinstance(value, list) and isinstance(current, list) and (key in _MERGE_KEYS or key in _SET_LISTS):
            target[key] = _merge_list(current, value, key)
        else:
            target[key] = _strip(value)
    if isinstance(retain, list):
        for key in [k for k in target if k not in retain]:
            del target[key]
    return target


def _strip(value: Any) -> Any:
    """Drop ``$`` directives from a value that replaces whatever was there."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip(v) for v in value if not (isinstance(v, dict) and v.get("$patch") == "replace" and len(v) == 1)]
    return value


def _merge_list(current: list[Any], patch: list[Any], field: str) -> list[Any]:
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return _strip(patch)
    out = list(current)
    if field in _SET_LISTS:
        return out + [v for v in patch if v not in out]
    key = _ports_key(current + patch) if field == "ports" else _MERGE_KEYS[field]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            out.append(_strip(item))
            continue
        index = next((i for i, cur in enumerate(out) if isinstance(cur, dict) and cur.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del out[index]
        elif index is None:
            out.append(_strip(item))
        else:
            out[index] = strategic_merge(out[index], item)
    return out


def _ports_key(items: list[Any]) -> str:
    return "containerPort" if any(isinstance(i, dict) and "containerPort" in i for i in items) else "port"


# --- JSON patch (RFC 6902) -------------------------------------------------------------------------------------


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise bad_request(f"invalid JSON pointer {path!r} in JSON patch")
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]] if path else []


def _fail(op: dict[str, Any], why: str) -> ApiError:
    return ApiError(422, "Invalid", f"the JSON patch operation {op.get('op')} {op.get('path')!r} does not apply: {why}")


def _index(container: list[Any], token: str, op: dict[str, Any], allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit():
        raise _fail(op, f"{token!r} is not a list index")
    index = int(token)
    if index > len(container) or (index == len(container) and not allow_end):
        raise _fail(op, f"index {index} is out of range")
    return index


def _parent(doc: Any, tokens: list[str], op: dict[str, Any]) -> Any:
    cur = doc
    for token in tokens[:-1]:
        if isinstance(cur, dict) and token in cur:
            cur = cur[token]
        elif isinstance(cur, list):
            cur = cur[_index(cur, token, op, False)]
        else:
            raise _fail(op, f"path element {token!r} does not exist")
    return cur


def _get(doc: Any, tokens: list[str], op: dict[str, Any]) -> Any:
    if not tokens:
        return doc
    parent, last = _parent(doc, tokens, op), tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _fail(op, f"{last!r} does not exist")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, op, False)]
    raise _fail(op, "the parent is not a container")


def _remove(doc: Any, tokens: list[str], op: dict[str, Any]) -> Any:
    parent, last = _parent(doc, tokens, op), tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _fail(op, f"{last!r} does not exist")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, op, False))
    raise _fail(op, "the parent is not a container")


def _add(doc: Any, tokens: list[str], value: Any, op: dict[str, Any], replace: bool = False) -> Any:
    if not tokens:
        return value
    parent, last = _parent(doc, tokens, op), tokens[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise _fail(op, f"{last!r} does not exist")
        parent[last] = value
    elif isinstance(parent, list):
        index = _index(parent, last, op, not replace)
        if replace:
            parent[index] = value
        else:
            parent.insert(index, value)
    else:
        raise _fail(op, "the parent is not a container")
    return doc


def json_patch(doc: Any, operations: list[Any]) -> Any:
    """Apply RFC 6902 operations to ``doc`` (a private copy) and return the result."""
    for op in operations:
        if not isinstance(op, dict) or op.get("op") not in ("add", "remove", "replace", "move", "copy", "test"):
            raise bad_request(f"invalid JSON patch operation {op!r}")
        name, tokens = op["op"], _pointer(op.get("path"))
        if name in ("add", "replace", "test") and "value" not in op:
            raise bad_request(f"JSON patch operation {name} {op.get('path')!r} needs a value")
        if name == "add":
            doc = _add(doc, tokens, clone(op["value"]), op)
        elif name == "replace":
            doc = _add(doc, tokens, clone(op["value"]), op, replace=True)
        elif name == "remove":
            if not tokens:
                raise _fail(op, "cannot remove the whole document")
            _remove(doc, tokens, op)
        elif name == "test":
            if _get(doc, tokens, op) != op["value"]:
                raise _fail(op, "the value differs")
        else:
            source = _pointer(op.get("from"))
            if name == "move" and tokens[: len(source)] == source and tokens != source:
                raise _fail(op, "cannot move a value into itself")
            value = _remove(doc, source, op) if name == "move" else clone(_get(doc, source, op))
            doc = _add(doc, tokens, value, op)
    return doc
