"""The three-way GPU-sharing comparison: the same load on 4 whole GPUs, 4 replicas time-slicing 2 GPUs, 4 replicas
on MIG slices of 2 GPUs, run one after the other on the embedded cluster and printed side by side.

    .venv/bin/python bench/gpu_sharing.py [--set load.rate_rps=60] [--results DIR]

Runs ``kibench run`` on scenarios/gpu-whole.yaml, gpu-timeslice.yaml and gpu-mig.yaml (each with the same
``--set`` overrides) and prints, per scenario, the GPU-hours held, p50/p95/p99 latency, throughput, the SLO verdict,
cost per 1,000 requests, and whether the host was saturated (then the latencies measure the machine too).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("gpu-whole", "gpu-timeslice", "gpu-mig")


def run(name: str, overrides: list[str], results: Path) -> dict:
    kibench = str(Path(sys.executable).parent / "kibench")
    argv = [kibench, "run", str(ROOT / "scenarios" / f"{name}.yaml"), "--results", str(results)]
    for item in overrides:
        argv += ["--set", item]
    out = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False)
    folder = next(
        (line.split(":", 1)[1].strip() for line in out.stdout.splitlines() if line.startswith("run folder:")), None
    )
    if folder is None:
        raise SystemExit(f"{name}: no run folder\n{out.stdout}\n{out.stderr}")
    summary = json.loads((Path(folder) / "summary.json").read_text())
    m = summary["metrics"]
    lat = m.get("latency_ms") or {}
    return {
        "scenario": name,
        "gpu_hours": m.get("gpu_hours"),
        "p50_ms": lat.get("p50"),
        "p95_ms": lat.get("p(95)"),
        "p99_ms": lat.get("p(99)"),
        "throughput_rps": m.get("throughput_rps"),
        "latency_slo": next((s["pass"] for s in summary["slos"] if s["metric"] == "latency_ms"), None),
        "cost_per_1k_requests": m.get("cost_per_1k_requests"),
        "host_saturated": m.get("platform_saturated"),
        "verdict": summary["verdict"],
        "folder": folder,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--results", default=str(ROOT / "results"))
    args = parser.parse_args()
    rows = [run(name, args.overrides, Path(args.results)) for name in SCENARIOS]
    keys = [k for k in rows[0] if k != "folder"]
    print(" | ".join(f"{k:>20}" for k in keys))
    for row in rows:
        print(" | ".join(f"{row[k] if not isinstance(row[k], float) else round(row[k], 4)!s:>20}" for k in keys))
    for row in rows:
        print(f"{row['scenario']}: {row['folder']}")


if __name__ == "__main__":
    main()
