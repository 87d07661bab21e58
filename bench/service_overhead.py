"""What the reference service costs over its emulated device: three ratios, measured side by side in one run.

In: optional flags (durations, rate, profiles).  Out, on stdout, one block per measurement and a summary:

  (a) latency the service adds over the emulated device time at a steady (open-model) rate, p50 and p99,
      next to the same figure for a bare ASGI app that only sleeps the device time on the same stack
      (uvicorn + uvloop + httptools): goal p50 <= 1 ms, p99 <= 3 ms;
  (b) saturation throughput with a named classic profile against its theoretical throughput at max batch:
      goal >= 0.95;
  (c) requests per CPU-second of the server process on the zero-time ``noop`` profile against a bare
      hello-world ASGI app on the same server stack: goal >= 0.7.

Every server is a real subprocess on 127.0.0.1; the client is a small raw-socket HTTP/1.1 keep-alive
client in this process, the same for every target.  For (a), runs alternate between the two apps
(``--rounds``) and the medians are reported; for (c), the two servers take turns on one core in short
bursts (one ratio per round, the median of ``--c-rounds`` reported; ``--c-shared`` loads both at once).

    .venv/bin/python bench/service_overhead.py            # about 60 s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import psutil

from harness.procs import free_port, poll_until

HOST = "127.0.0.1"
BODY = json.dumps({"inputs": [[0.0] * 8]}).encode()
REQUEST = (
    f"POST /v1/predict HTTP/1.1\r\nhost: {HOST}\r\ncontent-type: application/json\r\n"
    f"content-length: {len(BODY)}\r\n\r\n"
).encode() + BODY


# ---------------------------------------------------------------- the bare app (a server of its own)


def bare_app(sleep_ms: float):  # noqa: ANN201 - an ASGI callable
    """Hello world in raw ASGI; with ``sleep_ms`` it first sleeps like the emulated device."""
    payload = b'{"hello":"world"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]

    async def app(scope, receive, send):  # noqa: ANN001, ANN202
        if scope["type"] != "http":
            return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        if sleep_ms > 0:
            await asyncio.sleep(sleep_ms / 1000.0)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    return app


def serve_bare(port: int, sleep_ms: float) -> None:
    import uvicorn

    uvicorn.run(bare_app(sleep_ms), host=HOST, port=port, log_level="warning", access_log=False, lifespan="off")


# ---------------------------------------------------------------- servers


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int

    def cpu_s(self) -> float:
        """CPU seconds of the process so far, to the nanosecond where Linux tells (schedstat), else to the tick."""
        try:
            total_ns = 0
            for task in os.scandir(f"/proc/{self.proc.pid}/task"):
                with open(f"{task.path}/schedstat", encoding="ascii") as f:
                    total_ns += int(f.read().split()[0])
            return total_ns / 1e9
        except OSError:
            times = psutil.Process(self.proc.pid).cpu_times()
            return times.user + times.system

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_service(profile: dict | str) -> Server:
    port = free_port()
    section = {"profile": profile, "cold_start": 0, "max_queue": 100_000}
    argv = [sys.executable, "-m", "harness.service", "--port", str(port), "--replica", "bench",
            "--config", json.dumps(section), "--grace-s", "2"]  # fmt: skip
    return _wait_ready(Server(subprocess.Popen(argv, stderr=subprocess.DEVNULL), port), "/readyz")


def start_bare(sleep_ms: float) -> Server:
    port = free_port()
    argv = [sys.executable, __file__, "--serve-bare", str(port), "--bare-sleep-ms", str(sleep_ms)]
    return _wait_ready(Server(subprocess.Popen(argv, stderr=subprocess.DEVNULL), port), "/")


def _wait_ready(server: Server, path: str) -> Server:
    request = f"GET {path} HTTP/1.1\r\nhost: {HOST}\r\n\r\n".encode()

    def ready() -> bool:
        try:
            with socket.create_connection((HOST, server.port), timeout=1) as sock:
                sock.sendall(request)
                return sock.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    if poll_until(ready, 30.0, 0.1):
        return server
    server.stop()
    raise RuntimeError(f"server on port {server.port} did not get ready")


# ---------------------------------------------------------------- the client


class Conn:
    """One keep-alive HTTP/1.1 connection; responses must carry content-length."""

    async def open(self, port: int) -> Conn:
        self.reader, self.writer = await asyncio.open_connection(HOST, port)
        return self

    async def post(self) -> int:
        self.writer.write(REQUEST)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lower = head.lower()
        at = lower.index(b"content-length:") + 15
        length = int(lower[at : lower.index(b"\r\n", at)])
        await self.reader.readexactly(length)
        return int(head[9:12])

    def close(self) -> None:
        self.writer.close()


async def open_loop(port: int, rate_rps: float, duration_s: float, conns: int) -> list[float]:
    """Requests at a steady rate, below saturation; latency in ms from each request's actual send."""
    pool: asyncio.Queue[Conn] = asyncio.Queue()
    for _ in range(conns):
        pool.put_nowait(await Conn().open(port))
    latencies: list[float] = []
    tasks = []

    async def one() -> None:
        conn = await pool.get()
        t_sent = time.perf_counter()  # below saturation nothing queues: time from the actual send
        await conn.post()
        latencies.append((time.perf_counter() - t_sent) * 1000.0)
        pool.put_nowait(conn)

    start = time.perf_counter() + 0.05
    for i in range(int(rate_rps * duration_s)):
        t_intended = start + i / rate_rps
        delay = t_intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait().close()
    return latencies


