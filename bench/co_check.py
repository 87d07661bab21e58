"""Coordinated-omission check: a target that stalls 2 s every 10 s, loaded at 100 rps for 60 s.

    .venv/bin/python bench/co_check.py [--seconds 60] [--rate 100] [--stall-every 10] [--stall-for 2]

Prints the open model's corrected p99 latency beside its analytical value (goal: within 10 %), and
beside it the p99 a closed loop reports against the same target (two users pacing ~100 rps when the
target is healthy): the closed loop waits out each stall with one request per user, so its p99
hides the stall; the open model keeps sending on schedule and its p99 shows it.

Analytical value: a fraction f = stall / period of arrivals lands in a stall and waits for its end,
uniformly 0..stall; the rest take the service time s (measured: the open model's median).  So
P(latency > x) = f · (stall − x) / stall, and the p99 is x = stall · (1 − 0.01 / f) + s
(1.9 s + s for 2 s every 10 s).  The target (bench/loadgen.py --serve) runs in its own process on
the last core; the stall phase is fixed by the target's start, and a run of whole periods holds
exactly f of its arrivals in stalls whatever that phase is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen  # noqa: E402  (bench/loadgen.py: the target and the kibench runner)


def analytical_p99_ms(stall_s: float, period_s: float, service_ms: float) -> float:
    """p99 of latency from the intended send time for uniform arrivals into periodic stalls."""
    f = stall_s / period_s
    if f <= 0.01:
        return service_ms
    return stall_s * (1 - 0.01 / f) * 1000 + service_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--stall-every", type=float, default=10.0)
    parser.add_argument("--stall-for", type=float, default=2.0)
    args = parser.parse_args()
    target, url = loadgen.start_target(args.stall_every, args.stall_for)
    try:
        opened = _rows(url, {"rate_rps": args.rate, "duration": f"{args.seconds}s", "max_concurrency": 512})
        pace_s = 2 / args.rate  # two users, each one request per pace when the target answers at once
        closed = _rows(url, {"model": "closed", "users": 2, "duration": f"{args.seconds}s", "wait_time": pace_s})
    finally:
        target.kill()
    service_ms = float(np.median(opened["latency_raw_ms"]))
    expected = analytical_p99_ms(args.stall_for, args.stall_every, service_ms)
    corrected = float(np.percentile(opened["latency_ms"], 99))
    raw_open = float(np.percentile(opened["latency_raw_ms"], 99))
    closed_p99 = float(np.percentile(closed["latency_raw_ms"], 99))
    print(f"target stalls {args.stall_for:g} s every {args.stall_every:g} s; {args.rate:g} rps for {args.seconds:g} s")
    print(f"open model   : {len(opened)} requests, corrected p99 {corrected:.0f} ms (raw p99 {raw_open:.0f} ms)")
    print(f"analytical   : p99 {expected:.0f} ms (service time {service_ms:.1f} ms)")
    print(f"closed loop  : {len(closed)} requests, p99 {closed_p99:.1f} ms")
    print(f"corrected ÷ analytical = {corrected / expected:.3f}  (goal within 10%: 0.90–1.10)")
    print(f"closed-loop p99 ÷ analytical = {closed_p99 / expected:.3f}  (what coordinated omission hides)")


def _rows(url: str, load: dict) -> Any:
    return loadgen.kibench(url, load)["rows"]


if __name__ == "__main__":
    main()
