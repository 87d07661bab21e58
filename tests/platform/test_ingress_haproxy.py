"""Per-request balancing (``platform.balancing: request``) on HAProxy, and the forwarder when HAProxy is missing.

- Which stack runs: HAProxy when ``haproxy`` is on PATH, the Python forwarder otherwise or with
  ``KIBENCH_INGRESS=forwarder``; the config it gets is one HAProxy itself accepts (``haproxy -c``).
- Its backend slots follow the Ready pods (pure logic: which runtime-API commands for which change).
- End to end on the embedded cluster: one keep-alive connection's requests spread over every pod; a pod
  that starts terminating gets no new request while the one it is serving finishes (200); a pod that dies
  fails the request it was serving (502) and the next ones go to the others; after the platform stops, the
  haproxy process (found by its pid, from the ``IngressProxy`` Event) is gone.
HAProxy's tests skip, saying why, where it is not installed (``scripts/ensure-haproxy.sh`` installs it).
"""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest

from harness.platform.kubernetes.manifests import PROXY_TIMEOUT_ANNOTATION, proxy_timeout_s, service
from harness.platform.local import haproxy
from harness.platform.local.balancer import PROXY_TIMEOUT_S, _timeout_s
from harness.procs import poll_until
from tests.platform.conftest import fast_scenario

HAPROXY, WHY_NOT = haproxy.find()
needs_haproxy = pytest.mark.skipif(HAPROXY is None, reason=WHY_NOT)


def test_haproxy_is_used_when_installed_and_the_forwarder_otherwise(monkeypatch, tmp_path):
    monkeypatch.delenv("KIBENCH_INGRESS", raising=False)
    path = str(tmp_path)  # a PATH without haproxy
    assert haproxy.find(path) == (None, "haproxy is not installed (scripts/ensure-haproxy.sh installs it)")
    fake = tmp_path / "haproxy"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert haproxy.find(path) == (str(fake), "")
    monkeypatch.setenv("KIBENCH_INGRESS", "forwarder")
    assert haproxy.find(path) == (None, "KIBENCH_INGRESS=forwarder")


def test_the_proxy_outwaits_the_scenarios_deadlines():
    scenario = fast_scenario(service={"request_timeout": 40})
    assert proxy_timeout_s(scenario) == 45.0  # past service.request_timeout (40 s) and load.timeout (10 s)
    svc = service("s", "request", proxy_timeout_s(scenario))
    assert svc["metadata"]["annotations"][PROXY_TIMEOUT_ANNOTATION] == "45"
    assert _timeout_s(svc) == 45.0
    assert _timeout_s(service("s", "request")) == PROXY_TIMEOUT_S
    config = haproxy.render_config(7, "/run/admin.sock", 45.0, slots=4)
    for line in ("bind fd@7", "balance roundrobin", "http-reuse safe", "timeout server 45000ms",
                 "timeout client 45000ms", "server-template s 1-4 127.0.0.1:1 disabled"):  # fmt: skip
        assert line in config


def test_slots_follow_the_ready_pods():
    slots = haproxy.Slots(count=3)
    a, b, c, d = ("127.1.0.1", 8000), ("127.1.0.2", 8000), ("127.1.0.3", 8000), ("127.1.0.4", 8000)
    assert slots.update([a, b]) == [
        "set server be/s1 addr 127.1.0.1 port 8000", "set server be/s1 state ready",
        "set server be/s2 addr 127.1.0.2 port 8000", "set server be/s2 state ready",
    ]  # fmt: skip
    assert slots.update([a, b]) == []
    assert slots.update([b]) == ["set server be/s1 state maint"]  # a left: no new request, in-flight ones finish
    assert slots.update([b, c]) == ["set server be/s3 addr 127.1.0.3 port 8000", "set server be/s3 state ready"]
    assert slots.update([a, b, c]) == [  # a is back: its own slot
        "set server be/s1 addr 127.1.0.1 port 8000",
        "set server be/s1 state ready",
    ]
    assert slots.update([a, b, c, d]) == [] and slots.left_out == [d]  # every slot in use
    assert slots.update([b, c, d]) == [  # the slot freed longest ago (here: the only one) is reused
        "set server be/s1 state maint", "set server be/s1 addr 127.1.0.4 port 8000", "set server be/s1 state ready"
    ]  # fmt: skip
    assert slots.update([c, d]) == ["set server be/s2 state maint"]
    assert slots.used == {c: 3, d: 1} and slots.left_out == []


