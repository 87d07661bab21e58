"""How the load reaches the service on a cluster: the user's URL, the Service's external address, or a port-forward.

In: ``platform.route`` and ``platform.url`` of the scenario, the Service's external address once the replicas are
Ready (``status.loadBalancer.ingress``, or None), and what a port-forward needs (kubeconfig, context, namespace,
the pods' port, a function naming a Ready pod).  Out: ``Route`` (the URL the load goes to, which route, and the
warning the summary carries, if any), and the ``Tunnel`` to stop at the end when the route is a port-forward.

``auto``: ``platform.url`` when given, else the Service's external address when it has one (the embedded cluster
publishes one on loopback; a real cluster for a LoadBalancer Service), else a port-forward.  ``loadbalancer``
renders the Service as ``type: LoadBalancer`` and waits for its address.

``KIBENCH_LOOPBACK_ONLY=1`` (set by this project's tests) refuses any URL whose host is not a loopback address:
the tests' load never leaves the machine.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from harness.errors import ClusterRefused, PlatformError
from harness.portforward import Tunnel, TunnelError
from harness.scenario import PlatformSpec

LOOPBACK_ONLY_ENV = "KIBENCH_LOOPBACK_ONLY"
#: Connections (requests in flight) the load may open through a port-forward: each one is a WebSocket through
#: the API server, whose set-up costs tens of milliseconds; an open-model load opens up to load.max_concurrency.
PORT_FORWARD_MAX_CONNECTIONS = 8
PORT_FORWARD_WARNING = (
    "the load reached the service through a port-forward (platform.route: port-forward): every request crossed "
    "the Kubernetes API server (and the kubelet) on its way, so latency includes the tunnel, throughput is "
    f"capped by it and at most {PORT_FORWARD_MAX_CONNECTIONS} requests were in flight (load.max_concurrency); "
    "use it for smoke runs, and platform.url (an Ingress or LoadBalancer) or `kibench cluster run` for figures"
)


@dataclass(frozen=True)
class Route:
    """Where the load goes and how it gets there."""

    url: str
    kind: str  # url | loadbalancer | port-forward
    warning: str | None = None
    max_connections: int | None = None  # the load's cap on connections (requests in flight) on this route


def describe(spec: PlatformSpec) -> str:
    """Where the load will go, in words (``kibench run --dry-run``)."""
    if spec.url is not None:
        return f"platform.url {spec.url}"
    if spec.route == "loadbalancer":
        return "the Service's status.loadBalancer.ingress (rendered as type: LoadBalancer)"
    if spec.route == "port-forward":
        return f"a port-forward through the API server (at most {PORT_FORWARD_MAX_CONNECTIONS} connections)"
    return "the Service's status.loadBalancer.ingress if it has one, else a port-forward through the API server"


def check_loopback(url: str, what: str) -> None:
    """Refuse a non-loopback ``url`` when ``KIBENCH_LOOPBACK_ONLY`` is set (the project's tests set it)."""
    if os.environ.get(LOOPBACK_ONLY_ENV) != "1":
        return
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ClusterRefused(
            f"{what} {url} is not a loopback address, and {LOOPBACK_ONLY_ENV}=1 allows load to loopback only "
            "(this project's tests set it); unset it to send load to another machine"
        )


def given_url(url: str) -> Route:
    check_loopback(url, "platform.url")
    return Route(url, "url")


def external(url: str) -> Route:
    check_loopback(url, "the Service's external address")
    return Route(url, "loadbalancer")


def port_forward(
    kubeconfig: str, context: str | None, namespace: str, remote_port: int, pick: object
) -> tuple[Route, Tunnel]:
    """Open the tunnel (a local port on 127.0.0.1) and the route through it."""
    try:
        tunnel = Tunnel(kubeconfig, namespace, remote_port, pick, context=context).start()  # type: ignore[arg-type]
    except TunnelError as exc:
        raise PlatformError(f"port-forward to the service's pods: {exc}") from exc
    return Route(tunnel.url, "port-forward", PORT_FORWARD_WARNING, PORT_FORWARD_MAX_CONNECTIONS), tunnel


def no_address(namespace: str, service: str, waited_s: float) -> PlatformError:
    return PlatformError(
        f"Service {namespace}/{service} has no external address (status.loadBalancer.ingress) {waited_s:g}s after "
        "the replicas were Ready (platform.route: loadbalancer): the cluster has no load-balancer controller "
        "(kind: install cloud-provider-kind or MetalLB), or give platform.url, or platform.route: port-forward"
    )
