"""A local port that reaches pods through the API server's port-forward (the official client's WebSocket).

In: a kubeconfig (and context), a namespace, a port on the pods, and ``pick()``, which names the pod for each new
connection (``None``: no pod to go to, the connection is closed).  Out: ``Tunnel``: ``start()`` listens on
127.0.0.1 (a free port unless told), ``url`` is ``http://127.0.0.1:PORT``; every accepted connection gets its own
port-forward session to the pod ``pick()`` names: one WebSocket to ``pods/{name}/portforward?ports=P`` (opened by
the official client's ``create_websocket``, with the kubeconfig's token and CA), channel protocol
``v4.channel.k8s.io`` (channel 0 data, channel 1 the kubelet's error text, each opened by a 2-byte port frame),
and bytes are copied both ways until either side closes.  (The client's own ``PortForward`` is not used: it
waits with ``select()``, which fails once the process has file descriptors above 1024, as a run has.)
``stop()`` closes the listener and every open connection; ``connections``, ``failures`` and
``last_error`` say how it went.

Each connection stays on the pod it was opened to (like a Service balanced per connection); new connections
follow ``pick()``, so a killed pod only ends the connections that were on it.  The tunnel adds the API server's
hop (and, on a real cluster, the kubelet's) to every request: for smoke runs, not for latency figures.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from kubernetes import client, config
from kubernetes.stream.ws_client import create_websocket
from websocket import ABNF

CHUNK_BYTES = 64 * 1024
PROTOCOL = "v4.channel.k8s.io"


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
        self._stopped = threading.Event()
        self._sessions: set[Any] = set()

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

    def dial(self, pod: str) -> Any:
        """An open port-forward WebSocket to ``pod``'s port, its two opening frames read (the caller closes it)."""
        assert self._api is not None, "start() first"
        settings = self._api.configuration
        path = f"/api/v1/namespaces/{quote(self.namespace)}/pods/{quote(pod)}/portforward?ports={self.remote_port}"
        url = settings.host.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + path
        token = (settings.auth_settings().get("BearerToken") or {}).get("value")
        headers = {"authorization": token} if token else {}
        ws = create_websocket(settings, url, {**headers, "sec-websocket-protocol": PROTOCOL})
        ws.settimeout(None)
        return ws

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed
            threading.Thread(target=self._serve, args=(conn,), name="kibench-port-forward-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a response's frames go out as they come
        self._track(conn)
        try:
            pod = self.pick()
            if pod is None:
                raise OSError("no Ready pod to forward to")
            ws = self.dial(pod)
        except Exception as exc:  # the API server refused or is gone: this connection fails, the tunnel stays
            self._failed(f"{type(exc).__name__}: {exc}")
            self._close(conn)
            return
        self.connections += 1
        self._sessions.add(ws)
        try:
            with contextlib.suppress(Exception):  # the WebSocket or the local connection ended
                self._pump(ws, conn, pod)
        finally:
            with contextlib.suppress(Exception):
                ws.close(timeout=1)
            self._sessions.discard(ws)
            self._close(conn)

    def _pump(self, ws: Any, conn: socket.socket, pod: str) -> None:
        """Copy both ways in one thread (one TLS connection must not be read and written from two at once):
        channel 0 after its opening port frame to ``conn``, ``conn`` to channel 0; channel 1 is the error text."""
        opened = [False, False]
        with selectors.DefaultSelector() as selector:  # not select(): descriptors above 1024 are fine
            selector.register(conn, selectors.EVENT_READ, "local")
            selector.register(ws.sock, selectors.EVENT_READ, "remote")
            while not self._stopped.is_set():
                ready = [key.data for key, _ in selector.select(timeout=1.0)]
                if "local" in ready:
                    data = _recv(conn)
                    if not data:
                        return
                    ws.send_binary(b"\x00" + data)
                while "remote" in ready:
                    opcode, frame = ws.recv_data_frame(True)
                    if opcode == ABNF.OPCODE_CLOSE:
                        return
                    if opcode == ABNF.OPCODE_BINARY and frame.data and frame.data[0] <= 1:
                        channel, payload = frame.data[0], frame.data[1:]
                        if not opened[channel]:  # the port number, little-endian
                            opened[channel] = True
                        elif channel == 1:
                            self._failed(f"pod {pod}: {payload.decode(errors='replace')}")
                            return
                        elif not _send(conn, payload):
                            return
                    pending = getattr(ws.sock, "pending", None)  # TLS may hold a decrypted frame already
                    if not (pending and pending()):
                        break

    def _failed(self, why: str) -> None:
        self.failures += 1
        self.last_error = why

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
        for ws in list(self._sessions):
            with contextlib.suppress(Exception):
                ws.close(timeout=1)
        if self._api is not None:
            self._api.close()
            self._api = None


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(CHUNK_BYTES)
    except OSError:
        return b""


def _send(sock: socket.socket, data: bytes) -> bool:
    try:
        sock.sendall(data)
    except OSError:
        return False
    return True
