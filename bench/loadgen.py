"""Load-generator throughput, side by side in one run against the same loopback target.

    .venv/bin/python bench/loadgen.py [--seconds 8] [--users 16] [--rounds 2]

Prints three ratios (goals from issue 5):

1. kibench closed loop with full recording ÷ bare Locust FastHttpUser closed loop, max requests/s
   (goal >= 0.95).  Same users, no wait, same target, same core.
2. kibench open model at its highest sustainable rate ÷ bare Locust's closed-loop max (goal >= 0.7).
   Sustainable: achieved within 1 % of requested, no dropped arrival, send lag p99 <= 5 ms; found by
   bisection with short runs.
3. kibench with two workers ÷ one worker, closed-loop max requests/s (goal >= 1.8 on two cores).

The target is a minimal HTTP/1.1 keep-alive server on asyncio (uvloop when installed) in its own
process, pinned to the last core; generators are pinned to core 0 (1–3) or spread over all cores
(3, two workers).  Rates count requests completed inside a measuring window that starts one second
after the load does (spawn and connection set-up excluded), from Locust's exact request counter for
bare Locust and from the Parquet rows for kibench.  ``--serve PORT`` runs only the target (co_check.py
uses it, with ``--stall-every``/``--stall-for``).
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n" + b'{"ok": true}'
WARMUP_S = 1.0
ALL_CORES: set[int] = set(os.sched_getaffinity(0))


class _Http(asyncio.Protocol):
    """Answers each request (headers + Content-Length body) with RESPONSE; optional periodic freeze."""

    def __init__(self, started: float, stall_every_s: float, stall_for_s: float) -> None:
        self.buf = b""
        self.started, self.every, self.stall = started, stall_every_s, stall_for_s

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self.buf[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length :]
            self._answer()

    def _answer(self) -> None:
        delay = 0.0
        if self.every > 0:
            phase = (time.monotonic() - self.started) % self.every
            delay = self.stall - phase if phase < self.stall else 0.0
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self.transport.write, RESPONSE)
        else:
            self.transport.write(RESPONSE)


def serve(port: int, stall_every_s: float = 0.0, stall_for_s: float = 0.0) -> None:
    """Run the target on 127.0.0.1:port until killed."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def main() -> None:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        server = await loop.create_server(lambda: _Http(started, stall_every_s, stall_for_s), "127.0.0.1", port)
        print("ready", flush=True)
        await server.serve_forever()

    asyncio.run(main())


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_target(stall_every_s: float = 0.0, stall_for_s: float = 0.0) -> tuple[subprocess.Popen[str], str]:
    """The target in its own process on the last core; returns it and its URL."""
    port = free_port()
    cores = sorted(os.sched_getaffinity(0))
    argv = [sys.executable, __file__, "--serve", str(port), "--stall-every", str(stall_every_s),
            "--stall-for", str(stall_for_s)]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.sched_setaffinity(0, {cores[-1]}))  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc, f"http://127.0.0.1:{port}"


BARE = textwrap.dedent(
    """
    import json, os, sys, time
    import gevent
    from locust import FastHttpUser, constant, task
    from locust.env import Environment

    url, users, seconds, warmup = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    BODY, HEADERS = json.dumps({"inputs": [[0.0] * 8]}), {"Content-Type": "application/json"}

    class Bare(FastHttpUser):
        host = url
        wait_time = constant(0)

        @task
        def send(self):  # the very request kibench's predict workload sends
            self.client.post("/v1/predict", data=BODY, headers=HEADERS)

    def cpu():
        t = os.times()
        return t.user + t.system

    env = Environment(user_classes=[Bare], host=url)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=users)
    gevent.sleep(warmup)
    c0, t0, u0 = env.stats.total.num_requests, time.monotonic(), cpu()
    gevent.sleep(seconds)
    c1, t1, u1 = env.stats.total.num_requests, time.monotonic(), cpu()
    runner.quit()
    print(json.dumps({"n": c1 - c0, "wall_s": t1 - t0, "cpu_s": u1 - u0}))
    """
)


