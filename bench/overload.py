"""Overload: the reference service at 10x its capacity sheds with 429, stays healthy and recovers.

    .venv/bin/python bench/overload.py [--overload-s 60] [--factor 10] [--device-time-ms 20] [--max-queue 50]
                                       [--request-timeout-s 5] [--json]

One replica (``python -m harness.service``, a batch-1 classic model of ``--device-time-ms``, so its
capacity is 1000 / device_time_ms requests/s) on loopback, driven open-loop (arrivals on a fixed schedule
whatever the answers; latency from the intended send time, so a stall cannot hide) in three phases:

1. baseline: half the capacity for ``--baseline-s`` (the normal latency: its p99);
2. overload: ``--factor`` x the capacity for ``--overload-s``;
3. after: half the capacity again for ``--after-s``.

Prints each figure with its goal and PASS/FAIL (issue 14, item 4):

- shedding: the share of overload requests answered 429 (goal > 0), and every status seen; a 5xx from the
  service is a FAIL (none allowed);
- admitted p99: the p99 latency of the overload requests answered 200 (goal <= request_timeout);
- RSS growth of the service process after warm-up (the first sixth of the overload), sampled every 0.5 s
  with psutil: max over the last sixth vs the end of warm-up (goal <= 5 %);
- recovery: from the moment the load drops to the start of the first 0.5 s window after which every
  window's p99 is within 1.5x the baseline p99 + 10 ms and nothing is shed (goal <= 5 s).

Also the offered rate achieved by this generator (so a starved generator shows; the machine may be
shared).  ``--json`` prints the figures as one JSON object instead (tests/service/test_overload.py).
Exit code 0 when every goal passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.procs import free_port, poll_until, stop  # noqa: E402

BODY = b'{"inputs": [1]}'
WINDOW_S = 0.5


@dataclass
class Row:
    phase: str
    t_intended_s: float  # since the start of the run
    latency_s: float  # from the intended send time to the whole answer
    status: int  # 0: no answer (connection error)


@dataclass
class Figures:
    capacity_rps: float
    offered_rps: float  # achieved by the generator during the overload
    requested_rps: float
    statuses: dict[str, int] = field(default_factory=dict)  # overload phase
    shed_fraction: float = 0.0
    server_errors: int = 0  # 5xx in any phase
    connection_errors: int = 0
    admitted_p99_s: float = math.nan
    request_timeout_s: float = math.nan
    rss_warm_mb: float = math.nan
    rss_end_mb: float = math.nan
    rss_growth_pct: float = math.nan
    baseline_p99_s: float = math.nan
    after_p99_s: float = math.nan  # the last half of the after phase
    recovery_s: float = math.nan
    passed: dict[str, bool] = field(default_factory=dict)


class Connection:
    """One HTTP/1.1 keep-alive connection: POST /v1/predict, read the status and the whole body."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> None:
        self.reader, self.writer, self.request = reader, writer, request

    async def post(self) -> int:
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


class Generator:
    """Open-loop load: one task per arrival; a pool of keep-alive connections, up to ``max_connections``."""

    def __init__(self, host: str, port: int, max_connections: int = 128) -> None:
        self.host, self.port = host, port
        self.request = (b"POST /v1/predict HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n%s") % (host.encode(), len(BODY), BODY)  # fmt: skip
        self.idle: list[Connection] = []
        self.slots = asyncio.Semaphore(max_connections)
        self.rows: list[Row] = []
        self.t0 = time.monotonic()

    async def one(self, phase: str, intended: float) -> None:
        async with self.slots:
            status = 0
            for attempt in range(2):  # a kept-alive connection the server closed meanwhile: once more, on a new one
                reused = bool(self.idle) and attempt == 0
                conn = self.idle.pop() if reused else None
                try:
                    if conn is None:
                        conn = Connection(*await asyncio.open_connection(self.host, self.port), self.request)
                    status = await conn.post()
                    self.idle.append(conn)
                    break
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    if conn is not None:
                        conn.close()
                    if not reused:
                        break
            self.rows.append(Row(phase, intended - self.t0, time.monotonic() - intended, status))

    async def phase(self, name: str, rate_rps: float, duration_s: float) -> None:
        """Arrivals every 1/rate_rps s for duration_s (bounded: rate x duration requests)."""
        start = time.monotonic()
        tasks = set()
        count = int(rate_rps * duration_s)
        for i in range(count):
            intended = start + i / rate_rps
            delay = intended - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self.one(name, intended))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        self.pending = tasks

    async def drain(self, timeout_s: float) -> None:
        if self.pending:
            await asyncio.wait(self.pending, timeout=timeout_s)
        for conn in self.idle:
            conn.close()


