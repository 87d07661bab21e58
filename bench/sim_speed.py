"""Simulator speed at scale: 1,000 replicas, an hour of diurnal traffic averaging 10,000 req/s (36 M requests).

    .venv/bin/python bench/sim_speed.py [--hours 1] [--des-minutes 60] [--keep DIR]

The scenario: ``service.device_time_ms`` 50 (20 req/s a replica), 1,000 replicas at start, the HPA on
device busy (target 0.5) between 500 and 1,000 replicas, 128 nodes of 8 GPU slots, a diurnal shape
between 5,000 and 15,000 req/s (10,000 on average) whose period is the run's length (one "day" per run),
Poisson arrivals.
The scenario file takes up to 10,000 replicas and nodes for ``kibench simulate`` (a measured run: 64).  The
runs are not analysed (``analyse=False``): the bench times the simulation and the writing of its files.

Measures, one after the other in this process, wall time and peak RSS (``resource.getrusage``, the
process's high-water mark so far) of:

1. the fluid mode for the whole run (goal: <= 10 s for an hour);
2. the per-request mode for ``--des-minutes`` of it (goal: the whole hour, 36 M requests, <= 10 min),
   rows streamed to Parquet; when shorter than the run, the hour is extrapolated linearly from the
   measured requests per second of wall time and printed as an extrapolation.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from harness.scenario import validate
from harness.simulate import SimOptions, simulate


def scenario(duration_s: float, replicas: int = 1000) -> object:
    return validate(
        {
            "name": "sim-speed",
            "platform": {
                "balancing": "request",
                "nodes": {"count": replicas // 8 + 8, "gpu_slots": 8},
                "hpa": {
                    "enabled": True,
                    "min_replicas": replicas // 2,
                    "max_replicas": replicas,
                    "metrics": [{"type": "Pods", "name": "device_busy", "target_average_value": 0.5}],
                },
            },  # fmt: skip
            "service": {"replicas": replicas, "device_time_ms": 50, "cold_start": "30s"},
            "load": {
                "shape": {
                    "kind": "diurnal",
                    "min_rps": 5000,
                    "max_rps": 15000,
                    "period": duration_s,
                    "duration": duration_s,
                },  # fmt: skip
                "arrivals": "poisson",
                "max_concurrency": 100000,
            },
            "slo_defaults": False,
        },
        "bench",
    )


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--des-minutes", type=float, default=60.0)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    out = args.keep or Path(tempfile.mkdtemp(prefix="kibench-sim-speed-"))
    hour_s = args.hours * 3600.0
    try:
        t = time.perf_counter()
        fluid = simulate(scenario(hour_s), out / "fluid", SimOptions(mode="fluid"), analyse=False)  # type: ignore[arg-type]
        fluid_s = time.perf_counter() - t
        print(f"fluid: {args.hours:g} h, {fluid.requests:,} requests, 1,000 replicas: {fluid_s:.1f} s wall "
              f"(goal <= 10 s); peak RSS so far {rss_gb():.2f} GB")  # fmt: skip
        des_s_sim = min(hour_s, args.des_minutes * 60.0)
        t = time.perf_counter()
        des = simulate(scenario(des_s_sim), out / "des", SimOptions(mode="des"), analyse=False)  # type: ignore[arg-type]
        des_s = time.perf_counter() - t
        rate = des.requests / des_s
        parts = sorted((des.run_dir / "requests.parquet").glob("*.parquet"))
        print(f"des: {des_s_sim / 60:g} min simulated, {des.requests:,} requests, rows in {len(parts)} Parquet parts: "
              f"{des_s:.1f} s wall ({rate:,.0f} requests/s); peak RSS so far {rss_gb():.2f} GB")  # fmt: skip
        if des_s_sim < hour_s:
            minutes = fluid.requests / rate / 60
            print(f"des: the hour (about {fluid.requests:,} requests) extrapolated: {minutes:.1f} min "
                  "(goal <= 10 min) -- an extrapolation, not a measurement")  # fmt: skip
        else:
            print(f"des: the hour measured: {des_s / 60:.1f} min (goal <= 10 min)")
    finally:
        if args.keep is None:
            shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
