"""Plain REST calls for the few kinds kibench writes, through the official client's ``ApiClient``.

In: an ``ApiClient`` (from a kubeconfig), a kind name (``Deployment``), a namespace and a name.  Out: the
object as the API server sent it (a plain dict, like the informers' caches), ``None`` for a 404 on ``get``,
or the client's ``ApiException`` for any other answer >= 400 (callers turn it into a ``HarnessError``);
``PlatformError`` when the API server cannot be reached.

One generic path (``/api/v1/...``, ``/apis/<group>/<version>/...``) instead of a typed call per kind keeps
every write in one function that ``guard.Guard`` wraps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from harness.errors import PlatformError

Obj = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
TIMEOUT_S = 15


@dataclass(frozen=True)
class Kind:
    """A kind kibench may write: its apiVersion, plural and whether it lives in a namespace."""

    kind: str
    api_version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None, name: str | None = None, subresource: str | None = None) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        where = f"/namespaces/{namespace}" if self.namespaced else ""
        tail = f"/{name}" if name else ""
        sub = f"/{subresource}" if subresource and name else ""
        return f"{base}{where}/{self.plural}{tail}{sub}"

    def describe(self, namespace: str | None, name: str) -> str:
        """``Deployment team/web`` (``Namespace kibench-x`` for a cluster-wide kind)."""
        return f"{self.kind} {namespace}/{name}" if self.namespaced else f"{self.kind} {name}"


KINDS: dict[str, Kind] = {
    k.kind: k
    for k in (
        Kind("Namespace", "v1", "namespaces", namespaced=False),
        Kind("Node", "v1", "nodes", namespaced=False),
        Kind("Pod", "v1", "pods"),
        Kind("Service", "v1", "services"),
        Kind("Secret", "v1", "secrets"),
        Kind("ConfigMap", "v1", "configmaps"),
        Kind("Deployment", "apps/v1", "deployments"),
        Kind("ReplicaSet", "apps/v1", "replicasets"),
        Kind("HorizontalPodAutoscaler", "autoscaling/v2", "horizontalpodautoscalers"),
        Kind("PodDisruptionBudget", "policy/v1", "poddisruptionbudgets"),
        Kind("ServiceAccount", "v1", "serviceaccounts"),
        Kind("Job", "batch/v1", "jobs"),
        Kind("Role", "rbac.authorization.k8s.io/v1", "roles"),
        Kind("RoleBinding", "rbac.authorization.k8s.io/v1", "rolebindings"),
        Kind("ClusterRole", "rbac.authorization.k8s.io/v1", "clusterroles", namespaced=False),
        Kind("ClusterRoleBinding", "rbac.authorization.k8s.io/v1", "clusterrolebindings", namespaced=False),
        Kind("VerticalPodAutoscaler", "autoscaling.k8s.io/v1", "verticalpodautoscalers"),
    )
}


def kind_of(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"kibench does not write {name} objects (known: {', '.join(KINDS)})") from None


def call(
    api: client.ApiClient,
    method: str,
    path: str,
    body: Any = None,
    content_type: str = "application/json",
    query: list[tuple[str, str]] | None = None,
) -> Obj:
    """One request; the decoded JSON answer.  Raises ``ApiException`` for a status >= 400 and ``PlatformError``
    when the API server does not answer."""
    try:
        response = api.call_api(
            path,
            method,
            query_params=query or [],
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
            _preload_content=False,
            _return_http_data_only=True,
            _request_timeout=TIMEOUT_S,
        )
    except HTTPError as exc:
        raise PlatformError(f"{method} {api.configuration.host}{path}: the API server did not answer ({exc})") from exc
    data = response.data if hasattr(response, "data") else response[0].data
    try:
        decoded = json.loads(data or b"{}")
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def get(api: client.ApiClient, kind: Kind, namespace: str | None, name: str) -> Obj | None:
    """The object, or None when it does not exist."""
    try:
        return call(api, "GET", kind.path(namespace, name))
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def message(exc: ApiException) -> str:
    """The Status message of an API error (or its reason)."""
    try:
        body = json.loads(exc.body)
    except (TypeError, ValueError):
        return str(exc.reason)
    return str(body.get("message") or exc.reason) if isinstance(body, dict) else str(exc.reason)
