"""The reference service's own faults, through its admin API: hang, added latency, errors, reset.

In: chaosk8s-style pod selection (``label_selector`` (default: every pod of the reference service),
``name_pattern``, ``all``, ``rand``, ``mode``, ``qty``, ``order``, ``ns``) and the experiment's
``configuration``.  Pods are listed through the Kubernetes API; each pod's admin token is read from
where its container gets ``KIBENCH_ADMIN_TOKEN`` (the Secret ``<deployment>-admin``, key ``token``, in
kibench's manifests); then ``POST http://<podIP>:<containerPort>/admin/<fault>`` with that bearer token.
Out: ``{"pods": [...], ...}`` naming the pods touched (the harness reports them as the fault's targets).

How a request reaches the pod (``reach``; configuration ``kibench_admin_route``, else ``$KIBENCH_ADMIN_ROUTE``):
``auto`` (default) posts to the pod IP when it is a loopback address (the embedded cluster) or when the
experiment runs inside a pod (``CHAOSTOOLKIT_IN_POD=true``), and otherwise through a port-forward to that pod
through the API server (``harness.portforward``: the same kubeconfig and context), which works from any machine
that can reach the cluster's API; ``direct`` and ``port-forward`` force one.  ``kibench run`` sets
``port-forward`` when its load went through one.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from chaoslib.exceptions import ActivityFailed
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness.chaos import interrupt
from harness.chaos.kube import targets
from harness.chaos.kube.connect import SERVICE_SELECTOR, Config, cluster, failed, kubeconfig_path, namespace
from harness.portforward import Tunnel, TunnelError
from harness.procs import poll_until

TOKEN_ENV = "KIBENCH_ADMIN_TOKEN"
ROUTE_KEY = "kibench_admin_route"


def _ready(pod: client.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def _running(pod: client.V1Pod) -> bool:
    return bool(pod.status and pod.status.pod_ip and pod.status.phase == "Running")


def _port(pod: client.V1Pod) -> int:
    ports = [p for c in pod.spec.containers for p in (c.ports or [])]
    chosen = next((p for p in ports if p.name == "http"), ports[0] if ports else None)
    if chosen is None:
        raise ActivityFailed(f"pod {pod.metadata.name!r} declares no containerPort; cannot reach its admin API")
    return int(chosen.container_port)


def _direct(pod: client.V1Pod, configuration: Config) -> bool:
    """Whether to POST to the pod's IP (``kibench_admin_route``: ``direct``, ``port-forward``, ``auto``: direct
    when the IP is a loopback address, as on the embedded cluster, or inside a pod; else a port-forward)."""
    chosen = str((configuration or {}).get(ROUTE_KEY) or os.environ.get("KIBENCH_ADMIN_ROUTE") or "auto")
    if chosen not in ("auto", "direct", "port-forward"):
        raise ActivityFailed(f"configuration {ROUTE_KEY}: {chosen!r} is not one of auto, direct, port-forward")
    if chosen != "auto":
        return chosen == "direct"
    try:
        loopback = ipaddress.ip_address(str(pod.status.pod_ip)).is_loopback
    except ValueError:
        loopback = False
    return loopback or os.environ.get("CHAOSTOOLKIT_IN_POD") == "true"


@contextmanager
def reach(pod: client.V1Pod, configuration: Config) -> Iterator[tuple[str, Tunnel | None]]:
    """The base URL of the pod's HTTP port: its IP, or a one-pod port-forward through the API server (closed
    afterwards); and the tunnel, if one was opened."""
    port = _port(pod)
    if _direct(pod, configuration):
        yield f"http://{pod.status.pod_ip}:{port}", None
        return
    name = str(pod.metadata.name)
    context = os.environ.get("KUBERNETES_CONTEXT") or None
    tunnel = Tunnel(kubeconfig_path(configuration), pod.metadata.namespace, port, lambda: name, context=context)
    try:
        tunnel.start()
    except TunnelError as exc:
        raise ActivityFailed(f"port-forward to pod {name!r}: {exc}") from exc
    try:
        yield tunnel.url, tunnel
    finally:
        tunnel.stop()


class _Tokens:
    """Admin tokens by the Secret that holds them (each Secret read once per activity)."""

    def __init__(self, core: client.CoreV1Api, ns: str) -> None:
        self.core, self.ns = core, ns
        self._secrets: dict[str, dict[str, str]] = {}

    def of(self, pod: client.V1Pod) -> str:
        for container in pod.spec.containers:
            for env in container.env or []:
                if env.name != TOKEN_ENV:
                    continue
                if env.value:
                    return str(env.value)
                ref = env.value_from.secret_key_ref if env.value_from else None
                if ref is not None:
                    return self._secret(ref.name, ref.key, pod)
        raise ActivityFailed(
            f"pod {pod.metadata.name!r} runs without the admin API (no {TOKEN_ENV} in its container's env); "
            "kibench's manifests set it from the Secret <deployment>-admin"
        )

    def _secret(self, name: str, key: str, pod: client.V1Pod) -> str:
        if name not in self._secrets:
            try:
                self._secrets[name] = dict(self.core.read_namespaced_secret(name, self.ns).data or {})
            except ApiException as exc:
                raise failed(exc, f"reading Secret {name!r} (the admin token of pod {pod.metadata.name!r})") from exc
        if key not in self._secrets[name]:
            raise ActivityFailed(f"Secret {name!r} has no key {key!r} (the admin token of {pod.metadata.name!r})")
        return base64.b64decode(self._secrets[name][key]).decode()


def admin_post(
    pod: client.V1Pod,
    token: str,
    route: str,
    body: dict[str, Any],
    timeout_s: float = 3.0,
    unreachable_ok: bool = False,
    configuration: Config = None,
) -> Any:
    """POST ``/admin/<route>`` on one pod; its JSON answer, or None when it did not answer in time (a hang that
    took effect first) or, with ``unreachable_ok``, could not be reached at all."""
    with reach(pod, configuration) as (base, tunnel):
        url = f"{base}/admin/{route}"
        try:
            response = httpx.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s)
        except (httpx.ReadTimeout, httpx.WriteTimeout):
            return None  # delivered; the pod did not answer in time (a hung pod never does)
        except httpx.HTTPError as exc:  # a connect timeout too: nothing reached the pod
            if unreachable_ok:
                return None
            how = f"through a port-forward ({tunnel.last_error or 'closed'})" if tunnel else "at its pod IP"
            raise ActivityFailed(
                f"POST {url} ({pod.metadata.name}, {how}) failed: {type(exc).__name__}: {exc}; a pod IP is "
                f"reachable from inside the cluster only: set the configuration key {ROUTE_KEY!r} to "
                "'port-forward' to go through the API server"
            ) from exc
    if response.status_code == 404:
        raise ActivityFailed(f"pod {pod.metadata.name!r} has no /admin/{route}; is the service's admin API on?")
    if response.status_code >= 400:
        raise ActivityFailed(f"POST /admin/{route} on {pod.metadata.name!r}: {response.status_code} {response.text}")
    try:
        return response.json()
    except ValueError:
        return {}


def _inject(
    route: str,
    body: dict[str, Any],
    configuration: Config,
    ns: str | None,
    label_selector: str | None,
    name_pattern: str | None,
    choice: dict[str, Any],
    ready_only: bool = False,
    timeout_s: float = 3.0,
) -> list[client.V1Pod]:
    """POST the fault to each chosen running (or, with ``ready_only``, Ready) pod; the pods it went to."""
    ns = namespace(configuration, ns)
    with cluster(configuration) as api:
        core = client.CoreV1Api(api)
        found = [p for p in targets.live_pods(core, ns, label_selector, name_pattern) if _running(p)]
        found = [p for p in found if _ready(p)] if ready_only else found
        what = "Ready pod" if ready_only else "running pod"
        chosen = targets.pick(targets.need(found, what, ns, label_selector), **choice)
        tokens = _Tokens(core, ns)
        for pod in chosen:
            admin_post(pod, tokens.of(pod), route, body, timeout_s=timeout_s, configuration=configuration)
    return chosen


def hang_pods(
    label_selector: str = SERVICE_SELECTOR,
    name_pattern: str | None = None,
    all: bool = False,
    rand: bool = False,
    mode: str = "fixed",
    qty: int = 1,
    duration: float | None = None,
    ns: str | None = None,
    order: str = "alphabetic",
    wait_for_restart: float = 0,
    configuration: Config = None,
    secrets: Any = None,
) -> dict[str, Any]:
    """Make Ready pods stop answering (liveness probe included) for ``duration`` s (None: until restarted).

    ``wait_for_restart`` > 0: then wait up to that many seconds until each hung pod's container has
    restarted (its liveness probe failed) or the pod was replaced; ``restarted`` lists those that were."""
    choice = {"all": all, "rand": rand, "mode": mode, "qty": qty, "order": order}
    body = {"duration_s": duration}
    chosen = _inject("hang", body, configuration, ns, label_selector, name_pattern, choice, True, 1.0)
    restarted = _wait_restarted(configuration, namespace(configuration, ns), chosen, float(wait_for_restart or 0))
    return {"pods": targets.names(chosen), "duration_s": duration, "restarted": restarted}


def _restarts(pod: client.V1Pod) -> int:
    return sum(int(s.restart_count or 0) for s in (pod.status.container_statuses or []))


def _wait_restarted(configuration: Config, ns: str, pods: list[client.V1Pod], timeout_s: float) -> list[str]:
    """Names of ``pods`` whose containers restarted (or that are gone or replaced) within ``timeout_s``."""
    if timeout_s <= 0:
        return []
    before = {str(p.metadata.name): (p.metadata.uid, _restarts(p)) for p in pods}
    done: set[str] = set()
    with cluster(configuration) as api:
        core = client.CoreV1Api(api)

        def all_restarted() -> bool:
            for name, (uid, restarts) in before.items():
                if name in done:
                    continue
                try:
                    now = core.read_namespaced_pod(name, ns)
                except ApiException as exc:
                    if exc.status != 404:
                        raise failed(exc, f"reading pod {name!r}") from exc
                    done.add(name)
                    continue
                if now.metadata.uid != uid or now.metadata.deletion_timestamp or _restarts(now) > restarts:
                    done.add(name)
            return done == set(before)

        poll_until(all_restarted, timeout_s, 0.25, sleep=interrupt.sleep, give_up=interrupt.interrupted)
    return sorted(done)


def inject_latency(
    add_ms: float,
    duration: float | None = None,
    label_selector: str = SERVICE_SELECTOR,
    name_pattern: str | None = None,
    all: bool = True,
    rand: bool = False,
    mode: str = "fixed",
    qty: int = 1,
    ns: str | None = None,
    order: str = "alphabetic",
    configuration: Config = None,
    secrets: Any = None,
) -> dict[str, Any]:
    """Add ``add_ms`` to every request of the chosen pods (all by default) for ``duration`` s (None: until reset)."""
    choice = {"all": all, "rand": rand, "mode": mode, "qty": qty, "order": order}
    body = {"add_ms": float(add_ms), "duration_s": duration}
    chosen = _inject("latency", body, configuration, ns, label_selector, name_pattern, choice)
    return {"pods": targets.names(chosen), "add_ms": float(add_ms), "duration_s": duration}


def inject_errors(
    fraction: float,
    status: int = 500,
    duration: float | None = None,
    label_selector: str = SERVICE_SELECTOR,
    name_pattern: str | None = None,
    all: bool = True,
    rand: bool = False,
    mode: str = "fixed",
    qty: int = 1,
    ns: str | None = None,
    order: str = "alphabetic",
    configuration: Config = None,
    secrets: Any = None,
) -> dict[str, Any]:
    """Fail ``fraction`` of the chosen pods' requests with HTTP ``status`` for ``duration`` s (None: until reset)."""
    if not 0.0 <= float(fraction) <= 1.0:
        raise ActivityFailed(f"fraction must be within [0, 1] (got {fraction})")
    choice = {"all": all, "rand": rand, "mode": mode, "qty": qty, "order": order}
    body = {"fraction": float(fraction), "status": int(status), "duration_s": duration}
    chosen = _inject("errors", body, configuration, ns, label_selector, name_pattern, choice)
    return {"pods": targets.names(chosen), "fraction": float(fraction), "status": int(status), "duration_s": duration}


def reset_faults(
    label_selector: str = SERVICE_SELECTOR,
    name_pattern: str | None = None,
    ns: str | None = None,
    configuration: Config = None,
    secrets: Any = None,
) -> dict[str, Any]:
    """Clear every fault on every running pod that matches (the usual rollback); pods that cannot be reached
    (gone, restarting) are listed as ``unreachable``, not an error: they have no fault left."""
    ns = namespace(configuration, ns)
    done: list[str] = []
    unreachable: list[str] = []
    problems: list[str] = []
    with cluster(configuration) as api:
        core = client.CoreV1Api(api)
        tokens = _Tokens(core, ns)
        for pod in targets.live_pods(core, ns, label_selector, name_pattern):
            if not _running(pod):
                continue
            try:
                answer = admin_post(
                    pod, tokens.of(pod), "reset", {}, timeout_s=2.0, unreachable_ok=True, configuration=configuration
                )
            except ActivityFailed as exc:
                problems.append(str(exc))
                continue
            (done if answer is not None else unreachable).append(str(pod.metadata.name))
    if problems:
        raise ActivityFailed(f"reset_faults: {'; '.join(problems)} (reset: {done}, unreachable: {unreachable})")
    return {"pods": done, "unreachable": unreachable}
