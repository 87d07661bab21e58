"""The embedded cluster's data path: Services forwarded in a process of their own, never in the daemon's loop.

In: ``python -m harness.platform.local.forwarder --control FD``: a SOCK_SEQPACKET socket on which the daemon
sends one JSON message per packet: ``{"op": "add", "id": ID, "mode": "connection" | "request"}`` with the
Service's listening socket attached (SCM_RIGHTS), ``{"op": "endpoints", "id": ID, "endpoints": [[ip, port],
...]}`` (the Ready pods, in order) and ``{"op": "remove", "id": ID}``.  Out: traffic forwarded to the pods,
and, on the control socket, ``{"op": "stats", ...}`` when asked (connections and requests so far).

Two modes, as a Service and an ingress differ on a cluster:

- ``connection`` (kube-proxy's semantics, the default): each new connection goes to the next Ready pod
  (round robin) and stays there: a keep-alive client keeps reaching the pod it first reached, so new replicas
  only get new connections.  Bytes are relayed both ways with flow control, unparsed.  A pod that turns
  unready gets no new connections; connections it already has stay open until it closes them or dies, as
  conntrack keeps established flows on a cluster.  With no Ready pod a new connection is closed at once.
- ``request`` (an ingress or gateway): each HTTP/1.1 request is parsed (httptools, the parser under uvicorn)
  and sent to the next Ready pod over a pooled keep-alive connection; the response streams back as it comes
  (server-sent events included).  503 with no Ready pod; 502 when the pod fails before answering (a failed
  connect is retried once on the next pod, as ingress-nginx's ``proxy_next_upstream error`` does).

The daemon keeps no per-request work: its cost is one endpoints message per readiness change.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sys
from collections import deque
from typing import Any

import httptools

HIGH_WATER = 256 * 1024
_503 = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 30\r\n\r\n"
_503 += b'{"error": "no ready replicas"}'
_502 = b"HTTP/1.1 502 Bad Gateway\r\ncontent-type: application/json\r\ncontent-length: 27\r\nconnection: close\r\n\r\n"
_502 += b'{"error": "upstream failed"}'


class Service:
    """One Service: its endpoints, its round-robin position, idle upstream connections (request mode)."""

    def __init__(self, sid: str, mode: str) -> None:
        self.id, self.mode = sid, mode
        self.endpoints: list[tuple[str, int]] = []
        self.next = 0
        self.pools: dict[tuple[str, int], deque[Upstream]] = {}
        self.server: asyncio.AbstractServer | None = None
        self.connections = 0
        self.requests = 0

    def pick(self) -> tuple[str, int] | None:
        if not self.endpoints:
            return None
        self.next = (self.next + 1) % len(self.endpoints)
        return self.endpoints[self.next]

    def set_endpoints(self, endpoints: list[tuple[str, int]]) -> None:
        self.endpoints = endpoints
        for key in [k for k in self.pools if k not in endpoints]:  # pods gone: drop their idle connections
            for upstream in self.pools.pop(key):
                upstream.close()


class Pipe(asyncio.Protocol):
    """One side of a relayed connection (connection mode): bytes in, to the peer's transport."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: Pipe | None = None
        self.pending: list[bytes] = []
        self.eof_written = False  # our write side is shut (the peer sent its EOF, relayed)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is None or peer.transport is None:
            self.pending.append(data)
            return
        peer.transport.write(data)

    def pause_writing(self) -> None:  # our transport is full: stop reading from the peer
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def eof_received(self) -> bool:
        """Relay a half-close; once both ways have ended (or there is no peer left), close: returning False
        closes this transport, and ``connection_lost`` the peer's.  (Keeping both half-closed transports
        open leaked two descriptors per connection that a pod's death ended: found by bench/soak.py.)"""
        peer = self.peer
        if self.eof_written or peer is None or peer.transport is None or peer.transport.is_closing():
            return False
        if not peer.transport.can_write_eof():
            return False
        peer.transport.write_eof()
        peer.eof_written = True
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        # let go of the peer and the transport: the two pipes and their transports refer to each other, and a
        # cycle left here is freed only by a full collection, which a quiet forwarder rarely runs (bench/soak.py:
        # +10 % RSS over 30 minutes of pod kills)
        peer, self.peer, self.transport, self.pending = self.peer, None, None, []
        if peer is not None and peer.transport is not None:
            peer.transport.close()


