"""The embedded cluster's Services: a loopback endpoint per Service object, forwarded outside the daemon.

In: Service objects (``spec.selector``, ``ports[].targetPort``, the annotation ``kibench.io/balancing``:
``connection`` (default) or ``request``) and the Ready pods they select.  Out: for every Service, a
listening socket on ``127.0.0.1:<port>``, published in the Service's ``status.loadBalancer.ingress``
(``ip: 127.0.0.1``, ``ports[0].port``) as a cloud load balancer or ``minikube tunnel`` would publish it,
and handed to the forwarder process (``forwarder``), which carries the traffic.  The daemon only tells the
forwarder which pods are Ready (one message per change), so the data path costs its event loop nothing.
A pod that is not Ready or is being deleted gets no new connections (``connection`` mode, kube-proxy's
semantics) or requests (``request`` mode, an ingress's).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from harness.platform.local.objects import PODS, SERVICES, Obj, pod_ready
from harness.procs import preexec, record_process

if TYPE_CHECKING:
    from harness.platform.local.cluster import Cluster

BALANCING_ANNOTATION = "kibench.io/balancing"


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


class Balancers:
    """Keeps the forwarder process told about every Service and its Ready pods."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.ports: dict[str, int] = {}  # service uid -> its port
        self.sent: dict[str, list[list[Any]]] = {}  # service uid -> the endpoints last sent
        self.proc: subprocess.Popen[bytes] | None = None
        self.control: socket.socket | None = None

    def _forwarder(self) -> socket.socket:
        if self.control is None or self.proc is None or self.proc.poll() is not None:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            argv = [sys.executable, "-m", "harness.platform.local.forwarder", "--control", str(theirs.fileno())]
            self.proc = subprocess.Popen(argv, pass_fds=[theirs.fileno()], preexec_fn=preexec, start_new_session=True)
            record_process(self.cluster.log_dir, self.proc.pid, "forwarder")
            theirs.close()
            self.control = ours
            self.ports.clear()
            self.sent.clear()
        return self.control

    async def sync(self) -> None:
        services = {s["metadata"]["uid"]: s for s in self.store.list(SERVICES, copy=False)[0]}
        if not services and self.control is None:
            return
        control = self._forwarder()
        for uid in [u for u in self.ports if u not in services]:
            control.send(json.dumps({"op": "remove", "id": uid}).encode())
            self.ports.pop(uid)
            self.sent.pop(uid, None)
        pods = self.store.list(PODS, copy=False)[0]
        for uid, svc in services.items():
            if uid not in self.ports:
                self._add(control, uid, svc)
            ns = svc["metadata"]["namespace"]
            current = endpoints(svc, [p for p in pods if p["metadata"]["namespace"] == ns])
            if current != self.sent.get(uid):
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

    def _add(self, control: socket.socket, uid: str, svc: Obj) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(4096)
        mode = (svc["metadata"].get("annotations") or {}).get(BALANCING_ANNOTATION, "connection")
        message = json.dumps({"op": "add", "id": uid, "mode": "request" if mode == "request" else "connection"})
        socket.send_fds(control, [message.encode()], [sock.fileno()])
        self.ports[uid] = sock.getsockname()[1]
        sock.close()

    async def shutdown(self) -> None:
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
