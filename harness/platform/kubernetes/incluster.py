"""kibench inside a pod: the service account's in-cluster config, and the container's paths.

In: the environment a kubelet gives a container (``KUBERNETES_SERVICE_HOST`` / ``_PORT`` and the token, CA and
namespace files under ``/var/run/secrets/kubernetes.io/serviceaccount``).  Out: ``available()`` (all of it is
there), ``new_client()`` (the official client configured by ``kubernetes.config.load_incluster_config``'s
loader, refreshing the token as it does), ``namespace()`` (the pod's), ``server()``, ``container_path`` and
``write_kubeconfig`` (a kubeconfig naming the same service account: ``tokenFile``, ``ca.crt``, the namespace,
for the experiments of the run: chaostoolkit-kubernetes loads a kubeconfig before anything else, and its
in-pod mode reads the token at its fixed path, which a container of the embedded cluster has under its root).

The embedded cluster runs a container as a local process without a mount namespace: its filesystem is a
directory named by ``KIBENCH_CONTAINER_ROOT`` (``harness.platform.local.volumes``), and ``container_path``
maps a path inside the container (``/etc/kibench/scenario.yaml``) to that directory.  In a real container the
variable is unset and paths are what they say.
"""

from __future__ import annotations

import os

import yaml
from kubernetes import client
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import (
    SERVICE_CERT_FILENAME,
    SERVICE_HOST_ENV_NAME,
    SERVICE_PORT_ENV_NAME,
    SERVICE_TOKEN_FILENAME,
    InClusterConfigLoader,
)

from harness.errors import PlatformError

ROOT_ENV = "KIBENCH_CONTAINER_ROOT"
#: What ``platform.kubeconfig`` resolves to when kibench runs in a pod with no kubeconfig: the service account.
IN_CLUSTER = ""
CONTEXT = "in-cluster"
NAMESPACE_FILENAME = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def container_path(path: str) -> str:
    """``path`` as seen inside the container, on this machine."""
    root = os.environ.get(ROOT_ENV)
    if not root or not os.path.isabs(path):
        return path
    return os.path.join(root, path.lstrip("/"))


def available() -> bool:
    """Whether this process runs in a pod with a service account token (what ``load_incluster_config`` needs)."""
    return bool(os.environ.get(SERVICE_HOST_ENV_NAME) and os.environ.get(SERVICE_PORT_ENV_NAME)) and os.path.isfile(
        container_path(SERVICE_TOKEN_FILENAME)
    )


def server() -> str:
    host, port = os.environ.get(SERVICE_HOST_ENV_NAME, ""), os.environ.get(SERVICE_PORT_ENV_NAME, "")
    return f"https://{f'[{host}]' if ':' in host else host}:{port}"


def namespace() -> str | None:
    try:
        with open(container_path(NAMESPACE_FILENAME), encoding="utf-8") as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def new_client() -> client.ApiClient:
    """The official client on the pod's service account (``PlatformError`` outside a pod)."""
    configuration = client.Configuration()
    try:
        InClusterConfigLoader(
            token_filename=container_path(SERVICE_TOKEN_FILENAME), cert_filename=container_path(SERVICE_CERT_FILENAME)
        ).load_and_set(configuration)
    except ConfigException as exc:
        raise PlatformError(f"in-cluster configuration: {exc}") from exc
    return client.ApiClient(configuration)


def write_kubeconfig(path: str, namespace_: str) -> str:
    """Write, at ``path`` inside the container, a kubeconfig for the pod's service account in ``namespace_``
    (the token is named by its file, so a refreshed token is read again); the path on this machine."""
    where = container_path(path)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": server(),
                                                   "certificate-authority": container_path(SERVICE_CERT_FILENAME)}}],
        "users": [{"name": CONTEXT, "user": {"tokenFile": container_path(SERVICE_TOKEN_FILENAME)}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace_}}],
        "current-context": CONTEXT,
    }  # fmt: skip
    os.makedirs(os.path.dirname(where), exist_ok=True)
    with open(where, "w", encoding="utf-8") as fh:
        yaml.safe_dump(config, fh, sort_keys=False)
    return where
