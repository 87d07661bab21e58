"""The embedded cluster's data path (issue 18): what a Service and an ingress do with connections and requests,
and the platform's own self-check when the host, not the service, is the limit.

- Per connection (a Service, kube-proxy's semantics, the default): a keep-alive connection stays on the pod it
  first reached, also after a scale-up; new connections spread over every Ready pod.
- Per request (``platform.balancing: request``, an ingress): the requests of one keep-alive connection are
  spread over every Ready pod, in turn (here on the forwarder, the fallback; HAProxy's own tests are in
  test_ingress_haproxy.py).
- A run on a host starved of CPU on purpose reports ``platform_saturated`` = 1, says so in a warning, and exits
  4 (the default self-check SLO): the measurement is not trustworthy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _hits(client: httpx.Client, url: str, requests: int) -> Counter[str]:
    """Which replica answered each request sent on ``client``'s one keep-alive connection."""
    return Counter(
        client.post(f"{url}/v1/predict", json={"inputs": [1]}).headers["x-kibench-replica"] for _ in range(requests)
    )


def test_a_keep_alive_connection_stays_on_its_pod_after_a_scale_up(start_cluster):
    cluster = start_cluster(replicas=1)
    (first,) = (r.name for r in cluster.wait_ready(1))
    with httpx.Client(limits=httpx.Limits(max_connections=1), timeout=10.0) as client:
        assert _hits(client, cluster.url, 5) == {first: 5}
        cluster.driver.scale(3)
        cluster.wait_ready(3)
        assert _hits(client, cluster.url, 30) == {first: 30}, "an open connection must stay on its pod"
    spread = cluster.replica_hits(30)  # a new connection each: round robin over the Ready pods
    assert len(spread) == 3 and min(spread.values()) >= 5, spread


def test_per_request_balancing_spreads_one_connections_requests(start_cluster, monkeypatch):
    """On the Python forwarder, the fallback where HAProxy is missing (tests/platform/test_ingress_haproxy.py)."""
    monkeypatch.setenv("KIBENCH_INGRESS", "forwarder")  # the daemon inherits it
    cluster = start_cluster(replicas=3, platform={"balancing": "request"})
    names = {r.name for r in cluster.wait_ready(3)}
    with httpx.Client(limits=httpx.Limits(max_connections=1), timeout=10.0) as client:
        hits = _hits(client, cluster.url, 30)
    assert set(hits) == names and set(hits.values()) == {10}, hits
    [event] = cluster.events("ingress_proxy")
    assert event["proxy"] == "forwarder" and "KIBENCH_INGRESS=forwarder" in event["message"], event


BURN = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end: pass\n"


@pytest.mark.exclusive  # burns every core on purpose
def test_a_starved_host_is_reported_as_the_bottleneck(kibench, tmp_path):
    """Busy loops on every core (and one more) from the load's start to the run's end: the platform's self-check
    must say so.  (Started with the load, not before the deploy: a starved deploy only makes the test slow.)"""
    argv = [*kibench, "run", str(ROOT / "scenarios" / "smoke.yaml"), "--set", "load.duration=6s",
            "--set", "service.cold_start=0s", "--results", str(tmp_path)]  # fmt: skip
    burners: list[subprocess.Popen[bytes]] = []
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        out = []
        for line in proc.stdout:  # bounded: the run ends by itself (load 6 s), and the timeout below kills it
            out.append(line)
            if line.startswith("load:") and not burners:
                burn = [sys.executable, "-c", BURN.format(s=60)]
                burners = [subprocess.Popen(burn) for _ in range((os.cpu_count() or 2) + 1)]
        code = proc.wait(timeout=240)
    finally:
        proc.kill()
        for burner in burners:
            burner.kill()
            burner.wait()
    assert burners, "".join(out)[-2000:]
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    summary = json.loads((run / "summary.json").read_text())
    metrics = summary["metrics"]
    assert metrics["platform_saturated"] == 1.0 and metrics["host_cpu_idle_min"] < 5.0, metrics
    assert any("results are host-bound" in w for w in summary["warnings"]), summary["warnings"]
    [check] = [s for s in summary["slos"] if s["metric"] == "platform_saturated"]
    assert check["default"] and check["self_check"] and not check["pass"]
    assert code == 4, "".join(out)[-3000:]
    assert "not trustworthy" in summary["verdict_reason"]