def _rates(n: int, wall_s: float, cpu_s: float) -> dict[str, float]:
    """Requests per wall second, and per CPU second of the generator (its throughput on a core of its own)."""
    return {"rps": n / wall_s, "rps_per_cpu_s": n / max(cpu_s, 1e-9), "cpu_share": cpu_s / wall_s}


def bare_locust(url: str, users: int, seconds: float) -> dict[str, float]:
    """Bare Locust FastHttpUser, closed loop, no wait, Locust's exact request counter."""
    out = subprocess.run([sys.executable, "-c", BARE, url, str(users), str(seconds), str(WARMUP_S)],
                         capture_output=True, text=True, timeout=seconds + 60, check=True)  # fmt: skip
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return _rates(r["n"], r["wall_s"], r["cpu_s"])


def kibench(url: str, load: dict[str, Any], spread: bool = False, window_s: float | None = None) -> dict[str, Any]:
    """Run ``python -m harness.load`` for a scenario load section; measure it from what it recorded.

    With ``window_s`` the rates count requests completed in [load start + 1 s, + window_s] and the CPU
    time all load processes used in that window (read with psutil from here)."""
    from harness.scenario import validate

    spec = validate({"name": "bench", "load": load}, "bench").load
    with tempfile.TemporaryDirectory(prefix="kibench-bench-") as out:
        return _measure(spec, url, out, spread, window_s)


def _cpu_s(procs: list[Any]) -> float:
    import psutil

    total = 0.0
    for p in procs:
        try:
            t = psutil.Process(p.pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _measure(spec: Any, url: str, out: str, spread: bool, window_s: float | None) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    from harness.load.config import config_from_spec
    from harness.load.launcher import LoadProcess

    cfg = config_from_spec(spec, url, out, time.monotonic())
    lines: list[dict[str, Any]] = []
    proc = LoadProcess(cfg, os.path.join(out, "logs", "load.log"), lines.append)
    proc.start()
    if spread:  # worker i on core i (a single process on core 0)
        cores = sorted(ALL_CORES)
        for i, p in enumerate(proc.workers or proc.processes):
            os.sched_setaffinity(p.pid, {cores[i % len(cores)]})
    window = None
    if window_s is not None and proc.started.wait(60):
        time.sleep(WARMUP_S)
        a = (time.monotonic() - cfg.t0_monotonic, _cpu_s(proc.processes))
        time.sleep(window_s)
        window = (a, (time.monotonic() - cfg.t0_monotonic, _cpu_s(proc.processes)))
    proc.wait(spec.duration_s + spec.timeout + 60)
    proc.stop()
    rows = pd.concat([pd.read_parquet(p) for p in glob.glob(os.path.join(out, "requests.parquet", "*.parquet"))])
    stats = [json.loads(Path(p).read_text()) for p in glob.glob(os.path.join(out, "load-*.json"))]
    lag = (rows["t_sent_s"] - rows["t_intended_s"]) * 1000
    result: dict[str, Any] = {
        "errors": int((~rows["ok"]).sum()),
        "dropped": sum(s["dropped"] for s in stats),
        "scheduled": sum(s["scheduled"] for s in stats),
        "requested": sum(s["requested_arrivals"] for s in stats),
        "lag_p99_ms": float(np.percentile(lag, 99)) if len(lag) else None,
        "cpu": [s["cpu"] for s in stats],
        "rows": rows,
    }
    done = rows["t_sent_s"] + rows["latency_raw_ms"] / 1000
    if window is not None:
        (t_a, cpu_a), (t_b, cpu_b) = window
        result.update(_rates(int(((done >= t_a) & (done < t_b)).sum()), t_b - t_a, cpu_b - cpu_a))
    else:
        start = next(float(line["t_s"]) for line in lines if line.get("event") == "load_start")
        result["rps"] = int(((done >= start) & (done < start + spec.duration_s)).sum()) / spec.duration_s
    return result


def sustainable(url: str, seconds: float, low: float, high: float, steps: int) -> tuple[float, list[str]]:
    """Highest open-model rate meeting the three criteria, by bisection between low and high."""
    best, log = 0.0, []
    for _ in range(steps):
        rate = round((low + high) / 2)
        r = kibench(url, {"rate_rps": rate, "duration": f"{seconds}s"})
        passed = (r["dropped"] == 0 and abs(r["scheduled"] / r["requested"] - 1) <= 0.01
                  and abs(r["rps"] / rate - 1) <= 0.01 and r["lag_p99_ms"] <= 5.0)  # fmt: skip
        cpu = r["cpu"][0].get("mean") or 0.0
        log.append(f"  open {rate:>6} rps: achieved {r['rps']:.0f}, dropped {r['dropped']}, "
                   f"lag p99 {r['lag_p99_ms']:.2f} ms, cpu {cpu:.0%} -> {'ok' if passed else 'no'}")  # fmt: skip
        if passed:
            best, low = max(best, rate), rate
        else:
            high = rate
    return best, log


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", type=int, help="only run the target on this port")
    parser.add_argument("--stall-every", type=float, default=0.0)
    parser.add_argument("--stall-for", type=float, default=0.0)
    parser.add_argument("--seconds", type=float, default=8.0, help="measuring time of each closed-loop run")
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of bare / kibench")
    parser.add_argument("--steps", type=int, default=6, help="bisection steps of the open-model search")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.stall_every, args.stall_for)
        return
    target, url = start_target()
    try:
        report(url, args)
    finally:
        target.kill()


