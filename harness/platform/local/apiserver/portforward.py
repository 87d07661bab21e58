"""``pods/{name}/portforward`` over WebSockets, as a kubelet serves it behind a real API server.

In: an ASGI ``websocket`` scope for ``/api/v1/namespaces/{ns}/pods/{name}/portforward?ports=P[,Q]`` (``port=P``
as the kubelet's own form is accepted too), its bearer token already checked, and the ``Store``.  Out: the
channel protocol of ``v4.channel.k8s.io`` (binary; ``channel.k8s.io`` and no subprotocol mean the same): two
channels per port, in the order the ports were asked, ``2*i`` data (read/write) and ``2*i+1`` error
(server to client).  Every message is one channel byte, then payload; the first message the server sends on
each channel is the port number, two bytes little-endian.  Each port is one TCP connection to
``podIP:port`` (pod IPs are loopback addresses on the embedded cluster); when it ends, the WebSocket is closed.
A pod that is not Running with an IP, or a port nobody listens on, is reported on the port's error channel,
as a kubelet does.  This is what the official Python client's ``kubernetes.stream.portforward`` speaks.

``kubectl port-forward`` (1.31 and later) asks for the subprotocol ``SPDY/3.1+portforward.k8s.io``: SPDY/3.1
tunnelled over the WebSocket's binary messages (``spdy.py``), one pair of streams (error, data) per local
connection, as a kubelet serves it (``SpdyPortForward``).  SPDY over a plain HTTP upgrade (kubectl's fallback,
and older kubectl) is not served: that request gets a 400 Status saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any
from urllib.parse import parse_qs

from harness.platform.local.apiserver import spdy
from harness.platform.local.apiserver.routing import split_path
from harness.platform.local.apiserver.store import Store

SUBPROTOCOLS = ("v4.channel.k8s.io", "channel.k8s.io")
SPDY_TUNNEL = "SPDY/3.1+portforward.k8s.io"
READ_CHUNK_BYTES = 64 * 1024


def match(path: str) -> tuple[str, str] | None:
    """(namespace, pod) when ``path`` is a pod's portforward subresource."""
    seg = split_path(path)
    if len(seg) == 7 and seg[:3] == ["api", "v1", "namespaces"] and seg[4] == "pods" and seg[6] == "portforward":
        return seg[3], seg[5]
    return None


def ports_of(query_string: bytes) -> list[int]:
    """The ports asked for (``ports=8000,9000`` and/or ``port=8000``), in order; ValueError when malformed."""
    query = parse_qs(query_string.decode("latin-1"))
    raw = [p for value in query.get("ports", []) + query.get("port", []) for p in value.split(",") if p]
    ports = [int(p) for p in raw]
    if not ports or any(not 0 < p < 65536 for p in ports) or len(set(ports)) != len(ports):
        raise ValueError(f"invalid ports {raw!r}: give ports=N[,M] with distinct numbers 1-65535")
    return ports


def _frame(channel: int, data: bytes) -> dict[str, Any]:
    return {"type": "websocket.send", "bytes": bytes([channel]) + data}