class ClientPipe(Pipe):
    """The client side: picks a pod for the connection and opens the upstream side."""

    def __init__(self, svc: Service) -> None:
        super().__init__()
        self.svc = svc

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.svc.connections += 1
        endpoint = self.svc.pick()
        if endpoint is None:
            transport.close()
            return
        asyncio.get_running_loop().create_task(self._connect(endpoint))

    async def _connect(self, endpoint: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        upstream = Pipe()
        upstream.peer = self
        try:
            await loop.create_connection(lambda: upstream, endpoint[0], endpoint[1])
        except OSError:
            if self.transport is not None:
                self.transport.close()
            return
        self.peer = upstream
        if self.transport is None or self.transport.is_closing():
            upstream.transport.close()  # type: ignore[union-attr]
            return
        for chunk in self.pending:
            upstream.transport.write(chunk)  # type: ignore[union-attr]
        self.pending.clear()


class Upstream(asyncio.Protocol):
    """A pooled keep-alive connection to one pod (request mode); relays one response at a time."""

    def __init__(self, svc: Service, endpoint: tuple[str, int]) -> None:
        self.svc, self.endpoint = svc, endpoint
        self.transport: asyncio.Transport | None = None
        self.client: RequestClient | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.done = False
        self.sent_any = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, client: RequestClient, request: bytes) -> None:
        self.client, self.done, self.sent_any = client, False, False
        self.parser = httptools.HttpResponseParser(self)
        assert self.transport is not None
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        client = self.client
        if client is None:
            return
        self.sent_any = True
        client.write(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.close()
            client.close()
            return
        if self.done:
            keep = self.parser.should_keep_alive()
            self.client = None
            if keep and self.transport is not None and not self.transport.is_closing():
                self.svc.pools.setdefault(self.endpoint, deque()).append(self)
            else:
                self.close()
            client.response_done()

    def on_message_complete(self) -> None:
        self.done = True

    def pause_writing(self) -> None:
        if self.client is not None and self.client.transport is not None:
            self.client.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.client is not None and self.client.transport is not None:
            self.client.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        pool = self.svc.pools.get(self.endpoint)
        if pool is not None and self in pool:
            pool.remove(self)
        client, self.client = self.client, None
        self.transport, self.parser = None, None  # type: ignore[assignment]  # the parser holds this protocol
        if client is not None:
            if not self.sent_any:
                client.write(_502)
            client.close()


class RequestClient(asyncio.Protocol):
    """A client connection in request mode: each complete request goes to the next Ready pod."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.buffer = bytearray()
        self.ready: deque[bytes] = deque()
        self.busy = False
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.svc.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.close()
        except httptools.HttpParserError:
            self.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            self.close()

    def on_message_complete(self) -> None:
        self.ready.append(bytes(self.buffer))
        self.buffer.clear()
        if not self.parser.should_keep_alive():
            self.closing = True
        if not self.busy:
            self._next()

    def _next(self) -> None:
        if not self.ready:
            if self.closing:
                self.close()
            return
        self.busy = True
        self.svc.requests += 1
        asyncio.get_running_loop().create_task(self._dispatch(self.ready.popleft()))

    async def _dispatch(self, request: bytes, tries: int = 2) -> None:
        for _ in range(tries):
            endpoint = self.svc.pick()
            if endpoint is None:
                self.write(_503)
                self.response_done()
                return
            pool = self.svc.pools.get(endpoint)
            upstream = pool.pop() if pool else None
            if upstream is None:
                try:
                    _, upstream = await asyncio.get_running_loop().create_connection(
                        lambda e=endpoint: Upstream(self.svc, e), endpoint[0], endpoint[1]
                    )
                except OSError:
                    continue
            if self.transport is None or self.transport.is_closing():
                upstream.close()
                return
            upstream.send(self, request)
            return
        self.write(_502)
        self.close()

    def response_done(self) -> None:
        self.busy = False
        self._next()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.parser = None  # type: ignore[assignment]  # it holds this protocol: no cycle left for the collector


class Forwarder:
    """Follows the daemon's control messages and serves every Service it names."""

    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.services: dict[str, Service] = {}
        self.stopped = asyncio.Event()

    def on_control(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                msg, fds, _flags, _addr = socket.recv_fds(self.control, 65536, 4)
            except BlockingIOError:
                return
            except OSError:
                self.stopped.set()
                return
            if not msg:  # the daemon is gone
                self.stopped.set()
                return
            data = json.loads(msg)
            loop.create_task(self.handle(data, fds))

    async def handle(self, data: dict[str, Any], fds: list[int]) -> None:
        op, sid = data.get("op"), str(data.get("id"))
        if op == "add" and fds:
            sock = socket.socket(fileno=fds[0])
            svc = Service(sid, str(data.get("mode", "connection")))
            factory = (lambda: RequestClient(svc)) if svc.mode == "request" else (lambda: ClientPipe(svc))
            svc.server = await asyncio.get_running_loop().create_server(factory, sock=sock, backlog=4096)
            self.services[sid] = svc
        elif op == "endpoints" and sid in self.services:
            self.services[sid].set_endpoints([(str(ip), int(port)) for ip, port in data.get("endpoints", [])])
        elif op == "remove" and sid in self.services:
            svc = self.services.pop(sid)
            if svc.server is not None:
                svc.server.close()
            svc.set_endpoints([])
        elif op == "stats":
            stats = {s.id: {"connections": s.connections, "requests": s.requests} for s in self.services.values()}
            self.control.send(json.dumps({"op": "stats", "services": stats}).encode())


async def serve(control_fd: int) -> None:
    control = socket.socket(fileno=control_fd)
    control.setblocking(False)
    forwarder = Forwarder(control)
    asyncio.get_running_loop().add_reader(control.fileno(), forwarder.on_control)
    await forwarder.stopped.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.platform.local.forwarder")
    parser.add_argument("--control", type=int, required=True, help="the control socket's file descriptor")
    args = parser.parse_args(argv)
    if os.environ.get("KIBENCH_FORWARDER_LOOP", "uvloop") == "uvloop":  # "asyncio": the stdlib loop (a bench)
        try:
            import uvloop

            uvloop.install()
        except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
            pass
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.control))
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