def report(url: str, args: argparse.Namespace) -> None:
    cores = sorted(ALL_CORES)
    os.sched_setaffinity(0, {cores[0]})  # generators (children inherit) on core 0, the target on the last
    print(f"cores: {len(cores)}; target on core {cores[-1]}, generators on core {cores[0]}")
    closed = {"model": "closed", "users": args.users, "duration": f"{args.seconds + WARMUP_S + 0.5}s"}
    bare, ours = [], []
    for _ in range(args.rounds):  # alternate, so that both see the same machine
        bare.append(bare_locust(url, args.users, args.seconds))
        ours.append(kibench(url, closed, window_s=args.seconds))
    for name, runs in (("bare Locust closed loop   ", bare), ("kibench closed + recording", ours)):
        walls = " ".join(f"{r['rps']:.0f}" for r in runs)
        per_cpu = " ".join(f"{r['rps_per_cpu_s']:.0f}" for r in runs)
        print(f"{name}: {walls} rps wall; {per_cpu} rps per CPU-second")
    b_wall, k_wall = _median(bare, "rps"), _median(ours, "rps")
    b_cpu, k_cpu = _median(bare, "rps_per_cpu_s"), _median(ours, "rps_per_cpu_s")
    print(f"1. kibench closed ÷ bare Locust        = {k_cpu / b_cpu:.2f} per CPU-second, {k_wall / b_wall:.2f} wall"
          "  (goal >= 0.95)")  # fmt: skip
    best, log = sustainable(url, 5.0, 0.2 * b_wall, 1.0 * b_wall, args.steps)
    print("\n".join(log))
    print(f"2. kibench open sustainable ÷ bare     = {best / b_wall:.2f}  ({best:.0f} rps; goal >= 0.7)")
    os.sched_setaffinity(0, ALL_CORES)
    one, two = [], []
    for _ in range(args.rounds):
        one.append(kibench(url, {**closed, "workers": 1}, spread=True, window_s=args.seconds))
        two.append(kibench(url, {**closed, "users": 2 * args.users, "workers": 2}, spread=True, window_s=args.seconds))
    o_wall, t_wall = _median(one, "rps"), _median(two, "rps")
    o_cpu, t_cpu = _median(one, "rps_per_cpu_s"), _median(two, "rps_per_cpu_s")
    print(f"one worker {o_wall:.0f} rps ({o_cpu:.0f} per CPU-s), two workers {t_wall:.0f} rps ({t_cpu:.0f} per CPU-s);"
          f" the target shares the machine's {len(cores)} cores")  # fmt: skip
    print(
        f"3. two workers ÷ one                   = {t_wall / o_wall:.2f} wall; per-CPU-second efficiency "
        f"{t_cpu / o_cpu:.2f} (two dedicated cores would give ~{2 * t_cpu / o_cpu:.2f})  (goal >= 1.8 on two cores)"
    )


if __name__ == "__main__":
    main()