def p99(values: list[float]) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


class RssSampler:
    """RSS of one process every ``interval_s``: (seconds since the run start, bytes)."""

    def __init__(self, pid: int, t0: float, interval_s: float = 0.5) -> None:
        self.proc, self.t0, self.interval_s = psutil.Process(pid), t0, interval_s
        self.samples: list[tuple[float, int]] = []

    async def run(self, stop_event: asyncio.Event) -> None:
        while not stop_event.is_set():
            self.samples.append((time.monotonic() - self.t0, self.proc.memory_info().rss))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), self.interval_s)


def recovery_s(rows: list[Row], drop_s: float, end_s: float, baseline_p99_s: float) -> float:
    """Seconds from the drop to the first window after which every window is normal (nan: never)."""
    limit = 1.5 * baseline_p99_s + 0.010
    windows = []
    t = drop_s
    while t + WINDOW_S <= end_s + 1e-9:
        inside = [r for r in rows if r.phase == "after" and t <= r.t_intended_s < t + WINDOW_S]
        ok = [r.latency_s for r in inside if r.status == 200]
        normal = bool(inside) and all(r.status == 200 for r in inside) and p99(ok) <= limit
        windows.append((t, normal))
        t += WINDOW_S
    for i, (start, _) in enumerate(windows):
        if all(normal for _, normal in windows[i:]):
            return start - drop_s
    return math.nan


async def drive(args: argparse.Namespace, port: int, pid: int) -> Figures:
    capacity = 1000.0 / args.device_time_ms
    gen = Generator("127.0.0.1", port)
    done = asyncio.Event()
    rss = RssSampler(pid, gen.t0)
    sampler = asyncio.create_task(rss.run(done))
    await gen.phase("baseline", capacity / 2, args.baseline_s)
    overload_start = time.monotonic() - gen.t0
    await gen.phase("overload", capacity * args.factor, args.overload_s)
    drop_s = time.monotonic() - gen.t0
    await gen.phase("after", capacity / 2, args.after_s)
    end_s = time.monotonic() - gen.t0
    await gen.drain(args.request_timeout_s + 5)
    done.set()
    await sampler
    rows = gen.rows
    over = [r for r in rows if r.phase == "overload"]
    statuses: dict[str, int] = {}
    for r in over:
        statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1
    over_span = max(r.t_intended_s for r in over) - min(r.t_intended_s for r in over) if len(over) > 1 else 0
    figures = Figures(
        capacity_rps=capacity,
        requested_rps=capacity * args.factor,
        offered_rps=(len(over) - 1) / over_span if over_span > 0 else math.nan,
        statuses=statuses,
        shed_fraction=statuses.get("429", 0) / max(1, len(over)),
        server_errors=sum(1 for r in rows if r.status >= 500),
        connection_errors=sum(1 for r in rows if r.status == 0),
        admitted_p99_s=p99([r.latency_s for r in over if r.status == 200]),
        request_timeout_s=args.request_timeout_s,
        baseline_p99_s=p99([r.latency_s for r in rows if r.phase == "baseline" and r.status == 200]),
        after_p99_s=p99(
            [
                r.latency_s
                for r in rows
                if r.phase == "after" and r.status == 200 and r.t_intended_s >= (drop_s + end_s) / 2
            ]
        ),
    )
    figures.recovery_s = recovery_s(rows, drop_s, end_s, figures.baseline_p99_s)
    warm_end = overload_start + args.overload_s / 6
    last = [b for t, b in rss.samples if drop_s - args.overload_s / 6 <= t <= drop_s]
    warm = [b for t, b in rss.samples if t <= warm_end and t >= overload_start]
    if warm and last:
        figures.rss_warm_mb, figures.rss_end_mb = warm[-1] / 2**20, max(last) / 2**20
        figures.rss_growth_pct = 100.0 * (max(last) - warm[-1]) / warm[-1]
    figures.passed = {
        "sheds with 429": figures.shed_fraction > 0,
        "no 5xx": figures.server_errors == 0,
        "admitted p99 within request_timeout": figures.admitted_p99_s <= args.request_timeout_s,
        "RSS growth <= 5%": figures.rss_growth_pct <= 5.0,
        "recovers within 5 s": figures.recovery_s <= 5.0,
    }
    return figures


