"""The embedded cluster's Services: a loopback endpoint per Service object, forwarded outside the daemon.

In: Service objects (``spec.selector``, ``ports[].targetPort``, the annotation ``kibench.io/balancing``:
``connection`` (default) or ``request``) and the Ready pods they select.  Out: for every Service, a
listening socket on ``127.0.0.1:<port>``, published in the Service's ``status.loadBalancer.ingress``
(``ip: 127.0.0.1``, ``ports[0].port``) as a cloud load balancer or ``minikube tunnel`` would publish it,
and handed to the forwarder process (``forwarder``), which carries the traffic.  The daemon only tells the
forwarder which pods are Ready (one message per change), so the data path costs its event loop nothing.
A pod that is not Ready or is being deleted gets no new connections (``connection`` mode, kube-proxy's
semantics) or requests (``request`` mode, an ingress's).

``request`` mode runs on HAProxy when its binary is installed (``haproxy``: one haproxy process per such
Service, its backends set through its runtime API), else on the forwarder; a core/v1 Event on the Service
(reason ``IngressProxy``, its message starting ``haproxy`` or ``forwarder``) says which, and why.
The annotation ``kibench.io/proxy-timeout-seconds`` sets HAProxy's timeouts (default ``PROXY_TIMEOUT_S``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from harness.platform.local import haproxy
from harness.platform.local.objects import PODS, SERVICES, Obj, pod_ready
from harness.procs import preexec

if TYPE_CHECKING:
    from harness.platform.local.cluster import Cluster

BALANCING_ANNOTATION = "kibench.io/balancing"
TIMEOUT_ANNOTATION = "kibench.io/proxy-timeout-seconds"
PROXY_TIMEOUT_S = 60.0
RESTART_BACKOFF_S = 5.0  # between attempts to restart a haproxy that failed
log = logging.getLogger("kibench.local")


def _target_port(pod: Obj, target: Any) -> int:
    if isinstance(target, int):
        return target
    for container in pod["spec"].get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target:
                return int(port["containerPort"])
    return int(target) if str(target).isdigit() else 8000


def endpoints(svc: Obj, pods: list[Obj]) -> list[list[Any]]:
    """``[ip, port]`` of every Ready pod the Service selects, in name order."""
    selector = svc["spec"].get("selector") or {}
    port = (svc["spec"].get("ports") or [{}])[0]
    target = port.get("targetPort") or port.get("port", 8000)
    out = []
    for pod in pods:
        labels = pod["metadata"].get("labels") or {}
        ip = (pod.get("status") or {}).get("podIP")
        if selector and ip and pod_ready(pod) and all(labels.get(k) == v for k, v in selector.items()):
            out.append([ip, _target_port(pod, target)])
    return out


def _mode(svc: Obj) -> str:
    mode = (svc["metadata"].get("annotations") or {}).get(BALANCING_ANNOTATION, "connection")
    return "request" if mode == "request" else "connection"


def _timeout_s(svc: Obj) -> float:
    value = (svc["metadata"].get("annotations") or {}).get(TIMEOUT_ANNOTATION)
    try:
        return float(value) if value is not None and float(value) > 0 else PROXY_TIMEOUT_S
    except ValueError:
        return PROXY_TIMEOUT_S


class Balancers:
    """Keeps the forwarder process (and each request-mode Service's haproxy) told about the Ready pods."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.ports: dict[str, int] = {}  # service uid -> its port
        self.sent: dict[str, list[list[Any]]] = {}  # service uid -> the endpoints last sent
        self.ingresses: dict[str, haproxy.HaproxyIngress] = {}  # service uid -> its haproxy (request mode)
        self.proc: subprocess.Popen[bytes] | None = None
        self.control: socket.socket | None = None

    def pids(self) -> list[int]:
        """The data path's processes: the forwarder and every haproxy."""
        procs = [self.proc, *(i.proc for i in self.ingresses.values())]
        return [p.pid for p in procs if p is not None and p.poll() is None]

    def _forwarder(self) -> socket.socket:
        if self.control is None or self.proc is None or self.proc.poll() is not None:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            argv = [sys.executable, "-m", "harness.platform.local.forwarder", "--control", str(theirs.fileno())]
            self.proc = subprocess.Popen(argv, pass_fds=[theirs.fileno()], preexec_fn=preexec, start_new_session=True)
            theirs.close()
            self.control = ours
            for uid in [u for u in self.ports if u not in self.ingresses]:  # the forwarder's Services, re-added
                self.ports.pop(uid)
                self.sent.pop(uid, None)
        return self.control

    async def sync(self) -> None:
        services = {s["metadata"]["uid"]: s for s in self.store.list(SERVICES, copy=False)[0]}
        if not services and self.control is None:
            return
        control = self._forwarder()
        for uid in [u for u in self.ports if u not in services]:
            if uid in self.ingresses:
                self.ingresses.pop(uid).close()
            else:
                control.send(json.dumps({"op": "remove", "id": uid}).encode())
            self.ports.pop(uid)
            self.sent.pop(uid, None)
        pods = self.store.list(PODS, copy=False)[0]
        for uid, svc in services.items():
            if uid not in self.ports:
                await self._add(control, uid, svc)
            ns = svc["metadata"]["namespace"]
            current = endpoints(svc, [p for p in pods if p["metadata"]["namespace"] == ns])
            if uid in self.ingresses:
                await self._tell_haproxy(svc, self.ingresses[uid], current)
            elif current != self.sent.get(uid):
                control.send(json.dumps({"op": "endpoints", "id": uid, "endpoints": current}).encode())
                self.sent[uid] = current
            port = self.ports[uid]
            ingress = [{"ip": "127.0.0.1", "ports": [{"port": port, "protocol": "TCP"}]}]
            if (svc.get("status") or {}).get("loadBalancer", {}).get("ingress") != ingress:
                self.store.mutate(
                    SERVICES,
                    ns,
                    svc["metadata"]["name"],
                    lambda o, i=ingress: o.setdefault("status", {}).update(loadBalancer={"ingress": i}),
                )

    async def _add(self, control: socket.socket, uid: str, svc: Obj) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(4096)
        self.ports[uid] = sock.getsockname()[1]
        mode = _mode(svc)
        if mode == "request" and await self._start_haproxy(uid, svc, sock):
            return  # haproxy holds the socket from now on (and the daemon a copy, to restart it on)
        socket.send_fds(control, [json.dumps({"op": "add", "id": uid, "mode": mode}).encode()], [sock.fileno()])
        sock.close()

    async def _start_haproxy(self, uid: str, svc: Obj, sock: socket.socket) -> bool:
        """Per-request balancing on haproxy when it is installed and starts; the Event says which ran, and why."""
        binary, why = haproxy.find()
        if binary is not None:
            name = svc["metadata"]["name"]
            workdir = os.path.join(self.cluster.state_root, f"haproxy-{uid[:8]}")
            log_path = self.cluster.log_path(svc["metadata"]["namespace"], f"haproxy-{name}")
            ingress = haproxy.HaproxyIngress(binary, sock, workdir, _timeout_s(svc), log_path)
            try:
                await ingress.start()
            except (OSError, RuntimeError) as exc:
                ingress.stop()
                why = f"haproxy did not start: {exc}"
            else:
                self.ingresses[uid] = ingress
                pid = ingress.proc.pid if ingress.proc is not None else None
                self.cluster.recorder.record(
                    svc,
                    "IngressProxy",
                    f"haproxy {haproxy.version(binary)} (pid {pid}) balances requests round robin over the "
                    f"Ready pods; timeouts {ingress.timeout_s:g}s; runtime API {ingress.stats_socket}",
                    component="kibench-ingress",
                )
                return True
        log.warning("per-request balancing on the Python forwarder: %s", why)
        self.cluster.recorder.record(
            svc,
            "IngressProxy",
            f"forwarder (Python) balances requests round robin over the Ready pods: {why}",
            component="kibench-ingress",
        )
        return False

    async def _tell_haproxy(self, svc: Obj, ingress: haproxy.HaproxyIngress, current: list[list[Any]]) -> None:
        """Point haproxy's slots at the Ready pods; restart it (same socket, same address) if it died."""
        wanted = [(str(ip), int(port)) for ip, port in current]
        try:
            if not ingress.alive():
                if time.monotonic() < ingress.retry_at:
                    return
                code = ingress.proc.returncode if ingress.proc is not None else None
                message = f"haproxy exited (code {code}); restarted on the Service's socket"
                self.cluster.recorder.record(svc, "IngressProxyRestarted", message, "Warning", "kibench-ingress")
                ingress.restarts += 1
                ingress.endpoints = wanted
                await ingress.start()
            problems = await ingress.set_endpoints(wanted)
        except (OSError, RuntimeError, TimeoutError) as exc:
            problems = [f"{exc}; restarting it"]
            ingress.stop()  # its slots are unknown now: a fresh start sets them all
            ingress.retry_at = time.monotonic() + RESTART_BACKOFF_S
        if problems:
            log.warning("haproxy of Service %s: %s", svc["metadata"]["name"], "; ".join(problems))

    async def shutdown(self) -> None:
        for ingress in self.ingresses.values():
            ingress.close()
        self.ingresses.clear()
        if self.control is not None:
            self.control.close()
            self.control = None
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
