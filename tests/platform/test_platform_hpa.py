"""The HPA controller on the embedded cluster: it scrapes replicas' /metrics and process CPU and rescales."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx
import psutil
import pytest

from harness.platform.local.metrics_scrape import CpuMeter
from harness.procs import poll_until


def _hammer(url: str, workers: int, stop: threading.Event, max_s: float) -> None:
    """``workers`` closed-loop clients, each bounded by ``stop`` and ``max_s``."""

    def worker() -> None:
        deadline = time.monotonic() + max_s
        with httpx.Client(timeout=10.0) as http:
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    http.post(f"{url}/v1/predict", json={"inputs": [1]})
                except httpx.HTTPError:
                    time.sleep(0.05)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    stop.wait(max_s)
    for thread in threads:
        thread.join(timeout=15)


@pytest.mark.slow
def test_hpa_scales_up_on_a_pod_metric_and_back_down(start_cluster):
    hpa = {
        "enabled": True, "min_replicas": 1, "max_replicas": 3, "sync_period": 0.5, "metric_resolution": 0.25,
        "downscale_stabilization": 1.0,
        "metrics": [{"type": "Pods", "name": "in_flight", "target_average_value": 2}],
    }  # fmt: skip
    cluster = start_cluster(replicas=1, platform={"hpa": hpa}, service={"device_time_ms": 400}, watch_hpa=True)
    statuses = cluster.hpa_statuses
    stop = threading.Event()
    load = threading.Thread(target=_hammer, args=(cluster.url, 8, stop, 40.0), daemon=True)
    load.start()
    try:
        ups = cluster.wait_for(lambda: [e for e in cluster.events("scale") if e["to"] > e["from"]], 30, "scale-up")
    finally:
        stop.set()
        load.join(timeout=20)
    first = ups[0]
    assert first["source"] == "hpa" and first["from"] == 1 and first["reason"]
    current, desired, metrics = statuses.decisions(up=True)[0]
    assert (current, desired) == (1, first["to"])
    assert metrics["in_flight"] > 2 * 1.1, "scaled up only above target + tolerance"
    assert cluster.state().hpa_metrics["in_flight_target"] == 2.0
    down = cluster.wait_for(
        lambda: [e for e in cluster.events("scale") if e["to"] == 1 and e["t_s"] > first["t_s"]], 30, "back to 1"
    )
    assert down[0]["source"] == "hpa"
    assert statuses.decisions(up=False)[-1][2]["in_flight"] < 2 * 0.9
    assert any(current == desired for current, desired, _ in statuses.seen), "steady syncs in between"
    rescales = [e["message"] for e in cluster.k8s_events("SuccessfulRescale")]
    assert rescales[0].startswith(f"New size: {first['to']}; reason: ")


@pytest.mark.slow
def test_hpa_on_cpu_scales_idle_replicas_down_to_min(start_cluster):
    hpa = {
        "enabled": True, "min_replicas": 1, "max_replicas": 4, "sync_period": 0.5, "metric_resolution": 0.5,
        "downscale_stabilization": 0.0,
        "metrics": [{"type": "Resource", "name": "cpu", "target_utilization": 50}],
    }  # fmt: skip
    cluster = start_cluster(replicas=3, platform={"hpa": hpa, "pod": {"cpu_request": 0.5}}, watch_hpa=True)
    statuses = cluster.hpa_statuses
    cluster.wait_for(lambda: [e for e in cluster.events("scale") if e["to"] == 1], 30, "a scale-down to min")
    # 3 → 1 in one step on a quiet host; on a busy one the pods' own start-up shows as CPU and it may go 3 → 2 → 1
    scales = cluster.events("scale")
    assert all(e["source"] == "hpa" and e["to"] < e["from"] for e in scales), scales
    assert scales[0]["from"] == 3 and scales[-1]["to"] == 1, scales
    cluster.wait_for(lambda: statuses.decisions(up=False), 10, "the HPA's status for the scale-down")
    current, desired, metrics = statuses.decisions(up=False)[0]
    assert current == 3 and desired < 3 and metrics["cpu_utilization_pct"] < 50
    assert cluster.state().hpa_metrics["cpu_utilization_pct_target"] == 50.0


def test_cpu_meter_tells_a_busy_process_from_an_idle_one():
    busy = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 4: pass"])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(4)"])
    try:
        # both have started: the busy one is spinning, the idle one is asleep in its interpreter
        assert poll_until(lambda: psutil.Process(busy.pid).cpu_times().user > 0.05, 10.0), "the busy loop never ran"
        meter = CpuMeter()
        assert meter.rate("busy", busy.pid, time.monotonic()) is None, "no window at the first reading"
        meter.rate("idle", idle.pid, time.monotonic())
        time.sleep(1.5)
        busy_cores = meter.rate("busy", busy.pid, time.monotonic())
        idle_cores = meter.rate("idle", idle.pid, time.monotonic())
        assert busy_cores is not None and busy_cores > 0.2, busy_cores
        assert idle_cores is not None and idle_cores < 0.1, idle_cores
    finally:
        for proc in (busy, idle):
            proc.kill()
            proc.wait()
