"""bench/service_overhead.py still runs end to end (tiny sizes): it starts both servers, loads them, and
prints the three measurements and the goals.  No figure is asserted: speed is the bench's business."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_service_benchmark_runs_and_prints_every_measurement() -> None:
    argv = [sys.executable, "bench/service_overhead.py", "--rounds", "1", "--duration-s", "0.3", "--rate-rps", "50",
            "--c-rounds", "1", "--requests", "600", "--c-burst", "300"]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert re.search(r"service\s+p50 [\d.]+ ms\s+p99 [\d.]+ ms", out), out
    assert re.search(r"\(b\) saturation, profile resnet50-t4: \d+ rps of \d+ theoretical: ratio [\d.]+", out), out
    ratio = re.search(r"\(c\) requests per core \(taking turns on one core\): .*ratio ([\d.]+)", out)
    assert ratio and float(ratio.group(1)) > 0, out
