"""What the embedded cluster's data path costs, side by side in one run (issue 18's speed figures).

    .venv/bin/python bench/data_path.py [--only a,c,d,e,f] [--seconds 8] [--rounds 3] [--connections 32]

(a) Through the Service ÷ straight to the replica: one replica of the reference service on the ``noop``
    profile (zero device time) behind a Service; a closed-loop HTTP/1.1 keep-alive client (asyncio + httptools,
    ``--connections`` connections, in its own process) sends ``POST /v1/predict`` for ``--seconds`` to the
    Service's URL and to the pod's own address, alternating (ABBA) for ``--rounds`` rounds; the ratio of the
    median throughputs (goal >= 0.9), in both balancing modes (per connection, per request).
(b) The daemon's CPU per request through the Service (goal <= 50 µs), and the proxy's (the forwarder, or
    haproxy in per-request mode when installed: ``proxy`` says which), from the same windows (psutil CPU
    times of the daemon and proxy processes divided by the requests completed).
(c) The highest open-model rate ``kibench run`` sustains through the Service with 16 replicas of a 2 ms
    device (achieved within 1 %, 0 dropped, p99 <= 2x the device time + 8 ms of loopback and client cost),
    found by bisection, with each process's CPU share at that rate.
(d) 32 replicas of a 50 ms device at 400 req/s for 30 s (the old collapse): throughput, dropped arrivals,
    Ready replicas and ``platform_saturated``.
(f) Candidates for the per-request (ingress) stack, each through the embedded cluster's own per-request Service,
    same replica, same client: HAProxy as the platform runs it when installed (scripts/ensure-haproxy.sh), the
    forwarder on uvloop (the fallback) and on the stdlib asyncio loop (``KIBENCH_INGRESS=forwarder``,
    ``KIBENCH_FORWARDER_LOOP``): req/s and the proxy process's CPU per request.
(e) No congestion collapse: 4 replicas of a 20 ms device, batch size 1 (capacity 200 req/s), a queue of 32
    requests each, offered 1x and then 2x their capacity for 20 s each: goodput (2xx completed inside the
    load window, per second) at 2x over goodput at 1x (goal >= 0.9), the statuses of the rest (the service
    sheds with 429 once its queue is full) and the fewest Ready replicas.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.platform.local.client import LocalPlatform  # noqa: E402
from harness.scenario import validate  # noqa: E402

BODY = b'{"inputs": [1]}'
REQUEST = (
    b"POST /v1/predict HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)


# ---- a closed-loop client, run as a subprocess: python bench/data_path.py --client URL SECONDS CONNECTIONS
async def _client(host: str, port: int, seconds: float, connections: int) -> int:
    import httptools

    done = 0
    deadline = time.monotonic() + seconds

    class Conn(asyncio.Protocol):
        def __init__(self) -> None:
            self.parser = httptools.HttpResponseParser(self)
            self.transport: Any = None

        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            transport.write(REQUEST)

        def data_received(self, data: bytes) -> None:
            self.parser.feed_data(data)

        def on_message_complete(self) -> None:
            nonlocal done
            done += 1
            if time.monotonic() < deadline:
                self.transport.write(REQUEST)
            else:
                self.transport.close()

    loop = asyncio.get_running_loop()
    for _ in range(connections):
        await loop.create_connection(Conn, host, port)
    await asyncio.sleep(max(deadline - time.monotonic(), 0) + 0.5)
    return done


def run_client(url: str, seconds: float, connections: int) -> int:
    host, port = url.removeprefix("http://").split(":")
    argv = [sys.executable, __file__, "--client", host, port, str(seconds), str(connections)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 30)
    return int(out.stdout.strip())


def _cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _forwarder_pid(daemon_pid: int) -> int | None:
    for child in psutil.Process(daemon_pid).children():
        if "forwarder" in " ".join(child.cmdline()):
            return child.pid
    return None


def _proxy(platform: Any) -> tuple[str, int | None]:
    """Which stack carries the per-request mode ("haproxy" or "forwarder", from the ingress_proxy run event)
    and the pid of the process that carries the Service's traffic."""
    events = [e for e in platform.events(0)[0] if e.kind == "ingress_proxy"]
    daemon = int(platform.hello["pid"])
    if events and events[0].attrs.get("proxy") == "haproxy":
        pid = int(str(events[0].attrs["message"]).split("(pid ", 1)[1].split(")", 1)[0])
        return "haproxy", pid
    return "forwarder", _forwarder_pid(daemon)


def _scenario(
    name: str, replicas: int, profile: str | None, device_ms: float, balancing: str, max_queue: int = 4096, **load: Any
) -> Any:
    service: dict[str, Any] = {
        "replicas": replicas,
        "cold_start": 0,
        "device_time_ms": device_ms,
        "max_queue": max_queue,
    }
    if profile:
        service["profile"] = profile
    data = {
        "name": name,
        "platform": {
            "balancing": balancing,
            "nodes": {"count": 2, "gpu_slots": 64},
            "pod": {"termination_grace_period": 1, "gpus": 1, "restart_backoff_initial": 1},
            "probes": {"readiness": {"period": 1}, "liveness": {"period": 2}},
            "ready_timeout": 120,
        },
        "service": service,
        "load": {"rate_rps": 10, "duration": "10s", **load},
    }
    return validate(data, f"bench {name}")