@needs_haproxy
def test_haproxy_accepts_the_config(tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        cfg = tmp_path / "haproxy.cfg"
        cfg.write_text(haproxy.render_config(listener.fileno(), str(tmp_path / "admin.sock"), 35.0))
        check = subprocess.run(
            [str(HAPROXY), "-c", "-f", str(cfg)],
            capture_output=True,
            text=True,
            pass_fds=[listener.fileno()],
            timeout=30,
        )
    assert check.returncode == 0, check.stdout + check.stderr


def _runtime_api(path: str, command: str) -> str:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(path)
        sock.sendall(command.encode() + b"\n")
        return b"".join(iter(lambda: sock.recv(65536), b"")).decode()


def _in_flight(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    found = re.search(r"^kibench_in_flight_requests(?:\{[^}]*\})? ([0-9.e+-]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


@needs_haproxy
@pytest.mark.slow
def test_per_request_on_haproxy_spreads_gates_readiness_and_stops_with_the_platform(start_cluster):
    grace = {"termination_grace_period": 5}  # longer than the slow requests below: a leaving pod drains them
    cluster = start_cluster(replicas=3, platform={"balancing": "request", "pod": grace}, service={"device_time_ms": 2})
    names = {r.name for r in cluster.wait_ready(3)}
    [event] = cluster.wait_for(lambda: cluster.events("ingress_proxy"), 10, "the ingress_proxy event")
    assert event["proxy"] == "haproxy", event
    pid = int(re.search(r"\(pid (\d+)\)", event["message"]).group(1))
    admin_sock = event["message"].rsplit("runtime API ", 1)[1]
    assert psutil.Process(pid).ppid() == cluster.hello["pid"]

    with httpx.Client(limits=httpx.Limits(max_connections=1), timeout=10.0) as client:  # one connection
        hits = [client.post(f"{cluster.url}/v1/predict", json={"inputs": [1]}) for _ in range(15)]
    spread = {n: sum(1 for r in hits if r.headers["x-kibench-replica"] == n) for n in names}
    assert set(spread.values()) == {5}, spread

    token = base64.b64decode(cluster.core.read_namespaced_secret(f"{cluster.name}-admin", "default").data["token"])
    auth = {"Authorization": f"Bearer {token.decode()}"}
    pods = {r.name: f"http://{cluster.pod(r.name)['status']['podIP']}:{r.port}" for r in cluster.ready()}
    leaving, dying, staying = sorted(pods)

    def slow_request_on(pod: str) -> tuple[ThreadPoolExecutor, list]:
        """Three requests through the ingress while ``pod`` adds 1 s to each: one is in flight on it."""
        httpx.post(
            f"{pods[pod]}/admin/latency", json={"add_ms": 1000, "duration_s": 30}, headers=auth
        ).raise_for_status()
        pool = ThreadPoolExecutor(3)
        futures = [pool.submit(httpx.post, f"{cluster.url}/v1/predict", json={"inputs": [1]}, timeout=15)
                   for _ in range(3)]  # fmt: skip
        cluster.wait_for(lambda: _in_flight(pods[pod]) >= 1, 10, f"a request in flight on {pod}")
        return pool, futures

    # A pod that starts terminating (as in a scale-down or rollout) gets no new request; its request finishes.
    pool, futures = slow_request_on(leaving)
    cluster.core.delete_namespaced_pod(leaving, "default")
    address = pods[leaving].removeprefix("http://").split(":")[0]

    def in_maint() -> bool:  # be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state (1: forced maint)
        rows = [line.split() for line in _runtime_api(admin_sock, "show servers state be").splitlines()]
        return any(r[4] == address and int(r[6]) & 1 for r in rows if len(r) > 6 and r[0].isdigit())

    assert poll_until(in_maint, 10, 0.05), _runtime_api(admin_sock, "show servers state be")
    after = [httpx.post(f"{cluster.url}/v1/predict", json={"inputs": [1]}, timeout=10) for _ in range(6)]
    assert leaving not in {r.headers["x-kibench-replica"] for r in after}
    answered = [f.result() for f in futures]
    pool.shutdown()
    assert [r.status_code for r in answered] == [200, 200, 200], [r.text for r in answered]
    assert leaving in {r.headers["x-kibench-replica"] for r in answered}, "its request in flight finished"

    # A pod that dies fails the request it was serving (502, as an ingress does); the next ones go elsewhere.
    pool, futures = slow_request_on(dying)
    os.kill(cluster.pid(dying), signal.SIGKILL)
    statuses = {f.result().status_code for f in futures}
    pool.shutdown()
    assert statuses == {200, 502}, statuses
    after = [httpx.post(f"{cluster.url}/v1/predict", json={"inputs": [1]}, timeout=10) for _ in range(6)]
    assert {r.status_code for r in after} == {200}, [r.text for r in after]  # a refused connect goes elsewhere

    cluster.stop()
    assert poll_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie", 15, 0.1)
