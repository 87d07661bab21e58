"""Label and field selectors, parsed the way kube-apiserver parses them.

In: selector strings from ``?labelSelector=`` / ``?fieldSelector=`` (``app=web,tier in (a,b),!canary``;
``spec.nodeName=n1,status.phase!=Running``) or a ``LabelSelector`` object (``matchLabels`` / ``matchExpressions``).
Out: ``LabelSelector`` / ``FieldSelector`` values with ``matches(obj)``; ``ApiError`` 400 on syntax errors and on
field labels the resource does not support (``field label not supported: spec.foo``), as Kubernetes answers.
``format_label_selector`` turns a ``LabelSelector`` object back into its string form (``Scale.status.selector``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from harness.platform.local.apiserver.errors import bad_request

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_KEY_RE = re.compile(rf"^([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_NAME}$")
_VALUE_RE = re.compile(rf"^({_NAME})?$")
_REQ_RE = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[^\s=!<>(),]+)\s*"
    r"(?:(?P<op>==|=|!=|<|>)\s*(?P<value>[^\s=!<>(),]*)|(?P<setop>in|notin)\s*\((?P<values>[^()]*)\))?\s*$"
)


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # exists, !exists, =, !=, in, notin, gt, lt
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict[str, str]) -> bool:
        op, present = self.op, self.key in labels
        if op == "exists":
            return present
        if op == "!exists":
            return not present
        value = labels.get(self.key)
        if op in ("=", "in"):
            return present and value in self.values
        if op in ("!=", "notin"):
            return not present or value not in self.values
        try:
            number, bound = int(value or ""), int(next(iter(self.values)))
        except ValueError:
            return False
        return number > bound if op == "gt" else number < bound


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


def _split_outside_parens(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _check(key: str, values: list[str], text: str) -> None:
    if not _KEY_RE.match(key):
        raise bad_request(f"unable to parse requirement: invalid label key {key!r} in {text!r}")
    for value in values:
        if not _VALUE_RE.match(value):
            raise bad_request(f"unable to parse requirement: invalid label value {value!r} in {text!r}")


@lru_cache(maxsize=512)
def parse_label_selector(text: str) -> LabelSelector:
    """Parse ``?labelSelector=``; 400 BadRequest on anything Kubernetes would not parse."""
    if not text.strip():
        return LabelSelector()
    requirements = []
    for part in _split_outside_parens(text):
        m = _REQ_RE.match(part)
        if not part.strip() or m is None:
            raise bad_request(f"unable to parse requirement: found {part.strip()!r} in label selector {text!r}")
        key, neg, op = m["key"], m["neg"], m["op"] or m["setop"]
        if neg and op:
            raise bad_request(f"unable to parse requirement: '!' only goes before a bare key in {text!r}")
        if op is None:
            _check(key, [], text)
            requirements.append(Requirement(key, "!exists" if neg else "exists"))
            continue
        if op in ("in", "notin"):
            values = [v.strip() for v in m["values"].split(",")]
            if not any(values):
                raise bad_request(f"unable to parse requirement: {op} needs at least one value in {text!r}")
        else:
            values = [m["value"]]
        _check(key, values, text)
        if op in ("<", ">") and not re.fullmatch(r"-?\d+", values[0]):
            raise bad_request(f"unable to parse requirement: {op} needs an integer in {text!r}")
        name = {"==": "=", "<": "lt", ">": "gt"}.get(op, op)
        requirements.append(Requirement(key, name, frozenset(values)))
    return LabelSelector(tuple(requirements))


_EXPR_OPS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}


def selector_from_object(spec: dict[str, Any] | None) -> LabelSelector | None:
    """A ``LabelSelector`` object (``matchLabels`` + ``matchExpressions``); None for a null selector."""
    if spec is None:
        return None
    reqs = [Requirement(k, "=", frozenset([str(v)])) for k, v in sorted((spec.get("matchLabels") or {}).items())]
    for expr in spec.get("matchExpressions") or []:
        op = _EXPR_OPS.get(expr.get("operator", ""))
        if op is None:
            raise bad_request(f"unknown selector operator {expr.get('operator')!r}")
        reqs.append(Requirement(str(expr.get("key", "")), op, frozenset(map(str, expr.get("values") or []))))
    return LabelSelector(tuple(reqs))


def format_label_selector(spec: dict[str, Any] | None) -> str:
    """``{"matchLabels": {"app": "web"}}`` → ``"app=web"`` (the form ``Scale.status.selector`` carries)."""
    selector = selector_from_object(spec)
    if selector is None:
        return ""
    parts = []
    for r in sorted(selector.requirements, key=lambda r: r.key):
        values = ",".join(sorted(r.values))
        parts.append(
            {"=": f"{r.key}={values}", "exists": r.key, "!exists": f"!{r.key}"}.get(r.op, f"{r.key} {r.op} ({values})")
        )
    return ",".join(parts)


# --- field selectors -------------------------------------------------------------------------------------------

_COMMON = ("metadata.name", "metadata.namespace")
_INVOLVED = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
#: Field label → the path it reads, per stored resource (views translate their labels first).
FIELDS: dict[str, dict[str, str]] = {
    "pods": {
        f: f
        for f in (
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        )
    },
    "nodes": {"spec.unschedulable": "spec.unschedulable"},
    "namespaces": {"status.phase": "status.phase"},
    "services": {"spec.clusterIP": "spec.clusterIP", "spec.type": "spec.type"},
    "events": {
        **{f"involvedObject.{f}": f"involvedObject.{f}" for f in _INVOLVED},
        "reason": "reason",
        "reportingComponent": "reportingComponent",
        "source": "source.component",
        "type": "type",
    },
    "events.events.k8s.io": {
        **{f"regarding.{f}": f"involvedObject.{f}" for f in _INVOLVED},
        "reason": "reason",
        "reportingController": "reportingComponent",
        "type": "type",
    },
}


@dataclass(frozen=True)
class FieldSelector:
    terms: tuple[tuple[tuple[str, ...], bool, str], ...] = ()  # (path, equal?, value)

    def matches(self, obj: dict[str, Any]) -> bool:
        return all((field_value(obj, path) == value) == equal for path, equal, value in self.terms)

    @property
    def empty(self) -> bool:
        return not self.terms

    @property
    def exact_name(self) -> str | None:
        """The name a ``metadata.name=`` term pins, so a lookup can replace a scan."""
        return next((v for path, eq, v in self.terms if eq and path == ("metadata", "name")), None)


def field_value(obj: dict[str, Any], path: tuple[str, ...]) -> str:
    """The string a field selector compares: missing → ``""``, booleans → ``"true"``/``"false"``."""
    cur: Any = obj
    for part in path:
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return "false" if path == ("spec", "unschedulable") else ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def _split_escaped(text: str) -> list[str]:
    parts, cur, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if ch == ",":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


@lru_cache(maxsize=512)
def parse_field_selector(resource_key: str, text: str) -> FieldSelector:
    """Parse ``?fieldSelector=`` for one resource; 400 on syntax errors and unsupported field labels."""
    if not text.strip():
        return FieldSelector()
    allowed = {f: f for f in _COMMON} | FIELDS.get(resource_key, {})
    terms = []
    for part in _split_escaped(text):
        m = re.match(r"^\s*([^=!\s]+)\s*(==|=|!=)(.*)$", part)
        if m is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        label, op, raw = m.group(1), m.group(2), m.group(3).strip()
        if label not in allowed:
            raise bad_request(f"field label not supported: {label}")
        value = re.sub(r"\\(.)", r"\1", raw)
        terms.append((tuple(allowed[label].split(".")), op != "!=", value))
    return FieldSelector(tuple(terms))
