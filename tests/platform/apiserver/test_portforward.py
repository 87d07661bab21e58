"""``pods/{name}/portforward`` over a WebSocket, driven by the official client and by kibench's ``Tunnel``.

The "pod" is a real HTTP server on 127.0.0.1 (a pod's IP is a loopback address on the embedded cluster), put in
the store as a Running pod with that IP; the client goes through the real API server (uvicorn, TLS, token).
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import httpx
import pytest
from kubernetes import client
from kubernetes.stream import portforward

from harness.portforward import Tunnel

NS = "default"


class _Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = f"hello from {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def pod_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _pod(api, name: str, phase: str = "Running", ip: str | None = "127.0.0.1") -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    }
    api.call(api.store.create, "pods", NS, obj)
    status = {"phase": phase, **({"podIP": ip} if ip else {})}
    api.call(api.store.mutate, "pods", NS, name, lambda pod: pod.__setitem__("status", status))


def _http_get(sock, path: str) -> bytes:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_the_official_client_s_port_forward_reaches_the_pod(api, k8s, pod_server):
    _pod(api, "web")
    session = portforward(client.CoreV1Api(k8s).connect_get_namespaced_pod_portforward, "web", NS,
                          ports=str(pod_server))  # fmt: skip
    sock = session.socket(pod_server)
    answer = _http_get(sock, "/through-the-api")
    sock.close()
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"hello from /through-the-api")
    assert session.error(pod_server) is None


def test_a_pod_that_is_not_running_is_reported_on_the_error_channel(api, k8s, pod_server):
    _pod(api, "pending", phase="Pending", ip=None)
    session = portforward(client.CoreV1Api(k8s).connect_get_namespaced_pod_portforward, "pending", NS,
                          ports=str(pod_server))  # fmt: skip
    sock = session.socket(pod_server)
    assert sock.recv(10) == b""  # the error closes the port
    sock.close()
    assert "pod pending is not running (phase Pending)" in (session.error(pod_server) or "")


def test_a_port_nobody_listens_on_is_reported_on_the_error_channel(api, k8s):
    _pod(api, "web")
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    session = portforward(client.CoreV1Api(k8s).connect_get_namespaced_pod_portforward, "web", NS, ports=str(free))
    sock = session.socket(free)
    assert sock.recv(10) == b""
    sock.close()
    assert f"error forwarding port {free} to pod web" in (session.error(free) or "")


def test_the_tunnel_serves_many_connections_and_keep_alive(api, pod_server):
    _pod(api, "a")
    _pod(api, "b")
    picks = iter(["a", "b", "a", "b", "a"])
    tunnel = Tunnel(str(api.kubeconfig), NS, pod_server, lambda: next(picks, None)).start()
    try:
        for i in range(3):  # a new connection each time
            assert httpx.get(f"{tunnel.url}/n{i}", timeout=10).text == f"hello from /n{i}"
        with httpx.Client(base_url=tunnel.url, timeout=10) as keep_alive:  # one connection, several requests
            assert [keep_alive.get(f"/k{i}").text for i in range(3)] == [f"hello from /k{i}" for i in range(3)]
        assert tunnel.connections == 4 and tunnel.failures == 0
        with pytest.raises(httpx.HTTPError):  # pick() has no pod left: the connection is closed
            httpx.get(f"{tunnel.url}/none", timeout=10)
            httpx.get(f"{tunnel.url}/none", timeout=10)
        assert tunnel.failures >= 1 and "no Ready pod" in tunnel.last_error
    finally:
        tunnel.stop()


def test_a_websocket_without_the_token_or_for_another_path_is_refused(api, pod_server):
    import ssl

    import websocket

    _pod(api, "web")
    ws_url = api.url.replace("https://", "wss://")
    options = {"sslopt": {"cert_reqs": ssl.CERT_NONE}, "subprotocols": ["v4.channel.k8s.io"]}
    with pytest.raises(websocket.WebSocketBadStatusException, match="403"):
        websocket.create_connection(f"{ws_url}/api/v1/namespaces/{NS}/pods/web/portforward?ports={pod_server}",
                                    header=["Authorization: Bearer wrong"], **options)  # fmt: skip
    with pytest.raises(websocket.WebSocketBadStatusException, match="403"):
        websocket.create_connection(f"{ws_url}/api/v1/namespaces/{NS}/pods/web/exec?command=sh",
                                    header=[f"Authorization: Bearer {api.server.token}"], **options)  # fmt: skip


def test_kubectl_port_forward_tunnels_spdy_over_the_websocket(api, pod_server):
    """kubectl 1.31+ asks for SPDY/3.1+portforward.k8s.io: a SPDY stream pair per local connection."""
    import re
    import shutil
    import subprocess
    import time

    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on PATH")
    _pod(api, "web")
    proc = subprocess.Popen(
        ["kubectl", "--kubeconfig", str(api.kubeconfig), "port-forward", "pod/web", f":{pod_server}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "Forwarding from 127.0.0.1:NNNN -> PORT"
        found = re.search(r"127\.0\.0\.1:(\d+) -> (\d+)", line)
        assert found and found.group(2) == str(pod_server), line
        local = f"http://127.0.0.1:{found.group(1)}"
        deadline = time.monotonic() + 20
        while True:  # kubectl listens before it prints; the first connection may still race its start
            try:
                assert httpx.get(f"{local}/first", timeout=10).text == "hello from /first"
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        for i in range(3):  # a new connection (a new pair of SPDY streams) each time
            assert httpx.get(f"{local}/n{i}", timeout=10).text == f"hello from /n{i}"
        with httpx.Client(base_url=local, timeout=10) as keep_alive:
            assert [keep_alive.get(f"/k{i}").text for i in range(3)] == [f"hello from /k{i}" for i in range(3)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
