"""Soak: a long kibench run at a moderate rate with a fault every minute; memory, descriptors, Parquet parts.

    .venv/bin/python bench/soak.py [--minutes 30] [--rate-rps 20] [--warmup-minutes 2] [--keep DIR]

Runs ``kibench run`` on the embedded platform (3 replicas, constant ``--rate-rps``, one pod killed with
chaos/pod-kill.yaml every minute from minute 1) and samples, every 5 s with psutil, the resident memory
and open file descriptors of the run's load process(es) (``python -m harness.load``), of the
embedded cluster's daemon (``python -m harness.platform.local``) and of its Service forwarder
(``python -m harness.platform.local.forwarder``, which holds every proxied connection), found among
the CLI's own children by their ``-m`` module.
Prints each figure with its goal and PASS/FAIL (issue 14, item 5):

- RSS growth of each, from the end of the warm-up (``--warmup-minutes``; 2, or a fifth of a shorter run)
  to the largest sample of the last minute (goal <= 5 %);
- open descriptors: the same two points (goal: flat, no more than 5 % + 4 over the warm-up's);
- Parquet: every part under requests.parquet/ opens and its footer reads (a part cut short would not),
  and the rows they hold add up to summary.json's request count (goal: complete).

Every sample (role, seconds since the load started, RSS, open descriptors) goes to ``samples.csv`` in the
work folder (``--keep``), to tell a growth that levels off from one that does not.
Not in CI (30 minutes).  Exit code 0 when every goal passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_S = 5.0
ROLES = {"load": "harness.load", "daemon": "harness.platform.local", "forwarder": "harness.platform.local.forwarder"}


@dataclass
class Series:
    """One role's samples: (seconds since the run started, RSS bytes summed over its processes, open fds)."""

    samples: list[tuple[float, int, int]] = field(default_factory=list)

    def at_or_before(self, t_s: float) -> tuple[float, int, int] | None:
        before = [s for s in self.samples if s[0] <= t_s]
        return before[-1] if before else None

    def last(self, window_s: float) -> list[tuple[float, int, int]]:
        end = self.samples[-1][0] if self.samples else 0.0
        return [s for s in self.samples if s[0] >= end - window_s]


