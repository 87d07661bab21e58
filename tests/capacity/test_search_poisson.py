"""The whole search on a simulated replica under Poisson arrivals: each seed's answer within 5 % of the truth,
and two seeds' answers within 5 % of each other.

Two whole searches on the embedded platform take ~95 s each in compressed timings (test_capacity_accuracy.py),
too long for the suite; bench/capacity_accuracy.py --arrivals poisson --seeds 1,2 runs them with realistic
probes.  Here the search's own code (capacity_run's calibrate, bracket, refine, pooled rechecks and confirm,
each probe judged by its ``measure`` from a run folder's requests and events) drives a simulated replica
instead of a deployed one: the worked example's batching (a batch of n takes 40 + 5 n ms, at most 8, leaving
when 8 wait or the oldest has waited 5 ms, never before the device is free: 100 rps) under Poisson arrivals
drawn from each probe's own seed, with 1,500-request probes, the worked example's SLO (p95 < 1 s) and its 5 %
bracket.

Over seeds 1-100 (docs/capacity.md#accuracy) the answers lay between 0.944 and 1.004 of the true rate and
4,910 of the 4,950 pairs agreed within 5 % (the others within 6.4 %; all but one of them involve seed 39,
0.944, whose two probes at 96.5 % were both over-saturated, or seed 91, 0.950).  The first ten seeds are
checked here (~7 s).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console

from harness.capacity import ProbeRecord
from harness.capacity_run import PROBE_SEED_STRIDE, _Search
from harness.model import RunFiles
from harness.runio import write_atomic
from harness.scenario import validate

TRUE_RPS = 8 / ((40.0 + 5.0 * 8) / 1000)  # 100 rps
SCENARIO: dict[str, Any] = {
    "name": "cap-seeds",
    "service": {"profile": {"kind": "classic", "base_ms": 40.0, "per_item_ms": 5.0, "max_batch_size": 8,
                            "max_queue_delay_ms": 5.0}},
    "load": {"rate_rps": 1, "duration": "1s", "arrivals": "poisson", "timeout": "20s"},
    "slos": {"latency_ms": ["p(95) < 1000"]},
    "capacity": {"probe_requests": 1500, "warmup": "5s", "calibrate": "10s", "calibrate_users": 64},
}  # fmt: skip


def batching_replica(t_s: np.ndarray) -> np.ndarray:
    """Completion times of requests arriving at the sorted times ``t_s`` (s) on the worked example's replica."""
    done = np.empty_like(t_s)
    free, i = 0.0, 0
    while i < t_s.size:
        eighth = t_s[i + 7] if i + 7 < t_s.size else np.inf
        start = max(free, min(t_s[i] + 0.005, eighth))
        j = max(i + 1, i + int(np.searchsorted(t_s[i : i + 8], start, side="right")))
        free = start + (40.0 + 5.0 * (j - i)) / 1000
        done[i:j] = free
        i = j
    return done


class SimulatedSearch(_Search):
    """The search with each probe played on ``batching_replica`` and written as a run folder for ``measure``."""

    def probe(self, kind: str, rate_rps: float | None) -> ProbeRecord:
        index = len(self.probes) + 1
        rng = np.random.default_rng(int(self.base["load"]["seed"]) * PROBE_SEED_STRIDE + index)
        if rate_rps is None:  # the closed-loop burst keeps a backlog: arrivals at 4x the throughput
            duration = self.cap.calibrate
            t = np.arange(0.0, duration, 1 / (4 * TRUE_RPS))
        else:
            duration = self.cap.warmup + self.cap.probe_requests / rate_rps
            t = np.cumsum(rng.exponential(1 / rate_rps, int(rate_rps * duration * 1.5) + 100))
            t = t[t < duration]
        latency_ms = (batching_replica(t) - t) * 1000
        files = RunFiles(self.root / "probes" / f"{index:02d}-{kind}")
        files.requests.mkdir(parents=True)
        columns = {"t_intended_s": t, "t_sent_s": t, "latency_ms": latency_ms, "ok": latency_ms < 20_000}
        pq.write_table(pa.table(columns), files.requests / "w0-00000.parquet")
        write_atomic(files.events, f'{{"t_s": 0.0, "kind": "load_start", "duration_s": {duration}}}\n')
        record, blocks = self.measure(files, index, kind, rate_rps, {})
        self.probes.append(record)
        self.blocks[index] = blocks
        return record


def search(seed: int, tmp_path: Path) -> tuple[float, SimulatedSearch]:
    scenario = validate({**SCENARIO, "load": {**SCENARIO["load"], "seed": seed}}, "test")
    run = SimulatedSearch(scenario, tmp_path / f"search-{seed}", None, 0.0, Console(quiet=True))  # type: ignore[arg-type]
    boundary = run.run()
    assert boundary.confirmed and boundary.found_rps is not None, boundary.notes
    assert boundary.first_failing_rps is not None and boundary.first_failing_rps > TRUE_RPS
    assert boundary.probes_used <= 12
    assert boundary.found_rps <= boundary.confirmed_rate_rps  # type: ignore[operator]
    return boundary.found_rps, run


def test_each_seed_finds_the_rate_within_5_percent_and_any_two_agree_within_5_percent(tmp_path: Path) -> None:
    found = {}
    for seed in range(1, 11):
        found[seed], run = search(seed, tmp_path)
        assert abs(found[seed] / TRUE_RPS - 1) <= 0.05, [(p.rate_rps, p.passed) for p in run.probes]
    assert max(found.values()) / min(found.values()) - 1 <= 0.05, found


def test_a_pooled_pair_names_the_other_probe_once_and_only_the_seconds_slo_failures(tmp_path: Path) -> None:
    run = SimulatedSearch(validate(SCENARIO, "test"), tmp_path, None, 0.0, Console(quiet=True))  # type: ignore[arg-type]
    slo = "latency_ms p(95) < 1000 (got 1294)"
    first = ProbeRecord(1, "refine", 103.7, "p1", False, ("achieved 0.966 of the requested rate (< 0.98)",),
                        achieved_ratio=0.966, requests=1500)  # fmt: skip
    again = ProbeRecord(2, "refine", 103.7, "p2", False, (slo, "achieved 0.972 of the requested rate (< 0.98)"),
                        achieved_ratio=0.972, requests=1500, slos_held=False)  # fmt: skip
    run.probes = [first, again]
    pooled = run.pool(first, again)
    assert pooled.reasons == (
        "pooled with probe 2: achieved 0.969 of the requested rate over 2 probes (< 0.98)",
        f"{slo} in probe 2",
    )
    assert run.probes[1].reasons[0].startswith("pooled with probe 1: ") and not pooled.passed
