"""A kubeconfig file for the embedded API, read by kubectl, the ``kubernetes`` client and chaosk8s.

In: where to write it, the server URL (``https://127.0.0.1:PORT``: kubectl sends no token to an ``http`` server),
the bearer token, the default namespace and the server's certificate.  Out: a YAML file (mode 0600, written
atomically) with one cluster (``certificate-authority-data``), one user (``token:``) and one context, made the
current context.  chaosk8s reads it through ``KUBECONFIG``.
"""

from __future__ import annotations

import base64
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml


def kubeconfig(
    server_url: str,
    token: str,
    namespace: str = "default",
    context: str = "kibench-local",
    ca_pem: bytes | str | None = None,
) -> dict[str, Any]:
    """The kubeconfig document as a dict."""
    cluster: dict[str, Any] = {"server": server_url}
    if ca_pem:
        data = ca_pem.encode() if isinstance(ca_pem, str) else ca_pem
        cluster["certificate-authority-data"] = base64.b64encode(data).decode()
    elif server_url.startswith("https:"):
        cluster["insecure-skip-tls-verify"] = True
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": context, "cluster": cluster}],
        "users": [{"name": context, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}],
        "current-context": context,
    }
    return doc


def write_kubeconfig(
    path: str | os.PathLike[str],
    server_url: str,
    token: str,
    namespace: str = "default",
    context: str = "kibench-local",
    ca_pem: bytes | str | None = None,
) -> None:
    """Write the kubeconfig to ``path`` (parents created, mode 0600, replaced atomically).  ``ca_pem``: the
    server's certificate (``ApiServer.ca_pem``); without it an ``https`` server is not verified."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(kubeconfig(server_url, token, namespace, context, ca_pem), sort_keys=False)
    fd, tmp = tempfile.mkstemp(prefix=".kubeconfig-", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