# ---- (a) + (b)
def through_service(seconds: float, rounds: int, connections: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in ("connection", "request"):
        logs = tempfile.mkdtemp(prefix="kibench-bench-")
        scenario = _scenario("bench-a", 1, "noop", 0, mode)
        platform = LocalPlatform.from_scenario(scenario, time.monotonic(), logs + "/logs")
        deployment = platform.deploy()
        try:
            state = platform.state()
            pod = state.replicas[0]
            ip = next(p["status"]["podIP"] for p in platform.driver.informers["pods"].items())  # type: ignore[union-attr]
            direct = f"http://{ip}:{pod.port}"
            daemon = int(deployment.details["daemon_pid"])
            proxy, forwarder = _proxy(platform) if mode == "request" else ("forwarder", _forwarder_pid(daemon))
            svc, straight, daemon_us, fwd_us = [], [], [], []
            for i in range(rounds):
                order = [("svc", deployment.target_url), ("direct", direct)]
                for which, url in order if i % 2 == 0 else order[::-1]:
                    d0, f0 = _cpu(daemon), _cpu(forwarder) if forwarder else 0.0
                    n = run_client(url, seconds, connections)
                    d1, f1 = _cpu(daemon), _cpu(forwarder) if forwarder else 0.0
                    if which == "svc":
                        svc.append(n / seconds)
                        daemon_us.append((d1 - d0) / max(n, 1) * 1e6)
                        fwd_us.append((f1 - f0) / max(n, 1) * 1e6)
                    else:
                        straight.append(n / seconds)
            out[mode] = {
                "proxy": proxy,
                "service_rps": round(statistics.median(svc), 1),
                "direct_rps": round(statistics.median(straight), 1),
                "ratio": round(statistics.median(svc) / statistics.median(straight), 3),
                "daemon_us_per_request": round(statistics.median(daemon_us), 2),
                "proxy_us_per_request": round(statistics.median(fwd_us), 2),
            }
            print(f"(a/b) {mode}: {json.dumps(out[mode])}", flush=True)
        finally:
            platform.teardown()
    return out


# ---- (c) + (d): kibench runs
def kibench_run(scenario: Any, results: str) -> dict[str, Any]:
    from harness.run import run_scenario

    outcome = run_scenario(scenario, results, console=None)
    summary = dict(outcome.summary or {})
    summary["run_dir"] = str(outcome.run_dir)
    return summary


def _ready_during_load(run_dir: str) -> tuple[int | None, int | None]:
    """(fewest, most) Ready replicas in the timeline between load_start and load_end."""
    import pandas as pd

    events = [json.loads(line) for line in Path(run_dir, "events.jsonl").read_text().splitlines() if line.strip()]
    start = next((e["t_s"] for e in events if e["kind"] == "load_start"), None)
    end = next((e["t_s"] for e in events if e["kind"] == "load_end"), None)
    timeline = pd.read_parquet(Path(run_dir, "timeline.parquet"))
    if start is None or end is None:
        return None, None
    rows = timeline[(timeline["t_s"] >= start) & (timeline["t_s"] <= end)]["ready_replicas"]
    return (int(rows.min()), int(rows.max())) if len(rows) else (None, None)


def _sustained(summary: dict[str, Any], limit_ms: float) -> bool:
    m = summary.get("metrics") or {}
    ratio = m.get("achieved_rate_ratio") or 0
    p99 = (m.get("latency_ms") or {}).get("p99") or 1e9
    return abs(ratio - 1) <= 0.01 and not m.get("dropped_arrivals") and p99 <= limit_ms and not m.get("error_rate")


def highest_rate(results: str, lo: float = 200, hi: float = 3200, steps: int = 5) -> dict[str, Any]:
    device_ms = 2.0
    limit = 2 * device_ms + 8.0
    best: dict[str, Any] = {}
    for _ in range(steps):
        rate = (lo + hi) / 2
        sc = _scenario("bench-c", 16, None, device_ms, "connection", rate_rps=rate, duration="15s", max_concurrency=512)
        summary = kibench_run(sc, results)
        m = summary.get("metrics") or {}
        ok = _sustained(summary, limit)
        print(
            f"(c) {rate:.0f} req/s: achieved {m.get('throughput_rps')}, dropped {m.get('dropped_arrivals')}, "
            f"p99 {(m.get('latency_ms') or {}).get('p99')} ms, host idle min {m.get('host_cpu_idle_min')}% -> "
            f"{'sustained' if ok else 'not sustained'}",
            flush=True,
        )
        if ok:
            kept = {k: m.get(k) for k in m if "cpu" in k or "platform" in k}
            lo, best = rate, {"rate_rps": rate, "summary_metrics": kept}
        else:
            hi = rate
    return best


def collapse(results: str) -> dict[str, Any]:
    sc = _scenario("bench-d", 32, None, 50.0, "connection", rate_rps=400, duration="30s", max_concurrency=1024)
    summary = kibench_run(sc, results)
    m = summary.get("metrics") or {}
    out = {
        "throughput_rps": m.get("throughput_rps"),
        "dropped_arrivals": m.get("dropped_arrivals"),
        "error_rate": m.get("error_rate"),
        "p99_ms": (m.get("latency_ms") or {}).get("p99"),
        "platform_saturated": m.get("platform_saturated"),
        "host_cpu_idle_min": m.get("host_cpu_idle_min"),
        "platform_loop_lag_p99_ms": m.get("platform_loop_lag_p99_ms"),
        "ready_replicas_min_max": _ready_during_load(summary["run_dir"]),
    }
    print(f"(d) 32 replicas, 400 req/s, 50 ms device: {json.dumps(out)}", flush=True)
    return out


def l7_candidates(seconds: float, rounds: int, connections: int) -> dict[str, Any]:
    """Each candidate through the embedded cluster's own per-request Service, same noop replica and client."""
    out: dict[str, Any] = {}
    fwd = {"KIBENCH_INGRESS": "forwarder"}
    candidates = [
        ("haproxy", {}),
        ("forwarder-uvloop", {**fwd, "KIBENCH_FORWARDER_LOOP": "uvloop"}),
        ("forwarder-asyncio", {**fwd, "KIBENCH_FORWARDER_LOOP": "asyncio"}),
    ]
    for name, env in candidates:
        os.environ.update(env)  # the daemon and its forwarder inherit them
        logs = tempfile.mkdtemp(prefix="kibench-bench-")
        scenario = _scenario("bench-f", 1, "noop", 0, "request")
        platform = LocalPlatform.from_scenario(scenario, time.monotonic(), logs + "/logs")
        deployment = platform.deploy()
        try:
            proxy, pid = _proxy(platform)
            if name == "haproxy" and proxy != "haproxy":
                print("(f) haproxy: not installed (scripts/ensure-haproxy.sh), skipped", flush=True)
                continue
            rps, us = [], []
            for _ in range(rounds):
                c0 = _cpu(pid) if pid else 0.0
                n = run_client(deployment.target_url, seconds, connections)
                rps.append(n / seconds)
                us.append(((_cpu(pid) if pid else 0.0) - c0) / max(n, 1) * 1e6)
            out[name] = {"rps": round(statistics.median(rps), 1),
                         "cpu_us_per_request": round(statistics.median(us), 2)}  # fmt: skip
            print(f"(f) {name}: {json.dumps(out[name])}", flush=True)
        finally:
            platform.teardown()
            for key in env:
                os.environ.pop(key, None)
    return out


def overload(results: str) -> dict[str, Any]:
    import pandas as pd

    out: dict[str, Any] = {}
    for factor in (1, 2):
        sc = _scenario(
            f"bench-e-{factor}x", 4, None, 20.0, "connection", max_queue=32, rate_rps=200 * factor,
            duration="20s", max_concurrency=2048,
        )  # fmt: skip
        summary = kibench_run(sc, results)
        parts = sorted(Path(summary["run_dir"], "requests.parquet").glob("*.parquet"))
        rows = pd.concat([pd.read_parquet(p) for p in parts]) if parts else pd.DataFrame()
        m = summary.get("metrics") or {}
        duration_s = float(m.get("load_duration_s") or 20.0)
        done_s = rows["t_sent_s"] + rows["latency_raw_ms"] / 1000.0 if len(rows) else pd.Series(dtype=float)
        start_s = float(rows["t_intended_s"].min()) if len(rows) else 0.0
        inside = rows[rows["ok"].astype(bool) & (done_s <= start_s + duration_s)] if len(rows) else rows
        out[f"{factor}x"] = {
            "offered_rps": 200 * factor,
            "goodput_rps": round(len(inside) / duration_s, 1),
            "statuses": {str(k): int(v) for k, v in rows["status"].value_counts().items()} if len(rows) else {},
            "dropped_arrivals": m.get("dropped_arrivals"),
            "ready_replicas_min_max": _ready_during_load(summary["run_dir"]),
            "platform_saturated": m.get("platform_saturated"),
        }
        print(f"(e) {factor}x: {json.dumps(out[f'{factor}x'])}", flush=True)
    if out["1x"]["goodput_rps"]:
        out["goodput_ratio_2x_over_1x"] = round(out["2x"]["goodput_rps"] / out["1x"]["goodput_rps"], 3)
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        host, port, seconds, connections = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        print(asyncio.run(_client(host, port, seconds, connections)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="a,c,d,e,f")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    parts = set(args.only.split(","))
    results = tempfile.mkdtemp(prefix="kibench-bench-runs-")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    report: dict[str, Any] = {}
    if "a" in parts:
        report["a_b"] = through_service(args.seconds, args.rounds, args.connections)
    if "c" in parts:
        report["c"] = highest_rate(results)
    if "d" in parts:
        report["d"] = collapse(results)
    if "e" in parts:
        report["e"] = overload(results)
    if "f" in parts:
        report["f"] = l7_candidates(args.seconds, args.rounds, args.connections)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