class _Closed(asyncio.Protocol):
    """One keep-alive connection of a closed loop: the next request goes out when an answer is complete.

    A protocol, not a stream reader: the client then costs a fraction of a server's CPU per request, so the
    servers, not the client, set the pace (measurement (c) drives two of them from one core)."""

    def __init__(self, shared: dict[str, int], finished: asyncio.Future[None]) -> None:
        self.shared, self.finished, self.buf = shared, finished, b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self._next()

    def _next(self) -> None:
        shared = self.shared
        if shared["left"] > 0:
            shared["left"] -= 1
            shared["open"] += 1
            self.transport.write(REQUEST)  # type: ignore[attr-defined]
        elif shared["open"] == 0 and not self.finished.done():
            self.finished.set_result(None)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        while (end := buf.find(b"\r\n\r\n")) >= 0:
            head = buf[:end].lower()
            at = head.index(b"content-length:") + 15
            stop = head.find(b"\r\n", at)
            length = int(head[at : stop if stop >= 0 else len(head)])
            if len(buf) < end + 4 + length:
                break
            self.shared["ok"] += buf[9:12] == b"200"
            self.shared["open"] -= 1
            buf = buf[end + 4 + length :]
            self._next()
        self.buf = buf


async def closed_loop(port: int, total: int, conns: int) -> tuple[int, float]:
    """``conns`` connections send back to back until ``total`` responses; returns (ok, elapsed_s)."""
    loop = asyncio.get_running_loop()
    shared = {"left": total, "open": 0, "ok": 0}
    finished: asyncio.Future[None] = loop.create_future()
    start = time.perf_counter()
    transports = [(await loop.create_connection(lambda: _Closed(shared, finished), HOST, port))[0]
                  for _ in range(conns)]  # fmt: skip
    await finished
    elapsed = time.perf_counter() - start
    for transport in transports:
        transport.close()
    return shared["ok"], elapsed


def run(coro):  # noqa: ANN001, ANN201 - the client runs on uvloop, like the servers
    import uvloop

    return uvloop.run(coro)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---------------------------------------------------------------- the three measurements


