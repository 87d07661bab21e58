"""How close ``kibench capacity`` comes to the true capacity of emulated replicas, with realistic probe lengths.

    .venv/bin/python bench/capacity_accuracy.py [--probe-requests 1500] [--warmup 5] [--only classic|llm]
                                                [--seeds 1,2] [--arrivals uniform|poisson] [--keep DIR]

Runs the whole search (calibrate, bracket, refine, confirm) on the embedded platform for two emulated
profiles whose true capacity follows from the profile alone:

- ``classic``: dynamic batching, a batch of n takes base_ms + per_item_ms x n, at most max_batch_size:
  true capacity = max_batch_size / batch_ms(max_batch_size);
- ``llm``: continuous batching (harness/service/continuous.py), P prompt and O output tokens per request:
  a request holds a slot for O steps (1 prefill, O - 1 decode), so with all M slots busy a step takes
  step_base + step_per_seq x M (O - 1) / O + prefill_per_token x P M / O and M / O requests finish per step
  (``LLMProfile.max_throughput_rps``).

The SLOs are loose (p95 latency several times the latency at capacity) and the arrivals uniform
(``--arrivals poisson`` for random ones: their queueing lowers the rate the SLO allows below the profile's
throughput), so the boundary is the service's throughput and the true value is known.
Prints, per profile and seed, found / true, last passing and
first failing / true, the probes used and the binding reason; with two seeds, found(seed 2) / found(seed 1).
On a shared machine the load generator and the platform compete for CPU: say so with the figures.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console

from harness.capacity_run import run_capacity
from harness.scenario import validate
from harness.service.profiles import LLMProfile, resolve

CLASSIC = {"kind": "classic", "name": "bench-classic", "base_ms": 40.0, "per_item_ms": 5.0, "max_batch_size": 8,
           "max_queue_delay_ms": 5.0}  # fmt: skip
LLM = {"kind": "llm", "name": "bench-llm", "max_num_seqs": 16, "max_num_batched_tokens": 8192,
       "prefill_per_token_ms": 0.05, "step_base_ms": 10.0, "step_per_seq_ms": 1.0}  # fmt: skip
PROMPT, OUTPUT = 64, 8


def true_capacity(name: str) -> float:
    profile = resolve(CLASSIC if name == "classic" else LLM, 0.0)
    if isinstance(profile, LLMProfile):
        return profile.max_throughput_rps(PROMPT, OUTPUT)
    return profile.max_throughput_rps()


def scenario(name: str, seed: int, probe_requests: int, warmup_s: float, arrivals: str = "uniform") -> dict:
    base = {
        "name": f"bench-capacity-{name}",
        "platform": {
            "kind": "local",
            "probes": {"readiness": {"period": "0.5s"}},
            "pod": {"termination_grace_period": "1s"},
        },
        "service": {"cold_start": "0.5s", "profile": CLASSIC if name == "classic" else LLM, "max_queue": 4096},
        "load": {"rate_rps": 1, "duration": "1s", "arrivals": arrivals, "seed": seed, "max_concurrency": 1024,
                 "timeout": "20s"},
        "capacity": {"probe_requests": probe_requests, "warmup": f"{warmup_s}s", "min_probe": "5s",
                     "calibrate": "5s", "calibrate_users": 64,
                     "plan": {"peak_rps": 1000, "failures_tolerated": 1}},
        "cost": {"gpu_hour_usd": 2.5},
    }  # fmt: skip
    if name == "classic":
        base["slos"] = {"latency_ms": ["p(95) < 1000"]}
    else:
        base["load"]["workload"] = {"kind": "completions", "prompt_tokens": {"mean": PROMPT},
                                    "output_tokens": {"mean": OUTPUT}}  # fmt: skip
        base["slos"] = {"latency_ms": ["p(95) < 3000"], "ttft_ms": ["p(95) < 2500"]}
    return base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe-requests", type=int, default=1500)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--only", choices=["classic", "llm"])
    parser.add_argument("--arrivals", choices=["uniform", "poisson"], default="uniform")
    parser.add_argument("--seeds", default="1", help="comma-separated load seeds (two: the seed-to-seed ratio)")
    parser.add_argument("--keep", type=Path, help="keep the search folders here")
    args = parser.parse_args()
    out = args.keep or Path(tempfile.mkdtemp(prefix="kibench-capacity-bench-"))
    seeds = [int(s) for s in args.seeds.split(",")]
    console = Console(quiet=True)
    print(
        f"probe_requests {args.probe_requests}, warm-up {args.warmup:g} s, {args.arrivals} arrivals, results in {out}"
    )
    for name in [args.only] if args.only else ["classic", "llm"]:
        true = true_capacity(name)
        found_by_seed = {}
        for seed in seeds:
            t0 = time.monotonic()
            sc = validate(scenario(name, seed, args.probe_requests, args.warmup, args.arrivals), f"bench {name}")
            outcome = run_capacity(sc, out, console)
            b = outcome.boundary
            took = time.monotonic() - t0
            if b is None:
                print(f"{name:8s} seed {seed}: no boundary (exit {outcome.exit_code}: {outcome.error})")
                continue
            found = b.found_rps or b.last_passing_rps or float("nan")
            found_by_seed[seed] = found
            first = b.first_failing_rps or float("nan")
            print(f"{name:8s} seed {seed}: true {true:8.2f} rps  found {found:8.2f}  found/true {found / true:.3f}  "
                  f"last passing/true {b.last_passing_rps / true:.3f}  first failing/true {first / true:.3f}  "
                  f"search probes {b.probes_used}  confirmed {b.confirmed}  binding {b.binding_slo} "
                  f"({(b.binding_reason or '')[:60]})  {took:.0f} s  exit {outcome.exit_code}")  # fmt: skip
        if len(found_by_seed) >= 2:
            a, c = list(found_by_seed.values())[:2]
            print(f"{name:8s} seeds {seeds[0]} vs {seeds[1]}: found ratio {c / a:.3f}")


if __name__ == "__main__":
    main()
