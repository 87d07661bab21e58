"""How close a simulated run came to a measured one: the issue's five checks, from the two run folders.

In: a measured run folder and a simulated one of the same scenario (their summary.json, timeline.parquet
and events.jsonl).  Out: ``Fidelity`` rows, one per check, with both values and whether it is within
its tolerance:

- latency p95: within 15 % (relative to the measured);
- peak replicas: equal;
- scale-up reaction: within one HPA sync period;
- time to capacity after a fault: within 20 % (or both absent);
- replicas over time: desired replicas within ±1 in at least 90 % of the seconds, each run's timeline
  taken from its load start (sampled once a second, nearest sample).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.scenario import load_scenario


@dataclass(frozen=True)
class Check:
    name: str
    measured: float | None
    simulated: float | None
    tolerance: str
    ok: bool


def _summary(run: Path) -> dict[str, Any]:
    return json.loads((run / "summary.json").read_text(encoding="utf-8"))


def _load_start(run: Path) -> float:
    for line in (run / "events.jsonl").read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event.get("kind") == "load_start":
            return float(event["t_s"])
    return 0.0


def replicas_series(run: Path, duration_s: float) -> np.ndarray:
    """Desired replicas at each whole second of the load (the nearest earlier sample)."""
    timeline = pd.read_parquet(run / "timeline.parquet", columns=["t_s", "desired_replicas"])
    t = timeline["t_s"].to_numpy() - _load_start(run)
    grid = np.arange(0.0, duration_s, 1.0)
    idx = np.clip(np.searchsorted(t, grid, side="right") - 1, 0, len(t) - 1)
    return timeline["desired_replicas"].to_numpy()[idx]


def _rel(measured: float | None, simulated: float | None, share: float) -> bool:
    if measured is None or simulated is None:
        return measured is None and simulated is None
    return abs(simulated - measured) <= share * abs(measured)


def compare_runs(measured: Path, simulated: Path) -> list[Check]:
    """The five checks (module docstring) of ``simulated`` against ``measured``."""
    scenario = load_scenario(measured / "scenario.yaml")
    a, b = _summary(measured)["metrics"], _summary(simulated)["metrics"]
    sync = scenario.platform.hpa.sync_period
    p95a, p95b = a["latency_ms"].get("p95"), b["latency_ms"].get("p95")
    checks = [
        Check("latency p95 ms", p95a, p95b, "15%", _rel(p95a, p95b, 0.15)),
        Check(
            "peak replicas",
            a.get("peak_replicas"),
            b.get("peak_replicas"),
            "equal",
            a.get("peak_replicas") == b.get("peak_replicas"),
        ),  # fmt: skip
    ]
    ra, rb = a.get("scale_up_reaction_s"), b.get("scale_up_reaction_s")
    ok = (ra is None and rb is None) or (ra is not None and rb is not None and abs(ra - rb) <= sync)
    checks.append(Check("scale-up reaction s", ra, rb, f"{sync:g} s (one sync)", ok))
    ca, cb = a.get("time_to_capacity_s"), b.get("time_to_capacity_s")
    checks.append(Check("time to capacity s", ca, cb, "20%", _rel(ca, cb, 0.20)))
    duration = scenario.load.duration_s
    sa, sb = replicas_series(measured, duration), replicas_series(simulated, duration)
    share = float(np.mean(np.abs(sa - sb) <= 1))
    checks.append(Check("replicas within ±1 (share of s)", 1.0, round(share, 3), ">= 90%", share >= 0.9))
    return checks


def table(checks: list[Check], title: str) -> str:
    """The checks side by side, one line each."""
    lines = [title, f"  {'check':<34} {'measured':>10} {'simulated':>10}  {'tolerance':<16} ok"]
    for c in checks:
        fmt = lambda v: "-" if v is None else f"{v:.4g}"  # noqa: E731
        lines.append(f"  {c.name:<34} {fmt(c.measured):>10} {fmt(c.simulated):>10}  {c.tolerance:<16} "
                     f"{'yes' if c.ok else 'NO'}")  # fmt: skip
    return "\n".join(lines)
