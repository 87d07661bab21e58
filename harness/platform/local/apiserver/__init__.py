"""An in-memory Kubernetes API server: the embedded cluster's API, served to kubectl, the ``kubernetes``
client and chaosk8s over loopback.

In: a ``Store`` (objects, resourceVersions, watches; controllers write through ``mutate``/``remove`` and react
through ``subscribe``), a bearer token and, for ``pods/log``, a ``log_path(namespace, pod, container)`` function.
Out: ``create_app`` (an ASGI app), ``ApiServer`` / ``ThreadedApiServer`` (uvicorn on 127.0.0.1) and
``write_kubeconfig``.

Modules, leaves first: ``errors`` (Status), ``timefmt``, ``resources`` (the resource table, discovery),
``selectors``, ``patches``, ``defaults`` (per-kind defaults, validation), ``changes`` (entries, ring buffer,
watch queues), ``admission`` (what a create or update must satisfy), ``deletion`` (graceful pods, finalizers,
cascade, namespaces), ``store``, ``views`` (events.k8s.io, Scale), ``podstatus`` and ``tables`` (``as=Table``),
``pods`` (eviction, log), ``routing``, ``handlers`` (the verbs), ``watching`` (watch streams), ``app`` (ASGI),
``tls`` (a self-signed certificate: kubectl sends no token over plain HTTP), ``server``, ``kubeconfig``.
"""

from __future__ import annotations

from harness.platform.local.apiserver.app import ApiApp, create_app
from harness.platform.local.apiserver.errors import ApiError
from harness.platform.local.apiserver.kubeconfig import write_kubeconfig
from harness.platform.local.apiserver.server import ApiServer, ThreadedApiServer
from harness.platform.local.apiserver.store import Store

__all__ = ["ApiApp", "ApiError", "ApiServer", "Store", "ThreadedApiServer", "create_app", "write_kubeconfig"]
