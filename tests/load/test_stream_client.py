"""The load client hands a stream on as the socket delivers it: events ending in a lone CR are timed when
they arrive, and a stream cut off mid-body is a failed request, never a hang.

The client runs in a subprocess (importing Locust monkey-patches the standard library); the scripted
server is a thread of this process writing raw HTTP/1.1.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from harness.procs import free_port

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
GAP_S = 0.15

CLIENT = r"""
import json, sys, time
from harness.load.client import TargetClient
from harness.load.config import LoadConfig
from harness.load.workloads import StreamStats
cfg = LoadConfig(target_url=sys.argv[1], out_dir=".", t0_monotonic=0.0, segments=(), endpoint="/s", timeout_s=5)
client, stats, t0 = TargetClient(cfg, {}), StreamStats(), time.monotonic()
ex = client.stream("{}", lambda chunk: stats.add(chunk, time.monotonic() - t0))
print(json.dumps({"status": ex.status, "error": type(ex.error).__name__ if ex.error else None, "done": stats.done,
                  "first_s": stats.first_token_s, "chunks": stats.chunks, "itl_ms": stats.itl_mean_ms}))
"""


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _cr_only(conn: socket.socket) -> None:
    conn.sendall(HEAD)
    for i in range(3):
        time.sleep(GAP_S)
        conn.sendall(_chunk(b'data: {"choices":[{"text":"t%d"}]}\r\r' % i))
    conn.sendall(_chunk(b"data: [DONE]\r\r") + b"0\r\n\r\n")


def _cut_off(conn: socket.socket) -> None:
    conn.sendall(HEAD + _chunk(b'data: {"choices":[{"text":"a"}]}\n\n'))
    time.sleep(GAP_S)  # then the connection closes without the last chunk


@pytest.fixture
def scripted() -> Iterator[Callable[[Callable[[socket.socket], None]], dict]]:
    """Serve one request with a script; run the client against it and return what it measured."""
    threads: list[threading.Thread] = []

    def run(script: Callable[[socket.socket], None]) -> dict:
        port = free_port()
        listener = socket.create_server(("127.0.0.1", port))

        def serve() -> None:
            with listener, listener.accept()[0] as conn:
                conn.recv(65536)
                script(conn)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        threads.append(thread)
        proc = subprocess.run([sys.executable, "-c", CLIENT, f"http://127.0.0.1:{port}"],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    yield run
    for thread in threads:
        thread.join(5)


def test_events_ending_in_a_lone_cr_are_timed_as_they_arrive(scripted):
    out = scripted(_cr_only)
    assert out["status"] == 200 and out["error"] is None and out["done"] and out["chunks"] == 3
    assert GAP_S * 0.9 <= out["first_s"] < GAP_S + 0.5  # not held until the end of the stream
    assert GAP_S * 1000 * 0.6 <= out["itl_ms"] <= GAP_S * 1000 * 2


def test_a_stream_cut_off_mid_body_is_a_failure(scripted):
    out = scripted(_cut_off)
    assert out["status"] == 200 and out["error"] == "HTTPParseError" and not out["done"] and out["chunks"] == 1
