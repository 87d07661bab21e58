"""What the embedded kubelet mounts for a pod, and the API address it gives it, as a kubelet does.

In: a Pod object, the pod's own directory on this machine (``root``), readers for ConfigMaps, Secrets and
ServiceAccounts, a token issuer for service accounts and the API server's in-cluster address.  Out: the
files written under ``root`` and the environment the container gets.

A local process has no mount namespace, so a container's filesystem is the directory ``root``: a volume
mounted at ``/etc/kibench`` is the directory ``<root>/etc/kibench``.  The container is told where its root is
(``KIBENCH_CONTAINER_ROOT``); kibench resolves the paths it is given inside a pod through it
(``harness.platform.kubernetes.incluster.container_path``).  Mounted:

- ``configMap`` and ``secret`` volumes: one file per key (or per ``items`` entry, at its ``path``), written
  once when the pod starts (a kubelet refreshes them later; kibench's pods read them once);
- ``emptyDir``: an empty directory that lives as long as the pod;
- the service account's token, ``ca.crt`` and ``namespace`` at ``/var/run/secrets/kubernetes.io/serviceaccount``
  (unless ``automountServiceAccountToken: false``), for the pod's ``serviceAccountName``, which must exist,
  and ``KUBERNETES_SERVICE_HOST`` / ``KUBERNETES_SERVICE_PORT`` (and the ``KUBERNETES_PORT*`` family), which is
  what ``kubernetes.config.load_incluster_config`` reads.  A pod without ``serviceAccountName`` gets none (a
  cluster's admission would give it the namespace's ``default`` account, which this cluster does not make).

``MountError`` names what is missing (a ConfigMap, a Secret, a ServiceAccount); the kubelet reports it as
``CreateContainerConfigError`` and tries again, as a kubelet does.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
ROOT_ENV = "KIBENCH_CONTAINER_ROOT"


class MountError(Exception):
    """A volume's source or the pod's service account does not exist (yet)."""


@dataclass(frozen=True)
class ApiAddress:
    """Where pods reach the API server, and how they check it."""

    host: str
    port: int
    ca_pem: bytes


Reader = Callable[[str, str], Obj | None]  # (namespace, name) -> the object or None


def host_path(root: str, path: str) -> str:
    """The directory on this machine standing for ``path`` inside the container."""
    return os.path.join(root, path.lstrip("/"))


def _write_files(target: str, data: dict[str, bytes], items: list[Obj] | None) -> None:
    os.makedirs(target, exist_ok=True)
    chosen = [(i["key"], i.get("path") or i["key"]) for i in items or []] or [(k, k) for k in data]
    for key, rel in chosen:
        if key not in data:
            continue
        path = os.path.join(target, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data[key])


def _config_map_data(cm: Obj) -> dict[str, bytes]:
    data = {k: str(v).encode() for k, v in (cm.get("data") or {}).items()}
    data.update({k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()})
    return data


def _secret_data(secret: Obj) -> dict[str, bytes]:
    data = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
    data.update({k: str(v).encode() for k, v in (secret.get("stringData") or {}).items()})
    return data


def mount(
    pod: Obj,
    root: str,
    config_map: Reader,
    secret: Reader,
    service_account: Reader,
    token_for: Callable[[str, str], str] | None,
    api: ApiAddress | None,
) -> dict[str, str]:
    """Write the pod's volumes under ``root``; the environment the kubelet adds.  ``MountError`` when a source
    is missing."""
    ns, spec = pod["metadata"].get("namespace") or "default", pod.get("spec") or {}
    volumes = {v.get("name"): v for v in spec.get("volumes") or [] if isinstance(v, dict)}
    os.makedirs(root, exist_ok=True)
    for container in spec.get("containers") or []:
        for vm in container.get("volumeMounts") or []:
            volume = volumes.get(vm.get("name"))
            if volume is None:
                raise MountError(f"volume {vm.get('name')!r} is mounted but not defined in spec.volumes")
            target = host_path(root, str(vm.get("mountPath", "")))
            if "configMap" in volume:
                src = volume["configMap"]
                cm = config_map(ns, src.get("name", ""))
                if cm is None:
                    if src.get("optional"):
                        os.makedirs(target, exist_ok=True)
                        continue
                    raise MountError(f'configmap "{src.get("name")}" not found')
                _write_files(target, _config_map_data(cm), src.get("items"))
            elif "secret" in volume:
                src = volume["secret"]
                found = secret(ns, src.get("secretName", ""))
                if found is None:
                    raise MountError(f'secret "{src.get("secretName")}" not found')
                _write_files(target, _secret_data(found), src.get("items"))
            else:  # emptyDir (and anything else this runtime treats as scratch space)
                os.makedirs(target, exist_ok=True)
    env = {ROOT_ENV: root}
    account = spec.get("serviceAccountName")
    if not account or spec.get("automountServiceAccountToken") is False or token_for is None or api is None:
        return env
    if service_account(ns, account) is None:
        raise MountError(f'serviceaccount "{account}" not found')
    _write_files(host_path(root, SA_DIR), {"token": token_for(ns, account).encode(), "ca.crt": api.ca_pem,
                                           "namespace": ns.encode()}, None)  # fmt: skip
    host = f"[{api.host}]" if ":" in api.host else api.host
    env.update(
        KUBERNETES_SERVICE_HOST=api.host,
        KUBERNETES_SERVICE_PORT=str(api.port),
        KUBERNETES_SERVICE_PORT_HTTPS=str(api.port),
        KUBERNETES_PORT=f"tcp://{host}:{api.port}",
        KUBERNETES_PORT_443_TCP=f"tcp://{host}:{api.port}",
        KUBERNETES_PORT_443_TCP_PROTO="tcp",
        KUBERNETES_PORT_443_TCP_ADDR=api.host,
        KUBERNETES_PORT_443_TCP_PORT=str(api.port),
    )
    return env


#: Variables of the machine kibench runs on that name a cluster: a container does not inherit them.
HOST_ONLY = ("KUBECONFIG", "KUBERNETES_", "CHAOSTOOLKIT_IN_POD", ROOT_ENV)


def container_env(host_env: dict[str, str]) -> dict[str, str]:
    """The machine's environment less what would point a pod's process at another cluster."""
    return {k: v for k, v in host_env.items() if not k.startswith(HOST_ONLY)}
