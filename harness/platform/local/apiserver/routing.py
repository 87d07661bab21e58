"""From an HTTP request to what it asks for: the target resource, the verb, the answer's form.

In: a path (``/apis/apps/v1/namespaces/ns/deployments/web/scale``), a query string and the request headers.
Out: ``Target`` (resource, namespace, name, subresource, whether it is a legacy ``/watch/`` path) and ``Request``
(method, query, body, the negotiated form: ``json``, ``table`` or ``partial``), or ``ApiError`` 404 for paths
no resource lives at.  ``parse_bool`` reads query booleans as Go's ``strconv.ParseBool`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from harness.platform.local.apiserver.errors import bad_request, resource_not_found
from harness.platform.local.apiserver.resources import ResourceInfo, by_path

_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def parse_bool(value: str | None, name: str = "parameter") -> bool:
    """Go's ParseBool: 1 t T TRUE true True / 0 f F FALSE false False; absent or empty is false; 400 otherwise."""
    if value is None or value == "" or value in _FALSE:
        return False
    if value in _TRUE:
        return True
    raise bad_request(f"{name}: invalid boolean value {value!r}")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    form: str = "json"  # json | table | partial

    def flag(self, name: str) -> bool:
        return parse_bool(self.query.get(name), name)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass
class Target:
    info: ResourceInfo
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    legacy_watch: bool = False


def parse_query(raw: bytes) -> dict[str, str]:
    return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))


def negotiate(accept: str) -> str:
    """``table`` when a media range asks ``as=Table``, ``partial`` for ``as=PartialObjectMetadata[List]``,
    else ``json``: the first range this server can answer wins, and the answer is always JSON."""
    for media_range in accept.split(","):
        parts = [p.strip() for p in media_range.split(";")]
        params = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        as_ = params.get("as", "")
        if as_ == "Table":
            return "table"
        if as_ in ("PartialObjectMetadata", "PartialObjectMetadataList"):
            return "partial"
        if not as_ and parts[0] in ("application/json", "*/*", "application/*", ""):
            return "json"
    return "json"


def split_path(path: str) -> list[str]:
    return [unquote(p) for p in path.strip("/").split("/") if p != ""]


def resource_target(segments: list[str]) -> Target:
    """The target of an ``/api/v1/…`` or ``/apis/{group}/{version}/…`` path (discovery paths excluded)."""
    if segments[0] == "api":
        group, version, rest = "", segments[1], segments[2:]
    else:
        group, version, rest = segments[1], segments[2], segments[3:]
    legacy_watch = bool(rest) and rest[0] == "watch"
    if legacy_watch:
        rest = rest[1:]
    if not rest:
        raise resource_not_found()
    namespace = None
    namespace_sub = group == "" and len(rest) == 3 and rest[2] in ("status", "finalize")  # /namespaces/{n}/status
    if rest[0] == "namespaces" and len(rest) >= 3 and not namespace_sub:
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        raise resource_not_found()
    info = by_path(group, version, rest[0])
    if namespace is not None and not info.namespaced:
        raise resource_not_found()
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub is not None and (info.is_view or info.subresource(sub) is None):
        raise resource_not_found()
    return Target(info, namespace, name, sub, legacy_watch)