class PortForward:
    """One port-forward session: one WebSocket, one TCP connection per port."""

    def __init__(self, store: Store, namespace: str, pod: str, ports: list[int]) -> None:
        self.store, self.namespace, self.pod, self.ports = store, namespace, pod, ports
        self.writers: dict[int, asyncio.StreamWriter] = {}

    def _address(self) -> tuple[str | None, str]:
        pod = self.store.find("pods", self.namespace, self.pod)
        if pod is None:
            return None, f'pods "{self.pod}" not found'
        status = pod.obj.get("status") or {}
        if status.get("phase") != "Running" or not status.get("podIP"):
            return None, f"pod {self.pod} is not running (phase {status.get('phase')})"
        return str(status["podIP"]), ""

    async def serve(self, send: Any, receive: Any, subprotocol: str | None) -> None:
        await send({"type": "websocket.accept", "subprotocol": subprotocol})
        for i, port in enumerate(self.ports):  # the port number opens each channel, data and error alike
            await send(_frame(2 * i, struct.pack("<H", port)))
            await send(_frame(2 * i + 1, struct.pack("<H", port)))
        ip, why = self._address()
        pumps = []
        for i, port in enumerate(self.ports):
            try:
                if ip is None:
                    raise OSError(why)
                reader, writer = await asyncio.open_connection(ip, port)
            except OSError as exc:
                message = f"error forwarding port {port} to pod {self.pod}: {exc}"
                await send(_frame(2 * i + 1, message.encode()))
                continue
            self.writers[i] = writer
            pumps.append(asyncio.create_task(self._from_pod(i, reader, send)))
        inbound = asyncio.create_task(self._from_client(receive))
        try:
            if pumps:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            else:
                await asyncio.sleep(0)
        finally:
            inbound.cancel()
            for task in pumps:
                task.cancel()
            for writer in self.writers.values():
                writer.close()
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": 1000})

    async def _from_pod(self, index: int, reader: asyncio.StreamReader, send: Any) -> None:
        while data := await reader.read(READ_CHUNK_BYTES):
            await send(_frame(2 * index, data))

    async def _from_client(self, receive: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                for writer in self.writers.values():
                    writer.close()
                return
            data = message.get("bytes") or (message.get("text") or "").encode()
            if len(data) < 1 or data[0] % 2:  # a write on an error channel (or an empty frame): ignored
                continue
            writer = self.writers.get(data[0] // 2)
            if writer is not None and len(data) > 1:
                writer.write(data[1:])
                await writer.drain()


class SpdyPortForward:
    """kubectl's port-forward: SPDY/3.1 tunnelled over the WebSocket (``SPDY/3.1+portforward.k8s.io``).

    kubectl opens two streams per local connection, with the headers ``streamType`` (``error`` or ``data``),
    ``port`` and ``requestID``; each is accepted with a SYN_REPLY.  Once both of a request are there, the pod's
    port is dialled: data stream to the pod and back; the pod closing ends the data stream (FIN) and then the
    error stream; a failure is written on the error stream.  PINGs are answered; flow control is not enforced
    (nor is it by Go's spdystream)."""

    def __init__(self, store: Store, namespace: str, pod: str, send: Any) -> None:
        self.store, self.namespace, self.pod, self._send = store, namespace, pod, send
        self.headers = spdy.Headers()
        self.requests: dict[str, dict[str, int]] = {}  # requestID -> {"error": stream, "data": stream}
        self.ports: dict[str, int] = {}
        self.writers: dict[int, asyncio.StreamWriter] = {}  # data stream -> the pod connection
        self.pending: dict[int, bytearray] = {}  # data that came while the pod's port was being dialled
        self.pending_fin: dict[int, bool] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.last_stream = 0
        self._lock = asyncio.Lock()

    async def send(self, payload: bytes) -> None:
        async with self._lock:
            await self._send({"type": "websocket.send", "bytes": payload})

    async def serve(self, receive: Any, subprotocol: str) -> None:
        await self._send({"type": "websocket.accept", "subprotocol": subprotocol})
        reader = spdy.FrameReader()
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                for frame in reader.feed(message.get("bytes") or b""):
                    if not await self._on_frame(frame):
                        return
        finally:
            for task in self.tasks:
                task.cancel()
            for writer in self.writers.values():
                writer.close()

    async def _on_frame(self, frame: spdy.Frame) -> bool:
        if not frame.control:
            writer = self.writers.get(frame.stream_id)
            early = self.pending.get(frame.stream_id)
            if writer is None and early is not None:  # the pod's port is still being dialled
                early += frame.payload
                self.pending_fin[frame.stream_id] = frame.fin
            elif writer is not None:
                if frame.payload:
                    writer.write(frame.payload)
                    await writer.drain()
                if frame.fin and writer.can_write_eof():
                    writer.write_eof()
            return True
        if frame.kind == spdy.SYN_STREAM:
            stream_id, block = spdy.syn_stream_id(frame)
            self.last_stream = max(self.last_stream, stream_id)
            headers = self.headers.read(block)
            await self.send(spdy.syn_reply(stream_id, self.headers.write({})))
            self._stream(stream_id, headers)
        elif frame.kind == spdy.PING:
            await self.send(spdy.ping(frame.payload))
        elif frame.kind == spdy.RST_STREAM:
            writer = self.writers.pop(spdy.stream_of(frame), None)
            if writer is not None:
                writer.close()
        elif frame.kind == spdy.GOAWAY:
            return False
        return True  # SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do

    def _stream(self, stream_id: int, headers: dict[str, str]) -> None:
        request = headers.get("requestid", "")
        kind = headers.get("streamtype", "")
        pair = self.requests.setdefault(request, {})
        pair[kind] = stream_id
        if headers.get("port", "").isdigit():
            self.ports[request] = int(headers["port"])
        if "error" in pair and "data" in pair:
            self.pending[pair["data"]] = bytearray()
            task = asyncio.create_task(self._forward(request, pair["error"], pair["data"]))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _forward(self, request: str, error_stream: int, data_stream: int) -> None:
        port = self.ports.get(request, 0)
        ip, why = PortForward(self.store, self.namespace, self.pod, [port])._address()
        try:
            if ip is None:
                raise OSError(why)
            reader, writer = await asyncio.open_connection(ip, port)
        except OSError as exc:
            self.pending.pop(data_stream, None)
            message = f"error forwarding port {port} to pod {self.pod}: {exc}"
            await self.send(spdy.data(error_stream, message.encode(), fin=True))
            await self.send(spdy.data(data_stream, b"", fin=True))
            return
        self.writers[data_stream] = writer
        early, fin = self.pending.pop(data_stream, b""), self.pending_fin.pop(data_stream, False)
        if early:
            writer.write(bytes(early))
        if fin and writer.can_write_eof():
            writer.write_eof()
        try:
            while chunk := await reader.read(READ_CHUNK_BYTES):
                await self.send(spdy.data(data_stream, chunk))
        except OSError:
            pass
        finally:
            self.writers.pop(data_stream, None)
            writer.close()
            with contextlib.suppress(Exception):
                await self.send(spdy.data(data_stream, b"", fin=True))
                await self.send(spdy.data(error_stream, b"", fin=True))
            self.requests.pop(request, None)


async def handle(scope: dict[str, Any], receive: Any, send: Any, store: Store, authorized: bool) -> None:
    """Serve one WebSocket request: a port-forward, or a refusal (403 before the handshake completes)."""
    connect = await receive()
    if connect["type"] != "websocket.connect":
        return
    target = match(scope.get("path", ""))
    offered = list(scope.get("subprotocols") or [])
    if authorized and target is not None and SPDY_TUNNEL in offered:  # kubectl 1.31 and later
        await SpdyPortForward(store, target[0], target[1], send).serve(receive, SPDY_TUNNEL)
        return
    chosen = next((p for p in offered if p in SUBPROTOCOLS), None)
    if not authorized or target is None or (offered and chosen is None):
        await send({"type": "websocket.close", "code": 1008})
        return
    try:
        ports = ports_of(scope.get("query_string", b""))
    except ValueError:
        await send({"type": "websocket.close", "code": 1008})
        return
    await PortForward(store, target[0], target[1], ports).serve(send, receive, chosen)
