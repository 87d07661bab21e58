"""The verbs: what each method on each kind of path does to the store, and the JSON it answers.

In: a routed ``Request`` and ``Target`` (``routing.py``).  Out: a ``Reply`` (status, body, content type) or, for
``?watch=true``, a ``WatchPlan`` the app streams (``watching.py``); ``ApiError`` for anything refused.

Collections: GET list (``labelSelector``, ``fieldSelector``, ``limit`` + ``continue``) or watch, POST create,
DELETE deletecollection.  Objects: GET, PUT, PATCH, DELETE.  Subresources: ``status`` (GET/PUT/PATCH),
``scale`` (autoscaling/v1 Scale over ``spec.replicas``), ``pods/log``, ``pods/eviction``.  Views (events.k8s.io,
policy/v1beta1) are read-only.  Lists, gets and watch events come as Tables when the client asks ``as=Table``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from harness.platform.local.apiserver import deletion, pods, protobuf
from harness.platform.local.apiserver.changes import Entry, Watch, dumps
from harness.platform.local.apiserver.errors import (
    ApiError,
    bad_request,
    method_not_allowed,
    resource_not_found,
    success_status,
)
from harness.platform.local.apiserver.patches import APPLY, apply_patch
from harness.platform.local.apiserver.resources import ResourceInfo
from harness.platform.local.apiserver.routing import Request, Target, parse_bool
from harness.platform.local.apiserver.selectors import parse_field_selector, parse_label_selector
from harness.platform.local.apiserver.store import Store
from harness.platform.local.apiserver.tables import include_mode, table
from harness.platform.local.apiserver.views import partial_metadata, scale_of, to_served

RETURNS_OBJECT_ON_DELETE = {"pods", "services", "namespaces"}


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass
class LogFollow:
    """A ``pods/log?follow=true`` to stream: what there is now, then the file from ``offset`` while ``running``."""

    initial: bytes
    path: str
    offset: int
    running: Callable[[], bool]


@dataclass
class WatchPlan:
    """A watch to stream: its queue (None when it failed to start), the ERROR to send instead, and encoders."""

    watch: Watch | None
    error: ApiError | None
    encode: Callable[[str, Entry], bytes]
    bookmark: Callable[[bool], bytes] | None
    timeout_s: float
    initial_end_bookmark: bool = False


def reply(obj: Any, status: int = 200) -> Reply:
    return Reply(status, dumps(obj))


def parse_body(req: Request, required: bool = True) -> Any:
    """A JSON (or YAML, or for a few kinds protobuf) body; 400 when it is malformed or missing."""
    if "protobuf" in req.content_type or req.body.startswith(protobuf.MAGIC):
        return protobuf.decode(req.body)  # kubectl's typed clients (create namespace, drain) send protobuf
    if not req.body.strip():
        if required:
            raise bad_request("the request needs a body")
        return None
    try:
        if "yaml" in req.content_type:
            return yaml.safe_load(req.body)
        return json.loads(req.body)
    except (ValueError, yaml.YAMLError) as exc:
        raise bad_request(f"the body of the request is not valid JSON: {exc}") from None


class Handlers:
    """The verbs over one store."""

    def __init__(self, store: Store, log_path: pods.LogPath | None = None) -> None:
        self.store = store
        self.log_path = log_path
        #: what serves the computed resources (metrics.k8s.io): (kind, namespace) -> objects; None: no
        #: metrics-server, and the API answers 404 as a cluster without its APIService does
        self.computed: Callable[[str, str | None], list[dict[str, Any]]] | None = None

    def dispatch(self, req: Request, t: Target) -> Reply | WatchPlan | LogFollow:
        method, info = req.method, t.info
        if info.computed:
            return self._computed(req, t)
        if t.subresource is not None:
            return self._subresource(req, t)
        if info.is_view and method != "GET":
            raise method_not_allowed(f"{info.key} is a read-only view of {info.backing}")
        if t.name is None:
            if method == "GET":
                return self.watch(req, t) if t.legacy_watch or req.flag("watch") else self.list(req, t)
            if info.namespaced and t.namespace is None and method in ("POST", "DELETE"):
                raise method_not_allowed(f"{method} on {info.key} needs a namespace in the path")
            if method == "POST":
                entry = self.store.create_entry(info.key, t.namespace, parse_body(req))
                return Reply(201, entry.json())
            if method == "DELETE":
                return self.delete_collection(req, t)
        else:
            if method == "GET":
                return self.watch(req, t, t.name) if t.legacy_watch or req.flag("watch") else self.get(req, t)
            if method == "PUT":
                return Reply(200, self.store.replace_entry(info.key, t.namespace, t.name, parse_body(req)).json())
            if method == "PATCH":
                return Reply(200, self._patch(req, t, None).json())
            if method == "DELETE":
                return self.delete(req, t)
        raise method_not_allowed()

    # --- reading -------------------------------------------------------------------------------------------

    def _computed(self, req: Request, t: Target) -> Reply:
        """GET of PodMetrics/NodeMetrics: measured now, filtered by name and ``labelSelector`` (the objects'
        labels are their pod's or node's); no watch, as metrics-server."""
        info = t.info
        if req.method != "GET" or req.flag("watch") or t.legacy_watch:
            raise method_not_allowed(f"{info.api_version} {info.plural} only supports get and list")
        if self.computed is None:
            raise resource_not_found()
        objs = self.computed(info.kind, t.namespace)
        if t.name is not None:
            found = [o for o in objs if o["metadata"]["name"] == t.name]
            if not found:
                raise ApiError(404, "NotFound", f'{info.plural}.{info.group} "{t.name}" not found')
            objs = found
        else:
            labels = parse_label_selector(req.query.get("labelSelector", ""))
            objs = [o for o in objs if labels.matches(o["metadata"].get("labels"))]
        rv = self.store.resource_version
        if req.form == "table":
            return reply(table(info, objs, self.store.clock(), rv, include_mode(req.query.get("includeObject"))))
        if t.name is not None:
            return reply(objs[0])
        return reply({"kind": info.list_kind, "apiVersion": info.api_version, "metadata": {}, "items": objs})

    def _serve_one(self, req: Request, info: ResourceInfo, entry: Entry) -> Reply:
        if req.form == "table":
            include = include_mode(req.query.get("includeObject"))
            return reply(table(info, [entry.obj], self.store.clock(), entry.rv, include))
        if req.form == "partial":
            return reply(partial_metadata(entry.obj))
        return Reply(200, entry.json() if not info.is_view else dumps(to_served(info, entry.obj)))

    def get(self, req: Request, t: Target) -> Reply:
        assert t.name is not None
        return self._serve_one(req, t.info, self.store.entry(t.info.stored_key, t.namespace, t.name))

    def _select(self, req: Request, t: Target) -> list[Entry]:
        labels = parse_label_selector(req.query.get("labelSelector", ""))
        fields = parse_field_selector(t.info.key, req.query.get("fieldSelector", ""))
        return self.store.entries(t.info.stored_key, t.namespace, labels, fields)

    def list(self, req: Request, t: Target) -> Reply:
        info, rv = t.info, self.store.resource_version
        found = self._select(req, t)
        page, token, remaining = _paginate(found, req.query.get("limit"), req.query.get("continue"))
        meta: dict[str, Any] = {"resourceVersion": rv}
        if token:
            meta.update({"continue": token, "remainingItemCount": remaining})
        if req.form == "table":
            include = include_mode(req.query.get("includeObject"))
            return reply(table(info, [e.obj for e in page], self.store.clock(), rv, include, token))
        if req.form == "partial":
            items = [partial_metadata(e.obj) for e in page]
            kind = {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1"}
            return reply({**kind, "metadata": meta, "items": items})
        if info.is_view:
            body = b",".join(dumps(to_served(info, e.obj)) for e in page)
        else:
            body = b",".join(e.json() for e in page)
        head = f'{{"kind":"{info.list_kind}","apiVersion":"{info.api_version}","metadata":{json.dumps(meta)},"items":['
        return Reply(200, head.encode() + body + b"]}")

    def watch(self, req: Request, t: Target, name: str | None = None) -> WatchPlan:
        info, form = t.info, req.form
        field_text = req.query.get("fieldSelector", "")
        if name is not None:
            field_text = f"metadata.name={name}" + (f",{field_text}" if field_text else "")
        labels = parse_label_selector(req.query.get("labelSelector", ""))
        fields = parse_field_selector(info.key, field_text)
        include = include_mode(req.query.get("includeObject")) if form == "table" else "Metadata"
        timeout = _timeout(req.query.get("timeoutSeconds"))
        now = self.store.clock

        def encode(event_type: str, entry: Entry) -> bytes:
            if form == "table":
                obj = dumps(table(info, [entry.obj], now(), entry.rv, include))
            elif form == "partial":
                obj = dumps(partial_metadata(entry.obj))
            else:
                obj = entry.json() if not info.is_view else dumps(to_served(info, entry.obj))
            return b'{"type":"' + event_type.encode() + b'","object":' + obj + b"}\n"

        def bookmark(initial_end: bool) -> bytes:
            meta: dict[str, Any] = {"resourceVersion": self.store.resource_version}
            if initial_end:
                meta["annotations"] = {"k8s.io/initial-events-end": "true"}
            if form == "table":
                obj: dict[str, Any] = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "rows": []}
            else:
                obj = {"kind": info.kind, "apiVersion": info.api_version, "metadata": meta}
            return dumps({"type": "BOOKMARK", "object": obj}) + b"\n"

        rv = req.query.get("resourceVersion")
        try:
            watch = self.store.watch(info.stored_key, t.namespace, rv, labels, fields)
        except ApiError as exc:
            if exc.code != 410:
                raise
            return WatchPlan(None, exc, encode, None, timeout)
        send_bookmarks = req.flag("allowWatchBookmarks")
        initial_end = req.flag("sendInitialEvents") and rv in (None, "", "0")
        return WatchPlan(watch, None, encode, bookmark if send_bookmarks else None, timeout, initial_end)

    # --- writing -------------------------------------------------------------------------------------------

    def _patch(self, req: Request, t: Target, subresource: str | None) -> Entry:
        assert t.name is not None
        if req.content_type.split(";")[0].strip() == APPLY:
            apply_patch({}, {}, APPLY)  # raises 415 with the explanation
        body = parse_body(req)
        return self.store.patch_entry(t.info.key, t.namespace, t.name, body, req.content_type, subresource)

    def _delete_options(self, req: Request) -> dict[str, Any]:
        options: dict[str, Any] = {}
        try:
            body = json.loads(req.body) if req.body.strip() else {}
        except ValueError:
            body = {}  # a body that is neither JSON nor a protobuf DeleteOptions is ignored
            if req.body.startswith(protobuf.MAGIC):
                with contextlib.suppress(ApiError):
                    body = protobuf.decode(req.body)
        if isinstance(body, dict):
            options.update(body)
        query = req.query
        if "gracePeriodSeconds" in query:
            try:
                options["gracePeriodSeconds"] = int(query["gracePeriodSeconds"])
            except ValueError:
                raise bad_request(f"gracePeriodSeconds: {query['gracePeriodSeconds']!r} is not an integer") from None
        if "propagationPolicy" in query:
            options["propagationPolicy"] = query["propagationPolicy"]
        if parse_bool(query.get("orphanDependents"), "orphanDependents") or options.get("orphanDependents") is True:
            options.setdefault("propagationPolicy", "Orphan")
        if options.get("dryRun") or query.get("dryRun"):
            raise bad_request("dryRun is not supported by this server")
        return options

    def delete(self, req: Request, t: Target) -> Reply:
        assert t.name is not None
        info, options = t.info, self._delete_options(req)
        entry, removed = deletion.delete(
            self.store,
            info.key,
            t.namespace,
            t.name,
            options.get("gracePeriodSeconds"),
            options.get("propagationPolicy"),
            options.get("preconditions"),
        )
        if info.key in RETURNS_OBJECT_ON_DELETE or not removed:
            return Reply(200, entry.json())
        details = {"name": t.name, "kind": info.plural, "uid": entry.obj["metadata"].get("uid")}
        if info.group:
            details["group"] = info.group
        return reply(success_status(200, details))

    def delete_collection(self, req: Request, t: Target) -> Reply:
        info, options = t.info, self._delete_options(req)
        items = []
        for found in self._select(req, t):
            meta = found.obj["metadata"]
            try:
                entry, _ = deletion.delete(
                    self.store,
                    info.key,
                    meta.get("namespace"),
                    meta["name"],
                    options.get("gracePeriodSeconds"),
                    options.get("propagationPolicy"),
                )
            except ApiError as exc:
                if exc.code == 404:
                    continue
                raise
            items.append(entry.json())
        meta_json = json.dumps({"resourceVersion": self.store.resource_version})
        head = f'{{"kind":"{info.list_kind}","apiVersion":"{info.api_version}","metadata":{meta_json},"items":['
        return Reply(200, head.encode() + b",".join(items) + b"]}")

    # --- subresources --------------------------------------------------------------------------------------

    def _subresource(self, req: Request, t: Target) -> Reply | LogFollow:
        sub, method, info = t.subresource, req.method, t.info
        assert t.name is not None and sub is not None
        allowed = {"get": "GET", "update": "PUT", "patch": "PATCH", "create": "POST"}
        if method not in {allowed[v] for v in info.subresource(sub).verbs if v in allowed}:  # type: ignore[union-attr]
            raise method_not_allowed(f"{method} is not allowed on {info.plural}/{sub}")
        if sub == "log":
            ns = t.namespace or ""
            text, path, offset = pods.read_log(self.store, self.log_path, ns, t.name, req.query, parse_bool)
            if req.flag("follow") and "limitBytes" not in req.query:
                name = t.name
                return LogFollow(text, path, offset, lambda: pods.container_running(self.store, ns, name))
            return Reply(200, text, "text/plain")
        if sub == "portforward":  # served over a WebSocket (portforward.py); SPDY is not spoken here
            raise ApiError(
                400,
                "BadRequest",
                "Upgrade request required: port-forward needs a WebSocket "
                "(subprotocol v4.channel.k8s.io); this server does not speak SPDY",
            )
        if sub == "eviction":
            body = parse_body(req, required=False)
            return reply(pods.evict(self.store, t.namespace or "", t.name, body), 201)
        if sub == "scale":
            return reply(self._scale(req, t))
        if method == "GET":
            return self.get(req, t)
        if method == "PUT":
            return Reply(200, self.store.replace_entry(info.key, t.namespace, t.name, parse_body(req), "status").json())
        return Reply(200, self._patch(req, t, "status").json())

    def _scale(self, req: Request, t: Target) -> dict[str, Any]:
        assert t.name is not None
        key = t.info.key
        current = scale_of(self.store.entry(key, t.namespace, t.name).obj)
        if req.method == "GET":
            return current
        if req.method == "PUT":
            wanted = parse_body(req)
        else:
            if req.content_type.split(";")[0].strip() == APPLY:
                apply_patch({}, {}, APPLY)
            wanted = apply_patch(current, parse_body(req), req.content_type)
        if not isinstance(wanted, dict):
            raise bad_request("the body of a scale update must be a Scale object")
        replicas = (wanted.get("spec") or {}).get("replicas")
        if isinstance(replicas, bool) or not isinstance(replicas, int):
            raise ApiError(422, "Invalid", f'Scale.autoscaling "{t.name}" is invalid: spec.replicas: Invalid value: '
                           f"{replicas!r}: must be an integer")  # fmt: skip
        patch = {"metadata": {"resourceVersion": (wanted.get("metadata") or {}).get("resourceVersion")}}
        patch["spec"] = {"replicas": replicas}  # type: ignore[assignment]
        entry = self.store.patch_entry(key, t.namespace, t.name, patch, "application/merge-patch+json")
        return scale_of(entry.obj)


def _timeout(raw: str | None) -> float:
    if raw in (None, ""):
        return random.uniform(1800, 3600)  # kube-apiserver's default: minRequestTimeout to twice that
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"timeoutSeconds: {raw!r} is not an integer") from None
    return max(0, value)


def _paginate(found: list[Entry], limit_raw: str | None, token: str | None) -> tuple[list[Entry], str, int]:
    """One page after the ``continue`` token (namespace/name of the last item served); pages read the current
    state, not a snapshot."""
    start = 0
    if token:
        try:
            after = tuple(json.loads(base64.urlsafe_b64decode(token.encode())))
        except (ValueError, binascii.Error, TypeError):
            raise bad_request("continue key is not valid") from None
        keys = [(e.obj["metadata"].get("namespace") or "", e.obj["metadata"]["name"]) for e in found]
        start = next((i for i, key in enumerate(keys) if key > after), len(found))
    try:
        limit = int(limit_raw) if limit_raw not in (None, "") else 0
    except ValueError:
        raise bad_request(f"limit: {limit_raw!r} is not an integer") from None
    if limit <= 0 or start + limit >= len(found):
        return found[start:], "", 0
    page = found[start : start + limit]
    last = page[-1].obj["metadata"]
    next_token = base64.urlsafe_b64encode(json.dumps([last.get("namespace") or "", last["name"]]).encode()).decode()
    return page, next_token, len(found) - start - limit