def measure_a(args: argparse.Namespace) -> dict[str, float]:
    device_ms = args.device_ms
    profile = {"kind": "classic", "name": "bench", "base_ms": device_ms, "max_batch_size": 1}
    svc, bare = start_service(profile), start_bare(device_ms)
    runs: dict[str, list[tuple[float, float]]] = {"service": [], "bare": []}
    try:
        for _ in range(args.rounds):
            for name, server in (("service", svc), ("bare", bare)):
                lat = run(open_loop(server.port, args.rate_rps, args.duration_s, conns=32))
                runs[name].append((pct(lat, 0.5) - device_ms, pct(lat, 0.99) - device_ms))
    finally:
        svc.stop()
        bare.stop()
    out = {}
    for name, pairs in runs.items():
        out[f"{name}_p50_ms"] = statistics.median(p[0] for p in pairs)
        out[f"{name}_p99_ms"] = statistics.median(p[1] for p in pairs)
    return out


def measure_b(args: argparse.Namespace) -> dict[str, float]:
    sys.path.insert(0, os.getcwd())
    from harness.service.profiles import load_profile

    profile = load_profile(args.profile)
    if profile.kind != "classic" or not math.isfinite(profile.max_throughput_rps()):  # type: ignore[union-attr]
        raise SystemExit(f"(b) needs a classic profile with non-zero device time, not {args.profile!r}")
    theory = profile.max_throughput_rps()  # type: ignore[union-attr]
    svc = start_service(args.profile)
    rates, server_cpu, client_cpu = [], [], []
    try:
        for _ in range(args.rounds):
            total = int(theory * args.duration_s)
            conns = 8 * profile.max_batch_size  # type: ignore[union-attr]
            cpu0, own0 = svc.cpu_s(), time.process_time()
            ok, elapsed = run(closed_loop(svc.port, total, conns=conns))
            rates.append(ok / elapsed)
            server_cpu.append((svc.cpu_s() - cpu0) / elapsed)
            client_cpu.append((time.process_time() - own0) / elapsed)
    finally:
        svc.stop()
    return {
        "theoretical_rps": theory,
        "measured_rps": statistics.median(rates),
        "server_cores": statistics.median(server_cpu),
        "client_cores": statistics.median(client_cpu),
    }


