"""The embedded kubelet's service links: ``<NAME>_SERVICE_HOST`` / ``<NAME>_SERVICE_PORT`` for a pod's containers.

In: the Services of a pod's namespace, as stored (``status.loadBalancer.ingress`` set by ``balancer``).  Out: the
environment variables a kubelet gives every container of a pod with ``enableServiceLinks`` (the default) for each
Service of its namespace that exists when the container starts: the name upper-cased, ``-`` as ``_``.

On a cluster the host is the Service's ClusterIP.  The embedded cluster's ClusterIPs route nowhere: each Service
is a listening socket on loopback (``balancer``), so the links name that address, which reaches the same pods.
``unpublished`` says whether a Service has no address yet (created since the balancers' last pass): the kubelet
then lets the balancers run first, as a ClusterIP exists from a Service's creation on a cluster.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def _address(svc: Obj) -> tuple[str, int] | None:
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if not ingress or not ingress[0].get("ip") or not ingress[0].get("ports"):
        return None
    return str(ingress[0]["ip"]), int(ingress[0]["ports"][0]["port"])


def unpublished(services: list[Obj]) -> bool:
    return any(_address(s) is None for s in services)


def environment(services: list[Obj]) -> dict[str, str]:
    """The links of every Service that has its address."""
    env: dict[str, str] = {}
    for svc in services:
        address = _address(svc)
        if address is None:
            continue
        prefix = svc["metadata"]["name"].upper().replace("-", "_")
        env[f"{prefix}_SERVICE_HOST"], env[f"{prefix}_SERVICE_PORT"] = address[0], str(address[1])
    return env
