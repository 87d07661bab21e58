"""The few Kubernetes protobuf bodies kubectl 1.32 sends however the server answers.

kubectl's typed clients write built-in kinds as ``application/vnd.kubernetes.protobuf`` and do not fall back to
JSON on a 415, so ``kubectl create namespace`` (a Namespace), ``kubectl drain`` (an Eviction) and deletions
(DeleteOptions) arrive in protobuf.  This decodes the envelope (``k8s\\0`` + ``runtime.Unknown``) and those three
kinds (``ObjectMeta`` with name, generateName, namespace, labels, annotations, finalizers) into the JSON shape
the handlers take.

In: a request body.  Out: a dict like the JSON body would be, or ``ApiError`` 415 for any other kind (the
message says to send JSON, e.g. ``kubectl create -f``), 400 for a body that is not protobuf at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from harness.platform.local.apiserver.errors import ApiError, bad_request

MAGIC = b"k8s\x00"
Fields = list[tuple[int, int | bytes]]


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise bad_request("malformed protobuf body (truncated varint)")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value): varints as ints, length-delimited fields as bytes; fixed-width ones skipped."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise bad_request("malformed protobuf body (truncated field)")
            yield number, data[pos : pos + length]
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise bad_request(f"malformed protobuf body (wire type {wire})")


def _text(value: int | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _int64(value: int | bytes) -> int:
    number = value if isinstance(value, int) else 0
    return number - (1 << 64) if number >= 1 << 63 else number


def _map_entry(value: int | bytes) -> tuple[str, str]:
    entry = dict(_fields(value if isinstance(value, bytes) else b""))
    return _text(entry.get(1, b"")), _text(entry.get(2, b""))


def object_meta(data: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    names = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    for number, value in _fields(data):
        if number in names and value:
            meta[names[number]] = _text(value)
        elif number in (11, 12):
            key, text = _map_entry(value)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = text
        elif number == 14:
            meta.setdefault("finalizers", []).append(_text(value))
    return meta


def delete_options(data: bytes) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for number, value in _fields(data):
        if number == 1:
            options["gracePeriodSeconds"] = _int64(value)
        elif number == 2 and isinstance(value, bytes):
            pre = dict(_fields(value))
            options["preconditions"] = {k: _text(pre[n]) for n, k in ((1, "uid"), (2, "resourceVersion")) if n in pre}
        elif number == 3:
            options["orphanDependents"] = bool(value)
        elif number == 4:
            options["propagationPolicy"] = _text(value)
        elif number == 5:
            options.setdefault("dryRun", []).append(_text(value))
    return options


def _eviction(raw: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, value in _fields(raw):
        if number == 1 and isinstance(value, bytes):
            out["metadata"] = object_meta(value)
        elif number == 2 and isinstance(value, bytes):
            out["deleteOptions"] = delete_options(value)
    return out


def _namespace(raw: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, value in _fields(raw):
        if number == 1 and isinstance(value, bytes):
            out["metadata"] = object_meta(value)
        elif number == 2 and isinstance(value, bytes):
            out["spec"] = {"finalizers": [_text(v) for n, v in _fields(value) if n == 1]}
    return out


_KINDS = {"Eviction": _eviction, "DeleteOptions": delete_options, "Namespace": _namespace}


def decode(body: bytes) -> dict[str, Any]:
    """A protobuf request body as the equivalent JSON object."""
    if not body.startswith(MAGIC):
        raise bad_request("the body is not a Kubernetes protobuf message (no k8s\\0 prefix)")
    unknown = dict(_fields(body[len(MAGIC) :]))
    type_meta = dict(_fields(unknown.get(1, b"") if isinstance(unknown.get(1), bytes) else b""))
    api_version, kind = _text(type_meta.get(1, b"")), _text(type_meta.get(2, b""))
    decoder = _KINDS.get(kind)
    if decoder is None:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f"this server reads protobuf bodies only for {', '.join(_KINDS)} (got {kind or 'an unknown kind'}); "
            "send JSON instead (kubectl create -f FILE does)",
        )
    raw = unknown.get(2, b"")
    out = decoder(raw if isinstance(raw, bytes) else b"")
    if kind != "DeleteOptions":
        out = {"apiVersion": api_version, "kind": kind, **out}
    return out
