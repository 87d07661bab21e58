"""CPU seconds the embedded platform's daemon burns over one scenario run.

Usage: .venv/bin/python bench/daemon_cpu.py scenarios/spike.yaml [--results DIR]

Runs ``kibench run SCENARIO`` and samples, every 0.2 s, the user + system CPU time of the platform
daemon process (``python -m harness.platform.local``: API server and controllers) and of its Service
forwarder (``harness.platform.local.forwarder``: the data path, a process of its own since issue 18);
the replicas are separate processes and are not counted.  Prints the last samples, the run's wall
time and verdict, so two versions of the platform can be compared side by side (ratios measured in
one sitting: docs/architecture.md#measuring-kibench-itself).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import psutil


def _find(root: psutil.Process, module: str) -> psutil.Process | None:
    """The child process running ``python -m <module>`` exactly."""
    for proc in root.children(recursive=True):
        try:
            argv = proc.cmdline()
        except psutil.Error:
            continue
        if "-m" in argv and argv.index("-m") + 1 < len(argv) and argv[argv.index("-m") + 1] == module:
            return proc
    return None


def _cpu_s(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    try:
        times = proc.cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


def measure(scenario: str, results: str) -> dict[str, float | str | None]:
    started = time.monotonic()
    cli = subprocess.Popen(
        [sys.executable, "-c", "from harness.cli import main; main()", "run", scenario, "--results", results],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    root = psutil.Process(cli.pid)
    cpu_s = forwarder_s = 0.0
    while cli.poll() is None:
        cpu_s = max(cpu_s, _cpu_s(_find(root, "harness.platform.local")))
        forwarder_s = max(forwarder_s, _cpu_s(_find(root, "harness.platform.local.forwarder")))
        time.sleep(0.2)
    runs = sorted(Path(results).iterdir(), key=lambda p: p.stat().st_mtime)
    summary = json.loads((runs[-1] / "summary.json").read_text()) if runs else {}
    return {
        "daemon_cpu_s": round(cpu_s, 2),
        "forwarder_cpu_s": round(forwarder_s, 2),
        "wall_s": round(time.monotonic() - started, 1),
        "exit_code": cli.returncode,
        "run": str(runs[-1]) if runs else None,
        "verdict": summary.get("verdict"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario")
    parser.add_argument("--results", default="results/bench-daemon-cpu")
    args = parser.parse_args()
    Path(args.results).mkdir(parents=True, exist_ok=True)
    print(json.dumps(measure(args.scenario, args.results), indent=2))


if __name__ == "__main__":
    main()
