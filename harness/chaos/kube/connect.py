"""How kibench's activities reach a cluster: the official client from a kubeconfig, and the embedded
cluster's private API.

In: the experiment's ``configuration`` (chaoslib passes it to every activity): ``kibench_kubeconfig``
(set by ``kibench run``), else the ``KUBECONFIG`` environment variable (its first file), else
``~/.kube/config``; inside a pod with ``CHAOSTOOLKIT_IN_POD=true`` and no kubeconfig, the in-cluster
configuration (as chaosk8s does).  ``kibench_namespace``, else ``KIBENCH_NAMESPACE``, else ``default``.
Out: ``cluster(configuration)``, a short-lived ``kubernetes.client.ApiClient`` (closed on exit);
``private(api, path, body)`` for ``/kibench/v1/...`` on the same server with the same token and CA
(the embedded cluster only; a clear ``ActivityFailed`` on any other cluster); ``failed(exc, what)``,
an ``ApiException`` turned into an ``ActivityFailed`` that says what was being done.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chaoslib.exceptions import ActivityFailed
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

Config = dict[str, Any] | None

KUBECONFIG_KEY = "kibench_kubeconfig"
NAMESPACE_KEY = "kibench_namespace"
DEPLOYMENT_KEY = "kibench_deployment"
SERVICE_SELECTOR = "app.kubernetes.io/name=kibench-service"
"""The label every pod (and Service) of kibench's reference service carries: the default target."""
PRIVATE_PREFIX = "/kibench/v1"


def kubeconfig_path(configuration: Config) -> str:
    """The kubeconfig an activity uses: the experiment's ``kibench_kubeconfig``, ``$KUBECONFIG``, ~/.kube/config."""
    given = str((configuration or {}).get(KUBECONFIG_KEY) or "")
    if not given:
        given = next((p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p), "~/.kube/config")
    return os.path.expanduser(given)


def namespace(configuration: Config, ns: str | None = None) -> str:
    """``ns`` when given, else the experiment's ``kibench_namespace``, ``$KIBENCH_NAMESPACE`` or ``default``."""
    return str(ns or (configuration or {}).get(NAMESPACE_KEY) or os.environ.get("KIBENCH_NAMESPACE") or "default")


@contextmanager
def cluster(configuration: Config) -> Iterator[client.ApiClient]:
    """An ``ApiClient`` for the experiment's cluster, closed afterwards."""
    path = kubeconfig_path(configuration)
    try:
        if os.path.exists(path):
            api = config.new_client_from_config(config_file=path, context=os.environ.get("KUBERNETES_CONTEXT"))
        elif os.environ.get("CHAOSTOOLKIT_IN_POD") == "true":
            settings = client.Configuration()
            config.load_incluster_config(client_configuration=settings)
            api = client.ApiClient(settings)
        else:
            raise ActivityFailed(
                f"no kubeconfig at {path}: set KUBECONFIG (or the configuration key {KUBECONFIG_KEY!r}) to the "
                "cluster's kubeconfig; `python -m harness.platform.local --kubeconfig PATH` writes one"
            )
    except config.ConfigException as exc:
        raise ActivityFailed(f"kubeconfig {path}: {exc}") from exc
    try:
        yield api
    finally:
        api.close()


def message(exc: ApiException) -> str:
    """The Status message of an API error (or its reason)."""
    try:
        body = json.loads(exc.body)
    except (TypeError, ValueError):
        return str(exc.reason)
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or exc.reason)
    return str(exc.reason)


def failed(exc: ApiException, what: str) -> ActivityFailed:
    """``exc`` as an ActivityFailed: ``<what>: <status> <message>``."""
    return ActivityFailed(f"{what}: {exc.status} {message(exc)}")


def private(api: client.ApiClient, path: str, body: dict[str, Any] | None = None, method: str = "POST") -> Any:
    """``method`` ``/kibench/v1<path>`` on the cluster's API server, with the kubeconfig's token and CA.

    Only the embedded cluster serves this API; anywhere else the answer is an ActivityFailed saying so."""
    server = api.configuration.host
    try:
        response = api.call_api(
            f"{PRIVATE_PREFIX}{path}",
            method,
            header_params={"Accept": "application/json", "Content-Type": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=10,
        )
    except ApiException as exc:
        if _is_embedded(exc):
            raise failed(exc, f"{method} {PRIVATE_PREFIX}{path}") from exc
        raise ActivityFailed(
            f"{server} is not kibench's embedded cluster (it has no {PRIVATE_PREFIX} API: {exc.status} "
            f"{exc.reason}); this fault needs `python -m harness.platform.local` (on a real cluster, lose a "
            "node through your cloud provider's API instead)"
        ) from exc
    except HTTPError as exc:
        raise ActivityFailed(f"{method} {server}{PRIVATE_PREFIX}{path} failed: {exc}") from exc
    data = response[0].data if isinstance(response, tuple) else response.data
    try:
        return json.loads(data or b"{}")
    except ValueError:
        return {}


def _is_embedded(exc: ApiException) -> bool:
    """The embedded cluster's private API answers errors as ``{"error": ...}``; an API server sends a Status."""
    try:
        body = json.loads(exc.body)
    except (TypeError, ValueError):
        return False
    return isinstance(body, dict) and "error" in body
