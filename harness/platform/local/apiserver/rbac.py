"""Who a request is and whether RBAC lets it: service-account tokens and Kubernetes' RBAC authorizer.

In: a bearer token, the request's attributes (verb, API group, resource, subresource, namespace, name) and the
Roles, ClusterRoles, RoleBindings and ClusterRoleBindings in the store.  Out:

- ``Tokens``: the cluster's admin token (the kubeconfig's user: everything is allowed, as a cluster admin)
  and the tokens it issued for service accounts (``issue(namespace, name)``, what a kubelet asks the API for
  when it mounts a pod's token), each naming the user ``system:serviceaccount:<namespace>:<name>``;
- ``attributes(method, target, watch)``: the verb as kube-apiserver names it (``get``, ``list``, ``watch``,
  ``create``, ``update``, ``patch``, ``delete``, ``deletecollection``) and the resource (``pods/log`` for a
  subresource);
- ``allowed(store, user, attrs)``: RBAC's rule: some RoleBinding in the namespace (to a Role there or a
  ClusterRole) or some ClusterRoleBinding binds a role with a rule matching the verb, group, resource and
  (when the rule names any) resource name; ``*`` matches all.  Subjects: ``ServiceAccount`` (name and
  namespace), ``Group`` ``system:serviceaccounts`` and ``system:serviceaccounts:<namespace>``, ``User``.
  Discovery and ``/version`` are everyone's (``system:discovery``).  A refusal is a 403 worded as
  kube-apiserver words it.
- ``Audit``: each service account's requests, counted by (verb, group, resource, namespace), and its
  refusals, for ``GET /kibench/v1/audit`` and the tests that check a Role is the least one that works.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from harness.platform.local.apiserver.errors import ApiError
from harness.platform.local.apiserver.routing import Target

RBAC = "rbac.authorization.k8s.io"
ROLES, CLUSTER_ROLES = f"roles.{RBAC}", f"clusterroles.{RBAC}"
BINDINGS, CLUSTER_BINDINGS = f"rolebindings.{RBAC}", f"clusterrolebindings.{RBAC}"


@dataclass(frozen=True)
class User:
    name: str
    admin: bool = False
    namespace: str | None = None  # a service account's
    account: str | None = None


@dataclass(frozen=True)
class Attributes:
    verb: str
    group: str
    resource: str  # "pods" or "pods/log"
    namespace: str | None
    name: str | None


class Tokens:
    """The admin token and the service-account tokens this API server issued."""

    def __init__(self, admin_token: str) -> None:
        if not admin_token:
            raise ValueError("the API needs a non-empty bearer token")
        self._admin = admin_token.encode()
        self._accounts: dict[str, User] = {}
        self._lock = threading.Lock()

    def issue(self, namespace: str, name: str) -> str:
        token = "sa-" + secrets.token_urlsafe(24)
        user = User(f"system:serviceaccount:{namespace}:{name}", False, namespace, name)
        with self._lock:
            self._accounts[token] = user
        return token

    def user(self, token: str) -> User | None:
        if token and hmac.compare_digest(token.encode(), self._admin):
            return User("kibench-admin", admin=True)
        with self._lock:
            return self._accounts.get(token)


def attributes(method: str, target: Target, watch: bool) -> Attributes:
    info = target.info
    if method == "GET":
        verb = "watch" if watch or target.legacy_watch else ("get" if target.name else "list")
    elif method == "DELETE":
        verb = "delete" if target.name else "deletecollection"
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())
    resource = info.plural + (f"/{target.subresource}" if target.subresource else "")
    return Attributes(verb, info.group, resource, target.namespace, target.name)


def _matches(rule: dict[str, Any], attrs: Attributes) -> bool:
    def has(values: Any, value: str) -> bool:
        return isinstance(values, list) and ("*" in values or value in values)

    if not (has(rule.get("verbs"), attrs.verb) and has(rule.get("apiGroups"), attrs.group)):
        return False
    resource_ok = has(rule.get("resources"), attrs.resource)
    if not resource_ok and "/" in attrs.resource:  # "*/scale" matches any resource's scale
        resource_ok = has(rule.get("resources"), "*/" + attrs.resource.split("/", 1)[1])
    if not resource_ok:
        return False
    names = rule.get("resourceNames") or []
    return not names or (attrs.name is not None and attrs.name in names)


def _binds(binding: dict[str, Any], user: User) -> bool:
    for subject in binding.get("subjects") or []:
        kind, name = subject.get("kind"), subject.get("name")
        if kind == "ServiceAccount" and user.account is not None:
            if (
                name == user.account
                and subject.get("namespace", binding["metadata"].get("namespace")) == user.namespace
            ):
                return True
        elif (
            kind == "User"
            and name == user.name
            or kind == "Group"
            and user.account is not None
            and name in ("system:serviceaccounts", f"system:serviceaccounts:{user.namespace}", "system:authenticated")
        ):
            return True
    return False


def _rules(store: Any, ref: dict[str, Any], namespace: str | None) -> list[dict[str, Any]]:
    kind, name = ref.get("kind"), ref.get("name", "")
    found = (
        store.find(ROLES, namespace, name)
        if kind == "Role" and namespace
        else (store.find(CLUSTER_ROLES, None, name) if kind == "ClusterRole" else None)
    )
    return list(found.obj.get("rules") or []) if found is not None else []


def allowed(store: Any, user: User, attrs: Attributes) -> bool:
    if user.admin:
        return True
    candidates: list[tuple[dict[str, Any], str | None]] = []
    for entry in store.entries(CLUSTER_BINDINGS, None):
        candidates.append((entry.obj, None))
    if attrs.namespace:
        for entry in store.entries(BINDINGS, attrs.namespace):
            candidates.append((entry.obj, attrs.namespace))
    for binding, namespace in candidates:
        if _binds(binding, user) and any(
            _matches(r, attrs) for r in _rules(store, binding.get("roleRef") or {}, namespace)
        ):
            return True
    return False


def forbidden(user: User, attrs: Attributes) -> ApiError:
    plural = attrs.resource.partition("/")[0]
    where = f' in the namespace "{attrs.namespace}"' if attrs.namespace else " at the cluster scope"
    named = f' "{attrs.name}"' if attrs.name else ""
    what = f'resource "{attrs.resource}" in API group "{attrs.group}"'
    message = f'{plural}{named} is forbidden: User "{user.name}" cannot {attrs.verb} {what}{where}'
    return ApiError(403, "Forbidden", message)


class Audit:
    """What each service account asked, allowed or refused (the admin's requests are not kept)."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, str, str, str, bool]] = Counter()
        self._lock = threading.Lock()

    def record(self, user: User, attrs: Attributes, ok: bool) -> None:
        if user.admin:
            return
        with self._lock:
            self.requests[(user.name, attrs.verb, attrs.group, attrs.resource, attrs.namespace or "", ok)] += 1

    def as_json(self) -> list[dict[str, Any]]:
        with self._lock:
            items = sorted(self.requests.items())
        keys = ("user", "verb", "group", "resource", "namespace", "allowed")
        return [{**dict(zip(keys, k, strict=True)), "count": n} for k, n in items]