def scenario(minutes: float, rate_rps: float) -> dict[str, object]:
    faults = [{"at": f"{60 * i}s", "experiment": "chaos/pod-kill.yaml", "name": f"pod-kill-{i}", "settle": "3s"}
              for i in range(1, int(minutes * 60 - 1) // 60 + 1)]  # fmt: skip
    return {
        "name": "soak",
        "description": f"{minutes:g} min at {rate_rps:g} rps, a pod killed every minute (bench/soak.py)",
        "platform": {"kind": "local", "nodes": {"count": 3},
                     "probes": {"readiness": {"period": "500ms", "failure_threshold": 2}},
                     "pod": {"termination_grace_period": "2s", "restart_backoff_initial": "1s"}},
        "service": {"replicas": 3, "device_time_ms": 20, "cold_start": "1s"},
        "load": {"rate_rps": rate_rps, "duration": f"{minutes * 60:g}s"},
        "faults": faults,
    }  # fmt: skip


def role_of(proc: psutil.Process) -> str | None:
    try:
        argv = proc.cmdline()
    except psutil.Error:
        return None
    module = argv[argv.index("-m") + 1] if "-m" in argv[:-1] else None
    return next((role for role, name in ROLES.items() if name == module), None)


def sample(cli: psutil.Process, t_s: float, series: dict[str, Series]) -> None:
    totals: dict[str, list[int]] = {}
    for child in cli.children(recursive=True):
        role = role_of(child)
        if role is None:
            continue
        try:
            rss, fds = child.memory_info().rss, child.num_fds()
        except psutil.Error:
            continue
        total = totals.setdefault(role, [0, 0])
        total[0] += rss
        total[1] += fds
    for role, (rss, fds) in totals.items():
        series[role].samples.append((t_s, rss, fds))


def parquet_figures(run_dir: Path) -> tuple[int, int, list[str], int | None]:
    """(parts, rows in them, parts that do not open, summary.json's request count)."""
    parts = sorted((run_dir / "requests.parquet").glob("*.parquet"))
    rows, broken = 0, []
    for part in parts:
        try:
            rows += pq.ParquetFile(part).metadata.num_rows
        except Exception as exc:  # noqa: BLE001 - any unreadable part is the finding
            broken.append(f"{part.name}: {exc}")
    summary = run_dir / "summary.json"
    requests = json.loads(summary.read_text())["metrics"].get("requests") if summary.exists() else None
    return len(parts), rows, broken, requests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate-rps", type=float, default=20.0)
    parser.add_argument("--warmup-minutes", type=float, default=None, help="default: 2, or a fifth of the run")
    parser.add_argument("--keep", default=None, help="run folder parent to keep (default: a temporary one)")
    args = parser.parse_args(argv)
    warmup_s = 60 * (args.warmup_minutes if args.warmup_minutes is not None else min(2.0, args.minutes / 5))
    work = Path(args.keep or tempfile.mkdtemp(prefix="kibench-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    path = work / "soak.yaml"
    path.write_text(yaml.safe_dump(scenario(args.minutes, args.rate_rps), sort_keys=False), encoding="utf-8")
    results = work / "results"
    argv_run = [str(Path(sys.executable).parent / "kibench"), "run", str(path), "--results", str(results)]
    log = open(work / "kibench.log", "w", encoding="utf-8")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(argv_run, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    cli = psutil.Process(proc.pid)
    series = {role: Series() for role in ROLES}
    start = None
    try:
        while proc.poll() is None:
            if start is None and list(results.glob("*/requests.parquet")):
                start = time.monotonic()  # the load has started: t = 0
            if start is not None:
                sample(cli, time.monotonic() - start, series)
            time.sleep(SAMPLE_S if start is not None else 0.5)
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait()
        log.close()
    print(f"kibench run exited {proc.returncode} (log: {work / 'kibench.log'})")
    with open(work / "samples.csv", "w", encoding="utf-8") as out:  # the whole series: does a growth level off?
        out.write("role,t_s,rss_bytes,open_fds\n")
        out.writelines(f"{role},{t:.1f},{rss},{fds}\n" for role, ser in series.items() for t, rss, fds in ser.samples)
    print(f"samples: {work / 'samples.csv'}")
    passed: dict[str, bool] = {}
    for role, s in series.items():
        warm, last = s.at_or_before(warmup_s), s.last(60.0)
        if warm is None or not last:
            print(f"{role}: too few samples (the run was shorter than the warm-up?)")
            passed[f"{role} sampled"] = False
            continue
        rss_end, fds_end = max(x[1] for x in last), max(x[2] for x in last)
        growth = 100.0 * (rss_end - warm[1]) / warm[1]
        print(f"{role}: RSS {warm[1] / 2**20:.1f} MB at {warm[0]:.0f} s, {rss_end / 2**20:.1f} MB at the end "
              f"({growth:+.2f} %); open fds {warm[2]} -> {fds_end}; {len(s.samples)} samples")  # fmt: skip
        passed[f"{role} RSS growth <= 5%"] = growth <= 5.0
        passed[f"{role} open fds flat"] = fds_end <= warm[2] * 1.05 + 4
    run_dirs = sorted(p for p in results.glob("*") if p.is_dir())
    if run_dirs:
        parts, rows, broken, requests = parquet_figures(run_dirs[-1])
        print(f"parquet: {parts} parts, {rows} rows; summary.json requests {requests}; unreadable parts {broken}")
        passed["Parquet parts complete"] = parts > 0 and not broken and rows == requests
    else:
        passed["run folder written"] = False
    for goal, ok in passed.items():
        print(f"{'PASS' if ok else 'FAIL'}  {goal}")
    # the run's own verdict (0 pass, 1 an SLO failed, 4 its self-check: a saturated host) is not this
    # bench's business; anything else (2 bad input, 3 platform error, 130 interrupted) is a failure
    return 0 if all(passed.values()) and proc.returncode in (0, 1, 4) else 1


if __name__ == "__main__":
    sys.exit(main())