def start_service(args: argparse.Namespace, port: int) -> subprocess.Popen[bytes]:
    section = {"device_time_ms": args.device_time_ms, "cold_start": 0, "max_queue": args.max_queue,
               "request_timeout": args.request_timeout_s}  # fmt: skip
    argv = [sys.executable, "-m", "harness.service", "--port", str(port), "--replica", "overload",
            "--config", json.dumps(section)]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})

    def ready() -> bool:
        try:
            with psutil.Process(proc.pid).oneshot():
                pass
            import urllib.request

            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
                return bool(answer.status == 200)
        except Exception:  # noqa: BLE001 - not up yet
            return False

    if not poll_until(ready, 30.0, 0.05, give_up=lambda: proc.poll() is not None):
        stop(proc)
        raise SystemExit("the service never got ready")
    return proc


def report(figures: Figures) -> str:
    f = figures
    lines = [
        f"capacity {f.capacity_rps:.0f} rps; overload requested {f.requested_rps:.0f} rps, "
        f"offered {f.offered_rps:.0f} rps",
        f"overload statuses {dict(sorted(f.statuses.items()))}; shed (429) {100 * f.shed_fraction:.1f} %",
        f"5xx (all phases) {f.server_errors}; connection errors {f.connection_errors}",
        f"admitted p99 {1000 * f.admitted_p99_s:.0f} ms (request_timeout {1000 * f.request_timeout_s:.0f} ms)",
        f"service RSS {f.rss_warm_mb:.1f} MB after warm-up, {f.rss_end_mb:.1f} MB at the end: "
        f"growth {f.rss_growth_pct:+.2f} %",
        f"baseline p99 {1000 * f.baseline_p99_s:.1f} ms; after the drop p99 {1000 * f.after_p99_s:.1f} ms; "
        f"recovered {f.recovery_s:.2f} s after the drop",
    ]  # fmt: skip
    lines += [f"{'PASS' if ok else 'FAIL'}  {goal}" for goal, ok in f.passed.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--overload-s", type=float, default=60.0)
    parser.add_argument("--baseline-s", type=float, default=10.0)
    parser.add_argument("--after-s", type=float, default=10.0)
    parser.add_argument("--factor", type=float, default=10.0, help="overload rate as a multiple of the capacity")
    parser.add_argument("--device-time-ms", type=float, default=20.0, help="batch-1 model: capacity 1000/this rps")
    parser.add_argument("--max-queue", type=int, default=50)
    parser.add_argument("--request-timeout-s", type=float, default=5.0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    port = free_port()
    proc = start_service(args, port)
    try:
        figures = asyncio.run(drive(args, port, proc.pid))
    finally:
        stop(proc)
    print(json.dumps(asdict(figures)) if args.json else report(figures))
    return 0 if all(figures.passed.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