def measure_c(args: argparse.Namespace) -> dict[str, object]:
    """Requests per CPU-second of each server process, the two taking turns on one core.

    Both servers are pinned to the same core and the client to the others.  They take their load in
    short turns (``--c-burst`` requests over 16 keep-alive connections, service and bare alternating),
    so a change in the host's speed hits both alike while each still has the core, and its caches, to
    itself; CPU time is read to the nanosecond (``/proc/<pid>/task/*/schedstat``).  A round is
    ``--requests`` requests to each server; one ratio per round, the median over ``--c-rounds`` reported.
    ``--c-shared`` loads both at once instead (on the development machine it reads about the same)."""
    svc, bare = start_service("noop"), start_bare(0.0)
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) > 1:
        for server in (svc, bare):
            os.sched_setaffinity(server.proc.pid, {cores[-1]})
        os.sched_setaffinity(0, set(cores[:-1]))

    async def both(n: int) -> list[tuple[int, float]]:
        return await asyncio.gather(closed_loop(svc.port, n, conns=16), closed_loop(bare.port, n, conns=16))

    def turns(n: int) -> tuple[float, float]:
        """``n`` requests to each server in alternating bursts; their requests per CPU-second."""
        done, cpu = [0, 0], [0.0, 0.0]
        for _ in range(max(1, n // args.c_burst)):
            for i, server in enumerate((svc, bare)):
                cpu0 = server.cpu_s()
                ok, _ = run(closed_loop(server.port, args.c_burst, conns=16))
                cpu[i] += server.cpu_s() - cpu0
                done[i] += ok
        return done[0] / max(1e-9, cpu[0]), done[1] / max(1e-9, cpu[1])

    runs: dict[str, list[float]] = {"service": [], "bare": []}
    try:
        run(both(2000))  # warm the connection path
        for _ in range(args.c_rounds):
            if args.c_shared:
                cpu0 = (svc.cpu_s(), bare.cpu_s())
                (ok_svc, _), (ok_bare, _) = run(both(args.requests))
                rates = ok_svc / max(1e-9, svc.cpu_s() - cpu0[0]), ok_bare / max(1e-9, bare.cpu_s() - cpu0[1])
            else:
                rates = turns(args.requests)
            runs["service"].append(rates[0])
            runs["bare"].append(rates[1])
    finally:
        os.sched_setaffinity(0, set(cores))
        svc.stop()
        bare.stop()
    ratios = [s / b for s, b in zip(runs["service"], runs["bare"], strict=True)]
    return {
        "service_rps_per_core": statistics.median(runs["service"]),
        "bare_rps_per_core": statistics.median(runs["bare"]),
        "ratio": statistics.median(ratios),
        "ratios": ratios,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="alternating runs per pair; medians reported")
    parser.add_argument("--rate-rps", type=float, default=100.0, help="(a) steady arrival rate (device half busy)")
    parser.add_argument("--duration-s", type=float, default=5.0, help="(a) and (b) seconds per run")
    parser.add_argument("--device-ms", type=float, default=5.0, help="(a) device time of the batch-1 profile")
    parser.add_argument("--profile", default="resnet50-t4", help="(b) named classic profile")
    parser.add_argument("--requests", type=int, default=20000, help="(c) requests to each server per round")
    parser.add_argument("--c-rounds", type=int, default=7, help="(c) rounds; the median ratio is reported")
    parser.add_argument("--c-burst", type=int, default=2000, help="(c) requests per turn of one server")
    parser.add_argument("--c-shared", action="store_true", help="(c) load both servers at once on the shared core")
    parser.add_argument("--only", default="abc", help="which measurements to run, e.g. 'c'")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--bare-sleep-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.bare_sleep_ms)
        return
    if "a" in args.only:
        report_a(args)
    if "b" in args.only:
        report_b(args)
    if "c" in args.only:
        report_c(args)


def report_a(args: argparse.Namespace) -> None:
    a = measure_a(args)
    print(f"(a) added latency over {args.device_ms:g} ms device time at {args.rate_rps:g} rps:")
    print(f"    service  p50 {a['service_p50_ms']:.2f} ms  p99 {a['service_p99_ms']:.2f} ms")
    print(f"    bare app p50 {a['bare_p50_ms']:.2f} ms  p99 {a['bare_p99_ms']:.2f} ms  (same stack, only sleeps)")
    print(f"    p50/goal {a['service_p50_ms'] / 1.0:.2f}  p99/goal {a['service_p99_ms'] / 3.0:.2f}  (<= 1 passes)")


def report_b(args: argparse.Namespace) -> None:
    b = measure_b(args)
    ratio_b = b["measured_rps"] / b["theoretical_rps"]
    print(f"(b) saturation, profile {args.profile}: {b['measured_rps']:.0f} rps of {b['theoretical_rps']:.0f} "
          f"theoretical: ratio {ratio_b:.3f} (goal >= 0.95)")  # fmt: skip
    print(f"    CPU used: server {b['server_cores']:.2f} cores, client {b['client_cores']:.2f} cores "
          f"(of {psutil.cpu_count()}; when they and other load fill the host, the host is the limit)")  # fmt: skip


def report_c(args: argparse.Namespace) -> None:
    c = measure_c(args)
    how = "both at once on one core" if args.c_shared else "taking turns on one core"
    print(f"(c) requests per core ({how}): service (noop) {c['service_rps_per_core']:.0f}, bare hello-world "
          f"{c['bare_rps_per_core']:.0f}: ratio {c['ratio']:.3f} (goal >= 0.7; the rounds' median)")  # fmt: skip
    print("    per round: " + " ".join(f"{r:.3f}" for r in c["ratios"]))  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
