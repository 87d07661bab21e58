"""A local port that reaches pods through the API server's port-forward (the official client's WebSocket).

In: a kubeconfig (and context), a namespace, a port on the pods, and ``pick()``, which names the pod for each new
connection (``None``: no pod to go to, the connection is closed).  Out: ``Tunnel``: ``start()`` listens on
127.0.0.1 (a free port unless told), ``url`` is ``http://127.0.0.1:PORT``; every accepted connection gets its own
port-forward session (``kubernetes.stream.portforward``: one WebSocket to ``pods/{name}/portforward``, channel
protocol ``v4.channel.k8s.io``) to the pod ``pick()`` names, and bytes are copied both ways until either side
closes.  ``stop()`` closes the listener and every open connection; ``connections``, ``failures`` and
``last_error`` say how it went.

Each connection stays on the pod it was opened to (like a Service balanced per connection); new connections
follow ``pick()``, so a killed pod only ends the connections that were on it.  The tunnel adds the API server's
hop (and, on a real cluster, the kubelet's) to every request: for smoke runs, not for latency figures.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

from kubernetes import client, config
from kubernetes.stream import portforward

CHUNK_BYTES = 64 * 1024


class TunnelError(RuntimeError):
    """The tunnel could not be opened (a broken kubeconfig, a port that cannot be bound)."""


class Tunnel:
    """127.0.0.1:PORT → (API server port-forward) → the picked pod's ``remote_port``."""

    def __init__(
        self,
        kubeconfig: str,
        namespace: str,
        remote_port: int,
        pick: Callable[[], str | None],
        context: str | None = None,
        local_port: int = 0,
    ) -> None:
        self.kubeconfig, self.context, self.namespace = kubeconfig, context, namespace
        self.remote_port, self.pick = remote_port, pick
        self.local_port = local_port
        self.connections = 0
        self.failures = 0
        self.last_error = ""
        self._api: client.ApiClient | None = None
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._dial_lock = threading.Lock()  # stream.portforward swaps the ApiClient's request function meanwhile
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}"

    def start(self) -> Tunnel:
        try:
            self._api = config.new_client_from_config(config_file=self.kubeconfig, context=self.context)
        except Exception as exc:  # a missing or broken kubeconfig
            raise TunnelError(f"kubeconfig {self.kubeconfig}: {exc}") from exc
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("127.0.0.1", self.local_port))
        except OSError as exc:
            listener.close()
            raise TunnelError(f"cannot listen on 127.0.0.1:{self.local_port}: {exc}") from exc
        listener.listen(256)
        self.local_port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, name="kibench-port-forward", daemon=True).start()
        return self

    def dial(self, pod: str) -> socket.socket:
        """A connected socket to ``pod``'s port through the API server (the caller closes it)."""
        assert self._api is not None, "start() first"
        core = client.CoreV1Api(self._api)
        with self._dial_lock:
            session = portforward(
                core.connect_get_namespaced_pod_portforward, pod, self.namespace, ports=str(self.remote_port)
            )
        return session.socket(self.remote_port)  # type: ignore[no-any-return]

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed
            threading.Thread(target=self._serve, args=(conn,), name="kibench-port-forward-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        remote: socket.socket | None = None
        self._track(conn)
        try:
            pod = self.pick()
            if pod is None:
                raise OSError("no Ready pod to forward to")
            remote = self.dial(pod)
            self._track(remote)
            self.connections += 1
        except Exception as exc:  # the API server refused or is gone: this connection fails, the tunnel stays
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._close(conn)
            return
        back = threading.Thread(target=_copy, args=(remote, conn), daemon=True)
        back.start()
        _copy(conn, remote)
        back.join()
        self._close(conn)
        self._close(remote)

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        with contextlib.suppress(OSError):
            sock.close()

    def stop(self) -> None:
        """Close the listener and every open connection (idempotent)."""
        self._stopped.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
            self._listener = None
        with self._lock:
            open_now = list(self._open)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            self._close(sock)
        if self._api is not None:
            self._api.close()
            self._api = None


def _copy(source: socket.socket, sink: socket.socket) -> None:
    """Copy until ``source`` ends, then end ``sink``'s sending side (or close it where that is not possible)."""
    try:
        while data := source.recv(CHUNK_BYTES):
            sink.sendall(data)
    except OSError:
        pass
    try:
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        with contextlib.suppress(OSError):
            sink.close()
