"""The Service forwarder's connection mode leaves no reference cycle per closed connection: its two pipes (and
their transports) are freed by reference counting when the connection ends, not by a full collection that a
quiet forwarder rarely runs (bench/soak.py: +10 % RSS over 30 minutes of pod kills before this was fixed)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine
from typing import Any

from harness.platform.local.forwarder import ClientPipe, Pipe, Service


def _left_to_the_collector(scenario: Callable[[], Coroutine[Any, Any, None]], kind: Any) -> list[object]:
    """Run ``scenario`` on a fresh loop; the objects of ``kind`` that only the cycle collector then found."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        asyncio.run(scenario())
        gc.collect()
        return [o for o in gc.garbage if isinstance(o, kind)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(await reader.read(100))
    await writer.drain()
    writer.close()  # the pod ends the connection (as a killed pod does)


def test_a_closed_relayed_connection_leaves_no_garbage_for_the_collector() -> None:
    async def relay_three_connections() -> None:
        pod = await asyncio.start_server(_echo, "127.0.0.1", 0)
        svc = Service("s", "connection")
        svc.set_endpoints([pod.sockets[0].getsockname()[:2]])
        front = await asyncio.get_running_loop().create_server(lambda: ClientPipe(svc), "127.0.0.1", 0)
        port = front.sockets[0].getsockname()[1]
        for _ in range(3):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"ping")
            assert await asyncio.wait_for(reader.read(100), 5) == b"ping"
            assert await asyncio.wait_for(reader.read(100), 5) == b""  # relayed close
            writer.close()
        for _ in range(50):  # let every transport's connection_lost run
            await asyncio.sleep(0.01)
        front.close()
        pod.close()
        await front.wait_closed()
        await pod.wait_closed()

    leaked = _left_to_the_collector(relay_three_connections, Pipe)
    assert leaked == [], f"{len(leaked)} pipes were freed only by the cycle collector"


async def _http_pod(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
    await writer.drain()
    writer.close()


def test_request_mode_leaves_no_garbage_for_the_collector() -> None:
    from harness.platform.local.forwarder import RequestClient, Upstream

    async def three_requests() -> None:
        pod = await asyncio.start_server(_http_pod, "127.0.0.1", 0)
        svc = Service("s", "request")
        svc.set_endpoints([pod.sockets[0].getsockname()[:2]])
        front = await asyncio.get_running_loop().create_server(lambda: RequestClient(svc), "127.0.0.1", 0)
        port = front.sockets[0].getsockname()[1]
        for _ in range(3):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), 5)
            assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok"), answer
            writer.close()
        for _ in range(50):
            await asyncio.sleep(0.01)
        front.close()
        pod.close()
        await front.wait_closed()
        await pod.wait_closed()

    leaked = _left_to_the_collector(three_requests, RequestClient | Upstream)
    assert leaked == [], f"{len(leaked)} protocol objects were freed only by the cycle collector"
