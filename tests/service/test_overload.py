"""Overload, the short version of bench/overload.py: 10x the capacity for 6 s sheds with 429, never a 5xx,
and latency comes back to the baseline's once the load drops.

The bench script itself runs (one replica process on loopback, an open-loop generator); no figure of
speed is asserted, only behaviour: requests beyond the capacity are refused with 429 (not queued until
they time out into 504s), nothing fails with a 5xx or a broken connection, and after the drop the
latency returns to what it was before the overload (recovery_s is measured, not bounded here).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.exclusive  # ten times the capacity
def test_ten_times_the_capacity_is_shed_with_429_and_latency_recovers() -> None:
    argv = [sys.executable, "bench/overload.py", "--json", "--factor", "10", "--overload-s", "6", "--baseline-s", "2",
            "--after-s", "4", "--device-time-ms", "50", "--max-queue", "20", "--request-timeout-s", "5"]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    statuses = figures["statuses"]
    assert statuses.get("429", 0) > 0 and statuses.get("200", 0) > 0, figures
    assert set(statuses) <= {"200", "429"}, figures  # no 5xx, no broken connection
    assert figures["server_errors"] == 0 and figures["connection_errors"] == 0, figures
    assert figures["admitted_p99_s"] <= figures["request_timeout_s"], figures
    assert not math.isnan(figures["recovery_s"]), f"latency never came back to the baseline's: {figures}"
